//! Fixed-point arithmetic of quantized kernels, bit-exact with LiteRT's reference build
//! (double-rounding requantization, i.e. without `TFLITE_SINGLE_ROUNDING`).
//!
//! Rounding rules, stated once: `round()` of a float is half away from zero (C's `round`);
//! integer division truncates toward zero; `>>` on signed integers is arithmetic.
//!
//! This is the one home of the bit-exact arithmetic, and the oracle that SIMD kernels and GPU
//! shader emulations are tested against; every function names the LiteRT or gemmlowp function
//! it matches:
//! - this module: quantized multipliers and requantization (`quantization_util.h`,
//!   `common.h`), activation ranges, and C's rounding and float-to-int conversion;
//! - [`fixedpoint`]: gemmlowp's 32-bit fixed-point functions (exp, reciprocal, log, inverse
//!   square root) of softmax, division, RSQRT and the LSTM's layer normalization;
//! - [`fixed16`]: the same gemmlowp functions on 16-bit raws (the integer LSTM's gates);
//! - [`lut`]: LiteRT's lookup tables of elementwise functions (`LUTPopulate`, `LUTLookup`).
//!
//! The float functions kernels share (`exp`, `tanh`, ... through `std` or `libm`) are in
//! [`crate::math`].

pub mod fixed16;
pub mod fixedpoint;
pub mod lut;

use crate::KernelError;
use tflrs_ir::Activation;

/// Splits a positive real multiplier into a Q31 fixed-point multiplier and a power-of-two
/// exponent: `m ~= q * 2^(shift - 31)`, with `q` in `[2^30, 2^31)`. Zero maps to `(0, 0)`;
/// multipliers below about `2^-31` flush to `(0, 0)`.
///
/// Fails for a multiplier that is not finite or needs a shift above 30 (a real multiplier of
/// 2^30 or more, which only absurd scale ratios give): LiteRT's arithmetic is undefined there
/// (a shift of 32 or more), so tflrs refuses such nodes when it prepares them.
pub fn quantize_multiplier(m: f64) -> Result<(i32, i32), KernelError> {
    if !m.is_finite() {
        return Err(KernelError::invalid(alloc::format!(
            "quantized multiplier {m} is not finite (check the tensors' scales)"
        )));
    }
    let (q, shift) = quantize_multiplier_unchecked(m);
    if shift > 30 {
        return Err(KernelError::invalid(alloc::format!(
            "quantized multiplier {m:e} is too large for fixed-point arithmetic (check the \
             tensors' scales)"
        )));
    }
    Ok((q, shift))
}

