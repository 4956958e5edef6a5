//! The convolution family: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and
//! BATCH_MATMUL in float32, int8 (per-channel weights), int16x8 and uint8, plus the hybrid
//! (dynamic-range) variants LiteRT runs for float inputs with int8 weights.
//!
//! Integer kernels reproduce LiteRT's reference kernels (`BUILTIN_REF`) bit for bit, and the
//! hybrid and float kernels follow the same arithmetic and summation order, so they match too.
//! Where LiteRT's arithmetic is unusual the submodule says so: FULLY_CONNECTED requantizes in
//! double, hybrid kernels quantize inputs with LiteRT's NEON-derived routines (which its x86
//! builds use), hybrid BATCH_MATMUL subtracts the zero-point term in float and indexes scaling
//! factors per batch dimension, and the hybrid kernels associate their scale products
//! differently from each other.
//!
//! Loops are direct (no im2col matrix): windows clipped to the input as LiteRT clips them, the
//! valid columns of a filter row taken as one contiguous run, and int8 products formed in
//! int16 lanes that compilers vectorize on any x86-64. The int8 CONV_2D gathers each window
//! into a small patch (padding filled with the zero point, which adds nothing) so that every
//! output channel is one dot product over its contiguous filter.

mod batch_matmul;
mod common;
mod conv2d;
mod conv3d;
mod depthwise;
mod fully_connected;
mod hybrid;
mod sparse_fc;
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
        Op::Conv2d(_) => conv2d::make(node)?,
        Op::DepthwiseConv2d(_) => depthwise::make(node)?,
        Op::FullyConnected(_) => match sparse_fc::make(node)? {
            Some(k) => k,
            None => fully_connected::make(node)?,
        },
        Op::TransposeConv(_) => transpose_conv::make(node)?,
        Op::BatchMatMul(_) => batch_matmul::make(node)?,
        Op::Conv3d(a) => conv3d::make(node, a, false)?,
        Op::Conv3dTranspose(a) => conv3d::make(node, a, true)?,
        _ => return Ok(None),
    };
    Ok(Some(k))
}
