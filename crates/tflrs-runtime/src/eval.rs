//! [`ScalarEval`]: the runtime's [`ConstEval`], which computes constant nodes with the scalar
//! kernels, so that a pass folds exactly what `invoke` would compute.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use tflrs_ir::{ConstEval, EvalError, Node, Subgraph, Value};
use tflrs_kernels::{KernelError, NoServices, NodeCtx, ScalarBackend, TensorInfo, standalone};

/// Evaluates a node whose inputs are all constant with the scalar backend's kernel for it.
///
/// Nodes whose result has more than [`max_output_elements`](Self::max_output_elements)
/// elements, or whose inputs hold more than [`max_input_bytes`](Self::max_input_bytes), are
/// left alone (`Ok(None)`), as are operators the scalar backend declines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalarEval {
    /// Most elements of all outputs together.
    pub max_output_elements: usize,
    /// Most bytes of all inputs together.
    pub max_input_bytes: usize,
}

impl Default for ScalarEval {
    /// Up to 2^20 output elements from up to 16 MiB of inputs: large enough for constant
    /// subexpressions of weights, small enough that folding stays cheap.
    fn default() -> Self {
        Self {
            max_output_elements: 1 << 20,
            max_input_bytes: 16 << 20,
        }
    }
}

/// The description of `v`, which must have a static shape.
fn info(v: &Value<'_>, what: &str, op: &str) -> Result<TensorInfo, EvalError> {
    let shape = v
        .shape
        .dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| EvalError {
            op: op.into(),
            reason: format!("{what} '{}' has no static shape", v.name),
        })?;
    Ok(TensorInfo {
        name: v.name.clone(),
        dtype: v.dtype,
        shape,
        quant: v.quant.clone(),
        sparsity: v.sparsity.clone(),
    })
}

impl ConstEval for ScalarEval {
    fn eval(
        &self,
        subgraph: &Subgraph<'_>,
        node: &Node<'_>,
    ) -> Result<Option<Vec<Vec<u8>>>, EvalError> {
        let op: String = node.op.name().into_owned();
        let value = |id: tflrs_ir::ValueId, what: &str| {
            subgraph.values.get(id.index()).ok_or_else(|| EvalError {
                op: op.clone(),
                reason: format!(
                    "{what} refers to value {}, which does not exist",
                    id.index()
                ),
            })
        };
        let mut outputs = Vec::with_capacity(node.outputs.len());
        let mut elements = 0usize;
        for (k, &o) in node.outputs.iter().enumerate() {
            let what = format!("output {k}");
            let t = info(value(o, &what)?, &what, &op)?;
            elements = elements.saturating_add(t.num_elements());
            outputs.push(t);
        }
        if elements > self.max_output_elements {
            return Ok(None);
        }
        let mut infos = Vec::with_capacity(node.inputs.len());
        let mut data = Vec::with_capacity(node.inputs.len());
        let mut bytes = 0usize;
        for (k, i) in node.inputs.iter().enumerate() {
            let Some(i) = i else {
                infos.push(None);
                data.push(None);
                continue;
            };
            let what = format!("input {k}");
            let v = value(*i, &what)?;
            let d = v.data.as_deref().ok_or_else(|| EvalError {
                op: op.clone(),
                reason: format!("input {k} '{}' is not a constant", v.name),
            })?;
            bytes = bytes.saturating_add(d.len());
            if bytes > self.max_input_bytes {
                return Ok(None);
            }
            infos.push(Some(info(v, &what, &op)?));
            data.push(Some(d));
        }
        let input_refs: Vec<Option<&TensorInfo>> = infos.iter().map(Option::as_ref).collect();
        let output_refs: Vec<&TensorInfo> = outputs.iter().collect();
        let ctx = NodeCtx {
            subgraph: 0,
            index: 0,
            op: &node.op,
            inputs: &input_refs,
            constants: &data,
            outputs: &output_refs,
            intermediates: &[],
        };
        match standalone::run_node(&ScalarBackend, &ctx, &data, &mut NoServices) {
            Ok(values) => Ok(Some(values)),
            Err(KernelError::Unsupported(_)) => Ok(None),
            Err(e) => Err(EvalError {
                op,
                reason: format!("{e}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use tflrs_ir::{AddAttrs, DType, GraphBuilder, Op};

    /// A graph `y = a + b` on three float32 values, `b` a constant; `a` too when `a_const`.
    fn add(a_const: bool) -> tflrs_ir::Graph<'static> {
        let mut b = GraphBuilder::new();
        let a = if a_const {
            b.constant_f32("a", [3], &[1.0, 2.0, 3.0])
        } else {
            b.input("a", DType::Float32, [3])
        };
        let c = b.constant_f32("b", [3], &[0.5, 0.25, -1.0]);
        let y = b.op(Op::Add(AddAttrs::default()), &[a, c]).unwrap();
        b.output(y);
        b.finish_unchecked()
    }

    fn floats(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn folds_a_constant_add_with_the_scalar_kernel() {
        let g = add(true);
        let sg = g.main().unwrap();
        let out = ScalarEval::default()
            .eval(sg, &sg.nodes[0])
            .unwrap()
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(floats(&out[0]), vec![1.5, 2.25, 2.0]);
    }

    #[test]
    fn refuses_a_computed_input_and_leaves_large_results() {
        let g = add(false);
        let sg = g.main().unwrap();
        let err = ScalarEval::default().eval(sg, &sg.nodes[0]).unwrap_err();
        assert!(err.reason.contains("not a constant"), "{err}");
        let g = add(true);
        let sg = g.main().unwrap();
        let small = ScalarEval {
            max_output_elements: 2,
            ..ScalarEval::default()
        };
        assert_eq!(small.eval(sg, &sg.nodes[0]).unwrap(), None);
        let few_bytes = ScalarEval {
            max_input_bytes: 15,
            ..ScalarEval::default()
        };
        assert_eq!(few_bytes.eval(sg, &sg.nodes[0]).unwrap(), None);
    }
}
