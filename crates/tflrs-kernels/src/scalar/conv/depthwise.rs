//! DEPTHWISE_CONV_2D: float32, int8 (per-channel), int16x8 (64-bit bias), uint8 and hybrid
//! (float input, int8 weights, per-channel, asymmetric input quantization), with depth
//! multiplier, dilation and fused activations.

use super::common::{
    Acc, Bias, Geom, IntParams, QType, conv_args, conv_scratch_bytes, mac_i8, operands,
    quantize_input, scalar_name, taps,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::conv::{ConvPlan, Quant, depthwise};
use crate::scalar::qmath::clamp_f32;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Walks the output pixels of batch `b`, accumulating every output channel of a pixel at once
/// in `acc` (one slot per channel, in the reference order filter row, filter column), then
/// hands each to `emit(index, channel, acc)`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn dw_batch<X: Copy, W: Copy, A: Copy>(
    g: &Geom,
    b: usize,
    x: &[X],
    w: &[W],
    acc: &mut [A],
    zero: A,
    mut mac: impl FnMut(A, X, W) -> A,
    mut emit: impl FnMut(usize, usize, A),
) {
    let mult = g.out_c / g.in_c;
    for oy in 0..g.out_h {
        let iy0 = (oy * g.stride_h) as i64 - g.pad_h;
        let (fy0, fy1) = taps(iy0, g.dil_h, g.k_h, g.in_h);
        for ox in 0..g.out_w {
            let ix0 = (ox * g.stride_w) as i64 - g.pad_w;
            let (fx0, fx1) = taps(ix0, g.dil_w, g.k_w, g.in_w);
            acc.fill(zero);
            for fy in fy0..fy1 {
                let iy = (iy0 + (fy * g.dil_h) as i64) as usize;
                for fx in fx0..fx1 {
                    let ix = (ix0 + (fx * g.dil_w) as i64) as usize;
                    let xs = &x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c..][..g.in_c];
                    let ws = &w[(fy * g.k_w + fx) * g.out_c..][..g.out_c];
                    if mult == 1 {
                        // Blocks of 8 channels: fixed-width bodies vectorize well (int8 products
                        // in int16 lanes); each channel still accumulates in tap order.
                        let (a8, a_tail) = acc.as_chunks_mut::<8>();
                        let (x8, x_tail) = xs.as_chunks::<8>();
                        let (w8, w_tail) = ws.as_chunks::<8>();
                        for ((a, x), w) in a8.iter_mut().zip(x8).zip(w8) {
                            for k in 0..8 {
                                a[k] = mac(a[k], x[k], w[k]);
                            }
                        }
                        for ((a, &xv), &wv) in a_tail.iter_mut().zip(x_tail).zip(w_tail) {
                            *a = mac(*a, xv, wv);
                        }
                    } else {
                        for ((accs, &xv), wm) in acc
                            .chunks_exact_mut(mult)
                            .zip(xs)
                            .zip(ws.chunks_exact(mult))
                        {
                            for (a, &wv) in accs.iter_mut().zip(wm) {
                                *a = mac(*a, xv, wv);
                            }
                        }
                    }
                }
            }
            let out_base = ((b * g.out_h + oy) * g.out_w + ox) * g.out_c;
            for (oc, &a) in acc.iter().enumerate() {
                emit(out_base + oc, oc, a);
            }
        }
    }
}

/// The scalar executor of a DEPTHWISE_CONV_2D [`ConvPlan`], with one accumulator per output
/// channel of a pixel (of the type the plan's kernel accumulates in; the others stay empty).
struct Depthwise {
    name: &'static str,
    plan: ConvPlan,
    acc_f32: Vec<f32>,
    acc_i32: Vec<i32>,
    acc_i64: Vec<i64>,
}

/// Makes the DEPTHWISE_CONV_2D kernel for `node`.
pub(super) fn make(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let plan = depthwise(node)?;
    let c = plan.geom.out_c;
    let (f, i, w) = match plan.quant {
        Quant::F32 { .. } => (c, 0, 0),
        Quant::I8(_) | Quant::U8(_) | Quant::Hybrid { .. } => (0, c, 0),
        Quant::I16 { .. } => (0, 0, c),
    };
    Ok(Box::new(Depthwise {
        name: scalar_name!("depthwise_conv_2d", &plan.quant),
        plan,
        acc_f32: alloc::vec![0.0; f],
        acc_i32: alloc::vec![0; i],
        acc_i64: alloc::vec![0; w],
    }))
}

