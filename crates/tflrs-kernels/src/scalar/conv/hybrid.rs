//! On-the-fly input quantization of hybrid (dynamic-range) kernels.
//!
//! LiteRT's x86 builds compile its NEON tensor utilities through the NEON_2_SSE translation
//! layer (`USE_NEON` is set whenever SSE4.1 is), so the quantization functions hybrid kernels
//! call are `NeonSymmetricQuantizeFloats` and `NeonAsymmetricQuantizeFloats`, not the portable
//! ones. Their arithmetic differs from the portable code in ways visible in float outputs: the
//! asymmetric range is subtracted in float, the reciprocal scale is taken in double, and the
//! blocks of 8 values round by adding +-0.5 and truncating (the NEON `RoundToNearest` without
//! ARMv8 rounding instructions) while the tail uses `roundf`. This module reproduces them.

use crate::scalar::qmath::{round_f32, round_f64};

/// Values quantized in vector blocks (two NEON registers of 4 floats).
const BLOCK: usize = 8;

/// NEON `RoundToNearest` on a target without `vcvta`: add +-0.5 in float, truncate.
#[inline]
fn round_block(x: f32) -> i32 {
    let half = if x < 0.0 { -0.5f32 } else { 0.5 };
    (x + half) as i32
}

/// `out[i] = store(round(values[i] * inv))`, rounding as the NEON code does: whole blocks of
/// [`BLOCK`] with [`round_block`], the tail with `roundf`.
fn scale_round(values: &[f32], out: &mut [i8], inv: f32, store: impl Fn(i32) -> i8) {
    let blocks = values.len() / BLOCK * BLOCK;
    for (i, (o, &v)) in out.iter_mut().zip(values).enumerate() {
        let x = v * inv;
        let q = if i < blocks {
            round_block(x)
        } else {
            round_f32(x) as i32
        };
        *o = store(q);
    }
}

/// The smallest and largest value, as `std::minmax_element` finds them for ordinary floats.
fn min_max(values: &[f32]) -> (f32, f32) {
    let mut lo = values[0];
    let mut hi = values[0];
    for &v in &values[1..] {
        if v < lo {
            lo = v;
        }
        if v > hi {
            hi = v;
        }
    }
    (lo, hi)
}

/// Quantizes `values` symmetrically to `[-127, 127]`; returns the scaling factor
/// (`range / 127`, or 1 for an all-zero row).
pub(super) fn quantize_symmetric(values: &[f32], out: &mut [i8]) -> f32 {
    if values.is_empty() {
        return 1.0;
    }
    let (lo, hi) = min_max(values);
    let (a, b) = (lo.abs(), hi.abs());
    let range = if a < b { b } else { a };
    if range == 0.0 {
        out.fill(0);
        return 1.0;
    }
    scale_round(values, out, 127.0f32 / range, |q| q.clamp(-127, 127) as i8);
    range / 127.0
}

/// Quantizes `values` asymmetrically to `[-128, 127]` with a range that includes 0; returns the
/// scaling factor and the zero point.
pub(super) fn quantize_asymmetric(values: &[f32], out: &mut [i8]) -> (f32, i32) {
    if values.is_empty() {
        return (1.0, 0);
    }
    let (lo, hi) = min_max(values);
    let rmin = if lo < 0.0 { lo } else { 0.0 };
    let rmax = if 0.0 < hi { hi } else { 0.0 };
    if rmin == rmax {
        out.fill(0);
        return (1.0, 0);
    }
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    let scale = f64::from(rmax - rmin) / (qmax - qmin);
    let (rmin, rmax) = (f64::from(rmin), f64::from(rmax));
    let zp_from_min = qmin - rmin / scale;
    let zp_from_max = qmax - rmax / scale;
    let err_min = qmin.abs() + (rmin / scale).abs();
    let err_max = qmax.abs() + (rmax / scale).abs();
    let zp_double = if err_min < err_max {
        zp_from_min
    } else {
        zp_from_max
    };
    let zp = if zp_double <= qmin {
        -128
    } else if zp_double >= qmax {
        127
    } else {
        round_f64(zp_double) as i32
    };
    let sf = scale as f32;
    let inv = if sf == 0.0 {
        0.0
    } else {
        (1.0 / f64::from(sf)) as f32
    };
    scale_round(values, out, inv, |q| {
        q.saturating_add(zp).clamp(-128, 127) as i8
    });
    (sf, zp)
}

/// Quantizes one row with the scheme the kernel uses; returns scaling factor and zero point.
pub(super) fn quantize_row(values: &[f32], out: &mut [i8], asymmetric: bool) -> (f32, i32) {
    if asymmetric {
        quantize_asymmetric(values, out)
    } else {
        (quantize_symmetric(values, out), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_scales_by_largest_magnitude() {
        let mut q = [0i8; 4];
        let sf = quantize_symmetric(&[-2.0, 1.0, 0.5, 0.0], &mut q);
        assert_eq!(sf, 2.0 / 127.0);
        assert_eq!(q, [-127, 64, 32, 0]);
        assert_eq!(quantize_symmetric(&[0.0, 0.0], &mut q[..2]), 1.0);
        assert_eq!(&q[..2], &[0, 0]);
    }

    #[test]
    fn asymmetric_includes_zero() {
        let mut q = [0i8; 3];
        let (sf, zp) = quantize_asymmetric(&[1.0, 2.0, 3.0], &mut q);
        // Range [0, 3]: scale 3/255, zero point -128.
        assert_eq!(sf, (3.0f64 / 255.0) as f32);
        assert_eq!(zp, -128);
        assert_eq!(q[2], 127);
        let (sf, zp) = quantize_asymmetric(&[-1.0, 1.0, 0.0], &mut q);
        assert_eq!(sf, (2.0f64 / 255.0) as f32);
        // Both ends give -0.5; the one from the max has the smaller error and rounds away
        // from zero.
        assert_eq!(zp, -1);
        assert_eq!((q[0], q[2]), (-128, -1));
    }
}
