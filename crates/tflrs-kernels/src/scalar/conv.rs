//! The convolution family: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and
//! BATCH_MATMUL in float32, int8 (per-channel weights), int16x8 and uint8, plus the hybrid
//! (dynamic-range) variants LiteRT runs for float inputs with int8 weights.
//!
//! Integer kernels reproduce LiteRT's reference kernels bit for bit; each submodule names the
//! LiteRT function whose arithmetic it follows where that arithmetic is unusual (float
//! requantization in FULLY_CONNECTED, the float zero-point correction of hybrid BATCH_MATMUL,
//! the different association of scale products between hybrid kernels). Loops are direct (no
//! im2col) and accumulate in LiteRT's order, so float results agree closely too.

mod batch_matmul;
mod common;
mod conv2d;
mod depthwise;
mod fully_connected;
mod hybrid;
mod transpose_conv;

#[cfg(test)]
mod tests;

use crate::kernel::NodeCtx;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use tflrs_ir::Op;

/// The family's factory: a kernel for the operators above, `Ok(None)` for any other.
pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let k = match node.op {
        Op::Conv2d(a) => conv2d::make(node, a)?,
        Op::DepthwiseConv2d(a) => depthwise::make(node, a)?,
        Op::FullyConnected(a) => fully_connected::make(node, a)?,
        Op::TransposeConv(a) => transpose_conv::make(node, a)?,
        Op::BatchMatMul(a) => batch_matmul::make(node, a)?,
        _ => return Ok(None),
    };
    Ok(Some(k))
}
