//! Pieces the convolution family shares: output sizes and padding computed as LiteRT computes
//! them, quantization parameters prepared once, typed element traits, and scratch carving.

use crate::scalar::qmath;
use crate::scalar::qmath::activation_range_quantized;
use crate::{KernelError, TensorInfo, TensorRef};
use alloc::vec::Vec;
use tflrs_ir::{Activation, DType, Padding, QuantScheme};

/// Elements of `info`'s dense data, or an error naming it (shapes whose element count
/// overflows were refused by the planner; this guards kernels built by hand).
pub(super) fn dims<const N: usize>(
    info: &TensorInfo,
    what: &str,
) -> Result<[usize; N], KernelError> {
    <[usize; N]>::try_from(info.shape.as_slice()).map_err(|_| {
        KernelError::invalid(alloc::format!(
            "{what} '{}' must have rank {N}, has shape {:?}",
            info.name,
            info.shape
        ))
    })
}

/// A positive attribute (stride, dilation) as `usize`.
pub(super) fn positive(v: i32, what: &str) -> Result<usize, KernelError> {
    if v > 0 {
        Ok(v as usize)
    } else {
        Err(KernelError::invalid(alloc::format!(
            "{what} must be positive, is {v}"
        )))
    }
}

/// LiteRT's `ComputeOutSize`: the spatial output size of a window op. `None` when the window
/// does not fit (LiteRT refuses the node). Integer division truncates toward zero as in C.
pub(super) fn out_size(
    padding: Padding,
    in_size: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    let (in_size, filter, stride, dilation) = (
        in_size as i64,
        filter as i64,
        stride as i64,
        dilation as i64,
    );
    let effective = (filter - 1) * dilation + 1;
    let v = match padding {
        Padding::Same => (in_size + stride - 1) / stride,
        Padding::Valid => (in_size + stride - effective) / stride,
    };
    usize::try_from(v).ok()
}

/// LiteRT's `ComputePaddingWithOffset`: the padding before the first element, and the odd
/// remainder that goes after the last one.
pub(super) fn padding(
    stride: usize,
    dilation: usize,
    in_size: usize,
    filter: usize,
    out_size: usize,
) -> (i64, i64) {
    let effective = (filter as i64 - 1) * dilation as i64 + 1;
    let total = ((out_size as i64 - 1) * stride as i64 + effective - in_size as i64).max(0);
    (total / 2, total % 2)
}

/// The taps `t` in `0..k` with `0 <= origin + dilation * t < n`, as a range (the valid taps of a
/// window form one run because positions grow with `t`).
#[inline]
pub(super) fn taps(origin: i64, dilation: usize, k: usize, n: usize) -> (usize, usize) {
    let d = dilation as i64;
    let lo = if origin >= 0 {
        0
    } else {
        (-origin + d - 1) / d
    };
    let hi = if origin >= n as i64 {
        0
    } else {
        (n as i64 - origin + d - 1) / d
    };
    let lo = (lo as usize).min(k);
    let hi = (hi.max(0) as usize).min(k);
    (lo, hi.max(lo))
}

pub(super) use crate::scalar::qmath::activation_range_f32 as float_range;

/// Per-tensor scale and zero point of a quantized tensor.
pub(super) fn quant(info: &TensorInfo) -> Result<(f32, i32), KernelError> {
    info.require_per_tensor_quant()
}

/// The scales of a filter quantized per tensor or per channel along `axis` with `channels`
/// channels, one per channel (a single scale is broadcast, as LiteRT does).
pub(super) fn channel_scales(
    filter: &TensorInfo,
    axis: usize,
    channels: usize,
) -> Result<Vec<f32>, KernelError> {
    let q = filter
        .quant
        .as_ref()
        .and_then(|q| q.scheme.as_ref())
        .ok_or_else(|| {
            KernelError::invalid(alloc::format!("filter '{}' is not quantized", filter.name))
        })?;
    let scales = match q {
        QuantScheme::PerTensor { scale, .. } => alloc::vec![*scale; channels],
        QuantScheme::PerAxis {
            axis: a, scales, ..
        } => {
            if scales.len() == 1 {
                alloc::vec![scales[0]; channels]
            } else if scales.len() == channels && *a >= 0 && *a as usize == axis {
                scales.clone()
            } else {
                return Err(KernelError::invalid(alloc::format!(
                    "filter '{}' has {} scales along axis {a}; expected 1, or {channels} along axis {axis}",
                    filter.name,
                    scales.len()
                )));
            }
        }
    };
    if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(KernelError::invalid(alloc::format!(
            "filter '{}' has a non-positive or non-finite scale {s}",
            filter.name
        )));
    }
    Ok(scales)
}

