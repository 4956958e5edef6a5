//! ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM and POW.
//!
//! Quantized arithmetic follows LiteRT's reference kernels (`add.cc`, `sub.cc`, `mul.cc`,
//! `div.cc`, `squared_difference.cc` and their `reference/` headers):
//! - ADD/SUB rescale both inputs to a common scale of twice the larger input scale, shifted
//!   left by 20 bits (int8/uint8) or 15 bits (int16), add or subtract, and requantize. The
//!   multipliers are computed in `double` from the `float` scales.
//! - int16 ADD/SUB with `pot_scale_int16` and power-of-two scales use LiteRT's shift-only path.
//! - MUL requantizes the product of the offset inputs with `s1 * s2 / s_out`, computed in
//!   `float` as LiteRT does; DIV multiplies by a fixed-point reciprocal of the divisor with
//!   `s1 / (s2 * s_out)`, also in `float`.
//! - SQUARED_DIFFERENCE rescales like ADD with a 7-bit shift and squares.
//! - MAXIMUM and MINIMUM compare raw values (the converter gives inputs and output one scale).

use super::broadcast::Broadcast;
use super::elementwise::{CheckParams, QElem, no_zero_divisor, quant_of, zip, zip_checked};
use super::kname;
use crate::kernel::NodeCtx;
use crate::math;
use crate::scalar::qmath::fixedpoint::{count_leading_sign_bits, get_reciprocal};
use crate::scalar::qmath::{
    activation_range_f32, activation_range_quantized, clamp_f32, multiply_by_quantized_multiplier,
    quantize_multiplier, rounding_divide_by_pot, rounding_divide_by_pot_i16, srdhm, srdhm_i16,
};
use crate::{Kernel, KernelError, TensorInfo, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{Activation, DType, Op};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    SquaredDifference,
    Maximum,
    Minimum,
    Pow,
}

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let (op, act, pot_scale_int16) = match node.op {
        Op::Add(a) => (ArithOp::Add, a.fused_activation_function, a.pot_scale_int16),
        Op::Sub(a) => (ArithOp::Sub, a.fused_activation_function, a.pot_scale_int16),
        Op::Mul(a) => (ArithOp::Mul, a.fused_activation_function, false),
        Op::Div(a) => (ArithOp::Div, a.fused_activation_function, false),
        Op::SquaredDifference => (ArithOp::SquaredDifference, Activation::None, false),
        Op::Maximum => (ArithOp::Maximum, Activation::None, false),
        Op::Minimum => (ArithOp::Minimum, Activation::None, false),
        Op::Pow => (ArithOp::Pow, Activation::None, false),
        _ => return Ok(None),
    };
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let a = node.input(0)?;
    let b = node.input(1)?;
    let out = node.output(0)?;
    ensure!(
        a.dtype == b.dtype,
        "inputs have different types ({} and {})",
        a.dtype,
        b.dtype
    );
    let bc = Broadcast::new(&out.shape, [&a.shape, &b.shape])?;
    if op == ArithOp::Mul && a.dtype == DType::Int16 && out.dtype == DType::Int8 {
        return mul_i16_to_i8(a, b, out, act, bc).map(Some);
    }
    ensure!(
        out.dtype == a.dtype,
        "output type {} differs from the inputs' {}",
        out.dtype,
        a.dtype
    );
    let unsupported = || KernelError::unsupported(format!("{op:?} on {} tensors", a.dtype));
    let kernel =
        match a.dtype {
            DType::Float32 => float_kernel(op, act, bc),
            DType::Int32 => int_kernel::<i32>(op, act, bc).ok_or_else(unsupported)?,
            DType::Int64 => int_kernel::<i64>(op, act, bc).ok_or_else(unsupported)?,
            DType::Int16 if a.quant.is_none() && out.quant.is_none() => {
                int_kernel::<i16>(op, act, bc).ok_or_else(unsupported)?
            }
            DType::Int8 => quant_kernel::<i8>(op, act, pot_scale_int16, a, b, out, bc)?
                .ok_or_else(unsupported)?,
            DType::UInt8 => quant_kernel::<u8>(op, act, pot_scale_int16, a, b, out, bc)?
                .ok_or_else(unsupported)?,
            DType::Int16 => quant_kernel::<i16>(op, act, pot_scale_int16, a, b, out, bc)?
                .ok_or_else(unsupported)?,
            _ => return Err(unsupported()),
        };
    Ok(Some(kernel))
}

