//! [`RemoveNoOps`] and [`MergeReshapes`]: nodes that do not change their input, and chains of
//! reshapes.

use crate::manager::PassError;
use crate::rule::{Rule, RuleCx, replace_node};
use tflrs_ir::{Op, Patch, Value, ValueId};

/// Removes a RESHAPE, SQUEEZE or EXPAND_DIMS whose output shape is its input's, a CAST to the
/// input's own type, a PAD or PADV2 whose paddings are all zero, and a TRANSPOSE by the identity
/// permutation: readers of the output read the input instead.
///
/// The input and output must have the same type, static shape and quantization, and the
/// output must not be a subgraph or signature output (whose tensor would change name).
/// Exact for every type: the node copies its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveNoOps;

/// RESHAPE of the output of a RESHAPE, SQUEEZE or EXPAND_DIMS reads the first one's input
/// instead (the middle node goes when nothing else reads it). Exact: reshapes move no data.
#[derive(Debug, Clone, Copy, Default)]
pub struct MergeReshapes;

fn same_layout(a: &Value<'_>, b: &Value<'_>) -> bool {
    let scheme = |v: &Value<'_>| v.quant.as_ref().and_then(|q| q.scheme.clone());
    a.dtype == b.dtype
        && a.shape.is_static()
        && b.shape.is_static()
        && a.shape.dims == b.shape.dims
        && scheme(a) == scheme(b)
}

fn const_ints(cx: &RuleCx<'_, '_>, v: ValueId) -> Option<Vec<i64>> {
    let c = cx.constant(v)?;
    if let Some(d) = c.constant_as::<i32>() {
        return Some(d.iter().map(|&x| i64::from(x)).collect());
    }
    c.constant_as::<i64>().map(|d| d.into_owned())
}

/// Whether the node's own parameters make it an identity (shapes aside).
fn is_identity(cx: &RuleCx<'_, '_>, op: &Op<'_>, inputs: &[Option<ValueId>]) -> bool {
    match op {
        Op::Reshape(_) | Op::Squeeze(_) | Op::ExpandDims | Op::Cast(_) => true,
        Op::Pad | Op::PadV2 => inputs
            .get(1)
            .copied()
            .flatten()
            .and_then(|p| const_ints(cx, p))
            .is_some_and(|p| p.iter().all(|&x| x == 0)),
        Op::Transpose => inputs
            .get(1)
            .copied()
            .flatten()
            .and_then(|p| const_ints(cx, p))
            .is_some_and(|p| p.iter().enumerate().all(|(i, &x)| x == i as i64)),
        _ => false,
    }
}

impl Rule for RemoveNoOps {
    fn name(&self) -> &'static str {
        "remove-noops"
    }

    fn about(&self) -> &'static str {
        "RESHAPE/SQUEEZE/EXPAND_DIMS to the same shape, CAST to the same type, PAD by zeros, TRANSPOSE by the identity"
    }

    fn rewrite<'a>(&self, cx: &RuleCx<'_, 'a>, n: usize) -> Result<Option<Patch<'a>>, PassError> {
        let Some(node) = cx.node(n) else {
            return Ok(None);
        };
        let (Some(x), [y]) = (node.input(0), node.outputs.as_slice()) else {
            return Ok(None);
        };
        if !is_identity(cx, &node.op, &node.inputs) || cx.is_output(*y) {
            return Ok(None);
        }
        let (Some(xv), Some(yv)) = (cx.value(x), cx.value(*y)) else {
            return Ok(None);
        };
        if !same_layout(xv, yv) || xv.is_variable || yv.is_variable {
            return Ok(None);
        }
        let mut patch = cx.patch();
        patch.replace_all_uses(*y, x);
        patch.remove_node(n);
        Ok(Some(patch))
    }
}