/// Whether a filter has more than one scale (LiteRT's test for per-channel quantization).
pub(super) fn has_many_scales(filter: &TensorInfo) -> bool {
    filter.scales().len() > 1
}

/// Fails unless every zero point of `info` is 0 (LiteRT requires symmetric filters for
/// per-channel kernels).
pub(super) fn require_zero_points_zero(info: &TensorInfo) -> Result<(), KernelError> {
    if info.zero_points().iter().any(|&z| z != 0) {
        return Err(KernelError::invalid(alloc::format!(
            "tensor '{}' must have zero points of 0",
            info.name
        )));
    }
    Ok(())
}

/// Per-channel quantized multipliers and shifts for `real = in_scale * filter_scale[c] /
/// out_scale`, computed in double as LiteRT's `PopulateConvolutionQuantizationParams` does.
/// `max_shift` bounds the left shift the requantization can apply (30 for 32-bit
/// accumulators, 14 for 64-bit ones).
pub(super) fn channel_multipliers(
    in_scale: f32,
    filter_scales: &[f32],
    out_scale: f32,
    max_shift: i32,
) -> Result<(Vec<i32>, Vec<i32>), KernelError> {
    let mut mult = Vec::with_capacity(filter_scales.len());
    let mut shift = Vec::with_capacity(filter_scales.len());
    for &fs in filter_scales {
        let real = f64::from(in_scale) * f64::from(fs) / f64::from(out_scale);
        let (m, s) = checked_multiplier(real, max_shift)?;
        mult.push(m);
        shift.push(s);
    }
    Ok((mult, shift))
}

/// `quantize_multiplier` with the result's shift checked against what requantization supports.
pub(super) fn checked_multiplier(real: f64, max_shift: i32) -> Result<(i32, i32), KernelError> {
    if !(real.is_finite() && real >= 0.0) {
        return Err(KernelError::invalid(alloc::format!(
            "invalid requantization scale {real}"
        )));
    }
    let (m, s) = qmath::quantize_multiplier(real)?;
    if s > max_shift {
        return Err(KernelError::invalid(alloc::format!(
            "requantization scale {real} is too large"
        )));
    }
    Ok((m, s))
}

/// Checks that a quantized tensor has a usable per-tensor scale.
pub(super) fn checked_quant(info: &TensorInfo) -> Result<(f32, i32), KernelError> {
    let (s, z) = quant(info)?;
    if !(s.is_finite() && s > 0.0) {
        return Err(KernelError::invalid(alloc::format!(
            "tensor '{}' has an invalid scale {s}",
            info.name
        )));
    }
    Ok((s, z))
}

/// Converts a rounded double to int32 the way an x86 `cvttsd2si` does (LiteRT's reference
/// kernels write `static_cast<int32_t>(round(x))`): values out of range, and NaN, become
/// `i32::MIN`.
#[inline]
pub(super) fn f64_to_i32_x86(v: f64) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// Converts a float to int32 the way an x86 `cvttss2si` does: truncation, and `i32::MIN` for
/// values out of range and NaN.
#[inline]
pub(super) fn f32_to_i32_x86(v: f32) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// Quantized element types the family reads and writes.
pub(super) trait QType: bytemuck::Pod + Send + 'static {
    /// Widens to int32.
    fn widen(self) -> i32;
    /// Narrows an int32 already clamped to `MIN..=MAX`.
    fn narrow(v: i32) -> Self;
}

macro_rules! qtype {
    ($($t:ty),*) => {$(
        impl QType for $t {
            #[inline]
            fn widen(self) -> i32 {
                i32::from(self)
            }
            #[inline]
            fn narrow(v: i32) -> Self {
                v as $t
            }
        }
    )*};
}
qtype!(i8, u8, i16);

/// Integer accumulators: int32 (wrapping, as LiteRT's int32 arithmetic does on every target it
/// runs on) or int64 (16x8 kernels with 64-bit biases).
pub(super) trait Acc: Copy + Send + 'static {
    /// Zero.
    const ZERO: Self;
    /// `self + a * b`, the product taken in int32 as LiteRT's kernels take it.
    fn mac(self, a: i32, b: i32) -> Self;
    /// Adds a bias element.
    fn add_bias(self, b: i64) -> Self;
    /// LiteRT's `MultiplyByQuantizedMultiplier` for this accumulator width.
    fn requant(self, m: i32, shift: i32) -> i32;
    /// The value as a double.
    fn to_f64(self) -> f64;
}

