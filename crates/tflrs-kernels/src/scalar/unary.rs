//! Unary elementwise operators. ABS, SQRT, RSQRT, EXP, LOG, RELU, RELU6, RELU_N1_TO_1,
//! LEAKY_RELU, PRELU, HARD_SWISH, GELU, LOGISTIC and TANH are prepared by
//! [`prep::unary`](crate::prep::unary) and run here by [`planned`]; NEG, SQUARE, LOGICAL_NOT
//! and ZEROS_LIKE, which have no constants, are in [`math_ops`]; CAST, QUANTIZE and
//! DEQUANTIZE in [`convert`].
//!
//! Quantized kernels reproduce LiteRT's reference kernels: where LiteRT prepares a lookup table
//! (EXP, LOG, LOGISTIC, TANH, GELU, int16 RSQRT) the same table is built
//! ([`qmath::lut`](crate::scalar::qmath::lut)); where it computes in fixed point (RSQRT int8,
//! HARD_SWISH, int16 LOGISTIC/TANH) the same integer steps are taken
//! ([`qmath`](crate::scalar::qmath) holds the gemmlowp functions, shared with the other
//! families).
//!
//! FLOOR, CEIL, ROUND, SIGN, SIN and COS are in [`rounding`]; ELU and RELU_0_TO_1 in [`elu`];
//! BUCKETIZE in [`bucketize`].

#[cfg(test)]
mod activations;
mod bucketize;
mod convert;
mod elu;
mod math_ops;
mod rounding;

use crate::kernel::NodeCtx;
use crate::math;
use crate::prep::unary::{
    PreluParams, PreluPlan, UnaryLut, UnaryOp, UnaryParams, UnaryPlan, gelu_approximate,
    gelu_exact, logistic_f32,
};
use crate::scalar::binary::elementwise::{CheckParams, QElem, map, map_checked, zip};
use crate::scalar::binary::kname;
use crate::scalar::qmath::lut::{Lut8Elem, lookup16};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use tflrs_ir::DType;

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if let Some(plan) = crate::prep::unary::plan(node)? {
        return Ok(Some(planned(plan)));
    }
    if let Some(k) = math_ops::kernel_for(node)? {
        return Ok(Some(k));
    }
    if let Some(k) = rounding::kernel_for(node)? {
        return Ok(Some(k));
    }
    if let Some(k) = elu::kernel_for(node)? {
        return Ok(Some(k));
    }
    if let Some(k) = bucketize::kernel_for(node)? {
        return Ok(Some(k));
    }
    convert::kernel_for(node)
}

/// Fails when an input is below the zero point (a negative real value).
fn not_below_zero_point<T: QElem>(x: &[T], p: &CheckParams) -> Result<(), &'static str> {
    if x.iter().any(|v| v.to_i32() < p.zero_point) {
        Err("only defined for non-negative values")
    } else {
        Ok(())
    }
}

/// LiteRT's float HARD_SWISH: `x * relu6(x + 3) / 6`.
fn hard_swish_f32(v: f32) -> f32 {
    let relu6 = (v + 3.0).clamp(0.0, 6.0);
    v * relu6 / 6.0
}

/// The float32 kernel of `op` (LiteRT's float function).
fn float_kernel(op: UnaryOp, name: &'static str, n: usize) -> Box<dyn Kernel> {
    match op {
        UnaryOp::Relu => map(name, n, |v: f32| if v > 0.0 { v } else { 0.0 }),
        UnaryOp::Relu6 => map(name, n, |v: f32| clamp_relu(v, 0.0, 6.0)),
        UnaryOp::ReluN1To1 => map(name, n, |v: f32| clamp_relu(v, -1.0, 1.0)),
        UnaryOp::LeakyRelu { alpha } => {
            map(name, n, move |v: f32| if v > 0.0 { v } else { v * alpha })
        }
        _ => {
            let f: fn(f32) -> f32 = match op {
                UnaryOp::Abs => f32::abs,
                UnaryOp::Sqrt => math::sqrtf,
                UnaryOp::Exp => math::expf,
                UnaryOp::Log => math::logf,
                UnaryOp::Rsqrt => |v| 1.0 / math::sqrtf(v),
                UnaryOp::HardSwish => hard_swish_f32,
                UnaryOp::Gelu { approximate: true } => gelu_approximate,
                UnaryOp::Gelu { approximate: false } => gelu_exact,
                UnaryOp::Logistic => logistic_f32,
                UnaryOp::Tanh => math::tanhf,
                _ => unreachable!("handled above"),
            };
            map(name, n, f)
        }
    }
}

/// `v` clamped to `[lo, hi]` the way LiteRT's float RELU6 and RELU_N1_TO_1 do.
fn clamp_relu(v: f32, lo: f32, hi: f32) -> f32 {
    if v > hi {
        hi
    } else if v < lo {
        lo
    } else {
        v
    }
}

/// A quantized element function `f(raw, qmin, qmax)` on the raw values of `T`.
fn quantized<T: QElem>(f: impl Fn(i32, i32, i32) -> i32) -> impl Fn(T) -> T {
    move |v: T| T::from_i32(f(v.to_i32(), T::MIN, T::MAX))
}

