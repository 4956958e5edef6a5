//! FULLY_CONNECTED on the f32 GEMM.

use crate::isa::Isa;
use tflrs_kernels::{Kernel, KernelError, NodeCtx};

/// A kernel for a FULLY_CONNECTED node at `isa`, or `Ok(None)`.
pub(crate) fn kernel_for(
    _isa: Isa,
    _node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    Ok(None)
}