fn run_int<X: QType, W: QType, O: QType, A: Acc>(
    g: &Geom,
    x: &[X],
    w: &[W],
    bias: Bias<'_>,
    p: &IntParams,
    acc: &mut [A],
    out: &mut [O],
) {
    let (in_off, w_off) = (p.in_offset, p.w_offset);
    for b in 0..g.n {
        dw_batch(
            g,
            b,
            x,
            w,
            acc,
            A::ZERO,
            |a: A, xv: X, wv: W| a.mac(wv.widen() + w_off, xv.widen() + in_off),
            |i, oc, a| {
                out[i] = p.finish(a, bias.int(oc), oc);
            },
        );
    }
}

/// The int8 kernel: [`run_int`] with the int16 products of [`mac_i8`].
fn run_i8(
    g: &Geom,
    x: &[i8],
    w: &[i8],
    bias: Bias<'_>,
    p: &IntParams,
    acc: &mut [i32],
    out: &mut [i8],
) {
    let off = p.in_offset_i16();
    for b in 0..g.n {
        dw_batch(
            g,
            b,
            x,
            w,
            acc,
            0i32,
            |a, xv, wv| mac_i8(a, xv, wv, off),
            |i, oc, a| out[i] = p.finish(a, bias.int(oc), oc),
        );
    }
}

impl Kernel for Depthwise {
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
        match &self.plan.quant {
            Quant::F32 { lo, hi } => {
                let (x, w, out) = operands::<f32, f32, f32>(&args.x, &args.w, &mut out_t, lens)?;
                let bias = bias.float();
                let (lo, hi) = (*lo, *hi);
                for b in 0..g.n {
                    dw_batch(
                        g,
                        b,
                        x,
                        w,
                        &mut self.acc_f32,
                        0.0f32,
                        |a, xv, wv| a + xv * wv,
                        |i, oc, a| {
                            let bv = bias.map_or(0.0, |bias| bias[oc]);
                            out[i] = clamp_f32(a + bv, lo, hi);
                        },
                    );
                }
            }
            Quant::I8(p) => {
                let (x, w, out) = operands::<i8, i8, i8>(&args.x, &args.w, &mut out_t, lens)?;
                run_i8(g, x, w, bias, p, &mut self.acc_i32, out);
            }
            Quant::U8(p) => {
                let (x, w, out) = operands::<u8, u8, u8>(&args.x, &args.w, &mut out_t, lens)?;
                run_int::<u8, u8, u8, i32>(g, x, w, bias, p, &mut self.acc_i32, out);
            }
            Quant::I16 { p, .. } => {
                // LiteRT's int16 depthwise kernel always accumulates in 64 bits.
                let (x, w, out) = operands::<i16, i8, i16>(&args.x, &args.w, &mut out_t, lens)?;
                run_int::<i16, i8, i16, i64>(g, x, w, bias, p, &mut self.acc_i64, out);
            }
            Quant::Hybrid { h, lo, hi } => {
                let (x, w, out) = operands::<f32, i8, f32>(&args.x, &args.w, &mut out_t, lens)?;
                let hx = quantize_input(g, x, h, &mut scratch)?;
                let (q, sfs, zps) = (hx.q, hx.sf, hx.zp);
                let bias = bias.float();
                let (lo, hi, scales) = (*lo, *hi, &h.scales);
                for b in 0..g.n {
                    let (sf, zp) = (sfs[b], zps[b]);
                    // The quantized input's zero point is an int8 value.
                    let off = -zp as i16;
                    dw_batch(
                        g,
                        b,
                        q,
                        w,
                        &mut self.acc_i32,
                        0i32,
                        |a, qv: i8, wv: i8| mac_i8(a, qv, wv, off),
                        // LiteRT's `DepthwiseConvHybridPerChannel`: acc * (channel scale *
                        // batch scale), then bias.
                        |i, oc, a| {
                            let mut v = a as f32 * (scales[oc] * sf);
                            if let Some(bias) = bias {
                                v += bias[oc];
                            }
                            out[i] = clamp_f32(v, lo, hi);
                        },
                    );
                }
            }
        }
        Ok(())
    }
}