impl Acc for i32 {
    const ZERO: Self = 0;
    #[inline]
    fn mac(self, a: i32, b: i32) -> Self {
        self.wrapping_add(a.wrapping_mul(b))
    }
    #[inline]
    fn add_bias(self, b: i64) -> Self {
        self.wrapping_add(b as i32)
    }
    #[inline]
    fn requant(self, m: i32, shift: i32) -> i32 {
        qmath::multiply_by_quantized_multiplier(self, m, shift)
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Acc for i64 {
    const ZERO: Self = 0;
    #[inline]
    fn mac(self, a: i32, b: i32) -> Self {
        self.wrapping_add(i64::from(a.wrapping_mul(b)))
    }
    #[inline]
    fn add_bias(self, b: i64) -> Self {
        self.wrapping_add(b)
    }
    #[inline]
    fn requant(self, m: i32, shift: i32) -> i32 {
        qmath::multiply_by_quantized_multiplier_i64(self, m, shift)
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// A bias input as the kernels read it.
#[derive(Clone, Copy)]
pub(super) enum Bias<'a> {
    /// No bias.
    None,
    /// Float bias.
    F32(&'a [f32]),
    /// int32 bias.
    I32(&'a [i32]),
    /// int64 bias.
    I64(&'a [i64]),
}

impl<'a> Bias<'a> {
    /// Views an optional bias input of `len` elements.
    pub(super) fn view(t: Option<TensorRef<'a>>, len: usize) -> Result<Self, KernelError> {
        let Some(t) = t else { return Ok(Bias::None) };
        let b = match t.info.dtype {
            DType::Float32 => Bias::F32(check_len(t.as_slice()?, len, t.info)?),
            DType::Int32 => Bias::I32(check_len(t.as_slice()?, len, t.info)?),
            DType::Int64 => Bias::I64(check_len(t.as_slice()?, len, t.info)?),
            d => {
                return Err(KernelError::invalid(alloc::format!(
                    "bias '{}' has unsupported type {d}",
                    t.info.name
                )));
            }
        };
        Ok(b)
    }

    /// Element `i` of an integer bias (0 without bias).
    #[inline]
    pub(super) fn int(&self, i: usize) -> i64 {
        match self {
            Bias::I32(b) => i64::from(b[i]),
            Bias::I64(b) => b[i],
            Bias::F32(_) | Bias::None => 0,
        }
    }

    /// The float bias, if any.
    pub(super) fn float(&self) -> Option<&'a [f32]> {
        match self {
            Bias::F32(b) => Some(b),
            _ => None,
        }
    }
}

/// Checks that a bias description is consistent: `len` elements of one of `dtypes`.
pub(super) fn check_bias(
    bias: Option<&TensorInfo>,
    len: usize,
    dtypes: &[DType],
) -> Result<(), KernelError> {
    if let Some(b) = bias {
        if !dtypes.contains(&b.dtype) {
            return Err(KernelError::invalid(alloc::format!(
                "bias '{}' has type {}, expected one of {:?}",
                b.name,
                b.dtype,
                dtypes.iter().map(|d| d.name()).collect::<Vec<_>>()
            )));
        }
        if b.num_elements() != len {
            return Err(KernelError::invalid(alloc::format!(
                "bias '{}' has {} elements, expected {len}",
                b.name,
                b.num_elements()
            )));
        }
    }
    Ok(())
}

/// Fails unless `info` has type `dtype`.
pub(super) fn require_dtype(
    info: &TensorInfo,
    dtype: DType,
    what: &str,
) -> Result<(), KernelError> {
    if info.dtype != dtype {
        return Err(KernelError::invalid(alloc::format!(
            "{what} '{}' has type {}, expected {dtype}",
            info.name,
            info.dtype
        )));
    }
    Ok(())
}

/// Fails unless `info` has shape `shape`.
pub(super) fn require_shape(
    info: &TensorInfo,
    shape: &[usize],
    what: &str,
) -> Result<(), KernelError> {
    if info.shape != shape {
        return Err(KernelError::invalid(alloc::format!(
            "{what} '{}' has shape {:?}, expected {shape:?}",
            info.name,
            info.shape
        )));
    }
    Ok(())
}

/// Returns `s` if it has at least `len` elements (run-time guard against a planner handing a
/// short buffer; kernels index up to `len`).
#[inline]
pub(super) fn check_len<'s, T>(
    s: &'s [T],
    len: usize,
    info: &TensorInfo,
) -> Result<&'s [T], KernelError> {
    if s.len() < len {
        return Err(short(info, s.len(), len));
    }
    Ok(&s[..len])
}

/// The mutable version of [`check_len`].
#[inline]
pub(super) fn check_len_mut<'s, T>(
    s: &'s mut [T],
    len: usize,
    info: &TensorInfo,
) -> Result<&'s mut [T], KernelError> {
    if s.len() < len {
        return Err(short(info, s.len(), len));
    }
    Ok(&mut s[..len])
}

fn short(info: &TensorInfo, got: usize, want: usize) -> KernelError {
    KernelError::invalid(alloc::format!(
        "tensor '{}' has {got} elements, the kernel needs {want}",
        info.name
    ))
}

/// Bytes a scratch piece of `count` elements of `T` takes, padded so that the next piece stays
/// 16-byte aligned.
pub(super) const fn scratch_piece<T>(count: usize) -> usize {
    (count * core::mem::size_of::<T>()).next_multiple_of(16)
}

/// Scratch of a hybrid convolution (CONV_2D and DEPTHWISE_CONV_2D): the input quantized to
/// int8, then one scaling factor and one input offset per batch.
pub(super) fn hybrid_scratch_bytes(g: &Geom) -> usize {
    scratch_piece::<i8>(g.in_len()) + scratch_piece::<f32>(g.n) + scratch_piece::<i32>(g.n)
}

/// Takes the next piece of `count` elements of `T` off the front of `buf` (see
/// [`scratch_piece`]).
pub(super) fn take<'a, T: bytemuck::Pod>(
    buf: &mut &'a mut [u8],
    count: usize,
) -> Result<&'a mut [T], KernelError> {
    let bytes = count * core::mem::size_of::<T>();
    let padded = scratch_piece::<T>(count);
    let all = core::mem::take(buf);
    if all.len() < bytes {
        return Err(KernelError::invalid(alloc::format!(
            "scratch of {} bytes is smaller than the {bytes} the kernel asked for",
            all.len()
        )));
    }
    let (head, tail) = all.split_at_mut(padded.min(all.len()));
    *buf = tail;
    bytemuck::try_cast_slice_mut(&mut head[..bytes])
        .map_err(|e| KernelError::invalid(alloc::format!("misaligned scratch: {e:?}")))
}

