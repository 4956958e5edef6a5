//! Hybrid (dynamic-range) FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D: float input and
//! output, constant int8 weights with per-tensor or per-channel scales. Outputs equal the
//! scalar kernels' (`tflrs_kernels`' `*_hybrid_i8__scalar`) bit for bit.
//!
//! **What the scalar kernels compute** (LiteRT's x86 build, see the scalar `hybrid` module):
//! 1. each batch row (FULLY_CONNECTED) or each whole batch (the convolutions) is quantized to
//!    int8, symmetrically or asymmetrically as the plan says, with a scaling factor (times the
//!    filter scale on the per-tensor path) and a zero point;
//! 2. the int32 accumulator `sum w * (q - zp)` over the valid taps;
//! 3. a few float operations per output, in a fixed order, and the fused activation.
//!
//! **How this module gets the same bits.**
//! 1. The quantization is the scalar code's, operation for operation: minimum and maximum (the
//!    order of comparisons does not change them, NaNs are skipped as the scalar loop skips
//!    them, and a zero's sign never reaches the result), the scale in double, then blocks of 8
//!    values `trunc(x * inv +- 0.5)` and the tail `roundf(x * inv)`. The AVX2 version does the
//!    blocks 8 lanes at a time with the same float multiply and add (NaN lanes become 0 and
//!    huge lanes saturate, as Rust's `as i32` does before the clamp).
//! 2. The accumulators come from the exact int8 GEMM ([`crate::gemm_i8`], rows widened with
//!    their own batch's `-zp`, padding taps 0), or, for depthwise, from int16 products
//!    (`|q - zp| <= 255`, `|w| <= 128`, so `|(q - zp) * w| <= 32640` fits int16) summed in
//!    int32: integer sums do not depend on their order, so they are the scalar ones.
//! 3. The epilogue does the scalar kernel's float operations in its order, unfused (no FMA):
//!    `acc as f32` (`cvtdq2ps` rounds to nearest even, as `as f32` does), the same products and
//!    sums, and min/max with the operand order that gives the scalar comparisons' results for
//!    NaN and signed zeros.
//!
//! Kernels: `fully_connected_hybrid_i8__{isa}_{MR}x{NR}`, `conv_2d_hybrid_i8__{isa}_{MR}x{NR}`
//! (`_1x1` for the direct path; `_per_channel` after it when LiteRT's per-channel kernel is the
//! reference), `depthwise_conv_2d_hybrid_i8__{isa}_16c`. Declined (`Ok(None)`): computed
//! weights, grouped convolutions, FULLY_CONNECTED with depth 0.

use crate::gemm_i8::{GemmI8, widen};
use crate::int8::widen_window;
use crate::isa::Isa;
use tflrs_ir::{Activation, Op};
use tflrs_kernels::prep::conv::{
    Bias, Geom, HybridQuant, Quant, conv2d, depthwise, fully_connected,
};
use tflrs_kernels::scalar::qmath::{clamp_f32, round_f32, round_f64};
use tflrs_kernels::{Kernel, KernelError, KernelIo, NodeCtx, math};

// ---------------------------------------------------------------------------------------------
// Input quantization.

/// Values quantized per vector block in LiteRT's NEON code.
const BLOCK: usize = 8;

/// How a row is quantized: `q = store(round(v * inv))` with `zp` added (asymmetric) and the
/// clamp to `lo..=hi`; or every value 0 (an all-zero or degenerate range).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowQuant {
    /// The scaling factor the kernel multiplies by.
    pub(crate) sf: f32,
    /// The zero point (0 for symmetric).
    pub(crate) zp: i32,
    /// The reciprocal scale.
    inv: f32,
    /// Lowest quantized value.
    lo: i32,
    /// The row quantizes to zeros.
    zeros: bool,
}

/// The smallest and largest value as the scalar loop finds them: starting from the first
/// value, `v < lo` and `v > hi` (NaNs after the first are skipped; a NaN first stays).
fn min_max(isa: Isa, values: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if let Some(t) = avx2_token(isa)
        && !values[0].is_nan()
    {
        return x86::min_max(t, values);
    }
    let _ = isa;
    min_max_scalar(values[0], &values[1..])
}

fn min_max_scalar(first: f32, rest: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = (first, first);
    for &v in rest {
        if v < lo {
            lo = v;
        }
        if v > hi {
            hi = v;
        }
    }
    (lo, hi)
}

