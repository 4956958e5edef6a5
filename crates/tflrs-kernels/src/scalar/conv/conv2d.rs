//! CONV_2D: float32, int8 (per-channel), int16x8, uint8, and hybrid (float input, int8
//! weights), with groups, dilation and fused activations, as LiteRT's reference kernels
//! compute them.

use super::common::{
    Acc, Bias, Geom, IntParams, QType, conv_args, conv_scratch_bytes, dot_i8, operands,
    quantize_input, scalar_name,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::conv::{ConvPlan, ConvQuant, Quant, conv2d};
use crate::scalar::qmath::clamp_f32;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Walks the output pixels of batch `b` and, for each output channel, accumulates over the
/// filter taps that fall inside the input (padding contributes nothing, as in LiteRT), in the
/// reference order (filter row, filter column, input channel): `dot(acc, xs, ws)` adds the
/// products of one run of input and filter values, in order. `emit(index, channel, acc)`
/// receives each finished accumulator.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn conv_batch<X: Copy, W: Copy, A: Copy>(
    g: &Geom,
    b: usize,
    x: &[X],
    w: &[W],
    zero: A,
    mut dot: impl FnMut(A, &[X], &[W]) -> A,
    mut emit: impl FnMut(usize, usize, A),
) {
    let groups = g.in_c / g.k_c;
    let per_group = g.out_c / groups;
    let contiguous = groups == 1 && g.dil_w == 1;
    for oy in 0..g.out_h {
        let iy0 = (oy * g.stride_h) as i64 - g.pad_h;
        let (fy0, fy1) = super::common::taps(iy0, g.dil_h, g.k_h, g.in_h);
        for ox in 0..g.out_w {
            let ix0 = (ox * g.stride_w) as i64 - g.pad_w;
            let (fx0, fx1) = super::common::taps(ix0, g.dil_w, g.k_w, g.in_w);
            let out_base = ((b * g.out_h + oy) * g.out_w + ox) * g.out_c;
            if contiguous {
                // The valid columns of a filter row touch one contiguous run of the input
                // (columns, then channels), in the same order as the filter row: one dot
                // product per filter row.
                let run = (fx1 - fx0) * g.k_c;
                let x_col = (ix0 + fx0 as i64) as usize;
                for oc in 0..g.out_c {
                    let mut acc = zero;
                    for fy in fy0..fy1 {
                        let iy = (iy0 + (fy * g.dil_h) as i64) as usize;
                        let xs = &x[((b * g.in_h + iy) * g.in_w + x_col) * g.in_c..][..run];
                        let ws = &w[((oc * g.k_h + fy) * g.k_w + fx0) * g.k_c..][..run];
                        acc = dot(acc, xs, ws);
                    }
                    emit(out_base + oc, oc, acc);
                }
                continue;
            }
            for oc in 0..g.out_c {
                let in_c0 = (oc / per_group) * g.k_c;
                let mut acc = zero;
                for fy in fy0..fy1 {
                    let iy = (iy0 + (fy * g.dil_h) as i64) as usize;
                    let row = (b * g.in_h + iy) * g.in_w;
                    let w_row = (oc * g.k_h + fy) * g.k_w;
                    for fx in fx0..fx1 {
                        let ix = (ix0 + (fx * g.dil_w) as i64) as usize;
                        let xs = &x[(row + ix) * g.in_c + in_c0..][..g.k_c];
                        let ws = &w[(w_row + fx) * g.k_c..][..g.k_c];
                        acc = dot(acc, xs, ws);
                    }
                }
                emit(out_base + oc, oc, acc);
            }
        }
    }
}

/// The scalar executor of a CONV_2D [`ConvPlan`].
struct Conv2d {
    name: &'static str,
    plan: ConvPlan,
    /// One window of int8 input (`k_h * k_w * k_c`), for [`conv_i8_patched`].
    patch: Vec<i8>,
}

/// Makes the CONV_2D kernel for `node`.
pub(super) fn make(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let plan = conv2d(node)?;
    let name = match &plan.quant {
        Quant::Hybrid { h, .. } if h.per_channel => "conv_2d_hybrid_i8__scalar_per_channel",
        q => scalar_name!("conv_2d", q),
    };
    let g = &plan.geom;
    let patch = match plan.quant {
        Quant::I8(_) | Quant::Hybrid { .. } if patched(g) => alloc::vec![0; g.k_h * g.k_w * g.k_c],
        _ => Vec::new(),
    };
    Ok(Box::new(Conv2d { name, plan, patch }))
}

