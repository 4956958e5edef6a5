//! Elementwise kernels (binary arithmetic with broadcasting, activations).

use crate::isa::Isa;
use tflrs_kernels::{Kernel, KernelError, NodeCtx};

/// A kernel for an elementwise node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    _isa: Isa,
    _node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    Ok(None)
}