/// The parameters of a row (non-empty), as the scalar `quantize_symmetric` and
/// `quantize_asymmetric` derive them.
fn row_quant(isa: Isa, values: &[f32], asymmetric: bool) -> RowQuant {
    let (lo, hi) = min_max(isa, values);
    let zeros = |sf: f32| RowQuant {
        sf,
        zp: 0,
        inv: 0.0,
        lo: 0,
        zeros: true,
    };
    if !asymmetric {
        let (a, b) = (lo.abs(), hi.abs());
        let range = if a < b { b } else { a };
        if range == 0.0 {
            return zeros(1.0);
        }
        return RowQuant {
            sf: range / 127.0,
            zp: 0,
            inv: 127.0f32 / range,
            lo: -127,
            zeros: false,
        };
    }
    let rmin = if lo < 0.0 { lo } else { 0.0 };
    let rmax = if 0.0 < hi { hi } else { 0.0 };
    if rmin == rmax {
        return zeros(1.0);
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
    RowQuant {
        sf,
        zp,
        inv,
        lo: -128,
        zeros: false,
    }
}

impl RowQuant {
    /// One quantized value from its rounded integer (the scalar `store`).
    #[inline]
    fn store(&self, q: i32) -> i8 {
        q.saturating_add(self.zp).clamp(self.lo, 127) as i8
    }
}

/// Quantizes a non-empty row into `out` (as long as `values`); returns its parameters.
pub(crate) fn quantize_row(isa: Isa, values: &[f32], out: &mut [i8], asymmetric: bool) -> RowQuant {
    let rq = row_quant(isa, values, asymmetric);
    let out = &mut out[..values.len()];
    if rq.zeros {
        out.fill(0);
        return rq;
    }
    let blocks = values.len() / BLOCK * BLOCK;
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if let Some(t) = avx2_token(isa) {
        x86::quantize_blocks(t, &values[..blocks], &mut out[..blocks], &rq);
        done = blocks;
    }
    for (o, &v) in out[done..blocks].iter_mut().zip(&values[done..blocks]) {
        let x = v * rq.inv;
        let half = if x < 0.0 { -0.5f32 } else { 0.5 };
        *o = rq.store((x + half) as i32);
    }
    for (o, &v) in out[blocks..].iter_mut().zip(&values[blocks..]) {
        *o = rq.store(round_f32(v * rq.inv) as i32);
    }
    rq
}

#[cfg(target_arch = "x86_64")]
fn avx2_token(isa: Isa) -> Option<crate::isa::x86::Avx2Fma> {
    if isa >= Isa::Avx2Fma {
        crate::isa::x86::Avx2Fma::new()
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Epilogue.

/// The float operations after the accumulator, per kernel (each the scalar kernel's, in its
/// order; `s` is the row's or batch's scaling factor, `c` the channel's filter scale, `b` the
/// bias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// FULLY_CONNECTED: `(b or 0) + acc * s` (per tensor), `(b or 0) + acc * (s * c)` (per
    /// channel), then the hybrid activation.
    Fc { per_channel: bool },
    /// CONV_2D per tensor: `clamp((0 + acc * s) + (b or 0))`.
    ConvTensor,
    /// CONV_2D per channel: `clamp(acc * c * s [+ b])`.
    ConvChannel,
    /// DEPTHWISE_CONV_2D: `clamp(acc * (c * s) [+ b])`.
    Depthwise,
}

/// The activation of the epilogue.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// `clamp_f32(v, lo, hi)` of the convolutions.
    Clamp(f32, f32),
    /// LiteRT's `ApplyActivationToVector` (FULLY_CONNECTED).
    Vector(Activation),
}

/// Everything the epilogue reads.
#[derive(Debug)]
struct Epilogue {
    form: Form,
    act: Act,
    /// One filter scale per output channel.
    scales: Vec<f32>,
    /// The AVX2 token, when the level has AVX2 and the activation is vectorized.
    #[cfg(target_arch = "x86_64")]
    avx2: Option<crate::isa::x86::Avx2Fma>,
}

/// The scalar FULLY_CONNECTED hybrid activation.
#[inline]
fn vector_activation(v: f32, act: Activation) -> f32 {
    let max = |a: f32, b: f32| if a < b { b } else { a };
    let min = |a: f32, b: f32| if b < a { b } else { a };
    match act {
        Activation::Relu => max(0.0, v),
        Activation::ReluN1To1 => max(-1.0, min(v, 1.0)),
        Activation::Relu6 => max(0.0, min(v, 6.0)),
        Activation::Tanh => math::tanhf(v),
        Activation::SignBit => {
            if v.is_sign_negative() {
                1.0
            } else {
                0.0
            }
        }
        Activation::None => v,
    }
}

impl Epilogue {
    /// Output `j` from accumulator `acc` with scaling factor `s`.
    #[inline]
    fn one(&self, acc: i32, s: f32, j: usize, bias: Option<&[f32]>) -> f32 {
        let a = acc as f32;
        let c = self.scales[j];
        let v = match self.form {
            Form::Fc { per_channel } => {
                let init = bias.map_or(0.0, |b| b[j]);
                let scale = if per_channel { s * c } else { s };
                init + a * scale
            }
            Form::ConvTensor => {
                let v = 0.0f32 + a * s;
                v + bias.map_or(0.0, |b| b[j])
            }
            Form::ConvChannel => {
                let v = a * c * s;
                bias.map_or(v, |b| v + b[j])
            }
            Form::Depthwise => {
                let v = a * (c * s);
                bias.map_or(v, |b| v + b[j])
            }
        };
        match self.act {
            Act::Clamp(lo, hi) => clamp_f32(v, lo, hi),
            Act::Vector(act) => vector_activation(v, act),
        }
    }

    /// The epilogue of `form` and `act` at `isa`.
    fn new(isa: Isa, form: Form, act: Act, scales: Vec<f32>) -> Self {
        // Tanh and SignBit stay scalar.
        let vector = match act {
            Act::Clamp(..) => true,
            Act::Vector(a) => !matches!(a, Activation::Tanh | Activation::SignBit),
        };
        let _ = (isa, vector);
        Self {
            form,
            act,
            scales,
            #[cfg(target_arch = "x86_64")]
            avx2: avx2_token(isa).filter(|_| vector),
        }
    }

    /// Outputs `j0..j0 + accs.len()` into `out`, scaling factor `s`.
    #[inline]
    fn row(&self, s: f32, j0: usize, accs: &[i32], bias: Option<&[f32]>, out: &mut [f32]) {
        let len = accs.len();
        let out = &mut out[..len];
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = self.avx2 {
            while done + 8 <= len {
                x86::epilogue8(
                    t,
                    self,
                    s,
                    j0 + done,
                    &accs[done..done + 8],
                    bias,
                    &mut out[done..done + 8],
                );
                done += 8;
            }
        }
        for c in done..len {
            out[c] = self.one(accs[c], s, j0 + c, bias);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scratch.

/// Bytes of a scratch piece of `n` values of `T`, with room to align it.
const fn piece<T>(n: usize) -> usize {
    n * core::mem::size_of::<T>() + 16
}

/// Takes an aligned piece of `n` values of `T` off the front of `buf` (see [`piece`]).
fn take<'a, T: bytemuck::Pod>(
    buf: &mut &'a mut [u8],
    n: usize,
) -> Result<&'a mut [T], KernelError> {
    let all = core::mem::take(buf);
    if all.len() < piece::<T>(n) {
        return Err(KernelError::invalid(format!(
            "scratch of {} bytes is too small for the kernel",
            all.len()
        )));
    }
    let (head, tail) = all.split_at_mut(piece::<T>(n));
    *buf = tail;
    let (_, mid, _) = bytemuck::pod_align_to_mut::<u8, T>(head);
    Ok(&mut mid[..n])
}

/// Checks that a tensor has at least `len` elements.
fn at_least<T>(s: &[T], len: usize, what: &str) -> Result<(), KernelError> {
    crate::fully_connected::at_least(s, len, what)
}

/// The constant int8 filter of input 1 (`len` values), or `None`.
fn constant_i8(node: &NodeCtx<'_>, len: usize) -> Option<Vec<i8>> {
    let bytes = node.constant(1)?.get(..len)?;
    Some(bytes.iter().map(|&b| b as i8).collect())
}

fn float_bias(bias: Bias<'_>) -> Option<&[f32]> {
    bias.float()
}

// ---------------------------------------------------------------------------------------------
// FULLY_CONNECTED.

/// A hybrid FULLY_CONNECTED kernel at `isa`, or `Ok(None)`.
pub(crate) fn fully_connected_kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::FullyConnected(_)) {
        return Ok(None);
    }
    let Ok(plan) = fully_connected(node) else {
        return Ok(None);
    };
    let Quant::Hybrid { h, .. } = plan.quant else {
        return Ok(None);
    };
    let (units, depth) = (plan.units, plan.depth);
    if depth == 0 {
        return Ok(None);
    }
    let Some(w) = constant_i8(node, units * depth) else {
        return Ok(None);
    };
    let gemm = GemmI8::new(isa, depth, units, &w, 0, 0);
    Ok(Some(Box::new(FullyConnectedHybrid {
        name: format!("fully_connected_hybrid_i8__{}", gemm.kernel().name()),
        isa,
        gemm,
        batches: plan.batches,
        filter_scale: h.filter_scale(),
        asymmetric: h.asymmetric,
        epi: Epilogue::new(
            isa,
            Form::Fc {
                per_channel: h.per_channel,
            },
            Act::Vector(plan.act),
            h.scales,
        ),
    })))
}

struct FullyConnectedHybrid {
    name: String,
    isa: Isa,
    gemm: GemmI8,
    batches: usize,
    filter_scale: f32,
    asymmetric: bool,
    epi: Epilogue,
}