/// A [`map`] of a quantized element function on int8, uint8 or int16 (the types the plans
/// make these parameters for).
fn by_type(
    dt: DType,
    name: &'static str,
    n: usize,
    f: impl Fn(i32, i32, i32) -> i32 + Send + 'static,
) -> Box<dyn Kernel> {
    match dt {
        DType::Int8 => map(name, n, quantized::<i8>(f)),
        DType::UInt8 => map(name, n, quantized::<u8>(f)),
        _ => map(name, n, quantized::<i16>(f)),
    }
}

/// PRELU over its broadcast: `x` where it is at least zero, `x * alpha` below.
fn prelu(dt: DType, name: &'static str, p: PreluPlan) -> Box<dyn Kernel> {
    let bc = p.broadcast;
    let Some(q) = p.quant else {
        return zip(name, bc, |v: f32, a: f32| if v >= 0.0 { v } else { v * a });
    };
    fn quantized<T: QElem, A: QElem>(q: PreluParams) -> impl Fn(T, A) -> T {
        move |v: T, a: A| T::from_i32(q.eval(v.to_i32(), a.to_i32(), T::MIN, T::MAX))
    }
    match dt {
        DType::Int8 => zip(name, bc, quantized::<i8, i8>(q)),
        DType::UInt8 => zip(name, bc, quantized::<u8, u8>(q)),
        _ => zip(name, bc, quantized::<i16, i8>(q)),
    }
}

/// The executor of a [`UnaryPlan`].
fn planned(plan: UnaryPlan) -> Box<dyn Kernel> {
    let UnaryPlan {
        op,
        dtype: dt,
        len: n,
        params,
    } = plan;
    let name = match op {
        UnaryOp::Abs => kname!("abs", dt),
        UnaryOp::Sqrt => kname!("sqrt", dt),
        UnaryOp::Relu => kname!("relu", dt),
        UnaryOp::Relu6 => kname!("relu6", dt),
        UnaryOp::ReluN1To1 => kname!("relu_n1_to_1", dt),
        UnaryOp::LeakyRelu { .. } => kname!("leaky_relu", dt),
        UnaryOp::Prelu => kname!("prelu", dt),
        UnaryOp::Exp => kname!("exp", dt),
        UnaryOp::Log => kname!("log", dt),
        UnaryOp::Rsqrt => kname!("rsqrt", dt),
        UnaryOp::HardSwish => kname!("hard_swish", dt),
        UnaryOp::Gelu { approximate: true } => kname!("gelu", dt, "_approximate"),
        UnaryOp::Gelu { approximate: false } => kname!("gelu", dt),
        UnaryOp::Logistic => kname!("logistic", dt),
        UnaryOp::Tanh => kname!("tanh", dt),
    };
    match params {
        UnaryParams::Plain => match dt {
            DType::Int16 => map(name, n, |v: i16| v.wrapping_abs()),
            DType::Int32 => map(name, n, |v: i32| v.wrapping_abs()),
            DType::Int64 => map(name, n, |v: i64| v.wrapping_abs()),
            _ => float_kernel(op, name, n),
        },
        UnaryParams::Requantize(p) => by_type(dt, name, n, move |v, _, _| p.eval(v)),
        UnaryParams::LeakyRelu(p) => by_type(dt, name, n, move |v, lo, hi| p.eval(v, lo, hi)),
        UnaryParams::Abs(p) => by_type(dt, name, n, move |v, lo, hi| p.eval(v, lo, hi)),
        UnaryParams::Sqrt(p) => {
            let check = CheckParams {
                zero_point: p.input_zero_point,
            };
            let f = move |v, lo, hi| p.eval(v, lo, hi);
            if dt == DType::Int8 {
                map_checked(name, n, quantized(f), not_below_zero_point::<i8>, check)
            } else {
                map_checked(name, n, quantized(f), not_below_zero_point::<i16>, check)
            }
        }
        UnaryParams::Prelu(p) => prelu(dt, name, *p),
        UnaryParams::Lut(UnaryLut::I8(t)) => map(name, n, move |v: i8| t[v.slot()]),
        UnaryParams::Lut(UnaryLut::U8(t)) => map(name, n, move |v: u8| t[v.slot()]),
        // int16 RSQRT's zero point is 0.
        UnaryParams::Lut(UnaryLut::I16(t)) if op == UnaryOp::Rsqrt => map_checked(
            name,
            n,
            move |v: i16| lookup16(v, &t),
            not_below_zero_point::<i16>,
            CheckParams { zero_point: 0 },
        ),
        UnaryParams::Lut(UnaryLut::I16(t)) => map(name, n, move |v: i16| lookup16(v, &t)),
        UnaryParams::Rsqrt(p) => map_checked(
            name,
            n,
            move |v: i8| p.eval(v),
            not_below_zero_point::<i8>,
            CheckParams {
                zero_point: p.input_zero_point,
            },
        ),
        UnaryParams::HardSwish(p) if dt == DType::Int8 => {
            map(name, n, move |v: i8| p.eval(i32::from(v), -128, 127) as i8)
        }
        UnaryParams::HardSwish(p) => map(name, n, move |v: u8| p.eval(i32::from(v), 0, 255) as u8),
        UnaryParams::SigmoidI16(p) => map(name, n, move |v: i16| p.eval(v)),
    }
}