/// The geometry of a 2-D window op over NHWC tensors, fixed at preparation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geom {
    /// Batches.
    pub n: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Filter height.
    pub k_h: usize,
    /// Filter width.
    pub k_w: usize,
    /// Filter depth (input channels per group for CONV_2D).
    pub k_c: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dil_h: usize,
    /// Horizontal dilation.
    pub dil_w: usize,
    /// Padding before the first row.
    pub pad_h: i64,
    /// Padding before the first column.
    pub pad_w: i64,
}

impl Geom {
    /// Elements of the input.
    pub fn in_len(&self) -> usize {
        self.n * self.in_h * self.in_w * self.in_c
    }

    /// Elements of the output.
    pub fn out_len(&self) -> usize {
        self.n * self.out_h * self.out_w * self.out_c
    }

    /// Elements of one batch of the input.
    pub fn in_batch_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }
}

/// Copies little-endian constant bytes into a typed vector (constants need not be aligned).
pub(super) fn pod_vec<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    let n = bytes.len() / core::mem::size_of::<T>();
    let mut v = alloc::vec![T::zeroed(); n];
    bytemuck::cast_slice_mut::<T, u8>(&mut v)
        .copy_from_slice(&bytes[..n * core::mem::size_of::<T>()]);
    v
}

/// Requantization of an integer convolution: input and filter offsets (negated zero points),
/// output zero point, one multiplier and shift per output channel, clamp range.
#[derive(Debug, Clone)]
pub(super) struct IntParams {
    /// Added to each input value.
    pub in_offset: i32,
    /// Added to each filter value.
    pub w_offset: i32,
    /// Added after requantization.
    pub out_zp: i32,
    /// Quantized multiplier per output channel.
    pub mult: Vec<i32>,
    /// Shift per output channel.
    pub shift: Vec<i32>,
    /// Lowest output value (activation included).
    pub lo: i32,
    /// Highest output value (activation included).
    pub hi: i32,
}

