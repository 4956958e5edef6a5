//! gemmlowp-style fixed-point arithmetic on raw `i32` values, as LiteRT's reference kernels
//! use it (softmax, log-softmax, quantized division, reciprocal square root).
//!
//! A value in format `Qm` ("m integer bits") is a raw `i32` `r` standing for `r / 2^(31 - m)`,
//! so `Q0` covers `[-1, 1)`. Formats are tracked by the caller: the functions take the integer
//! bits they need as arguments and say which format they return.
//!
//! Rules that make results bit-exact with gemmlowp:
//! - a product of `Qa` and `Qb` is [`srdhm`] of the raws and is in format `Q(a+b)`;
//! - sums and differences of raws wrap (two's complement), as gemmlowp's plain `+`/`-` do;
//! - changing format ([`rescale`]) multiplies by a power of two with saturation on the way up
//!   and round-half-away-from-zero on the way down;
//! - the polynomial and Newton-Raphson constants are gemmlowp's own Q0/Q2 raws, since any other
//!   rounding of the same real numbers would change results.
//!
//! This module is shared by the unary, binary, softmax and LSTM families, and is the oracle
//! that vector and GPU kernels are tested against.

use super::{rounding_divide_by_pot, srdhm};

/// `x * 2^exponent`: saturating when shifting left, rounding half away from zero when shifting
/// right (gemmlowp's `SaturatingRoundingMultiplyByPOT`). `exponent` must be in `-31..=31`.
#[inline]
pub fn saturating_rounding_mul_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        let threshold = ((1i64 << (31 - exponent)) - 1) as i32;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x.wrapping_shl(exponent as u32)
        }
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        x
    }
}

/// Converts a raw from `Q(src_bits)` to `Q(dst_bits)` (gemmlowp's `Rescale<dst_bits>`).
#[inline]
pub fn rescale(x: i32, src_bits: i32, dst_bits: i32) -> i32 {
    saturating_rounding_mul_by_pot(x, src_bits - dst_bits)
}

/// `(a + b) / 2` rounded half away from zero, without overflow (gemmlowp's `RoundingHalfSum`).
#[inline]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// Saturating `a + b` on `i32` (gemmlowp's `SaturatingAdd`).
#[inline]
pub fn saturating_add(a: i32, b: i32) -> i32 {
    a.saturating_add(b)
}

/// Saturating `a - b` on `i32` (gemmlowp's `SaturatingSub`).
#[inline]
pub fn saturating_sub(a: i32, b: i32) -> i32 {
    a.saturating_sub(b)
}

/// The raw of 1.0 in format `Q(integer_bits)`, the largest raw for `Q0` (gemmlowp's
/// `FixedPoint::One()`).
#[inline]
pub fn one(integer_bits: i32) -> i32 {
    if integer_bits == 0 {
        i32::MAX
    } else {
        1 << (31 - integer_bits)
    }
}

/// Number of redundant sign bits of `x` (bits after the sign bit equal to it); 31 for 0 and -1
/// (gemmlowp's `CountLeadingSignBits`).
#[inline]
pub fn count_leading_sign_bits(x: i32) -> i32 {
    let magnitude = if x >= 0 { x } else { !x };
    magnitude.leading_zeros() as i32 - 1
}

/// `exp(-1/8)` in Q0, gemmlowp's raw (the constant term of its exp polynomial).
pub const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
/// `1/3` in Q0, gemmlowp's raw.
pub const ONE_THIRD: i32 = 715_827_883;
/// `exp(-2^k)` in Q0 for `k = -2..=4`, gemmlowp's raws (the barrel shifter of
/// `exp_on_negative_values`).
pub const EXP_BARREL: [(i32, i32); 7] = [
    (-2, 1_672_461_947),
    (-1, 1_302_514_674),
    (0, 790_015_084),
    (1, 290_630_308),
    (2, 39_332_535),
    (3, 720_401),
    (4, 242),
];
/// `48/17` in Q2, gemmlowp's raw (the Newton-Raphson reciprocal's starting point).
pub const C48_OVER_17: i32 = 1_515_870_810;
/// `-32/17` in Q2, gemmlowp's raw.
pub const CNEG32_OVER_17: i32 = -1_010_580_540;