fn float_kernel(op: ArithOp, act: Activation, bc: Broadcast<2>) -> Box<dyn Kernel> {
    let (lo, hi) = activation_range_f32(act);
    let f32_ = DType::Float32;
    match op {
        ArithOp::Add => zip(kname!("add", f32_), bc, move |x: f32, y: f32| {
            clamp_f32(x + y, lo, hi)
        }),
        ArithOp::Sub => zip(kname!("sub", f32_), bc, move |x: f32, y: f32| {
            clamp_f32(x - y, lo, hi)
        }),
        ArithOp::Mul => zip(kname!("mul", f32_), bc, move |x: f32, y: f32| {
            clamp_f32(x * y, lo, hi)
        }),
        ArithOp::Div => zip(kname!("div", f32_), bc, move |x: f32, y: f32| {
            clamp_f32(x / y, lo, hi)
        }),
        ArithOp::SquaredDifference => {
            zip(kname!("squared_difference", f32_), bc, |x: f32, y: f32| {
                let d = x - y;
                d * d
            })
        }
        ArithOp::Maximum => zip(
            kname!("maximum", f32_),
            bc,
            |x: f32, y: f32| if x > y { x } else { y },
        ),
        ArithOp::Minimum => zip(
            kname!("minimum", f32_),
            bc,
            |x: f32, y: f32| if x < y { x } else { y },
        ),
        ArithOp::Pow => zip(kname!("pow", f32_), bc, math::powf),
    }
}

/// Plain integer arithmetic (wrapping on overflow, as LiteRT's kernels do in practice).
trait IntElem: bytemuck::Pod + Ord + Send + Into<i64> + 'static {
    const DTYPE: DType;
    const LOWEST: Self;
    const HIGHEST: Self;
    fn from_i8(v: i8) -> Self;
    fn wrapping_add(self, o: Self) -> Self;
    fn wrapping_sub(self, o: Self) -> Self;
    fn wrapping_mul(self, o: Self) -> Self;
    fn wrapping_div(self, o: Self) -> Self;
    fn saturate_i128(v: i128) -> Self;
}

macro_rules! int_elem {
    ($($t:ty => $dt:ident),*) => {$(
        impl IntElem for $t {
            const DTYPE: DType = DType::$dt;
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            fn from_i8(v: i8) -> Self { Self::from(v) }
            fn wrapping_add(self, o: Self) -> Self { <$t>::wrapping_add(self, o) }
            fn wrapping_sub(self, o: Self) -> Self { <$t>::wrapping_sub(self, o) }
            fn wrapping_mul(self, o: Self) -> Self { <$t>::wrapping_mul(self, o) }
            fn wrapping_div(self, o: Self) -> Self { <$t>::wrapping_div(self, o) }
            fn saturate_i128(v: i128) -> Self {
                v.clamp(i128::from(<$t>::MIN), i128::from(<$t>::MAX)) as $t
            }
        }
    )*};
}
int_elem!(i16 => Int16, i32 => Int32, i64 => Int64);

/// The clamp range of a fused activation on plain integers (LiteRT's
/// `CalculateActivationRange<int>`).
fn int_activation_range<T: IntElem>(act: Activation) -> (T, T) {
    match act {
        Activation::Relu => (T::from_i8(0), T::HIGHEST),
        Activation::Relu6 => (T::from_i8(0), T::from_i8(6)),
        Activation::ReluN1To1 => (T::from_i8(-1), T::from_i8(1)),
        _ => (T::LOWEST, T::HIGHEST),
    }
}

/// `base^exp` for `exp >= 0`, saturating where the exact result does not fit.
fn int_pow<T: IntElem>(base: T, exp: T) -> T {
    let mut result: i128 = 1;
    let mut b = i128::from(base.into());
    let mut e = exp.into();
    while e > 0 {
        if e & 1 == 1 {
            result = result.saturating_mul(b);
        }
        e >>= 1;
        if e > 0 {
            b = b.saturating_mul(b);
        }
    }
    T::saturate_i128(result)
}

