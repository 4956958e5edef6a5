//! gemmlowp's fixed-point `tanh` and `logistic` on 16-bit raws, as LiteRT's integer LSTM
//! applies them to its int16 gates (`ApplySigmoid`, `ApplyTanh`). The 32-bit functions of the
//! same names are in [`fixedpoint`](super::fixedpoint); the inverse square root of the LSTM's
//! integer layer normalization is [`inv_sqrt_quantized_multiplier_exp`](super::fixedpoint::inv_sqrt_quantized_multiplier_exp).
//!
//! A raw `r` in format `Qm` ("m integer bits") stands for `r / 2^(15 - m)`. gemmlowp states
//! its constants once as 32-bit raws and rounds them to 16 bits (a rounding shift by 16), so
//! the constants below go through `c16` rather than being rounded anew from real numbers:
//! that is what makes the results bit-exact. 16-bit sums wrap, except the one saturating add
//! gemmlowp does for narrow types (in the exp polynomial).

use super::fixedpoint::{C48_OVER_17, CNEG32_OVER_17, EXP_BARREL, EXP_MINUS_ONE_EIGHTH, ONE_THIRD};
use super::{rounding_divide_by_pot_i16, srdhm_i16};

/// A gemmlowp constant given as a 32-bit raw, rounded to the 16-bit raw of the same format.
const fn c16(raw32: i32) -> i16 {
    // RoundingDivideByPOT(raw32, 16), written out so that it can be evaluated at compile time.
    let mask = (1i32 << 16) - 1;
    let remainder = raw32 & mask;
    let threshold = (mask >> 1) + if raw32 < 0 { 1 } else { 0 };
    ((raw32 >> 16) + if remainder > threshold { 1 } else { 0 }) as i16
}

/// The raw of 1.0 in `Q0` (its largest value) and in `Q2`.
const ONE_Q0: i16 = i16::MAX;
const ONE_Q2: i16 = 1 << 13;

/// `x * 2^exponent`, saturating to the int16 range when shifting left and rounding half away
/// from zero when shifting right (gemmlowp's `SaturatingRoundingMultiplyByPOT`).
fn mul_by_pot(x: i16, exponent: i32) -> i16 {
    if exponent > 0 {
        let threshold = (1i32 << (15 - exponent)) - 1;
        if i32::from(x) > threshold {
            i16::MAX
        } else if i32::from(x) < -threshold {
            i16::MIN
        } else {
            (i32::from(x) << exponent) as i16
        }
    } else if exponent < 0 {
        rounding_divide_by_pot_i16(x, -exponent)
    } else {
        x
    }
}

/// Converts a raw from `Q(src)` to `Q(dst)` (gemmlowp's `Rescale`).
fn rescale(x: i16, src: i32, dst: i32) -> i16 {
    mul_by_pot(x, src - dst)
}

/// `(a + b) / 2` rounded half away from zero (gemmlowp's `RoundingHalfSum` on int16).
fn rounding_half_sum(a: i16, b: i16) -> i16 {
    let sum = i32::from(a) + i32::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i16
}