/// `exp(a)` for `a` in `[-1/4, 0)`, both in Q0: a Taylor expansion around -1/8.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = EXP_MINUS_ONE_EIGHTH;
    // x = a + 1/8.
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = saturating_rounding_mul_by_pot(x4, -2);
    let poly = saturating_rounding_mul_by_pot(
        srdhm(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.wrapping_add(srdhm(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// `exp(a)` for `a <= 0` given in `Q(integer_bits)`; the result is in Q0 (gemmlowp's
/// `exp_on_negative_values`).
///
/// The input is split into a multiple of 1/4 and a remainder in `[-1/4, 0)`; the multiple is
/// applied bit by bit with the constants `exp(-2^k)`.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    for (exponent, multiplier) in EXP_BARREL {
        if integer_bits > exponent {
            let shift = fractional_bits + exponent;
            if remainder & (1i32 << shift) != 0 {
                result = srdhm(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        // -32.0 in the input format: everything below rounds to zero.
        let clamp = -(1i32 << (36 - integer_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = one(0);
    }
    result
}

/// Newton-Raphson for `1 / ((1 + a) / 2)` in Q2 (gemmlowp's iteration, three steps from the
/// 48/17 - 32/17 x starting point).
fn newton_raphson_reciprocal_q2(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, one(0));
    let mut x = C48_OVER_17.wrapping_add(srdhm(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm(half_denominator, x);
        let one_minus = one(2).wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(srdhm(x, one_minus), 4, 2));
    }
    x
}

/// `1 / (1 + a)` for `a` in `[0, 1)`, both in Q0 (gemmlowp's `one_over_one_plus_x_for_x_in_0_1`).
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = newton_raphson_reciprocal_q2(a);
    // Halving is exact (Q2 -> Q1 on the same raw); then Q1 -> Q0.
    rescale(x, 1, 0)
}

/// LiteRT's `GetReciprocal`: for `x > 0` in `Q(x_integer_digits)`, returns `(r, n)` with `r` in
/// Q0 such that `1 / x ~= r * 2^-n`.
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let num_bits_over_unit = x_integer_digits - headroom_plus_one as i32;
    let shifted = (x as u32).checked_shl(headroom_plus_one).unwrap_or(0);
    let shifted_sum_minus_one = shifted.wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

/// LiteRT's `GetInvSqrtQuantizedMultiplierExp`: a quantized multiplier and shift for
/// `1 / sqrt(input)`, `input >= 0`, with the shift's sign flipped by `reverse_shift` (-1).
pub fn inv_sqrt_quantized_multiplier_exp(input: i32, reverse_shift: i32) -> (i32, i32) {
    if input <= 1 {
        // 0 (invalid) and 1 are answered as 1 to avoid overflow below.
        return (i32::MAX, 0);
    }
    let mut input = input;
    let mut output_shift = 11;
    while input >= (1 << 29) {
        input /= 4;
        output_shift += 1;
    }
    let max_left_shift_bits = (input as u32).leading_zeros() as i32 - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    output_shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // Newton-Raphson in Q3, starting from 1.
    let fixedpoint_input = input >> 1;
    let half_input = saturating_rounding_mul_by_pot(fixedpoint_input, -1);
    let half_three = (1 << 28) + (1 << 27);
    let mut x = one(3);
    for _ in 0..5 {
        let x3 = rescale(srdhm(srdhm(x, x), x), 9, 3);
        x = rescale(
            srdhm(half_three, x).wrapping_sub(srdhm(half_input, x3)),
            6,
            3,
        );
    }
    // sqrt(2)/2 in Q0.
    x = srdhm(x, 1_518_500_250);
    let mut output_inv_sqrt = x;
    if output_shift < 0 {
        output_inv_sqrt <<= -output_shift;
        output_shift = 0;
    }
    (output_inv_sqrt, output_shift * reverse_shift)
}

/// `x * 2^exponent` saturating, for `exponent` in `0..=31` (LiteRT's
/// `SaturatingRoundingMultiplyByPOTParam`, which only shifts left).
fn saturating_shift_left(x: i32, exponent: i32) -> i32 {
    if exponent == 0 {
        return x;
    }
    saturating_rounding_mul_by_pot(x, exponent)
}

/// LiteRT's `log_x_for_x_greater_than_or_equal_to_1`: `ln(x)` for `x >= 1` given in
/// `Q(input_bits)`, returned in `Q(output_bits)`.
pub fn log_x_for_x_greater_than_or_equal_to_1(x: i32, input_bits: i32, output_bits: i32) -> i32 {
    let accum_bits = output_bits + 1;
    // ln 2, 0.5^(1/4), 0.5^(1/2), 1/4 and the rational-approximation coefficients, in Q0.
    const LOG_2: i32 = 1_488_522_236;
    const SQRT_SQRT_HALF: i32 = 1_805_811_301;
    const SQRT_HALF: i32 = 1_518_500_250;
    const ONE_QUARTER: i32 = 536_870_912;
    const ALPHA_N: i32 = 117_049_297;
    const ALPHA_D: i32 = 127_690_142;
    const ALPHA_I: i32 = 1_057_819_769;
    const ALPHA_F: i32 = 638_450_708;

    let shifted_quarter = rescale(ONE_QUARTER, 0, accum_bits);
    // The input reinterpreted as Q0; the binary exponent is worked out from its headroom.
    let z_a = x;
    let z_a_headroom_plus_1 = (z_a as u32).leading_zeros() as i32;
    let r_a_tmp = saturating_shift_left(z_a, z_a_headroom_plus_1 - 1);
    let r_a_raw = saturating_shift_left(srdhm(r_a_tmp, SQRT_HALF), 1);
    let z_a_pow_2_adj = saturating_add(
        saturating_shift_left(input_bits - z_a_headroom_plus_1, 31 - accum_bits),
        shifted_quarter,
    );
    let z_b = srdhm(z_a, SQRT_HALF);
    let z_b_headroom = (z_b as u32).leading_zeros() as i32 - 1;
    let r_b_raw = saturating_shift_left(z_a, z_b_headroom);
    let z_b_pow_2_adj = saturating_sub(
        saturating_shift_left(input_bits - z_b_headroom, 31 - accum_bits),
        shifted_quarter,
    );
    let r = r_a_raw.min(r_b_raw);
    let z_pow_2_adj = z_a_pow_2_adj.max(z_b_pow_2_adj);

    let p = rounding_half_sum(r, SQRT_SQRT_HALF);
    let mut q = r.wrapping_sub(SQRT_SQRT_HALF);
    q = q.wrapping_add(q);
    let common_sq = srdhm(q, q);
    let num = srdhm(q, r).wrapping_add(srdhm(srdhm(q, common_sq), ALPHA_N));
    let denom_minus_one_0 = srdhm(
        p,
        ALPHA_I
            .wrapping_add(q)
            .wrapping_add(srdhm(ALPHA_D, common_sq)),
    )
    .wrapping_add(srdhm(ALPHA_F, q));
    let recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one_0);
    let num_scaled = rescale(num, 0, accum_bits);
    rescale(
        srdhm(z_pow_2_adj, LOG_2).wrapping_add(srdhm(num_scaled, recip_denom)),
        accum_bits,
        output_bits,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_f64(raw: i32, integer_bits: i32) -> f64 {
        f64::from(raw) / (1u64 << (31 - integer_bits)) as f64
    }

    fn from_f64(x: f64, integer_bits: i32) -> i32 {
        (x * (1u64 << (31 - integer_bits)) as f64).round() as i32
    }

    #[test]
    fn exp_on_negative_values_is_close_to_exp() {
        for bits in [0, 4, 5, 6, 12] {
            for i in 0..200 {
                let x = -(i as f64) * 0.05;
                if x < -((1u64 << bits) as f64) {
                    continue;
                }
                let raw = exp_on_negative_values(from_f64(x, bits), bits);
                let got = to_f64(raw, 0);
                assert!(
                    (got - x.exp()).abs() < 2e-6,
                    "bits {bits} x {x}: {got} vs {}",
                    x.exp()
                );
            }
        }
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
    }

    #[test]
    fn reciprocal_and_inv_sqrt() {
        // 1 / 3 with 3 as an integer in Q31 terms (x_integer_digits = 31).
        let (r, n) = get_reciprocal(3, 31);
        let got = to_f64(r, 0) * 2f64.powi(-n);
        assert!((got - 1.0 / 3.0).abs() < 1e-8);
        for v in [2, 3, 10, 100, 12345, 1 << 20, 1 << 30] {
            let (m, s) = inv_sqrt_quantized_multiplier_exp(v, -1);
            let got = to_f64(m, 0) * 2f64.powi(s);
            let want = 1.0 / f64::from(v).sqrt();
            assert!((got / want - 1.0).abs() < 1e-5, "{v}: {got} vs {want}");
        }
    }

    #[test]
    fn inv_sqrt_matches_real_value() {
        for input in [2, 3, 100, 12345, 1 << 20, (1 << 29) + 7, i32::MAX] {
            let (m, shift) = inv_sqrt_quantized_multiplier_exp(input, -1);
            let value = f64::from(m) / f64::from(1u32 << 31) * 2f64.powi(shift);
            let expect = 1.0 / f64::from(input).sqrt();
            assert!(
                (value / expect - 1.0).abs() < 1e-5,
                "{input}: {value} vs {expect}"
            );
        }
        assert_eq!(inv_sqrt_quantized_multiplier_exp(1, -1), (i32::MAX, 0));
    }

    #[test]
    fn log_is_close_to_ln() {
        for x in [1.0, 1.5, 2.0, 10.0, 100.0, 1000.0, 4000.0] {
            let got = to_f64(
                log_x_for_x_greater_than_or_equal_to_1(from_f64(x, 12), 12, 5),
                5,
            );
            assert!((got - f64::ln(x)).abs() < 1e-6, "ln {x}: {got}");
        }
    }

    #[test]
    fn leading_sign_bits() {
        assert_eq!(count_leading_sign_bits(0), 31);
        assert_eq!(count_leading_sign_bits(-1), 31);
        assert_eq!(count_leading_sign_bits(1), 30);
        assert_eq!(count_leading_sign_bits(-2), 30);
        assert_eq!(count_leading_sign_bits(i32::MIN), 0);
        assert_eq!(count_leading_sign_bits(i32::MAX), 0);
    }
}