impl Kernel for FullyConnectedHybrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        let m = self.batches;
        piece::<i8>(m * self.gemm.k())
            + piece::<f32>(m)
            + piece::<i16>(m)
            + self.gemm.scratch_bytes()
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let (m, k, n) = (self.batches, self.gemm.k(), self.gemm.n());
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let bias = Bias::view(inputs.optional(2), n)?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, m * k, "FULLY_CONNECTED input")?;
        at_least(out, m * n, "FULLY_CONNECTED output")?;
        let q = take::<i8>(&mut scratch, m * k)?;
        let sfs = take::<f32>(&mut scratch, m)?;
        let offs = take::<i16>(&mut scratch, m)?;
        let per_channel = matches!(self.epi.form, Form::Fc { per_channel: true });
        for i in 0..m {
            let rq = quantize_row(
                self.isa,
                &x[i * k..][..k],
                &mut q[i * k..][..k],
                self.asymmetric,
            );
            sfs[i] = if per_channel {
                rq.sf
            } else {
                rq.sf * self.filter_scale
            };
            // A negated int8 zero point: -127..=128.
            offs[i] = -rq.zp as i16;
        }
        let (q, sfs, offs) = (&*q, &*sfs, &*offs);
        let bias = float_bias(bias);
        let epi = &self.epi;
        self.gemm.run_rows(
            m,
            scratch,
            |i, dst| widen(&q[i * k..][..k], offs[i], dst),
            |i, j0, accs| {
                epi.row(sfs[i], j0, accs, bias, &mut out[i * n + j0..]);
            },
        );
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Per-batch quantization of the convolutions.

/// Quantizes each batch of a convolution's input (`g.n` batches of `g.in_batch_len()` values)
/// into `q`, with each batch's scaling factor (times `filter_scale` unless `per_channel`) and
/// negated zero point.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quantize_batches(
    isa: Isa,
    g: &Geom,
    x: &[f32],
    h: &HybridQuant,
    q: &mut [i8],
    sfs: &mut [f32],
    offs: &mut [i16],
) {
    let len = g.in_batch_len();
    for b in 0..g.n {
        let rq = quantize_row(
            isa,
            &x[b * len..][..len],
            &mut q[b * len..][..len],
            h.asymmetric,
        );
        sfs[b] = if h.per_channel {
            rq.sf
        } else {
            rq.sf * h.filter_scale()
        };
        offs[b] = -rq.zp as i16;
    }
}

// ---------------------------------------------------------------------------------------------
// CONV_2D.

/// A hybrid CONV_2D kernel at `isa` (one group, any window), or `Ok(None)`.
pub(crate) fn conv_2d_kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::Conv2d(_)) {
        return Ok(None);
    }
    let Ok(plan) = conv2d(node) else {
        return Ok(None);
    };
    let Quant::Hybrid { h, lo, hi } = plan.quant else {
        return Ok(None);
    };
    let g = plan.geom;
    if g.groups() != 1 || g.in_batch_len() == 0 {
        return Ok(None);
    }
    let direct = g.k_h == 1
        && g.k_w == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && g.pad_h == 0
        && g.pad_w == 0;
    let (k, n) = (g.k_h * g.k_w * g.in_c, g.out_c);
    let Some(w) = constant_i8(node, n * k) else {
        return Ok(None);
    };
    let gemm = GemmI8::new(isa, k, n, &w, 0, 0);
    let name = format!(
        "conv_2d_hybrid_i8__{}{}{}",
        gemm.kernel().name(),
        if direct { "_1x1" } else { "" },
        if h.per_channel { "_per_channel" } else { "" }
    );
    let form = if h.per_channel {
        Form::ConvChannel
    } else {
        Form::ConvTensor
    };
    Ok(Some(Box::new(Conv2dHybrid {
        name,
        isa,
        gemm,
        g,
        direct,
        epi: Epilogue::new(isa, form, Act::Clamp(lo, hi), h.scales.clone()),
        h,
    })))
}

struct Conv2dHybrid {
    name: String,
    isa: Isa,
    gemm: GemmI8,
    g: Geom,
    /// 1x1, stride 1, unpadded: each input pixel is a row of `A`.
    direct: bool,
    h: HybridQuant,
    epi: Epilogue,
}

impl Kernel for Conv2dHybrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        let g = &self.g;
        piece::<i8>(g.in_len()) + piece::<f32>(g.n) + piece::<i16>(g.n) + self.gemm.scratch_bytes()
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let g = &self.g;
        let (pixels, k, n) = (g.out_h * g.out_w, self.gemm.k(), g.out_c);
        let m = g.n * pixels;
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let bias = Bias::view(inputs.optional(2), n)?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, g.in_len(), "CONV_2D input")?;
        at_least(out, g.out_len(), "CONV_2D output")?;
        let q = take::<i8>(&mut scratch, g.in_len())?;
        let sfs = take::<f32>(&mut scratch, g.n)?;
        let offs = take::<i16>(&mut scratch, g.n)?;
        quantize_batches(self.isa, g, x, &self.h, q, sfs, offs);
        let (q, sfs, offs) = (&*q, &*sfs, &*offs);
        let bias = float_bias(bias);
        let epi = &self.epi;
        let emit = |i: usize, j0: usize, accs: &[i32]| {
            epi.row(sfs[i / pixels], j0, accs, bias, &mut out[i * n + j0..]);
        };
        if self.direct {
            self.gemm.run_rows(
                m,
                scratch,
                |i, dst| widen(&q[i * k..][..k], offs[i / pixels], dst),
                emit,
            );
        } else {
            self.gemm.run_rows(
                m,
                scratch,
                |i, dst| widen_window(g, q, offs[i / pixels], i, dst),
                emit,
            );
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D.

/// Channels per block of the depthwise kernel (the packing's padding).
const DW_BLOCK: usize = 16;

/// A hybrid DEPTHWISE_CONV_2D kernel at `isa` (any depth multiplier), or `Ok(None)`.
pub(crate) fn depthwise_kernel_for(
    isa: Isa,
    node: &NodeCtx<'_>,
) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::DepthwiseConv2d(_)) {
        return Ok(None);
    }
    let Ok(plan) = depthwise(node) else {
        return Ok(None);
    };
    let Quant::Hybrid { h, lo, hi } = plan.quant else {
        return Ok(None);
    };
    let g = plan.geom;
    if g.in_batch_len() == 0 {
        return Ok(None);
    }
    let taps = g.k_h * g.k_w;
    let Some(w) = constant_i8(node, taps * g.out_c) else {
        return Ok(None);
    };
    let cp = g.out_c.next_multiple_of(DW_BLOCK);
    let mut packed = vec![0i16; taps * cp];
    for t in 0..taps {
        for c in 0..g.out_c {
            packed[t * cp + c] = i16::from(w[t * g.out_c + c]);
        }
    }
    let level = dw_level(isa);
    Ok(Some(Box::new(DepthwiseHybrid {
        name: format!("depthwise_conv_2d_hybrid_i8__{}_16c", level.name()),
        isa,
        level,
        g,
        cp,
        w: packed,
        epi: Epilogue::new(isa, Form::Depthwise, Act::Clamp(lo, hi), h.scales.clone()),
        h,
    })))
}

