//! Lookup tables of quantized elementwise functions, built the way LiteRT's `LUTPopulate`
//! builds them so that every entry matches bit for bit:
//!
//! - 8-bit tables have one entry per input value: dequantize in `f32`, apply the function in
//!   `f32`, multiply by the inverse output scale, round half away from zero, add the zero point,
//!   clamp (values beyond the `i32` range saturate, as LiteRT's tables show).
//! - int16 tables have 513 entries sampling the input range at 512 steps; a lookup interpolates
//!   linearly between two entries using the low 7 bits of the input. Each entry is biased by
//!   half the error of the interpolation at the step's midpoint. LiteRT builds these in `f32`
//!   (most operators) or `f64` (int16 softmax), which is kept here as [`LutFloat`].

use super::{round_f32, round_f64};

/// Entries of an int16 table (LiteRT's `lut_size<int16_t>()`).
pub const LUT16_SIZE: usize = 513;

/// An int16 lookup table, as LiteRT's `LUTPopulateInt16` fills it.
pub type Lut16 = [i16; LUT16_SIZE];

/// A table for an 8-bit type, indexed by the raw input byte (`value as u8`, see
/// [`Lut8Elem::slot`]): LiteRT's `LUTPopulate<int8_t/uint8_t>` with the function `f`.
pub fn lut8<T: Lut8Elem>(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    f: impl Fn(f32) -> f32,
) -> [T; 256] {
    let inverse_scale = 1.0 / output_scale;
    let mut lut = [T::default(); 256];
    for val in T::MIN..=T::MAX {
        let dequantized = input_scale * (val - input_zero_point) as f32;
        let transformed = f(dequantized);
        let rescaled = round_f32(transformed * inverse_scale);
        // Out-of-range results saturate (LiteRT's tables hold the type's maximum there).
        let quantized = (rescaled + output_zero_point as f32) as i32;
        lut[T::index(val)] = T::from_clamped(quantized.clamp(T::MIN, T::MAX));
    }
    lut
}

/// The 8-bit element types [`lut8`] builds tables for (int8 and uint8).
pub trait Lut8Elem: Copy + Default {
    /// Smallest value.
    const MIN: i32;
    /// Largest value.
    const MAX: i32;
    /// The table slot of value `v`.
    fn index(v: i32) -> usize;
    /// The value `v`, already within `MIN..=MAX`.
    fn from_clamped(v: i32) -> Self;
    /// The table slot of `self`.
    fn slot(self) -> usize;
}

impl Lut8Elem for i8 {
    const MIN: i32 = -128;
    const MAX: i32 = 127;
    fn index(v: i32) -> usize {
        usize::from(v as i8 as u8)
    }
    fn from_clamped(v: i32) -> Self {
        v as i8
    }
    fn slot(self) -> usize {
        usize::from(self as u8)
    }
}

impl Lut8Elem for u8 {
    const MIN: i32 = 0;
    const MAX: i32 = 255;
    fn index(v: i32) -> usize {
        v as usize
    }
    fn from_clamped(v: i32) -> Self {
        v as u8
    }
    fn slot(self) -> usize {
        usize::from(self)
    }
}

/// The float type an int16 table is computed in (LiteRT keeps `double` for softmax).
pub trait LutFloat:
    Copy
    + PartialOrd
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::Div<Output = Self>
{
    /// `v` converted.
    fn from_i32(v: i32) -> Self;
    /// Round half away from zero.
    fn round(self) -> Self;
    /// Truncating conversion of a value already within the int16 range.
    fn to_i16(self) -> i16;
}

impl LutFloat for f32 {
    fn from_i32(v: i32) -> Self {
        v as f32
    }
    fn round(self) -> Self {
        round_f32(self)
    }
    fn to_i16(self) -> i16 {
        self as i16
    }
}

impl LutFloat for f64 {
    fn from_i32(v: i32) -> Self {
        f64::from(v)
    }
    fn round(self) -> Self {
        round_f64(self)
    }
    fn to_i16(self) -> i16 {
        self as i16
    }
}

