//! Unary elementwise operators: ABS, NEG, EXP, LOG, SQRT, RSQRT, SQUARE, LOGICAL_NOT,
//! ZEROS_LIKE ([`math_ops`]); RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, PRELU, HARD_SWISH, GELU,
//! LOGISTIC, TANH ([`activations`]); CAST, QUANTIZE, DEQUANTIZE ([`convert`]).
//!
//! Quantized kernels reproduce LiteRT's reference kernels: where LiteRT prepares a lookup table
//! (EXP, LOG, LOGISTIC, TANH, GELU, int16 RSQRT) the same table is built here ([`qmath::lut`](crate::scalar::qmath::lut)); where it
//! computes in fixed point (RSQRT int8, HARD_SWISH, int16 LOGISTIC/TANH) the same integer steps
//! are taken ([`qmath`](crate::scalar::qmath) holds the tables' builders and the gemmlowp functions,
//! shared with the other families).

mod activations;
mod convert;
mod math_ops;

use crate::kernel::NodeCtx;
use crate::{Kernel, KernelError, TensorInfo, ensure};
use alloc::boxed::Box;

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if let Some(k) = math_ops::kernel_for(node)? {
        return Ok(Some(k));
    }
    if let Some(k) = activations::kernel_for(node)? {
        return Ok(Some(k));
    }
    convert::kernel_for(node)
}

/// The single input and output of an elementwise unary node, checked to have the same shape.
fn unary_io<'a>(node: &NodeCtx<'a>) -> Result<(&'a TensorInfo, &'a TensorInfo), KernelError> {
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let x = node.input(0)?;
    let y = node.output(0)?;
    ensure!(
        x.shape == y.shape,
        "output shape {:?} differs from the input's {:?}",
        y.shape,
        x.shape
    );
    Ok((x, y))
}
