//! Pieces the convolution family's scalar executors share: typed element traits and
//! accumulators, run-time length checks, scratch carving and the int8 dot products. What is
//! computed once from a node (geometry, multipliers, bias checks) is in [`crate::prep::conv`].

use crate::scalar::qmath;
use crate::{Inputs, KernelError, TensorInfo, TensorMut, TensorRef};
use alloc::vec::Vec;

use super::hybrid::quantize_row;
pub(super) use crate::prep::conv::{Bias, Geom, IntParams};
use crate::prep::conv::{ConvPlan, HybridQuant, Quant};

/// The kernel name of `$op` for a plan's quantization: `conv_2d_i8__scalar`, and so on.
macro_rules! scalar_name {
    ($op:literal, $q:expr) => {
        match $q {
            $crate::prep::conv::Quant::F32 { .. } => concat!($op, "_f32__scalar"),
            $crate::prep::conv::Quant::I8(_) => concat!($op, "_i8__scalar"),
            $crate::prep::conv::Quant::U8(_) => concat!($op, "_u8__scalar"),
            $crate::prep::conv::Quant::I16 { .. } => concat!($op, "_i16__scalar"),
            $crate::prep::conv::Quant::Hybrid { .. } => concat!($op, "_hybrid_i8__scalar"),
        }
    };
}
pub(super) use scalar_name;

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

pub(super) use crate::scalar::qmath::f32_to_i32_x86;

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

/// Typed input, filter and output slices of a kernel (see [`operands`]).
pub(super) type Operands<'s, X, W, O> = (&'s [X], &'s [W], &'s mut [O]);

/// The input, filter and output of a kernel as typed slices of the lengths its plan says
/// (`(input, filter, output)` elements), each checked with [`check_len`].
pub(super) fn operands<'s, X: bytemuck::Pod, W: bytemuck::Pod, O: bytemuck::Pod>(
    x: &TensorRef<'s>,
    w: &TensorRef<'s>,
    out: &'s mut TensorMut<'_>,
    (x_len, w_len, out_len): (usize, usize, usize),
) -> Result<Operands<'s, X, W, O>, KernelError> {
    let info = out.info;
    Ok((
        check_len(x.as_slice::<X>()?, x_len, x.info)?,
        check_len(w.as_slice::<W>()?, w_len, w.info)?,
        check_len_mut(out.as_slice_mut::<O>()?, out_len, info)?,
    ))
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

/// Scratch of a hybrid convolution (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV): the input
/// quantized to int8, then one scaling factor and one input offset per batch.
pub(super) fn hybrid_scratch_bytes(g: &Geom) -> usize {
    scratch_piece::<i8>(g.in_len()) + scratch_piece::<f32>(g.n) + scratch_piece::<i32>(g.n)
}

/// The input of a hybrid convolution quantized into scratch ([`quantize_input`]).
pub(super) struct HybridInput<'s> {
    /// The input as int8.
    pub q: &'s [i8],
    /// Each batch's scaling factor (times the filter scale on the per-tensor path).
    pub sf: &'s [f32],
    /// Each batch's zero point (0 for symmetric quantization).
    pub zp: &'s [i32],
}

/// Quantizes each batch of a hybrid convolution's input into the scratch of
/// [`hybrid_scratch_bytes`], as `h` says (symmetric or asymmetric; the filter scale folded into
/// the scaling factors unless the kernel is per channel).
pub(super) fn quantize_input<'s>(
    g: &Geom,
    x: &[f32],
    h: &HybridQuant,
    scratch: &mut &'s mut [u8],
) -> Result<HybridInput<'s>, KernelError> {
    let q = take::<i8>(scratch, g.in_len())?;
    let sf = take::<f32>(scratch, g.n)?;
    let zp = take::<i32>(scratch, g.n)?;
    let batch_len = g.in_batch_len();
    for b in 0..g.n {
        let rows = b * batch_len..(b + 1) * batch_len;
        let (s, z) = quantize_row(&x[rows.clone()], &mut q[rows], h.asymmetric);
        sf[b] = if h.per_channel {
            s
        } else {
            s * h.filter_scale()
        };
        zp[b] = z;
    }
    Ok(HybridInput { q, sf, zp })
}

/// Scratch of CONV_2D and DEPTHWISE_CONV_2D: [`hybrid_scratch_bytes`] for hybrid plans, none
/// otherwise.
pub(super) fn conv_scratch_bytes(plan: &ConvPlan) -> usize {
    match plan.quant {
        Quant::Hybrid { .. } => hybrid_scratch_bytes(&plan.geom),
        _ => 0,
    }
}

/// The run-time inputs of a convolution: data, filter (slot 1) and optional bias.
pub(super) struct ConvArgs<'a> {
    /// The data input.
    pub x: TensorRef<'a>,
    /// The filter.
    pub w: TensorRef<'a>,
    /// The bias, `g.out_c` elements.
    pub bias: Bias<'a>,
}

/// Takes the data input from slot `data`, the filter from slot 1 and the bias from slot
/// `bias`.
pub(super) fn conv_args<'a>(
    inputs: &Inputs<'a>,
    g: &Geom,
    data: usize,
    bias: usize,
) -> Result<ConvArgs<'a>, KernelError> {
    let x = inputs.get(data)?;
    let w = inputs.get(1)?;
    let bias = Bias::view(inputs.optional(bias), g.out_c)?;
    Ok(ConvArgs { x, w, bias })
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

/// Copies little-endian constant bytes into a typed vector (constants need not be aligned).
pub(super) fn pod_vec<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    let n = bytes.len() / core::mem::size_of::<T>();
    let mut v = alloc::vec![T::zeroed(); n];
    bytemuck::cast_slice_mut::<T, u8>(&mut v)
        .copy_from_slice(&bytes[..n * core::mem::size_of::<T>()]);
    v
}

impl IntParams {
    /// Bias, requantization, output zero point and clamp of one accumulator of channel `oc`.
    #[inline]
    pub(super) fn finish<A: Acc, O: QType>(&self, acc: A, bias: i64, oc: usize) -> O {
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
    pub(super) fn in_offset_i16(&self) -> i16 {
        self.in_offset as i16
    }
}
