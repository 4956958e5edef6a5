//! Concrete tensor descriptions of a subgraph: stored shapes with the caller's input shapes
//! applied, checked against the limits, and propagated through the nodes.

use super::tensor_error;
use crate::{Error, Limits};
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::Graph;
use tflrs_kernels::TensorInfo;

/// The tensors of subgraph `s` with concrete shapes: the stored ones, `input_shapes` applied to
/// its inputs, and shapes propagated through the nodes when an input was resized or a
/// shape-deciding input's value is `known`.
pub(crate) fn concrete(
    graph: &Graph<'_>,
    s: usize,
    input_shapes: &[Option<Vec<usize>>],
    known: &[(usize, &[u8])],
    limits: &Limits,
) -> Result<Vec<TensorInfo>, Error> {
    let sg = &graph.subgraphs[s];
    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(sg.values.len());
    for (t, v) in sg.values.iter().enumerate() {
        let mut shape: Vec<usize> = v.shape.dims.iter().map(|&d| d.max(0) as usize).collect();
        if let Some(pos) = sg.inputs.iter().position(|i| i.index() == t)
            && let Some(Some(given)) = input_shapes.get(pos)
        {
            shape.clone_from(given);
        }
        shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .filter(|&n| n <= limits.max_tensor_elements)
            .ok_or_else(|| Error::LimitExceeded {
                what: "elements of one tensor",
                value: shape.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64)),
                limit: limits.max_tensor_elements,
            })?;
        // Zero points outside the element type's range make no sense and would overflow the
        // kernels' 32-bit arithmetic; refuse them before any kernel sees them.
        if let Some(zp) = v.quant.as_ref().and_then(|q| q.zero_point_outside(v.dtype)) {
            return Err(tensor_error(
                s,
                t,
                &v.name,
                format!("zero point {zp} is outside the range of {}", v.dtype.name()),
            ));
        }
        tensors.push(TensorInfo {
            name: v.name.clone(),
            dtype: v.dtype,
            shape,
            quant: v.quant.clone(),
            sparsity: v.sparsity.clone(),
        });
    }
    crate::shapes::check_value_shapes(sg, s).map_err(|(node, e)| Error::Kernel {
        subgraph: s,
        node,
        op: sg.nodes[node].op.name().into_owned(),
        source: e,
    })?;
    if input_shapes.iter().any(Option::is_some) || !known.is_empty() {
        crate::shapes::propagate(graph, s, &mut tensors, known, limits.max_call_depth).map_err(
            |(node, e)| Error::Kernel {
                subgraph: s,
                node,
                op: sg.nodes[node].op.name().into_owned(),
                source: e,
            },
        )?;
    }
    Ok(tensors)
}
