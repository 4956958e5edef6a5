//! Binary elementwise operators with broadcasting (LiteRT's rules, any rank): arithmetic
//! (ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, POW), comparisons (EQUAL,
//! NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL), LOGICAL_AND, LOGICAL_OR and SELECT_V2.
//!
//! Float kernels compute in `f32` as LiteRT's reference kernels do; int8/uint8/int16 kernels
//! reproduce the reference fixed-point arithmetic bit for bit; int32/int64 arithmetic wraps on
//! overflow. The kernels are executors of the plans of [`prep::binary`](crate::prep::binary),
//! which says where each multiplier comes from, over the runs of a [`broadcast::Broadcast`].
//!
//! FLOOR_DIV, FLOOR_MOD, ATAN2, BITWISE_XOR and RIGHT_SHIFT (raw integers, no quantization) are
//! in [`floor_div`]; SELECT (version 1, without general broadcasting) in [`select`].

pub(crate) mod broadcast;
pub(crate) mod elementwise;

mod arith;
mod compare;
mod floor_div;
mod select;

use crate::kernel::NodeCtx;
use crate::prep::binary::BinaryOp;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;

/// `"{op}_{dtype}__scalar{suffix}"` as a `&'static str`.
macro_rules! kname {
    ($op:literal, $dt:expr) => {
        $crate::scalar::binary::kname!($op, $dt, "")
    };
    ($op:literal, $dt:expr, $suffix:literal) => {
        match $dt {
            tflrs_ir::DType::Float32 => concat!($op, "_f32__scalar", $suffix),
            tflrs_ir::DType::Float16 => concat!($op, "_f16__scalar", $suffix),
            tflrs_ir::DType::BFloat16 => concat!($op, "_bf16__scalar", $suffix),
            tflrs_ir::DType::Float64 => concat!($op, "_f64__scalar", $suffix),
            tflrs_ir::DType::Int8 => concat!($op, "_i8__scalar", $suffix),
            tflrs_ir::DType::UInt8 => concat!($op, "_u8__scalar", $suffix),
            tflrs_ir::DType::Int16 => concat!($op, "_i16__scalar", $suffix),
            tflrs_ir::DType::UInt16 => concat!($op, "_u16__scalar", $suffix),
            tflrs_ir::DType::Int32 => concat!($op, "_i32__scalar", $suffix),
            tflrs_ir::DType::UInt32 => concat!($op, "_u32__scalar", $suffix),
            tflrs_ir::DType::Int64 => concat!($op, "_i64__scalar", $suffix),
            tflrs_ir::DType::UInt64 => concat!($op, "_u64__scalar", $suffix),
            tflrs_ir::DType::Bool => concat!($op, "_bool__scalar", $suffix),
            _ => concat!($op, "__scalar", $suffix),
        }
    };
}
pub(crate) use kname;

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if let Some(k) = floor_div::kernel_for(node)? {
        return Ok(Some(k));
    }
    if let Some(k) = select::kernel_for(node)? {
        return Ok(Some(k));
    }
    let Some(plan) = crate::prep::binary::plan(node)? else {
        return compare::select_v2(node);
    };
    if plan.op.is_comparison() || matches!(plan.op, BinaryOp::LogicalAnd | BinaryOp::LogicalOr) {
        compare::kernel(plan).map(Some)
    } else {
        arith::kernel(plan).map(Some)
    }
}