/// The depthwise micro-kernel of `isa` (AVX-512 hosts run the AVX2 one).
fn dw_level(isa: Isa) -> DwLevel {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(t) = avx2_token(isa) {
            return DwLevel::Avx2(t);
        }
        if isa >= Isa::Sse41
            && let Some(t) = crate::isa::x86::Sse41::new()
        {
            return DwLevel::Sse41(t);
        }
    }
    let _ = isa;
    DwLevel::Portable
}

/// The depthwise micro-kernel's level.
#[derive(Debug, Clone, Copy)]
enum DwLevel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse41(crate::isa::x86::Sse41),
    #[cfg(target_arch = "x86_64")]
    Avx2(crate::isa::x86::Avx2Fma),
}

impl DwLevel {
    fn name(self) -> &'static str {
        match self {
            DwLevel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            DwLevel::Sse41(_) => "sse41",
            #[cfg(target_arch = "x86_64")]
            DwLevel::Avx2(_) => "avx2",
        }
    }
}

struct DepthwiseHybrid {
    name: String,
    isa: Isa,
    level: DwLevel,
    g: Geom,
    /// Output channels padded to [`DW_BLOCK`].
    cp: usize,
    /// `[tap][cp]` int16 weights (padding channels 0).
    w: Vec<i16>,
    h: HybridQuant,
    epi: Epilogue,
}

/// The int32 accumulators of one 16-channel block of one output pixel: the sum over `taps`
/// (offsets of input pixels in `xw`, `[pixel][cp]` widened `q - zp`, and of filter taps in `w`)
/// of their products.
fn dw_block_portable(
    xw: &[i16],
    w: &[i16],
    taps: &[[usize; 2]],
    c0: usize,
    acc: &mut [i32; DW_BLOCK],
) {
    *acc = [0; DW_BLOCK];
    for &[xo, wo] in taps {
        let xs = &xw[xo + c0..][..DW_BLOCK];
        let ws = &w[wo + c0..][..DW_BLOCK];
        for c in 0..DW_BLOCK {
            acc[c] = acc[c].wrapping_add(i32::from(xs[c]) * i32::from(ws[c]));
        }
    }
}