/// [`quantize_multiplier`] without its refusals, for callers that cap the multiplier
/// themselves (softmax's input scaling); `m` must be finite.
pub fn quantize_multiplier_unchecked(m: f64) -> (i32, i32) {
    if m == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(m);
    let mut q_fixed = round_f64(q * (1i64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// `frexp`: `m = q * 2^e` with `|q|` in `[0.5, 1)`.
pub fn frexp(m: f64) -> (f64, i32) {
    libm::frexp(m)
}

/// `round` of C: half away from zero.
pub fn round_f64(x: f64) -> f64 {
    libm::round(x)
}

/// `round` of C for f32: half away from zero.
pub fn round_f32(x: f32) -> f32 {
    libm::roundf(x)
}

/// `static_cast<int32_t>(float)` as x86-64 executes it (`cvttss2si`): truncation toward zero,
/// and `i32::MIN` for NaN and out-of-range values, where C leaves the result undefined and
/// LiteRT's results are what x86 makes of it.
#[inline]
pub fn f32_to_i32_x86(x: f32) -> i32 {
    // NaN is outside every range.
    if (-2_147_483_648.0..2_147_483_648.0).contains(&x) {
        x as i32
    } else {
        i32::MIN
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` on int32: `round(a * b / 2^31)`, saturating
/// the single overflow case `a == b == i32::MIN`.
#[inline]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    // Division truncating toward zero, as in C.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` on int16.
#[inline]
pub fn srdhm_i16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 {
        1i32 << 14
    } else {
        1 - (1i32 << 14)
    };
    ((ab + nudge) / (1i32 << 15)) as i16
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded half away from zero.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// gemmlowp's `RoundingDivideByPOT` for any exponent. Quantized DIV leaves `0..=31` for
/// dividends with 31 bits of headroom (0 and -1) and for huge rescaling ratios; C leaves those
/// shifts undefined, and LiteRT's results are what x86 makes of them: the 64-bit mask's shift
/// count taken mod 64 (then truncated to 32 bits), the 32-bit shift count mod 32.
#[inline]
pub fn rounding_divide_by_pot_x86(x: i32, exponent: i32) -> i32 {
    if (0..=31).contains(&exponent) {
        return rounding_divide_by_pot(x, exponent);
    }
    let mask = 1i64.wrapping_shl(exponent as u32).wrapping_sub(1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    x.wrapping_shr(exponent as u32) + i32::from(remainder > threshold)
}

/// gemmlowp's `RoundingDivideByPOT` on int16.
#[inline]
pub fn rounding_divide_by_pot_i16(x: i16, exponent: i32) -> i16 {
    let mask = ((1i32 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i16::from(x < 0);
    (x >> exponent) + i16::from(remainder > threshold)
}

/// A Q31 multiplier rounded to Q15 (LiteRT's `DownScaleInt32ToInt16Multiplier`).
pub fn downscale_multiplier(m: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        i16::MAX
    } else {
        ((m + ROUNDING) >> 16) as i16
    }
}

/// `x * 2^amount` saturated to int16 (LiteRT's `SaturatingLeftShift` of `hard_swish.h`).
pub fn saturating_left_shift_i16(x: i16, amount: i32) -> i16 {
    let wide = if amount >= 48 {
        i64::from(x.signum()) << 48
    } else {
        i64::from(x) << amount
    };
    wide.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// `a * b / 2^15` truncated toward zero, saturating `-1 * -1` (LiteRT's
/// `SaturatingDoublingHighMul` of `hard_swish.h`, ARM's SQDMULH).
pub fn saturating_doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// gemmlowp's `RoundingDivideByPOT` of an int16 by `2^exponent`, also for exponents of 16 and
/// more (where the int16 mask wraps the way gemmlowp's does; LiteRT's HARD_SWISH reaches them).
pub fn rounding_divide_by_pot_i16_any(x: i16, exponent: i32) -> i16 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1i64 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i16::from(x < 0);
    let shifted = (i32::from(x) >> exponent) as i16;
    shifted.wrapping_add(i16::from(remainder > threshold))
}

/// LiteRT's `MultiplyByQuantizedMultiplier(int32 x, q, shift)` (double rounding).
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, q: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(srdhm(x.wrapping_mul(1 << left), q), right)
}

/// LiteRT's `MultiplyByQuantizedMultiplier(int64 x, q, shift)`, used by int16 kernels with
/// 64-bit accumulators: the multiplier is reduced to 16 bits first.
#[inline]
pub fn multiply_by_quantized_multiplier_i64(x: i64, q: i32, shift: i32) -> i32 {
    let reduced = if q < 0x7FFF_0000 {
        (q + (1 << 15)) >> 16
    } else {
        0x7FFF
    };
    let total_shift = 15 - shift;
    let x = x
        .wrapping_mul(i64::from(reduced))
        .wrapping_add(1i64 << (total_shift - 1));
    (x >> total_shift) as i32
}

/// LiteRT's `MultiplyByQuantizedMultiplierSmallerThanOneExp`.
#[inline]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    q: i32,
    left_shift: i32,
) -> i32 {
    rounding_divide_by_pot(srdhm(x, q), -left_shift)
}

/// LiteRT's `MultiplyByQuantizedMultiplierGreaterThanOne`.
#[inline]
pub fn multiply_by_quantized_multiplier_greater_than_one(x: i32, q: i32, left_shift: i32) -> i32 {
    srdhm(x.wrapping_mul(1 << left_shift), q)
}

/// LiteRT's `CheckedLog2`: whether `x` is a power of two (within 1e-3 in the exponent), and its
/// rounded base-2 logarithm.
pub fn checked_log2(x: f32) -> (bool, i32) {
    let x_log2 = crate::math::logf(x) * (1.0 / crate::math::logf(2.0));
    let rounded = round_f32(x_log2);
    let frac = x_log2 - rounded;
    (frac.abs() < 1e-3, rounded as i32)
}

/// The clamp range of a fused activation in the quantized domain (LiteRT's
/// `CalculateActivationRangeQuantized`), within `[qmin, qmax]` of the output type.
pub fn activation_range_quantized(
    act: Activation,
    scale: f32,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
) -> (i32, i32) {
    let quantize = |f: f32| zero_point + round_f32(f / scale) as i32;
    match act {
        Activation::Relu => (qmin.max(quantize(0.0)), qmax),
        Activation::Relu6 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
        Activation::ReluN1To1 => (qmin.max(quantize(-1.0)), qmax.min(quantize(1.0))),
        _ => (qmin, qmax),
    }
}

/// The clamp range of a fused activation on floats (LiteRT's `CalculateActivationRange`).
///
/// Unbounded sides are `f32::MIN` / `f32::MAX`, not infinities, as in LiteRT: a result that
/// overflows to infinity comes out as the largest finite float.
pub fn activation_range_f32(act: Activation) -> (f32, f32) {
    match act {
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
        _ => (f32::MIN, f32::MAX),
    }
}

/// Applies a float fused activation the way LiteRT's `ActivationFunctionWithMinMax` does
/// (`min(max(x, lo), hi)`).
#[inline]
pub fn clamp_f32(x: f32, lo: f32, hi: f32) -> f32 {
    let y = if x < lo { lo } else { x };
    if y > hi { hi } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_known_values() {
        let q = |m| quantize_multiplier(m).unwrap();
        assert_eq!(q(0.0), (0, 0));
        assert_eq!(q(0.5), (1 << 30, 0));
        assert_eq!(q(1.0), (1 << 30, 1));
        assert_eq!(q(0.25), (1 << 30, -1));
        // Rounds up to 2^31 and renormalizes.
        assert_eq!(q(0.999_999_999_9), (1 << 30, 1));
        assert_eq!(q(1e-12), (0, 0));
        assert_eq!(q(2f64.powi(29)), (1 << 30, 30));
        // Shifts of 31 and more, and non-finite multipliers, are refused.
        assert!(quantize_multiplier(2f64.powi(30)).is_err());
        assert!(quantize_multiplier(1e70).is_err());
        assert!(quantize_multiplier(f64::NAN).is_err());
        assert!(quantize_multiplier(f64::INFINITY).is_err());
    }

    #[test]
    fn f32_to_i32_x86_truncates_and_saturates_to_min() {
        assert_eq!(f32_to_i32_x86(2.9), 2);
        assert_eq!(f32_to_i32_x86(-2.9), -2);
        assert_eq!(f32_to_i32_x86(-2_147_483_648.0), i32::MIN);
        assert_eq!(f32_to_i32_x86(2_147_483_648.0), i32::MIN);
        assert_eq!(f32_to_i32_x86(f32::NAN), i32::MIN);
        assert_eq!(f32_to_i32_x86(f32::NEG_INFINITY), i32::MIN);
    }

    #[test]
    fn srdhm_matches_definition() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(srdhm(-3, 1 << 30), -1); // -1.5 rounds away from zero
        assert_eq!(srdhm(3, 1 << 30), 2); // 1.5 rounds away from zero
        assert_eq!(srdhm(5, 1 << 29), 1); // 1.25
    }

    #[test]
    fn rounding_divide_by_pot_rounds_half_away() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
    }

    #[test]
    fn requantize_round_trip() {
        let (q, s) = quantize_multiplier(0.0123).unwrap();
        let y = multiply_by_quantized_multiplier(10_000, q, s);
        assert_eq!(y, 123);
        let (q, s) = quantize_multiplier(3.5).unwrap();
        assert_eq!(multiply_by_quantized_multiplier(10, q, s), 35);
    }

    #[test]
    fn activation_ranges() {
        assert_eq!(
            activation_range_quantized(Activation::Relu6, 0.1, -128, -128, 127),
            (-128, -68)
        );
        assert_eq!(
            activation_range_quantized(Activation::None, 0.1, 3, -128, 127),
            (-128, 127)
        );
    }
}
