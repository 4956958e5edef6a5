//! Where tensors live: reshape aliasing, lifetimes, arena requests, placement, raw views.

use super::planned_len;
use tflrs_kernels::TensorInfo;

/// The value whose memory a reshape-like node's output can share, if it can: RESHAPE,
/// SQUEEZE and EXPAND_DIMS keep the bytes and only relabel the shape. Not for variables, not
/// for graph inputs written by the caller, and only when the node's shape operand (if any) is a
/// constant, so that the output shape cannot change without a new plan.
pub(crate) fn reshape_alias(
    sg: &tflrs_ir::Subgraph<'_>,
    node: &tflrs_ir::Node<'_>,
    tensors: &[TensorInfo],
) -> Option<usize> {
    use tflrs_ir::Op;
    if !matches!(node.op, Op::Reshape(_) | Op::Squeeze(_) | Op::ExpandDims)
        || node.outputs.len() != 1
    {
        return None;
    }
    let x = node.input(0)?.index();
    let y = node.outputs[0].index();
    if let Some(shape) = node.input(1)
        && sg.values[shape.index()].data.is_none()
    {
        return None;
    }
    let (vx, vy) = (&sg.values[x], &sg.values[y]);
    let plain = |v: &tflrs_ir::Value<'_>| !v.is_variable && v.sparsity.is_none();
    let same_bytes = tensors[x].dtype == tensors[y].dtype
        && planned_len(&tensors[x]).is_some()
        && planned_len(&tensors[x]) == planned_len(&tensors[y]);
    let y_is_input = sg.inputs.iter().any(|i| i.index() == y);
    (plain(vx) && plain(vy) && vy.data.is_none() && same_bytes && !y_is_input).then_some(x)
}