impl Kernel for DepthwiseHybrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn scratch_bytes(&self) -> usize {
        let g = &self.g;
        piece::<i8>(g.in_len())
            + piece::<f32>(g.n)
            + piece::<i16>(g.n)
            + piece::<i16>(g.in_h * g.in_w * self.cp)
            + piece::<[usize; 2]>(g.k_h * g.k_w)
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let g = &self.g;
        let (cp, n) = (self.cp, g.out_c);
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let bias = Bias::view(inputs.optional(2), n)?;
        let mut out_t = outputs.get(0)?;
        let out = out_t.as_slice_mut::<f32>()?;
        at_least(x, g.in_len(), "DEPTHWISE_CONV_2D input")?;
        at_least(out, g.out_len(), "DEPTHWISE_CONV_2D output")?;
        let q = take::<i8>(&mut scratch, g.in_len())?;
        let sfs = take::<f32>(&mut scratch, g.n)?;
        let offs = take::<i16>(&mut scratch, g.n)?;
        let xw = take::<i16>(&mut scratch, g.in_h * g.in_w * cp)?;
        let taps_buf = take::<[usize; 2]>(&mut scratch, g.k_h * g.k_w)?;
        quantize_batches(self.isa, g, x, &self.h, q, sfs, offs);
        let bias = float_bias(bias);
        let mult = g.out_c / g.in_c;
        let pixels_in = g.in_h * g.in_w;
        for b in 0..g.n {
            // Widen the batch, each input channel repeated for its `mult` outputs.
            let off = offs[b];
            let qb = &q[b * g.in_batch_len()..][..g.in_batch_len()];
            for p in 0..pixels_in {
                let src = &qb[p * g.in_c..][..g.in_c];
                let dst = &mut xw[p * cp..][..cp];
                if mult == 1 {
                    widen(src, off, &mut dst[..n]);
                } else {
                    for (c, d) in dst[..n].iter_mut().enumerate() {
                        *d = i16::from(src[c / mult]) + off;
                    }
                }
                dst[n..].fill(0);
            }
            let s = sfs[b];
            for oy in 0..g.out_h {
                let iy0 = (oy * g.stride_h) as i64 - g.pad_h;
                let (fy0, fy1) = taps(iy0, g.dil_h, g.k_h, g.in_h);
                for ox in 0..g.out_w {
                    let ix0 = (ox * g.stride_w) as i64 - g.pad_w;
                    let (fx0, fx1) = taps(ix0, g.dil_w, g.k_w, g.in_w);
                    let mut nt = 0;
                    for fy in fy0..fy1 {
                        let iy = (iy0 + (fy * g.dil_h) as i64) as usize;
                        for fx in fx0..fx1 {
                            let ix = (ix0 + (fx * g.dil_w) as i64) as usize;
                            taps_buf[nt] = [(iy * g.in_w + ix) * cp, (fy * g.k_w + fx) * cp];
                            nt += 1;
                        }
                    }
                    let tl = &taps_buf[..nt];
                    let o = &mut out[((b * g.out_h + oy) * g.out_w + ox) * n..][..n];
                    #[cfg(target_arch = "x86_64")]
                    if let DwLevel::Avx2(t) = self.level {
                        x86::dw_pixel_avx2(t, xw, &self.w, tl, &self.epi, s, bias, o);
                        continue;
                    }
                    let mut acc = [0i32; DW_BLOCK];
                    for c0 in (0..n).step_by(DW_BLOCK) {
                        match self.level {
                            #[cfg(target_arch = "x86_64")]
                            DwLevel::Sse41(t) => {
                                x86::dw_block_sse41(t, xw, &self.w, tl, c0, &mut acc)
                            }
                            _ => dw_block_portable(xw, &self.w, tl, c0, &mut acc),
                        }
                        let len = (n - c0).min(DW_BLOCK);
                        self.epi.row(s, c0, &acc[..len], bias, &mut o[c0..]);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The taps `t` in `0..k` with `0 <= origin + dilation * t < n`, as a range.
#[inline]
fn taps(origin: i64, dilation: usize, k: usize, n: usize) -> (usize, usize) {
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

// ---------------------------------------------------------------------------------------------
// x86 micro-kernels.

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Act, BLOCK, DW_BLOCK, Epilogue, Form, RowQuant};
    use crate::isa::x86::Avx2Fma;
    use core::arch::x86_64::*;
    use tflrs_ir::Activation;

    #[target_feature(enable = "avx2")]
    unsafe fn min_max_body(values: &[f32]) -> (f32, f32) {
        let first = values[0];
        let mut lo = _mm256_set1_ps(first);
        let mut hi = lo;
        let (chunks, tail) = values.as_chunks::<8>();
        for c in chunks {
            // SAFETY: `c` holds 8 values.
            let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            // MINPS/MAXPS return the second operand when the first is NaN: NaNs are skipped.
            lo = _mm256_min_ps(v, lo);
            hi = _mm256_max_ps(v, hi);
        }
        let mut l = [0f32; 8];
        let mut h = [0f32; 8];
        // SAFETY: 8 lanes into 8 values.
        unsafe {
            _mm256_storeu_ps(l.as_mut_ptr(), lo);
            _mm256_storeu_ps(h.as_mut_ptr(), hi);
        }
        let (mut lo, mut hi) = (l[0], h[0]);
        for i in 1..8 {
            if l[i] < lo {
                lo = l[i];
            }
            if h[i] > hi {
                hi = h[i];
            }
        }
        for &v in tail {
            if v < lo {
                lo = v;
            }
            if v > hi {
                hi = v;
            }
        }
        (lo, hi)
    }

    /// The minimum and maximum of values whose first is not NaN.
    pub(super) fn min_max(_t: Avx2Fma, values: &[f32]) -> (f32, f32) {
        // SAFETY: the token proves AVX2.
        unsafe { min_max_body(values) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn quantize_body(values: &[f32], out: &mut [i8], rq: &RowQuant) {
        let inv = _mm256_set1_ps(rq.inv);
        let zero = _mm256_setzero_ps();
        let pos = _mm256_set1_ps(0.5);
        let neg = _mm256_set1_ps(-0.5);
        let big = _mm256_set1_ps(1_073_741_824.0);
        let nbig = _mm256_set1_ps(-1_073_741_824.0);
        let zp = _mm256_set1_epi32(rq.zp);
        let lo = _mm256_set1_epi32(rq.lo);
        let hi = _mm256_set1_epi32(127);
        for (c, o) in values.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK)) {
            // SAFETY: `c` holds 8 values, `o` 8 bytes.
            unsafe {
                let x = _mm256_mul_ps(_mm256_loadu_ps(c.as_ptr()), inv);
                // NaN lanes: the scalar `(NaN + 0.5) as i32` is 0.
                let x = _mm256_and_ps(x, _mm256_cmp_ps::<_CMP_ORD_Q>(x, x));
                let half = _mm256_blendv_ps(pos, neg, _mm256_cmp_ps::<_CMP_LT_OQ>(x, zero));
                // Lanes beyond 2^30 saturate to the clamp either way (as `as i32` saturates).
                let x = _mm256_min_ps(_mm256_max_ps(x, nbig), big);
                let t = _mm256_cvttps_epi32(_mm256_add_ps(x, half));
                let v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(t, zp), lo), hi);
                let w = _mm256_packs_epi32(v, v);
                let w = _mm256_packs_epi16(w, w);
                let l = _mm256_castsi256_si128(w);
                let h = _mm256_extracti128_si256::<1>(w);
                _mm_storel_epi64(o.as_mut_ptr() as *mut __m128i, _mm_unpacklo_epi32(l, h));
            }
        }
    }

    /// Quantizes whole blocks of 8 (`values.len()` a multiple of 8) as the scalar blocks do.
    pub(super) fn quantize_blocks(_t: Avx2Fma, values: &[f32], out: &mut [i8], rq: &RowQuant) {
        assert!(values.len().is_multiple_of(BLOCK) && out.len() >= values.len());
        // SAFETY: the token proves AVX2.
        unsafe { quantize_body(values, out, rq) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn epilogue_body(
        epi: &Epilogue,
        s: f32,
        j: usize,
        accs: &[i32],
        bias: Option<&[f32]>,
        out: &mut [f32],
    ) {
        // SAFETY: `epilogue8` checked 8 accumulators, outputs, scales and biases from `j`.
        unsafe {
            let a = _mm256_loadu_si256(accs.as_ptr() as *const __m256i);
            epilogue_vec(epi, s, j, a, bias, out.as_mut_ptr());
        }
    }

    /// The epilogue of 8 accumulators `acc` (channels `j..j + 8`) into `out[..8]`.
    ///
    /// # Safety
    /// AVX2; `epi.scales` and `bias` hold `j + 8` values, `out` 8.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn epilogue_vec(
        epi: &Epilogue,
        s: f32,
        j: usize,
        acc: __m256i,
        bias: Option<&[f32]>,
        out: *mut f32,
    ) {
        // SAFETY: as the caller promises.
        unsafe {
            let a = _mm256_cvtepi32_ps(acc);
            let sv = _mm256_set1_ps(s);
            let c = _mm256_loadu_ps(epi.scales.as_ptr().add(j));
            let b = bias.map(|b| _mm256_loadu_ps(b.as_ptr().add(j)));
            let zero = _mm256_setzero_ps();
            let v = match epi.form {
                Form::Fc { per_channel } => {
                    let scale = if per_channel {
                        _mm256_mul_ps(sv, c)
                    } else {
                        sv
                    };
                    _mm256_add_ps(b.unwrap_or(zero), _mm256_mul_ps(a, scale))
                }
                Form::ConvTensor => {
                    let v = _mm256_add_ps(zero, _mm256_mul_ps(a, sv));
                    _mm256_add_ps(v, b.unwrap_or(zero))
                }
                Form::ConvChannel => {
                    let v = _mm256_mul_ps(_mm256_mul_ps(a, c), sv);
                    b.map_or(v, |b| _mm256_add_ps(v, b))
                }
                Form::Depthwise => {
                    let v = _mm256_mul_ps(a, _mm256_mul_ps(c, sv));
                    b.map_or(v, |b| _mm256_add_ps(v, b))
                }
            };
            let v = match epi.act {
                // `clamp_f32`: `x < lo ? lo : x` is MAXPS(lo, x) (x on NaN and ties), then
                // `y > hi ? hi : y` is MINPS(hi, y).
                Act::Clamp(lo, hi) => {
                    _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), v))
                }
                // `max(a, v) = a < v ? v : a` is MAXPS(v, a) (a on NaN and ties);
                // `min(v, b) = b < v ? b : v` is MINPS(b, v) (v on NaN and ties).
                Act::Vector(act) => {
                    let max = |a: f32, v: __m256| _mm256_max_ps(v, _mm256_set1_ps(a));
                    let min = |v: __m256, b: f32| _mm256_min_ps(_mm256_set1_ps(b), v);
                    match act {
                        Activation::Relu => max(0.0, v),
                        Activation::ReluN1To1 => max(-1.0, min(v, 1.0)),
                        Activation::Relu6 => max(0.0, min(v, 6.0)),
                        _ => v,
                    }
                }
            };
            _mm256_storeu_ps(out, v);
        }
    }

