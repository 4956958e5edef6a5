//! Shape propagation after `resize_input`.

use tflrs_ir::Subgraph;
use tflrs_kernels::{KernelError, TensorInfo};

/// Recomputes the shapes of values downstream of resized inputs.
pub(crate) fn propagate(
    sg: &Subgraph<'_>,
    _tensors: &mut [TensorInfo],
) -> Result<(), (usize, KernelError)> {
    if sg.nodes.is_empty() {
        return Ok(());
    }
    Err((
        0,
        KernelError::unsupported(
            "resizing inputs needs shape inference, which is not wired in yet".into(),
        ),
    ))
}