impl Rule for MergeReshapes {
    fn name(&self) -> &'static str {
        "merge-reshapes"
    }

    fn about(&self) -> &'static str {
        "RESHAPE of a RESHAPE/SQUEEZE/EXPAND_DIMS reads the first one's input"
    }

    fn rewrite<'a>(&self, cx: &RuleCx<'_, 'a>, n: usize) -> Result<Option<Patch<'a>>, PassError> {
        let Some(node) = cx.node(n) else {
            return Ok(None);
        };
        if !matches!(node.op, Op::Reshape(_)) {
            return Ok(None);
        }
        let Some(y) = node.input(0) else {
            return Ok(None);
        };
        let Some((m, inner)) = cx.producer(y) else {
            return Ok(None);
        };
        if !inner.op.is_reshape_like() || !cx.single_use(y) {
            return Ok(None);
        }
        let Some(x) = inner.input(0) else {
            return Ok(None);
        };
        let (Some(xv), Some(yv)) = (cx.value(x), cx.value(y)) else {
            return Ok(None);
        };
        let scheme = |v: &Value<'_>| v.quant.as_ref().and_then(|q| q.scheme.clone());
        if xv.dtype != yv.dtype || scheme(xv) != scheme(yv) {
            return Ok(None);
        }
        let mut outer = node.clone();
        outer.inputs[0] = Some(x);
        outer.version = None;
        let mut patch = cx.patch();
        replace_node(&mut patch, n, outer);
        patch.remove_node(m);
        Ok(Some(patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{count_ops, run_rule};
    use tflrs_ir::{CastAttrs, DType, GraphBuilder, ReshapeAttrs};

    fn reshape(new_shape: &[i32]) -> Op<'static> {
        Op::Reshape(Some(ReshapeAttrs {
            new_shape: Some(new_shape.to_vec()),
        }))
    }

    #[test]
    fn identity_nodes_go() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [2, 3]);
        let r = b.op(reshape(&[2, 3]), &[x]).unwrap();
        let c = b
            .op(
                Op::Cast(Some(CastAttrs {
                    in_data_type: DType::Float32,
                    out_data_type: DType::Float32,
                })),
                &[r],
            )
            .unwrap();
        let perm = b.constant_i32("perm", [2], &[0, 1]);
        let t = b.op(Op::Transpose, &[c, perm]).unwrap();
        let pads = b.constant_i32("pads", [2, 2], &[0, 0, 0, 0]);
        let p = b.op(Op::Pad, &[t, pads]).unwrap();
        let y = b.op(Op::Relu, &[p]).unwrap();
        b.output(y);
        let mut g = b.finish().unwrap();
        assert!(run_rule(RemoveNoOps, &mut g));
        let sg = &g.subgraphs[0];
        assert_eq!(sg.nodes.len(), 1);
        assert_eq!(sg.nodes[0].inputs, [Some(sg.inputs[0])]);
    }

    #[test]
    fn real_work_stays() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [2, 3]);
        let r = b.op(reshape(&[3, 2]), &[x]).unwrap();
        let perm = b.constant_i32("perm", [2], &[1, 0]);
        let t = b.op(Op::Transpose, &[r, perm]).unwrap();
        // An identity whose output is the model's output keeps its tensor.
        let out = b.op(reshape(&[2, 3]), &[t]).unwrap();
        b.output(out);
        let mut g = b.finish().unwrap();
        assert!(!run_rule(RemoveNoOps, &mut g));
        assert_eq!(g.subgraphs[0].nodes.len(), 3);
    }

    #[test]
    fn reshape_chains_merge() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [2, 3, 4]);
        let a = b.op(reshape(&[6, 4]), &[x]).unwrap();
        let s = b.op(reshape(&[24]), &[a]).unwrap();
        let y = b.op(reshape(&[4, 6]), &[s]).unwrap();
        b.output(y);
        let mut g = b.finish().unwrap();
        assert!(run_rule(MergeReshapes, &mut g));
        let sg = &g.subgraphs[0];
        assert_eq!(count_ops(&g, "RESHAPE"), 1);
        assert_eq!(sg.nodes[0].inputs[0], Some(sg.inputs[0]));
        assert_eq!(sg.value(sg.outputs[0]).unwrap().shape.dims, [4, 6]);
    }

    #[test]
    fn a_reshape_read_twice_stays() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [2, 3]);
        let a = b.op(reshape(&[6]), &[x]).unwrap();
        let y = b.op(reshape(&[3, 2]), &[a]).unwrap();
        b.output(y);
        b.output(a);
        let mut g = b.finish().unwrap();
        assert!(!run_rule(MergeReshapes, &mut g));
    }
}