    /// Outputs `j..j + 8` of a row with AVX2, for the activations [`Epilogue::new`] vectorizes
    /// (Tanh and SignBit stay scalar).
    pub(super) fn epilogue8(
        _t: Avx2Fma,
        epi: &Epilogue,
        s: f32,
        j: usize,
        accs: &[i32],
        bias: Option<&[f32]>,
        out: &mut [f32],
    ) {
        assert!(accs.len() >= 8 && out.len() >= 8 && epi.scales.len() >= j + 8);
        assert!(bias.is_none_or(|b| b.len() >= j + 8));
        // SAFETY: the token proves AVX2; lengths are checked above.
        unsafe { epilogue_body(epi, s, j, accs, bias, out) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn dw_pixel_avx2_body(
        xw: &[i16],
        w: &[i16],
        taps: &[[usize; 2]],
        epi: &Epilogue,
        s: f32,
        bias: Option<&[f32]>,
        out: &mut [f32],
    ) {
        let n = out.len();
        let mut c0 = 0;
        while c0 < n {
            let mut lo = _mm256_setzero_si256();
            let mut hi = _mm256_setzero_si256();
            for &[xo, wo] in taps {
                // SAFETY: `dw_pixel_avx2` checked 16 values at every offset plus `c0`.
                unsafe {
                    let x = _mm256_loadu_si256(xw.as_ptr().add(xo + c0) as *const __m256i);
                    let v = _mm256_loadu_si256(w.as_ptr().add(wo + c0) as *const __m256i);
                    // Exact: |q - zp| <= 255 and |w| <= 128.
                    let p = _mm256_mullo_epi16(x, v);
                    lo = _mm256_add_epi32(lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(p)));
                    hi = _mm256_add_epi32(
                        hi,
                        _mm256_cvtepi16_epi32(_mm256_extracti128_si256::<1>(p)),
                    );
                }
            }
            let len = (n - c0).min(DW_BLOCK);
            // SAFETY: `dw_pixel_avx2` checked `n` scales and biases; 8 outputs from `c0` (and
            // from `c0 + 8`) exist where `len` says so.
            unsafe {
                if len >= 8 {
                    epilogue_vec(epi, s, c0, lo, bias, out.as_mut_ptr().add(c0));
                }
                if len == DW_BLOCK {
                    epilogue_vec(epi, s, c0 + 8, hi, bias, out.as_mut_ptr().add(c0 + 8));
                } else {
                    let mut acc = [0i32; DW_BLOCK];
                    _mm256_storeu_si256(acc.as_mut_ptr() as *mut __m256i, lo);
                    _mm256_storeu_si256(acc.as_mut_ptr().add(8) as *mut __m256i, hi);
                    let from = if len >= 8 { 8 } else { 0 };
                    for c in from..len {
                        out[c0 + c] = epi.one(acc[c], s, c0 + c, bias);
                    }
                }
            }
            c0 += DW_BLOCK;
        }
    }

    /// One output pixel of the depthwise kernel (all `out.len()` channels): accumulators over
    /// `taps`, then the epilogue, with AVX2. `epi` must be the vector epilogue.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dw_pixel_avx2(
        _t: Avx2Fma,
        xw: &[i16],
        w: &[i16],
        taps: &[[usize; 2]],
        epi: &Epilogue,
        s: f32,
        bias: Option<&[f32]>,
        out: &mut [f32],
    ) {
        let n = out.len();
        let cp = n.next_multiple_of(DW_BLOCK);
        assert!(
            taps.iter()
                .all(|&[x, k]| x + cp <= xw.len() && k + cp <= w.len())
        );
        assert!(epi.scales.len() >= n && bias.is_none_or(|b| b.len() >= n));
        assert!(matches!(epi.act, Act::Clamp(..)));
        // SAFETY: the token proves AVX2; offsets and lengths are checked above.
        unsafe { dw_pixel_avx2_body(xw, w, taps, epi, s, bias, out) }
    }

    #[target_feature(enable = "sse4.1")]
    unsafe fn dw_sse41_body(
        xw: &[i16],
        w: &[i16],
        taps: &[[usize; 2]],
        c0: usize,
        acc: &mut [i32; DW_BLOCK],
    ) {
        let mut a = [_mm_setzero_si128(); 4];
        for &[xo, wo] in taps {
            for h in 0..2 {
                // SAFETY: `dw_block_sse41` checked 16 values at every offset.
                unsafe {
                    let x = _mm_loadu_si128(xw.as_ptr().add(xo + c0 + 8 * h) as *const __m128i);
                    let v = _mm_loadu_si128(w.as_ptr().add(wo + c0 + 8 * h) as *const __m128i);
                    let p = _mm_mullo_epi16(x, v);
                    a[2 * h] = _mm_add_epi32(a[2 * h], _mm_cvtepi16_epi32(p));
                    a[2 * h + 1] =
                        _mm_add_epi32(a[2 * h + 1], _mm_cvtepi16_epi32(_mm_srli_si128::<8>(p)));
                }
            }
        }
        for (i, v) in a.iter().enumerate() {
            // SAFETY: `acc` holds 16 lanes.
            unsafe { _mm_storeu_si128(acc.as_mut_ptr().add(4 * i) as *mut __m128i, *v) };
        }
    }

    fn check(xw: &[i16], w: &[i16], taps: &[[usize; 2]], c0: usize) {
        assert!(
            taps.iter()
                .all(|&[x, k]| x + c0 + DW_BLOCK <= xw.len() && k + c0 + DW_BLOCK <= w.len())
        );
    }

    pub(super) fn dw_block_sse41(
        _t: crate::isa::x86::Sse41,
        xw: &[i16],
        w: &[i16],
        taps: &[[usize; 2]],
        c0: usize,
        acc: &mut [i32; DW_BLOCK],
    ) {
        check(xw, w, taps, c0);
        // SAFETY: the token proves SSE4.1; offsets are checked above.
        unsafe { dw_sse41_body(xw, w, taps, c0, acc) }
    }
}

#[cfg(test)]
mod tests {
    use crate::SimdBackend;
    use crate::testutil::{ACTIVATIONS, Axes, edge_or_any, for_each_backend};
    use proptest::prelude::*;
    use tflrs_ir::{
        Activation, Conv2dAttrs, DType, DepthwiseConv2dAttrs, FullyConnectedAttrs, Op, Padding,
        QuantParams,
    };
    use tflrs_kernels::testing::{Harness, TestInput, make_kernel};
    use tflrs_kernels::{ScalarBackend, TensorInfo};

    /// What the values of a case look like.
    #[derive(Debug, Clone)]
    struct Values {
        /// Input magnitude `2^e`.
        exp: i32,
        /// 0: mixed signs; 1: all positive; 2: all negative; 3: the first row or batch 0
        /// zeros; 4: halves and integers times a power of two, the first value 127 times it
        /// (symmetric quantization then lands on rounding ties).
        shape: u8,
        /// Per-channel filter scales that differ (else one scale repeated or per tensor).
        distinct: bool,
        /// Per-axis quantization (else per tensor).
        per_axis: bool,
        bias: bool,
        asymmetric: bool,
        seed: u64,
    }

    fn values_strategy() -> impl Strategy<Value = Values> {
        (
            -6i32..=6,
            prop_oneof![
                3 => Just(0u8),
                1 => Just(1u8),
                1 => Just(2u8),
                1 => Just(3u8),
                2 => Just(4u8)
            ],
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
            any::<u64>(),
        )
            .prop_map(
                |(exp, shape, (distinct, per_axis, bias, asymmetric), seed)| Values {
                    exp,
                    shape,
                    distinct,
                    per_axis,
                    bias,
                    asymmetric,
                    seed,
                },
            )
    }

    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// `n` floats for the data input, in `rows` rows, shaped as `v` says.
    fn data(v: &Values, seed: &mut u64, n: usize, rows: usize) -> Vec<f32> {
        let mag = 2f32.powi(v.exp);
        let mut x: Vec<f32> = (0..n)
            .map(|_| {
                let u = (next(seed) >> 40) as f32 / (1u64 << 24) as f32;
                let r = (u * 4.0 - 2.0) * mag;
                match v.shape {
                    1 => r.abs(),
                    2 => -r.abs(),
                    _ => r,
                }
            })
            .collect();
        if v.shape == 3 && rows > 0 {
            x[..n / rows].fill(0.0);
        }
        if v.shape == 4 {
            for (i, x) in x.iter_mut().enumerate() {
                *x = if i % (n / rows.max(1)).max(1) == 0 {
                    127.0 * mag
                } else {
                    ((next(seed) % 255) as f32 - 127.0) / 2.0 * mag
                };
            }
        }
        x
    }

