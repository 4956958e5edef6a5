//! [`FoldConstants`]: nodes whose inputs are all constant, replaced by their results.

use crate::manager::PassError;
use crate::rule::{Rule, RuleCx};
use std::borrow::Cow;
use tflrs_ir::{Op, Patch};

/// Replaces a node whose every input is a constant by constants holding its outputs, computed
/// by the context's [`ConstEval`](tflrs_ir::ConstEval) (the runtime's scalar kernels, so
/// integer results are LiteRT's bytes). Without an evaluator it does nothing.
///
/// Left alone: nodes with side effects or subgraph calls, nodes with no inputs, outputs that
/// are subgraph or signature outputs, outputs without a static shape, results more than 4 KiB
/// larger than the node's inputs (folding a TILE of a constant would grow the file), and
/// DEQUANTIZE, which the converter keeps on purpose (float16 or int8 weights stored small)
/// unless [`FoldConstants::with_dequantize`] asks for float32 weights.
#[derive(Debug, Clone, Copy, Default)]
pub struct FoldConstants {
    dequantize: bool,
}

impl FoldConstants {
    /// Also folds DEQUANTIZE of constant weights (float16 or int8 into float32: a larger file
    /// that runs without the DEQUANTIZE step).
    pub fn with_dequantize() -> Self {
        Self { dequantize: true }
    }
}

/// How much larger than its inputs a folded result may be.
const MAX_GROWTH: usize = 4096;

impl Rule for FoldConstants {
    fn name(&self) -> &'static str {
        if self.dequantize {
            "fold-constants-dequantize"
        } else {
            "fold-constants"
        }
    }

    fn about(&self) -> &'static str {
        if self.dequantize {
            "fold-constants, DEQUANTIZE of constant (float16, int8) weights included: float32 weights"
        } else {
            "nodes whose inputs are all constant, computed with the scalar kernels (DEQUANTIZE kept)"
        }
    }

    fn rewrite<'a>(&self, cx: &RuleCx<'_, 'a>, n: usize) -> Result<Option<Patch<'a>>, PassError> {
        let Some(eval) = cx.ctx.eval else {
            return Ok(None);
        };
        let Some(node) = cx.node(n) else {
            return Ok(None);
        };
        if node.op.has_side_effects()
            || node.op.call_spec().is_some()
            || (matches!(node.op, Op::Dequantize) && !self.dequantize)
            || node.inputs.iter().all(Option::is_none)
            || !node.intermediates.is_empty()
        {
            return Ok(None);
        }
        let mut in_bytes = 0usize;
        for v in node.inputs.iter().flatten() {
            match cx.constant(*v) {
                Some(c) if c.shape.is_static() && c.sparsity.is_none() && !c.is_variable => {
                    in_bytes += c.data.as_deref().map_or(0, <[u8]>::len);
                }
                _ => return Ok(None),
            }
        }
        for &o in &node.outputs {
            let Some(v) = cx.value(o) else {
                return Ok(None);
            };
            if cx.is_output(o) || !v.shape.is_static() || v.is_variable {
                return Ok(None);
            }
        }
        let Some(results) = eval.eval(cx.sg(), node)? else {
            return Ok(None);
        };
        let out_bytes: usize = results.iter().map(Vec::len).sum();
        let limit = if self.dequantize && matches!(node.op, Op::Dequantize) {
            usize::MAX
        } else {
            in_bytes.saturating_add(MAX_GROWTH)
        };
        if results.len() != node.outputs.len() || out_bytes > limit {
            return Ok(None);
        }
        let mut patch = cx.patch();
        for (&o, bytes) in node.outputs.iter().zip(results) {
            let Some(old) = cx.value(o) else {
                return Ok(None);
            };
            let mut v = old.clone();
            v.data = (!bytes.is_empty()).then_some(Cow::Owned(bytes));
            let id = patch.add_value(v);
            patch.replace_all_uses(o, id);
        }
        patch.remove_node(n);
        Ok(Some(patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::{PassCtx, PassManager};
    use crate::rule::RulePass;
    use crate::testutil::count_ops;
    use tflrs_ir::{ConstEval, DType, EvalError, GraphBuilder, Node, Subgraph};

    /// Adds two float32 constants; declines everything else.
    struct AddOnly;

    impl ConstEval for AddOnly {
        fn eval(
            &self,
            sg: &Subgraph<'_>,
            node: &Node<'_>,
        ) -> Result<Option<Vec<Vec<u8>>>, EvalError> {
            if !matches!(node.op, Op::Add(_)) {
                return Ok(None);
            }
            let get = |i: usize| {
                sg.value(node.input(i).unwrap())
                    .unwrap()
                    .constant_as::<f32>()
                    .unwrap()
            };
            let (a, b) = (get(0), get(1));
            Ok(Some(vec![
                a.iter()
                    .zip(b.iter())
                    .flat_map(|(x, y)| (x + y).to_le_bytes())
                    .collect(),
            ]))
        }
    }

    fn graph(dequantize: bool) -> tflrs_ir::Graph<'static> {
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [3]);
        let c1 = b.constant_f32("c1", [3], &[1.0, 2.0, 3.0]);
        let c2 = b.constant_f32("c2", [3], &[0.5, 0.5, 0.5]);
        let s = b.op(Op::Add(Default::default()), &[c1, c2]).unwrap();
        let s = if dequantize {
            let h = b.constant("h", DType::Float16, [3], vec![0u8, 60, 0, 60, 0, 60]);
            let d = b.op(Op::Dequantize, &[h]).unwrap();
            b.op(Op::Add(Default::default()), &[s, d]).unwrap()
        } else {
            s
        };
        let y = b.op(Op::Add(Default::default()), &[x, s]).unwrap();
        b.output(y);
        b.finish().unwrap()
    }

    #[test]
    fn constant_subexpressions_fold() {
        let mut g = graph(false);
        let m = PassManager::new().with(RulePass(FoldConstants::default()));
        assert!(m.run(&mut g, &PassCtx::new().with_eval(&AddOnly)).unwrap());
        let sg = &g.subgraphs[0];
        assert_eq!(sg.nodes.len(), 1);
        let c = sg.value(sg.nodes[0].input(1).unwrap()).unwrap();
        assert_eq!(c.constant_as::<f32>().unwrap().as_ref(), &[1.5, 2.5, 3.5]);
    }

    #[test]
    fn no_evaluator_no_folding_and_dequantize_stays() {
        let mut g = graph(false);
        let m = PassManager::new().with(RulePass(FoldConstants::default()));
        assert!(!m.run(&mut g, &PassCtx::new()).unwrap());
        let mut g = graph(true);
        m.run(&mut g, &PassCtx::new().with_eval(&AddOnly)).unwrap();
        // The first ADD folds; the DEQUANTIZE, and so the ADD reading it, stay.
        assert_eq!(count_ops(&g, "DEQUANTIZE"), 1);
        assert_eq!(count_ops(&g, "ADD"), 2);
    }
}