/// Runs an integer convolution over all batches: accumulate, add the bias, requantize per
/// channel, add the output zero point, clamp.
fn run_int<X: QType, W: QType, O: QType, A: Acc>(
    g: &Geom,
    x: &[X],
    w: &[W],
    bias: Bias<'_>,
    p: &IntParams,
    out: &mut [O],
) {
    let (in_off, w_off) = (p.in_offset, p.w_offset);
    for b in 0..g.n {
        conv_batch(
            g,
            b,
            x,
            w,
            A::ZERO,
            |acc: A, xs: &[X], ws: &[W]| {
                xs.iter().zip(ws).fold(acc, |a, (&xv, &wv)| {
                    a.mac(wv.widen() + w_off, xv.widen() + in_off)
                })
            },
            |i, oc, acc| {
                out[i] = p.finish(acc, bias.int(oc), oc);
            },
        );
    }
}

/// Whether int8 convolutions gather each window into a patch first: for windows larger than
/// one pixel, without groups. Each output channel is then one dot product over its whole
/// (contiguous, OHWI) filter, which is much faster than many short runs when the input has
/// few channels.
fn patched(g: &Geom) -> bool {
    g.k_h * g.k_w > 1 && g.k_c == g.in_c
}

/// An int8 convolution of batch `b` (8-bit values `x` whose zero point is `zp`, a symmetric
/// int8 filter) through a per-window patch: taps outside the input hold `zp`, so they add
/// `w * (zp - zp) = 0`, exactly as LiteRT's skipped taps. `emit(index, channel, acc)` as in
/// [`conv_batch`].
fn conv_i8_patched(
    g: &Geom,
    b: usize,
    x: &[i8],
    w: &[i8],
    zp: i8,
    patch: &mut [i8],
    mut emit: impl FnMut(usize, usize, i32),
) {
    let off = -i16::from(zp);
    let row_len = g.k_w * g.k_c;
    for oy in 0..g.out_h {
        let iy0 = (oy * g.stride_h) as i64 - g.pad_h;
        let (fy0, fy1) = super::common::taps(iy0, g.dil_h, g.k_h, g.in_h);
        for ox in 0..g.out_w {
            let ix0 = (ox * g.stride_w) as i64 - g.pad_w;
            let (fx0, fx1) = super::common::taps(ix0, g.dil_w, g.k_w, g.in_w);
            for fy in 0..g.k_h {
                let prow = &mut patch[fy * row_len..][..row_len];
                if fy < fy0 || fy >= fy1 {
                    prow.fill(zp);
                    continue;
                }
                let iy = (iy0 + (fy * g.dil_h) as i64) as usize;
                for fx in 0..g.k_w {
                    let dst = &mut prow[fx * g.k_c..][..g.k_c];
                    if fx < fx0 || fx >= fx1 {
                        dst.fill(zp);
                    } else {
                        let ix = (ix0 + (fx * g.dil_w) as i64) as usize;
                        dst.copy_from_slice(
                            &x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c..][..g.k_c],
                        );
                    }
                }
            }
            let out_base = ((b * g.out_h + oy) * g.out_w + ox) * g.out_c;
            for (oc, ws) in w.chunks_exact(patch.len()).enumerate().take(g.out_c) {
                emit(out_base + oc, oc, dot_i8(0, patch, ws, off));
            }
        }
    }
}

/// An int8 convolution of batch `b` (values `x` with zero point `zp`, a symmetric int8 filter),
/// through a patch when [`patched`] says so, else directly.
#[allow(clippy::too_many_arguments)]
fn conv_i8(
    g: &Geom,
    b: usize,
    x: &[i8],
    w: &[i8],
    zp: i8,
    patch: &mut [i8],
    emit: impl FnMut(usize, usize, i32),
) {
    if patched(g) {
        conv_i8_patched(g, b, x, w, zp, patch, emit);
    } else {
        let off = -i16::from(zp);
        conv_batch(
            g,
            b,
            x,
            w,
            0i32,
            |acc, xs, ws| dot_i8(acc, xs, ws, off),
            emit,
        );
    }
}

