//! Concrete tensor descriptions of a subgraph: stored shapes with the caller's input shapes
//! applied, propagated through the nodes as LiteRT prepares them, checked against the limits.

use super::tensor_error;
use crate::{Error, Limits};
use alloc::format;
use alloc::vec::Vec;
use tflrs_ir::Graph;
use tflrs_kernels::TensorInfo;

/// The tensors of subgraph `s` with concrete shapes: the stored ones, `input_shapes` applied to
/// its inputs, then the shapes LiteRT's `Prepare` computes propagated through the nodes (with
/// the shape-deciding inputs' values that are `known`).
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
    // Every subgraph, resized or not: the stored shapes of a converted model are not always
    // the shapes LiteRT's `Prepare` computes from the inputs.
    crate::shapes::propagate(graph, s, &mut tensors, known, limits.max_call_depth).map_err(
        |(node, e)| Error::Kernel {
            subgraph: s,
            node,
            op: sg.nodes[node].op.name().into_owned(),
            source: e,
        },
    )?;
    // Computed shapes are checked as stored ones are.
    for t in &tensors {
        let n = t
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        if n.is_none_or(|n| n > limits.max_tensor_elements) {
            return Err(Error::LimitExceeded {
                what: "elements of one tensor",
                value: t
                    .shape
                    .iter()
                    .fold(1u64, |n, &d| n.saturating_mul(d as u64)),
                limit: limits.max_tensor_elements,
            });
        }
    }
    Ok(tensors)
}