/// `exp(a)` for `a` in `[-1/4, 0)`, both in `Q0`.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i16) -> i16 {
    const CONSTANT_TERM: i16 = c16(EXP_MINUS_ONE_EIGHTH);
    const ONE_THIRD_16: i16 = c16(ONE_THIRD);
    let x = a.wrapping_add(1 << 12); // a + 1/8
    let x2 = srdhm_i16(x, x);
    let x3 = srdhm_i16(x2, x);
    let x4 = srdhm_i16(x2, x2);
    let x4_over_4 = mul_by_pot(x4, -2);
    let poly = mul_by_pot(
        srdhm_i16(x4_over_4.wrapping_add(x3), ONE_THIRD_16).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.saturating_add(srdhm_i16(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// `exp(a)` for `a <= 0` in `Q(integer_bits)`; the result is in `Q0`.
fn exp_on_negative_values(a: i16, integer_bits: i32) -> i16 {
    // gemmlowp's 32-bit barrel constants, each rounded to 16 bits.
    const BARREL: [(i32, i16); 7] = {
        let mut out = [(0, 0); 7];
        let mut i = 0;
        while i < 7 {
            out[i] = (EXP_BARREL[i].0, c16(EXP_BARREL[i].1));
            i += 1;
        }
        out
    };
    let fractional_bits = 15 - integer_bits;
    let one_quarter: i16 = 1 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    for (exponent, multiplier) in BARREL {
        if integer_bits > exponent {
            let bit = 1i32 << (fractional_bits + exponent);
            if i32::from(remainder) & bit != 0 {
                result = srdhm_i16(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        // Inputs below -32 give 0.
        let clamp = c16(-(1i32 << (36 - integer_bits)));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = ONE_Q0;
    }
    result
}

/// The Newton-Raphson iterations shared by the two divisions below: `x ~= 1 / half_denominator`
/// in `Q2`, where `half_denominator = (1 + a) / 2`.
fn reciprocal_of_half_denominator(a: i16) -> i16 {
    const C48_OVER_17_16: i16 = c16(C48_OVER_17);
    const CNEG32_OVER_17_16: i16 = c16(CNEG32_OVER_17);
    let half_denominator = rounding_half_sum(a, ONE_Q0);
    let mut x = C48_OVER_17_16.wrapping_add(srdhm_i16(half_denominator, CNEG32_OVER_17_16));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm_i16(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(srdhm_i16(x, one_minus), 4, 2));
    }
    x
}

/// `1 / (1 + a)` for `a` in `[0, 1)`, both in `Q0`.
fn one_over_one_plus_x_for_x_in_0_1(a: i16) -> i16 {
    // x / 2 in Q1 is the same raw as x in Q2.
    rescale(reciprocal_of_half_denominator(a), 1, 0)
}

/// `(1 - a) / (1 + a)` for `a` in `[0, 1)`, both in `Q0`.
fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i16) -> i16 {
    rescale(reciprocal_of_half_denominator(a).wrapping_sub(ONE_Q2), 2, 0)
}

/// `tanh(a)` for `a` in `Q(integer_bits)`, `integer_bits` in `0..=6`; the result is in `Q0`
/// (gemmlowp's `tanh(FixedPoint<int16_t, integer_bits>)`, LiteRT's `ApplyTanh`).
pub fn tanh(a: i16, integer_bits: i32) -> i16 {
    if a == 0 {
        return 0;
    }
    let negative = a < 0;
    let n = if negative { a } else { a.wrapping_neg() };
    // -tanh(n) for n <= 0 is (1 - e^(2n)) / (1 + e^(2n)); 2n is the same raw one format up.
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1));
    if negative { t.wrapping_neg() } else { t }
}

/// `1 / (1 + exp(-a))` for `a` in `Q(integer_bits)`; the result is in `Q0` (gemmlowp's
/// `logistic(FixedPoint<int16_t, integer_bits>)`, LiteRT's `ApplySigmoid`).
pub fn logistic(a: i16, integer_bits: i32) -> i16 {
    if a == 0 {
        return c16(1 << 30);
    }
    let positive = a > 0;
    let abs = if positive { a } else { a.wrapping_neg() };
    let result_if_positive =
        one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), integer_bits));
    if positive {
        result_if_positive
    } else {
        ONE_Q0.wrapping_sub(result_if_positive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_f64(raw: i16, integer_bits: i32) -> f64 {
        f64::from(raw) / f64::from(1u32 << (15 - integer_bits))
    }

    #[test]
    fn constants_round_like_gemmlowp() {
        assert_eq!(c16(1 << 30), 16384);
        assert_eq!(c16(1_895_147_668), 28918); // exp(-1/8) * 2^15 = 28917.6
        assert_eq!(c16(242), 0);
        assert_eq!(c16(-(1 << 30)), -16384);
        assert_eq!(c16(1_515_870_810), 23130); // 48/17 in Q2
    }

    #[test]
    fn tanh_and_logistic_are_close_to_the_real_functions() {
        for integer_bits in 0..=6 {
            let mut raw = i16::MIN;
            loop {
                let x = to_f64(raw, integer_bits);
                let t = to_f64(tanh(raw, integer_bits), 0);
                // gemmlowp's 16-bit polynomial is good to a few units of 2^-15 near 0 and about
                // 2^-12 where the exp barrel shifter chains several rounded products.
                assert!((t - x.tanh()).abs() < 5e-4, "tanh({x}) = {t}");
                if integer_bits <= 5 {
                    let s = to_f64(logistic(raw, integer_bits), 0);
                    let expect = 1.0 / (1.0 + (-x).exp());
                    assert!((s - expect).abs() < 5e-4, "logistic({x}) = {s}");
                }
                if raw > i16::MAX - 97 {
                    break;
                }
                raw += 97;
            }
        }
    }

    #[test]
    fn exact_points() {
        assert_eq!(tanh(0, 3), 0);
        assert_eq!(logistic(0, 3), 16384);
        // Saturated ends: tanh(-8) and tanh(8) round to -1 and 1 - 2^-15.
        assert_eq!(tanh(i16::MIN, 3), -32767);
        assert_eq!(tanh(i16::MAX, 3), 32767);
        // Odd symmetry, as gemmlowp negates the result for negative inputs.
        for raw in [1i16, 77, 4096, 20000] {
            assert_eq!(tanh(-raw, 3), -tanh(raw, 3));
            assert_eq!(logistic(-raw, 3), i16::MAX - logistic(raw, 3));
        }
    }
}