/// The int8 kernel: [`run_int`] with the int16 products of [`dot_i8`].
fn run_i8(
    g: &Geom,
    x: &[i8],
    w: &[i8],
    bias: Bias<'_>,
    p: &IntParams,
    patch: &mut [i8],
    out: &mut [i8],
) {
    // The offset is a negated int8 zero point.
    let zp = (-p.in_offset_i16()) as i8;
    for b in 0..g.n {
        conv_i8(g, b, x, w, zp, patch, |i, oc, acc| {
            out[i] = p.finish(acc, bias.int(oc), oc)
        });
    }
}

impl Kernel for Conv2d {
    fn name(&self) -> &str {
        self.name
    }

    fn scratch_bytes(&self) -> usize {
        conv_scratch_bytes(&self.plan)
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let g = &self.plan.geom;
        let args = conv_args(&inputs, g, 0, 2)?;
        let bias = args.bias;
        let mut out_t = outputs.get(0)?;
        let lens = (g.in_len(), g.filter_len(), g.out_len());
        let (quant, patch): (&ConvQuant, _) = (&self.plan.quant, &mut self.patch);
        match quant {
            Quant::F32 { lo, hi } => {
                let (x, w, out) = operands::<f32, f32, f32>(&args.x, &args.w, &mut out_t, lens)?;
                let bias = bias.float();
                for b in 0..g.n {
                    conv_batch(
                        g,
                        b,
                        x,
                        w,
                        0.0f32,
                        |acc, xs, ws| xs.iter().zip(ws).fold(acc, |a, (&xv, &wv)| a + xv * wv),
                        |i, oc, acc| {
                            let bv = bias.map_or(0.0, |bias| bias[oc]);
                            out[i] = clamp_f32(acc + bv, *lo, *hi);
                        },
                    );
                }
            }
            Quant::I8(p) => {
                let (x, w, out) = operands::<i8, i8, i8>(&args.x, &args.w, &mut out_t, lens)?;
                run_i8(g, x, w, bias, p, patch, out);
            }
            Quant::U8(p) => {
                let (x, w, out) = operands::<u8, u8, u8>(&args.x, &args.w, &mut out_t, lens)?;
                run_int::<u8, u8, u8, i32>(g, x, w, bias, p, out);
            }
            Quant::I16 { p, wide } => {
                let (x, w, out) = operands::<i16, i8, i16>(&args.x, &args.w, &mut out_t, lens)?;
                if *wide {
                    run_int::<i16, i8, i16, i64>(g, x, w, bias, p, out);
                } else {
                    run_int::<i16, i8, i16, i32>(g, x, w, bias, p, out);
                }
            }
            Quant::Hybrid { h, lo, hi } => {
                let (x, w, out) = operands::<f32, i8, f32>(&args.x, &args.w, &mut out_t, lens)?;
                let hx = quantize_input(g, x, h, &mut scratch)?;
                let (q, sfs, zps) = (hx.q, hx.sf, hx.zp);
                let bias = bias.float();
                for b in 0..g.n {
                    let (sf, zp) = (sfs[b], zps[b]);
                    // The quantized input's zero point is an int8 value.
                    let zp = zp as i8;
                    if h.per_channel {
                        // LiteRT's reference: (acc * channel scale) * batch scale, then bias.
                        let scales = &h.scales;
                        conv_i8(g, b, q, w, zp, patch, |i, oc, acc| {
                            let mut v = acc as f32 * scales[oc] * sf;
                            if let Some(bias) = bias {
                                v += bias[oc];
                            }
                            out[i] = clamp_f32(v, *lo, *hi);
                        });
                    } else {
                        // LiteRT's im2col + GEMM kernel: a zeroed output accumulates
                        // acc * scale, then bias and clamp.
                        conv_i8(g, b, q, w, zp, patch, |i, oc, acc| {
                            let v = 0.0f32 + acc as f32 * sf;
                            let bv = bias.map_or(0.0, |bias| bias[oc]);
                            out[i] = clamp_f32(v + bv, *lo, *hi);
                        });
                    }
                }
            }
        }
        Ok(())
    }
}