fn no_negative<T: Copy + Into<i64>>(b: &[T], _: &CheckParams) -> Result<(), &'static str> {
    if b.iter().any(|&v| v.into() < 0) {
        Err("negative exponents are not supported for integers")
    } else {
        Ok(())
    }
}

fn int_kernel<T: IntElem>(
    op: ArithOp,
    act: Activation,
    bc: Broadcast<2>,
) -> Option<Box<dyn Kernel>> {
    let (lo, hi) = int_activation_range::<T>(act);
    let dt = T::DTYPE;
    Some(match op {
        ArithOp::Add => zip(kname!("add", dt), bc, move |x: T, y: T| {
            x.wrapping_add(y).clamp(lo, hi)
        }),
        ArithOp::Sub => zip(kname!("sub", dt), bc, move |x: T, y: T| {
            x.wrapping_sub(y).clamp(lo, hi)
        }),
        ArithOp::Mul => zip(kname!("mul", dt), bc, move |x: T, y: T| {
            x.wrapping_mul(y).clamp(lo, hi)
        }),
        ArithOp::Div => zip_checked(
            kname!("div", dt),
            bc,
            move |x: T, y: T| x.wrapping_div(y).clamp(lo, hi),
            no_zero_divisor::<T>,
            CheckParams::default(),
        ),
        ArithOp::SquaredDifference => zip(kname!("squared_difference", dt), bc, |x: T, y: T| {
            let d = x.wrapping_sub(y);
            d.wrapping_mul(d)
        }),
        ArithOp::Maximum => zip(
            kname!("maximum", dt),
            bc,
            |x: T, y: T| if x > y { x } else { y },
        ),
        ArithOp::Minimum => zip(
            kname!("minimum", dt),
            bc,
            |x: T, y: T| if x < y { x } else { y },
        ),
        ArithOp::Pow => zip_checked(
            kname!("pow", dt),
            bc,
            int_pow::<T>,
            no_negative::<T>,
            CheckParams::default(),
        ),
    })
}

/// Constants of quantized ADD/SUB/SQUARED_DIFFERENCE: each input is offset, shifted left and
/// rescaled to a common scale; the result is requantized to the output.
#[derive(Debug, Clone, Copy)]
struct RescaleParams {
    left_shift: i32,
    input1_offset: i32,
    input1_multiplier: i32,
    input1_shift: i32,
    input2_offset: i32,
    input2_multiplier: i32,
    input2_shift: i32,
    output_multiplier: i32,
    output_shift: i32,
    output_offset: i32,
    act_min: i32,
    act_max: i32,
}

impl RescaleParams {
    #[inline]
    fn scaled_inputs(&self, a: i32, b: i32) -> (i32, i32) {
        let shifted1 = (self.input1_offset + a).wrapping_mul(1 << self.left_shift);
        let shifted2 = (self.input2_offset + b).wrapping_mul(1 << self.left_shift);
        (
            multiply_by_quantized_multiplier(shifted1, self.input1_multiplier, self.input1_shift),
            multiply_by_quantized_multiplier(shifted2, self.input2_multiplier, self.input2_shift),
        )
    }

    #[inline]
    fn finish(&self, raw: i32) -> i32 {
        let out = multiply_by_quantized_multiplier(raw, self.output_multiplier, self.output_shift)
            .wrapping_add(self.output_offset);
        out.clamp(self.act_min, self.act_max)
    }
}

/// LiteRT's `CheckedLog2`: whether `x` is a power of two (within 1e-3 in the exponent), and its
/// rounded base-2 logarithm.
pub(crate) fn checked_log2(x: f32) -> (bool, i32) {
    let x_log2 = math::logf(x) * (1.0 / math::logf(2.0));
    let rounded = crate::scalar::qmath::round_f32(x_log2);
    let frac = x_log2 - rounded;
    (frac.abs() < 1e-3, rounded as i32)
}