/// Parameters of an int8/int16 kernel with per-channel (or broadcast per-tensor) filter scales
/// along `axis`, as LiteRT's `PopulateConvolutionQuantizationParams` computes them. The filter
/// is symmetric (its zero point is not used).
#[allow(clippy::too_many_arguments)]
pub(super) fn int_params(
    input: &TensorInfo,
    filter: &TensorInfo,
    output: &TensorInfo,
    act: Activation,
    channels: usize,
    axis: usize,
    (qmin, qmax): (i32, i32),
    max_shift: i32,
) -> Result<IntParams, KernelError> {
    let (in_s, in_zp) = checked_quant(input)?;
    let (out_s, out_zp) = checked_quant(output)?;
    let scales = channel_scales(filter, axis, channels)?;
    let (mult, shift) = channel_multipliers(in_s, &scales, out_s, max_shift)?;
    let (lo, hi) = activation_range_quantized(act, out_s, out_zp, qmin, qmax);
    Ok(IntParams {
        in_offset: -in_zp,
        w_offset: 0,
        out_zp,
        mult,
        shift,
        lo,
        hi,
    })
}

/// Parameters of a uint8 kernel: one multiplier from the float product of the scales (LiteRT's
/// `GetQuantizedConvolutionMultipler`), and the filter's zero point honoured.
pub(super) fn uint8_params(
    input: &TensorInfo,
    filter: &TensorInfo,
    output: &TensorInfo,
    act: Activation,
    channels: usize,
) -> Result<IntParams, KernelError> {
    let (in_s, in_zp) = checked_quant(input)?;
    let (f_s, f_zp) = checked_quant(filter)?;
    let (out_s, out_zp) = checked_quant(output)?;
    let (m, s) = checked_multiplier(f64::from(in_s * f_s) / f64::from(out_s), 30)?;
    let (lo, hi) = activation_range_quantized(act, out_s, out_zp, 0, 255);
    Ok(IntParams {
        in_offset: -in_zp,
        w_offset: -f_zp,
        out_zp,
        mult: alloc::vec![m; channels],
        shift: alloc::vec![s; channels],
        lo,
        hi,
    })
}

impl IntParams {
    /// Bias, requantization, output zero point and clamp of one accumulator of channel `oc`.
    #[inline]
    pub fn finish<A: Acc, O: QType>(&self, acc: A, bias: i64, oc: usize) -> O {
        let v = acc
            .add_bias(bias)
            .requant(self.mult[oc], self.shift[oc])
            .wrapping_add(self.out_zp);
        O::narrow(v.max(self.lo).min(self.hi))
    }
}

/// `acc + w * (x + in_offset)` for int8 input and a symmetric int8 filter (`in_offset` is a
/// negated int8 zero point). The product is at most 128 * 255 in magnitude, so it is exact in
/// int16, which vectorizes better than int32 multiplication on baseline x86-64; the sum wraps
/// as LiteRT's int32 accumulator does.
#[inline(always)]
pub(super) fn mac_i8(acc: i32, x: i8, w: i8, in_offset: i16) -> i32 {
    acc.wrapping_add(i32::from(i16::from(w) * (i16::from(x) + in_offset)))
}

/// `acc + sum(w * (x + in_offset))` over two int8 runs of equal length, as [`mac_i8`] term by
/// term. Eight independent int32 lanes of int16 products: compilers turn this into wide vector
/// code even on baseline x86-64, and an integer sum is the same in any order.
#[inline(always)]
pub(super) fn dot_i8(acc: i32, xs: &[i8], ws: &[i8], in_offset: i16) -> i32 {
    debug_assert_eq!(xs.len(), ws.len());
    let (x8, x_tail) = xs.as_chunks::<8>();
    let (w8, w_tail) = ws.as_chunks::<8>();
    let mut lanes = [0i32; 8];
    for (x, w) in x8.iter().zip(w8) {
        for k in 0..8 {
            lanes[k] = mac_i8(lanes[k], x[k], w[k], in_offset);
        }
    }
    let mut acc = lanes.iter().fold(acc, |a, &l| a.wrapping_add(l));
    for (&x, &w) in x_tail.iter().zip(w_tail) {
        acc = mac_i8(acc, x, w, in_offset);
    }
    acc
}

impl IntParams {
    /// The input offset as int16, for [`mac_i8`] (int8 zero points negate into `-127..=128`).
    pub fn in_offset_i16(&self) -> i16 {
        self.in_offset as i16
    }
}