    /// int8 weights, the first two -128 and 127.
    fn weights(seed: &mut u64, n: usize) -> Vec<i8> {
        let mut w: Vec<i8> = (0..n).map(|_| (next(seed) >> 32) as i8).collect();
        for (x, e) in w.iter_mut().zip([-128i8, 127]) {
            *x = e;
        }
        w
    }

    /// The filter's quantization: `channels` scales along `axis`.
    fn filter_quant(v: &Values, seed: &mut u64, channels: usize, axis: i32) -> QuantParams {
        let base = 0.002 + (next(seed) % 1000) as f32 * 1e-4;
        if !v.per_axis {
            return QuantParams::per_tensor(base, 0);
        }
        let scales = (0..channels)
            .map(|c| {
                if v.distinct {
                    base * (0.5 + ((next(seed) % 1000) as f32) / 700.0 + c as f32 * 1e-3)
                } else {
                    base
                }
            })
            .collect();
        QuantParams::per_axis(axis, scales, vec![0; channels])
    }

    /// Runs the node on `backend` and on the scalar backend; the float outputs must be equal
    /// bit for bit. Returns the SIMD kernel's name.
    fn compare(
        backend: &SimdBackend,
        op: &Op<'_>,
        inputs: &[Option<TestInput>],
        outputs: &[TensorInfo],
    ) -> Result<String, String> {
        let mut kernel = Harness::new()
            .make(backend, op, inputs, outputs)
            .map_err(|e| e.to_string())?;
        let name = kernel.name().to_string();
        let simd = Harness::new()
            .run(kernel.as_mut(), &mut inputs.to_vec(), outputs)
            .map_err(|e| e.to_string())?;
        let scalar = Harness::new()
            .run_node(&ScalarBackend, op, &mut inputs.to_vec(), outputs)
            .map_err(|e| e.to_string())?;
        let (a, b): (&[f32], &[f32]) = (
            bytemuck::cast_slice(&simd[0]),
            bytemuck::cast_slice(&scalar[0]),
        );
        if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
            return Err(format!(
                "{name}: element {i}: {} against scalar {}",
                a[i], b[i]
            ));
        }
        if a.len() != b.len() {
            return Err(format!("{name}: {} outputs against {}", a.len(), b.len()));
        }
        Ok(name)
    }

    #[derive(Debug, Clone)]
    struct Fc {
        batches: usize,
        units: usize,
        depth: usize,
        act: Activation,
        v: Values,
    }

    fn fc_strategy() -> impl Strategy<Value = Fc> {
        (
            (
                edge_or_any(1..=12),
                edge_or_any(1..=40),
                edge_or_any(1..=70),
            ),
            prop::sample::select(vec![
                Activation::None,
                Activation::Relu,
                Activation::ReluN1To1,
                Activation::Relu6,
                Activation::Tanh,
                Activation::SignBit,
            ]),
            values_strategy(),
        )
            .prop_map(|((batches, units, depth), act, v)| Fc {
                batches,
                units,
                depth,
                act,
                v,
            })
    }

    fn fc_node(f: &Fc) -> (Op<'static>, Vec<Option<TestInput>>, Vec<TensorInfo>) {
        let op = Op::FullyConnected(FullyConnectedAttrs {
            fused_activation_function: f.act,
            asymmetric_quantize_inputs: f.v.asymmetric,
            ..Default::default()
        });
        let (b, u, d) = (f.batches, f.units, f.depth);
        let mut seed = f.v.seed | 1;
        let x = data(&f.v, &mut seed, b * d, b);
        let w = weights(&mut seed, u * d);
        let bias: Vec<f32> = data(&f.v, &mut seed, u, 1);
        let mut w_info = TensorInfo::new("w", DType::Int8, [u, d]);
        w_info.quant = Some(filter_quant(&f.v, &mut seed, u, 0));
        let ins = vec![
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, [b, d]),
                &x,
            )),
            Some(TestInput::const_from_slice(w_info, &w)),
            f.v.bias.then(|| {
                TestInput::const_from_slice(TensorInfo::new("b", DType::Float32, [u]), &bias)
            }),
        ];
        let out = TensorInfo::new("y", DType::Float32, [b, u]);
        (op, ins, vec![out])
    }

    #[test]
    fn fully_connected_hybrid_equals_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            runner
                .run(&fc_strategy(), |f| {
                    let (op, ins, outs) = fc_node(&f);
                    let name = compare(backend, &op, &ins, &outs)
                        .map_err(|e| TestCaseError::fail(format!("{f:?}: {e}")))?;
                    let want = format!("fully_connected_hybrid_i8__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    Ok(())
                })
                .unwrap();
        });
    }

    #[derive(Debug, Clone)]
    struct Conv {
        batch: usize,
        /// Extra input rows and columns beyond the dilated window.
        extra: (usize, usize),
        in_c: usize,
        /// Output channels (CONV_2D) or the depth multiplier (DEPTHWISE_CONV_2D).
        out: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
        padding: Padding,
        act: Activation,
        v: Values,
    }

    fn conv_strategy(out: impl Strategy<Value = usize>) -> impl Strategy<Value = Conv> {
        let ks = prop::sample::select(vec![1usize, 1, 2, 3, 5]);
        let s12 = prop::sample::select(vec![1usize, 1, 2]);
        (
            (1usize..=3, (0usize..=5, 0usize..=5)),
            (edge_or_any(1..=20), out),
            (
                (ks.clone(), ks),
                (s12.clone(), s12.clone()),
                (s12.clone(), s12),
            ),
            prop::sample::select(vec![Padding::Same, Padding::Valid]),
            prop::sample::select(ACTIVATIONS.to_vec()),
            values_strategy(),
        )
            .prop_map(
                |((batch, extra), (in_c, out), (kernel, stride, dilation), padding, act, v)| Conv {
                    batch,
                    extra,
                    in_c,
                    out,
                    kernel,
                    stride,
                    dilation,
                    padding,
                    act,
                    v,
                },
            )
    }

    /// The CONV_2D node (`depthwise` false) or the DEPTHWISE_CONV_2D one, and whether the
    /// direct 1x1 path should take it.
    fn conv_node(
        c: &Conv,
        depthwise: bool,
    ) -> (Op<'static>, Vec<Option<TestInput>>, Vec<TensorInfo>, bool) {
        let (kh, kw) = c.kernel;
        let axes = Axes::new(c.padding, c.kernel, c.stride, c.dilation, c.extra);
        let ((h, w), (oh, ow)) = (axes.input, axes.output);
        let oc = if depthwise { c.in_c * c.out } else { c.out };
        let op = if depthwise {
            Op::DepthwiseConv2d(DepthwiseConv2dAttrs {
                padding: c.padding,
                stride_h: c.stride.0 as i32,
                stride_w: c.stride.1 as i32,
                depth_multiplier: c.out as i32,
                dilation_h_factor: c.dilation.0 as i32,
                dilation_w_factor: c.dilation.1 as i32,
                fused_activation_function: c.act,
            })
        } else {
            Op::Conv2d(Conv2dAttrs {
                padding: c.padding,
                stride_h: c.stride.0 as i32,
                stride_w: c.stride.1 as i32,
                dilation_h_factor: c.dilation.0 as i32,
                dilation_w_factor: c.dilation.1 as i32,
                fused_activation_function: c.act,
                ..Default::default()
            })
        };
        let (w_shape, axis) = if depthwise {
            (vec![1, kh, kw, oc], 3)
        } else {
            (vec![oc, kh, kw, c.in_c], 0)
        };
        let mut seed = c.v.seed | 1;
        let x = data(&c.v, &mut seed, c.batch * h * w * c.in_c, c.batch);
        let wv = weights(&mut seed, oc * kh * kw * if depthwise { 1 } else { c.in_c });
        let bias = data(&c.v, &mut seed, oc, 1);
        let mut w_info = TensorInfo::new("w", DType::Int8, w_shape);
        w_info.quant = Some(filter_quant(&c.v, &mut seed, oc, axis));
        let ins = vec![
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Float32, [c.batch, h, w, c.in_c]),
                &x,
            )),
            Some(TestInput::const_from_slice(w_info, &wv)),
            c.v.bias.then(|| {
                TestInput::const_from_slice(TensorInfo::new("b", DType::Float32, [oc]), &bias)
            }),
        ];
        let out = TensorInfo::new("y", DType::Float32, [c.batch, oh, ow, oc]);
        let direct = !depthwise && c.kernel == (1, 1) && c.stride == (1, 1);
        (op, ins, vec![out], direct)
    }

    #[test]
    fn conv_2d_hybrid_equals_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            let per_channel = core::cell::Cell::new((0usize, 0usize));
            runner
                .run(&conv_strategy(edge_or_any(1..=40)), |c| {
                    let (op, ins, outs, direct) = conv_node(&c, false);
                    let name = compare(backend, &op, &ins, &outs)
                        .map_err(|e| TestCaseError::fail(format!("{c:?}: {e}")))?;
                    let want = format!("conv_2d_hybrid_i8__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    prop_assert_eq!(name.contains("_1x1"), direct, "{}", name);
                    let pc = name.ends_with("_per_channel");
                    let (a, b) = per_channel.get();
                    per_channel.set((a + usize::from(pc), b + 1));
                    Ok(())
                })
                .unwrap();
            // Both of LiteRT's paths (per tensor, symmetric; per channel, asymmetric) ran.
            let (pc, all) = per_channel.get();
            assert!(pc > 0 && pc < all, "{pc} of {all} per channel");
        });
    }

    #[test]
    fn depthwise_conv_2d_hybrid_equals_the_scalar_kernel_on_every_level() {
        for_each_backend(|backend, runner| {
            let mult = prop::sample::select(vec![1usize, 1, 1, 2, 3]);
            runner
                .run(&conv_strategy(mult), |c| {
                    let (op, ins, outs, _) = conv_node(&c, true);
                    let name = compare(backend, &op, &ins, &outs)
                        .map_err(|e| TestCaseError::fail(format!("{c:?}: {e}")))?;
                    let want = format!("depthwise_conv_2d_hybrid_i8__{}_", backend.isa().name());
                    prop_assert!(name.starts_with(&want), "{name}");
                    Ok(())
                })
                .unwrap();
        });
    }

    /// Rows whose range degenerates or overflows the reciprocal scale (denormal ranges make
    /// `127 / range` infinite; infinities and NaNs in the input) quantize as the scalar code
    /// does.
    #[test]
    fn extreme_rows_quantize_as_the_scalar_kernel_does() {
        let rows: Vec<Vec<f32>> = vec![
            vec![1e-44; 11],
            vec![-1e-44, 2e-45, 0.0, -0.0, 1e-45, 3e-45, -4e-45, 0.0, 1e-44],
            vec![f32::INFINITY, 1.0, -2.0, 0.5, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            vec![
                1.0,
                f32::NAN,
                -2.0,
                0.5,
                0.0,
                1.0,
                2.0,
                3.0,
                f32::NAN,
                5.0,
                6.0,
            ],
            vec![f32::NAN, 1.0, -2.0, 0.5, 0.0, 1.0, 2.0, 3.0, 4.0],
            vec![-0.0; 9],
            vec![3.0; 17],
            vec![-3.0; 17],
            vec![f32::MAX, -f32::MAX, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ];
        for_each_backend(|backend, _| {
            for asymmetric in [false, true] {
                for (r, row) in rows.iter().enumerate() {
                    let d = row.len();
                    let op = Op::FullyConnected(FullyConnectedAttrs {
                        asymmetric_quantize_inputs: asymmetric,
                        ..Default::default()
                    });
                    let mut seed = 77 + r as u64;
                    let w = weights(&mut seed, 3 * d);
                    let mut w_info = TensorInfo::new("w", DType::Int8, [3, d]);
                    w_info.quant = Some(QuantParams::per_tensor(0.01, 0));
                    let ins = vec![
                        Some(TestInput::from_slice(
                            TensorInfo::new("x", DType::Float32, [1, d]),
                            row,
                        )),
                        Some(TestInput::const_from_slice(w_info, &w)),
                        None,
                    ];
                    let outs = vec![TensorInfo::new("y", DType::Float32, [1, 3])];
                    compare(backend, &op, &ins, &outs)
                        .unwrap_or_else(|e| panic!("row {r} asymmetric {asymmetric}: {e}"));
                }
            }
        });
    }

    #[test]
    fn computed_weights_and_groups_stay_with_the_scalar_backend() {
        for_each_backend(|backend, _| {
            let v = Values {
                exp: 0,
                shape: 0,
                distinct: true,
                per_axis: true,
                bias: true,
                asymmetric: true,
                seed: 5,
            };
            let c = Conv {
                batch: 1,
                extra: (2, 2),
                in_c: 4,
                out: 6,
                kernel: (3, 3),
                stride: (1, 1),
                dilation: (1, 1),
                padding: Padding::Valid,
                act: Activation::Relu,
                v,
            };
            let (op, mut ins, outs, _) = conv_node(&c, false);
            assert!(make_kernel(backend, &op, &ins, &outs).unwrap().is_some());
            let w = ins[1].as_mut().unwrap();
            w.info.shape = vec![6, 3, 3, 2];
            w.bytes.truncate(6 * 3 * 3 * 2);
            assert!(
                make_kernel(backend, &op, &ins, &outs).unwrap().is_none(),
                "groups"
            );
            let (op, mut ins, outs, _) = conv_node(&c, true);
            assert!(make_kernel(backend, &op, &ins, &outs).unwrap().is_some());
            let w = ins[1].as_ref().unwrap();
            ins[1] = Some(TestInput::new(w.info.clone(), w.bytes.clone()));
            assert!(
                make_kernel(backend, &op, &ins, &outs).unwrap().is_none(),
                "computed"
            );
        });
    }
}