#[allow(clippy::too_many_arguments)]
fn quant_kernel<T: QElem>(
    op: ArithOp,
    act: Activation,
    pot_scale_int16: bool,
    a: &TensorInfo,
    b: &TensorInfo,
    out: &TensorInfo,
    bc: Broadcast<2>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let dt = a.dtype;
    // MAXIMUM and MINIMUM compare raw values; no quantization is needed.
    match op {
        ArithOp::Maximum => {
            return Ok(Some(zip(kname!("maximum", dt), bc, |x: T, y: T| {
                if x.to_i32() > y.to_i32() { x } else { y }
            })));
        }
        ArithOp::Minimum => {
            return Ok(Some(zip(kname!("minimum", dt), bc, |x: T, y: T| {
                if x.to_i32() < y.to_i32() { x } else { y }
            })));
        }
        ArithOp::Pow => return Ok(None),
        _ => {}
    }
    let (s1, z1) = quant_of::<T>(a)?;
    let (s2, z2) = quant_of::<T>(b)?;
    let (so, zo) = quant_of::<T>(out)?;
    let is16 = dt == DType::Int16;
    if is16 {
        ensure!(
            z1 == 0 && z2 == 0 && zo == 0,
            "int16 {op:?} needs zero points of 0 (got {z1}, {z2}, {zo})"
        );
    }
    let (act_min, act_max) = activation_range_quantized(act, so, zo, T::MIN, T::MAX);
    let kernel = match op {
        ArithOp::Add | ArithOp::Sub => {
            let sub = op == ArithOp::Sub;
            if is16 && pot_scale_int16 {
                let (p1, l1) = checked_log2(s1);
                let (p2, l2) = checked_log2(s2);
                let (po, lo) = checked_log2(so);
                if p1 && p2 && po {
                    return pot_int16_add_sub(sub, l1 - lo, l2 - lo, act_min, act_max, bc)
                        .map(Some);
                }
            }
            let left_shift = if is16 { 15 } else { 20 };
            let twice_max = 2.0 * f64::from(s1.max(s2));
            let (m1, sh1) = quantize_multiplier(f64::from(s1) / twice_max)?;
            let (m2, sh2) = quantize_multiplier(f64::from(s2) / twice_max)?;
            let (mo, sho) =
                quantize_multiplier(twice_max / (f64::from(1u32 << left_shift) * f64::from(so)))?;
            let p = RescaleParams {
                left_shift,
                input1_offset: -z1,
                input1_multiplier: m1,
                input1_shift: sh1,
                input2_offset: -z2,
                input2_multiplier: m2,
                input2_shift: sh2,
                output_multiplier: mo,
                output_shift: sho,
                output_offset: zo,
                act_min,
                act_max,
            };
            if sub {
                zip(kname!("sub", dt), bc, move |x: T, y: T| {
                    let (u, v) = p.scaled_inputs(x.to_i32(), y.to_i32());
                    T::from_i32(p.finish(u.wrapping_sub(v)))
                })
            } else {
                zip(kname!("add", dt), bc, move |x: T, y: T| {
                    let (u, v) = p.scaled_inputs(x.to_i32(), y.to_i32());
                    T::from_i32(p.finish(u.wrapping_add(v)))
                })
            }
        }
        ArithOp::SquaredDifference => {
            ensure!(!is16, "int16 SQUARED_DIFFERENCE is not a LiteRT kernel");
            let left_shift = 7;
            let twice_max = 2.0 * f64::from(s1.max(s2));
            let (m1, sh1) = quantize_multiplier(f64::from(s1) / twice_max)?;
            let (m2, sh2) = quantize_multiplier(f64::from(s2) / twice_max)?;
            let (mo, sho) = quantize_multiplier(
                twice_max * twice_max / (f64::from(1u32 << (2 * left_shift)) * f64::from(so)),
            )?;
            let p = RescaleParams {
                left_shift,
                input1_offset: -z1,
                input1_multiplier: m1,
                input1_shift: sh1,
                input2_offset: -z2,
                input2_multiplier: m2,
                input2_shift: sh2,
                output_multiplier: mo,
                output_shift: sho,
                output_offset: zo,
                act_min: T::MIN,
                act_max: T::MAX,
            };
            zip(kname!("squared_difference", dt), bc, move |x: T, y: T| {
                let (u, v) = p.scaled_inputs(x.to_i32(), y.to_i32());
                let d = u.wrapping_sub(v);
                T::from_i32(p.finish(d.wrapping_mul(d)))
            })
        }
        ArithOp::Mul => {
            // LiteRT multiplies the float scales in float before widening.
            let (m, sh) = quantize_multiplier(f64::from(s1 * s2 / so))?;
            zip(kname!("mul", dt), bc, move |x: T, y: T| {
                let prod = (x.to_i32() - z1).wrapping_mul(y.to_i32() - z2);
                let r = multiply_by_quantized_multiplier(prod, m, sh).wrapping_add(zo);
                T::from_i32(r.clamp(act_min, act_max))
            })
        }
        ArithOp::Div => {
            let (m, sh) = quantize_multiplier(f64::from(s1 / (s2 * so)))?;
            zip_checked(
                kname!("div", dt),
                bc,
                move |x: T, y: T| {
                    T::from_i32(div_quantized(
                        x.to_i32() - z1,
                        y.to_i32() - z2,
                        m,
                        sh,
                        zo,
                        act_min,
                        act_max,
                    ))
                },
                |b: &[T], p: &CheckParams| {
                    if b.iter().any(|&v| v.to_i32() == p.zero_point) {
                        Err("division by zero")
                    } else {
                        Ok(())
                    }
                },
                CheckParams { zero_point: z2 },
            )
        }
        ArithOp::Maximum | ArithOp::Minimum | ArithOp::Pow => unreachable!("handled above"),
    };
    Ok(Some(kernel))
}