/// An int16 table of `f` (LiteRT's `LUTPopulateInt16`), computed in `F`.
pub fn lut16<F: LutFloat>(
    input_scale: F,
    input_zero_point: i32,
    output_scale: F,
    output_zero_point: i32,
    f: impl Fn(F) -> F,
) -> Lut16 {
    let input_min = input_scale * F::from_i32(i32::from(i16::MIN) - input_zero_point);
    let input_max = input_scale * F::from_i32(i32::from(i16::MAX) - input_zero_point);
    let output_min = output_scale * F::from_i32(i32::from(i16::MIN) - output_zero_point);
    let output_max = output_scale * F::from_i32(i32::from(i16::MAX) - output_zero_point);
    let nb_steps = 512;
    let step = (input_max - input_min) / F::from_i32(nb_steps);
    let half_step = step / F::from_i32(2);
    let output_scaling_inv = F::from_i32(65536) / (output_max - output_min);
    let table_min = F::from_i32(i32::from(i16::MIN));
    let table_max = F::from_i32(i32::from(i16::MAX));
    let clamp = |v: F| {
        let v = if v < table_min { table_min } else { v };
        if v > table_max { table_max } else { v }
    };
    let mut lut = [0i16; LUT16_SIZE];
    for (i, entry) in lut.iter_mut().take(nb_steps as usize).enumerate() {
        let i = i as i32;
        let val = f(input_min + F::from_i32(i) * step);
        let val_midpoint = f(input_min + F::from_i32(i) * step + half_step);
        let val_next = f(input_min + F::from_i32(i + 1) * step);
        let sample_val = (val * output_scaling_inv).round();
        let midpoint_interp_val =
            ((val_next * output_scaling_inv + (val * output_scaling_inv).round()) / F::from_i32(2))
                .round();
        let midpoint_val = (val_midpoint * output_scaling_inv).round();
        let midpoint_err = midpoint_interp_val - midpoint_val;
        let bias = (midpoint_err / F::from_i32(2)).round();
        *entry = clamp(sample_val - bias).to_i16();
    }
    lut[nb_steps as usize] = clamp((f(input_max) * output_scaling_inv).round()).to_i16();
    lut
}

/// Looks `value` up in an int16 table, interpolating with its low 7 bits (LiteRT's
/// `LUTLookup`).
#[inline]
pub fn lookup16(value: i16, lut: &Lut16) -> i16 {
    let index = (256 + (i32::from(value) >> 7)) as usize;
    let offset = i32::from(value & 0x7f);
    let base = lut[index];
    // The slope is stored in 16 bits, as LiteRT does.
    let slope = i32::from(lut[index + 1].wrapping_sub(base));
    let delta = (slope * offset + 64) >> 7;
    (i32::from(base) + delta) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lut8_identity_and_ordering() {
        let lut: [i8; 256] = lut8(0.5, 3, 0.5, 3, |x| x);
        for v in -128i32..=127 {
            assert_eq!(lut[i8::index(v)], v as i8);
        }
        // Clamps and rounds half away from zero.
        let lut: [i8; 256] = lut8(1.0, 0, 4.0, 0, |x| x);
        assert_eq!(lut[(6i8 as u8) as usize], 2); // 1.5 -> 2
        assert_eq!(lut[(-6i8 as u8) as usize], -2);
        let lut: [u8; 256] = lut8(1.0, 128, 0.25, 0, |x| x);
        assert_eq!(lut[0], 0);
        assert_eq!(lut[255], 255);
    }

    #[test]
    fn lut16_identity_is_exact() {
        let scale = 1.0f32 / 32768.0;
        let lut = lut16(scale, 0, scale, 0, |x: f32| x);
        for v in [-32768i32, -1000, -1, 0, 1, 77, 1000, 32767] {
            let got = lookup16(v as i16, &lut);
            assert!((i32::from(got) - v).abs() <= 1, "{v}: {got}");
        }
    }
}