/// LiteRT's quantized division of offset values: the divisor's reciprocal in fixed point,
/// the dividend shifted to use all its headroom, then requantized.
#[inline]
fn div_quantized(x: i32, y: i32, m: i32, shift: i32, zo: i32, act_min: i32, act_max: i32) -> i32 {
    let (mut x, mut y) = (x, y);
    if y < 0 {
        // The reciprocal must be positive to be used as a multiplier.
        x = -x;
        y = -y;
    }
    let (recip, recip_shift) = get_reciprocal(y, 31);
    let headroom = count_leading_sign_bits(x);
    let unscaled = srdhm(x.wrapping_mul(1i32.wrapping_shl(headroom as u32)), recip);
    let total_shift = shift - recip_shift - headroom;
    let r = rounding_divide_by_pot_any(srdhm(unscaled, m), -total_shift);
    r.wrapping_add(zo).clamp(act_min, act_max)
}

/// gemmlowp's `RoundingDivideByPOT` for any exponent. Quantized DIV leaves `0..=31` for
/// dividends with 31 bits of headroom (0 and -1) and for huge rescaling ratios; C leaves those
/// shifts undefined, and LiteRT's results are what x86 makes of them: the 64-bit mask's shift
/// count taken mod 64 (then truncated to 32 bits), the 32-bit shift count mod 32.
#[inline]
fn rounding_divide_by_pot_any(x: i32, exponent: i32) -> i32 {
    if (0..=31).contains(&exponent) {
        return rounding_divide_by_pot(x, exponent);
    }
    let mask = 1i64.wrapping_shl(exponent as u32).wrapping_sub(1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    x.wrapping_shr(exponent as u32) + i32::from(remainder > threshold)
}

/// int16 ADD/SUB with power-of-two scales: one input is rounded down to the other's scale by a
/// shift, then the raw values are added or subtracted with saturation.
fn pot_int16_add_sub(
    sub: bool,
    shift1: i32,
    shift2: i32,
    act_min: i32,
    act_max: i32,
    bc: Broadcast<2>,
) -> Result<Box<dyn Kernel>, KernelError> {
    ensure!(
        (shift1 == 0 || shift2 == 0) && shift1 <= 0 && shift2 <= 0,
        "int16 power-of-two {} needs one input on the output scale and the other finer (shifts {shift1}, {shift2})",
        if sub { "SUB" } else { "ADD" }
    );
    ensure!(-shift1 <= 31 && -shift2 <= 31, "shift out of range");
    let (r1, r2) = (-shift1, -shift2);
    let scale = move |v: i16, r: i32| i32::from(rounding_divide_by_pot_i16(v, r));
    Ok(if sub {
        zip(
            kname!("sub", DType::Int16, "_pot"),
            bc,
            move |x: i16, y: i16| (scale(x, r1) - scale(y, r2)).clamp(act_min, act_max) as i16,
        )
    } else {
        zip(
            kname!("add", DType::Int16, "_pot"),
            bc,
            move |x: i16, y: i16| (scale(x, r1) + scale(y, r2)).clamp(act_min, act_max) as i16,
        )
    })
}

/// MUL of two int16 tensors into int8 (LiteRT's LSTM helper kernel): a Q0.15 product, divided
/// by 2^8, offset by the output zero point.
fn mul_i16_to_i8(
    _a: &TensorInfo,
    _b: &TensorInfo,
    out: &TensorInfo,
    act: Activation,
    bc: Broadcast<2>,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (so, zo) = quant_of::<i8>(out)?;
    let (act_min, act_max) = activation_range_quantized(act, so, zo, -128, 127);
    let (lo, hi) = ((act_min - zo) as i16, (act_max - zo) as i16);
    Ok(zip(
        kname!("mul", DType::Int16, "_i8out"),
        bc,
        move |x: i16, y: i16| {
            let rescaled = rounding_divide_by_pot_i16(srdhm_i16(x, y), 8);
            let clamped = rescaled.min(hi).max(lo);
            (i32::from(clamped) + zo) as i8
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarBackend;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{AddAttrs, DivAttrs, MulAttrs, SubAttrs};

    fn f32_info(shape: &[usize]) -> TensorInfo {
        TensorInfo::new("t", DType::Float32, shape.to_vec())
    }

    fn q(dt: DType, shape: &[usize], scale: f32, zp: i64) -> TensorInfo {
        TensorInfo::new("t", dt, shape.to_vec()).with_quant(scale, zp)
    }

    fn run2<A: bytemuck::Pod, B: bytemuck::Pod, O: bytemuck::Pod>(
        op: Op<'_>,
        a: (TensorInfo, &[A]),
        b: (TensorInfo, &[B]),
        out: TensorInfo,
    ) -> Vec<O> {
        let inputs = [
            Some(TestInput::from_slice(a.0, a.1)),
            Some(TestInput::from_slice(b.0, b.1)),
        ];
        let outs = run_node(&ScalarBackend, &op, &inputs, &[out]).unwrap();
        bytemuck::cast_slice(&outs[0]).to_vec()
    }

    fn add(act: Activation) -> Op<'static> {
        Op::Add(AddAttrs {
            fused_activation_function: act,
            pot_scale_int16: false,
        })
    }

    #[test]
    fn float_broadcast_and_activation() {
        let y: Vec<f32> = run2(
            add(Activation::Relu6),
            (f32_info(&[2, 1, 3]), &[1.0f32, -2.0, 3.0, 4.0, 5.0, -6.0]),
            (f32_info(&[2, 1]), &[0.5f32, 10.0]),
            f32_info(&[2, 2, 3]),
        );
        assert_eq!(
            y,
            vec![1.5, 0.0, 3.5, 6.0, 6.0, 6.0, 4.5, 5.5, 0.0, 6.0, 6.0, 4.0]
        );
        let y: Vec<f32> = run2(
            Op::Sub(SubAttrs {
                fused_activation_function: Activation::ReluN1To1,
                pot_scale_int16: false,
            }),
            (f32_info(&[3]), &[1.0f32, 0.25, -3.0]),
            (f32_info(&[]), &[0.5f32]),
            f32_info(&[3]),
        );
        assert_eq!(y, vec![0.5, -0.25, -1.0]);
        let y: Vec<f32> = run2(
            Op::Maximum,
            (f32_info(&[2]), &[1.0f32, -1.0]),
            (f32_info(&[1]), &[0.0f32]),
            f32_info(&[2]),
        );
        assert_eq!(y, vec![1.0, 0.0]);
        let y: Vec<f32> = run2(
            Op::Pow,
            (f32_info(&[2]), &[2.0f32, 9.0]),
            (f32_info(&[2]), &[3.0f32, 0.5]),
            f32_info(&[2]),
        );
        assert_eq!(y, vec![8.0, 3.0]);
    }

    #[test]
    fn int_arithmetic() {
        let i = |s: &[usize]| TensorInfo::new("t", DType::Int32, s.to_vec());
        let y: Vec<i32> = run2(
            Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            (i(&[4]), &[7i32, -7, 9, i32::MIN]),
            (i(&[4]), &[2i32, 2, -3, -1]),
            i(&[4]),
        );
        assert_eq!(y, vec![3, -3, -3, i32::MIN]);
        let inputs = [
            Some(TestInput::from_slice(i(&[2]), &[1i32, 2])),
            Some(TestInput::from_slice(i(&[2]), &[1i32, 0])),
        ];
        let err = run_node(
            &ScalarBackend,
            &Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            &inputs,
            &[i(&[2])],
        );
        assert!(err.is_err());
        let y: Vec<i32> = run2(
            Op::Pow,
            (i(&[3]), &[3i32, -2, 2]),
            (i(&[1]), &[3i32]),
            i(&[3]),
        );
        assert_eq!(y, vec![27, -8, 8]);
        let y: Vec<i32> = run2(
            add(Activation::Relu),
            (i(&[2]), &[i32::MAX, -5]),
            (i(&[1]), &[1i32]),
            i(&[2]),
        );
        assert_eq!(y, vec![0, 0]); // wraps to MIN, then relu
    }

    /// Float model of quantized ADD: dequantize, add, requantize.
    fn add_model(
        a: i8,
        b: i8,
        (s1, z1): (f32, i32),
        (s2, z2): (f32, i32),
        (so, zo): (f32, i32),
    ) -> f64 {
        let r = f64::from(s1) * f64::from(i32::from(a) - z1)
            + f64::from(s2) * f64::from(i32::from(b) - z2);
        r / f64::from(so) + f64::from(zo)
    }

    #[test]
    fn int8_add_sub_mul_close_to_float_model() {
        let (qa, qb, qo) = ((0.0078, -1), (0.0037, -78), (0.0115, -26));
        let a: Vec<i8> = (-128..=127).step_by(5).map(|v| v as i8).collect();
        let b: Vec<i8> = (-128..=127).step_by(7).map(|v| v as i8).collect();
        let (na, nb) = (a.len(), b.len());
        let y: Vec<i8> = run2(
            add(Activation::None),
            (q(DType::Int8, &[na, 1], qa.0, qa.1 as i64), &a),
            (q(DType::Int8, &[nb], qb.0, qb.1 as i64), &b),
            q(DType::Int8, &[na, nb], qo.0, qo.1 as i64),
        );
        for (i, &x) in a.iter().enumerate() {
            for (j, &z) in b.iter().enumerate() {
                let want = add_model(x, z, qa, qb, qo).clamp(-128.0, 127.0);
                let got = f64::from(y[i * nb + j]);
                assert!((got - want).abs() <= 0.51, "{x} + {z}: {got} vs {want}");
            }
        }
        let y: Vec<i8> = run2(
            Op::Mul(MulAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int8, &[3], 0.1, 0), &[10i8, -20, 127]),
            (q(DType::Int8, &[1], 0.05, 2), &[22i8]),
            q(DType::Int8, &[3], 0.1, 1),
        );
        // 1.0 * 1.0 = 1.0 -> 10 + 1; -2 -> -20 + 1; 12.7 -> saturates.
        assert_eq!(y, vec![11, -19, 127]);
    }

    #[test]
    fn int8_add_matches_hand_computed_fixed_point() {
        // Scales 0.5 and 0.25, output 1.0: multipliers 0.5 and 0.25 of 2^20-shifted values.
        let y: Vec<i8> = run2(
            add(Activation::Relu),
            (q(DType::Int8, &[4], 0.5, 0), &[3i8, -8, 100, 1]),
            (q(DType::Int8, &[4], 0.25, 0), &[2i8, 0, 127, 1]),
            q(DType::Int8, &[4], 1.0, -10),
        );
        // 1.5+0.5=2 -> -8; -4 -> -14 clamped at relu (q(0) = -10); 50+31.75=81.75 -> 72;
        // 0.5+0.25=0.75 -> round 1 -> -9.
        assert_eq!(y, vec![-8, -10, 72, -9]);
    }

    #[test]
    fn int8_div_and_zero_divisor() {
        let y: Vec<i8> = run2(
            Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int8, &[4], 0.1, 0), &[10i8, -30, 127, 0]),
            (q(DType::Int8, &[4], 0.1, 0), &[20i8, 10, -10, 5]),
            q(DType::Int8, &[4], 0.05, 0),
        );
        // 0.5 -> 10, -3 -> -60, -12.7 -> -128 (saturated), 0 -> 0.
        assert_eq!(y, vec![10, -60, -128, 0]);
        let inputs = [
            Some(TestInput::from_slice(q(DType::Int8, &[1], 0.1, 0), &[1i8])),
            Some(TestInput::from_slice(q(DType::Int8, &[1], 0.1, 3), &[3i8])),
        ];
        let err = run_node(
            &ScalarBackend,
            &Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            &inputs,
            &[q(DType::Int8, &[1], 0.1, 0)],
        );
        assert!(err.is_err());
    }

    /// Dividends of 0 and ±1 with a small multiplier push LiteRT's rounding shift past 31 bits,
    /// and huge scale ratios make it negative; these outputs were read from LiteRT
    /// (BUILTIN_REF) for the same parameters.
    #[test]
    fn int8_div_matches_litert_out_of_range_shifts() {
        let y: Vec<i8> = run2(
            Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int8, &[3], 0.01, 5), &[5i8, 4, 6]),
            (q(DType::Int8, &[3], 0.2, 0), &[1i8, 2, 3]),
            q(DType::Int8, &[3], 0.1, -7),
        );
        assert_eq!(y, vec![-6, -128, 127]);
        let y: Vec<i8> = run2(
            Op::Div(DivAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int8, &[4], 1.0, 0), &[127i8, 100, -128, 64]),
            (q(DType::Int8, &[4], 1e-4, 0), &[1i8, 1, 1, 2]),
            q(DType::Int8, &[4], 1e-4, 0),
        );
        assert_eq!(y, vec![3, 3, -3, 1]);
    }

    #[test]
    fn int16_pot_add() {
        let op = Op::Add(AddAttrs {
            fused_activation_function: Activation::None,
            pot_scale_int16: true,
        });
        let y: Vec<i16> = run2(
            op,
            (
                q(DType::Int16, &[3], 1.0 / 4096.0, 0),
                &[4096i16, -3, 30000],
            ),
            (q(DType::Int16, &[3], 1.0 / 1024.0, 0), &[1024i16, 1, 2000]),
            q(DType::Int16, &[3], 1.0 / 1024.0, 0),
        );
        // 1 + 1 = 2 -> 2048; -3/4 -> -1 (rounded away) + 1 = 0; 7500 + 2000 = 9500.
        assert_eq!(y, vec![2048, 0, 9500]);
    }

    #[test]
    fn int16_mul_to_int8() {
        let y: Vec<i8> = run2(
            Op::Mul(MulAttrs {
                fused_activation_function: Activation::None,
            }),
            (q(DType::Int16, &[2], 1.0 / 32768.0, 0), &[16384i16, -32768]),
            (q(DType::Int16, &[2], 1.0 / 32768.0, 0), &[16384i16, 16384]),
            q(DType::Int8, &[2], 1.0 / 128.0, 3),
        );
        // 0.25 -> 8192 >> 8 = 32 (+3); -0.5 -> -16384 >> 8 = -64 (+3).
        assert_eq!(y, vec![35, -61]);
    }

    #[test]
    fn rejects_bad_shapes_and_types() {
        let inputs = [
            Some(TestInput::from_slice(f32_info(&[2, 3]), &[0f32; 6])),
            Some(TestInput::from_slice(f32_info(&[3, 2]), &[0f32; 6])),
        ];
        assert!(
            run_node(
                &ScalarBackend,
                &add(Activation::None),
                &inputs,
                &[f32_info(&[2, 3])]
            )
            .is_err()
        );
        let inputs = [
            Some(TestInput::from_slice(f32_info(&[2]), &[0f32; 2])),
            Some(TestInput::from_slice(
                TensorInfo::new("t", DType::Int32, vec![2]),
                &[0i32; 2],
            )),
        ];
        assert!(
            run_node(
                &ScalarBackend,
                &add(Activation::None),
                &inputs,
                &[f32_info(&[2])]
            )
            .is_err()
        );
    }
}
