//! TRANSPOSE_CONV: float32, int8 (per-channel), int16x8, uint8 and hybrid (float input, int8
//! weights), weights OHWI, output shape from the `output_shape` operand, optional bias, fused
//! activation. Padding follows LiteRT: the padding of a convolution from the output back to
//! the input.
//!
//! The kernels scatter each input pixel into the outputs it touches, in LiteRT's reference
//! order, so that float sums are added in the same sequence.

use super::common::{
    Acc, Bias, Geom, IntParams, QType, conv_args, hybrid_scratch_bytes, operands, quantize_input,
    scalar_name, scratch_piece, take, taps,
};
use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::conv::{ConvPlan, Quant, transpose_conv};
use crate::scalar::qmath::clamp_f32;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;

/// Adds the products of batch `b`'s input pixels with the filter taps into the accumulators
/// `acc` (one per output element): for each input pixel and each output it reaches, the
/// input channels in order, each product added on its own.
#[inline]
fn scatter_batch<X: Copy, W: Copy, A: Copy>(
    g: &Geom,
    b: usize,
    x: &[X],
    w: &[W],
    acc: &mut [A],
    mut mac: impl FnMut(A, X, W, usize) -> A,
) {
    for iy in 0..g.in_h {
        let oy0 = (iy * g.stride_h) as i64 - g.pad_h;
        let (fy0, fy1) = taps(oy0, 1, g.k_h, g.out_h);
        for ix in 0..g.in_w {
            let ox0 = (ix * g.stride_w) as i64 - g.pad_w;
            let (fx0, fx1) = taps(ox0, 1, g.k_w, g.out_w);
            let xs = &x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c..][..g.in_c];
            for fy in fy0..fy1 {
                let oy = (oy0 + fy as i64) as usize;
                for fx in fx0..fx1 {
                    let ox = (ox0 + fx as i64) as usize;
                    let base = ((b * g.out_h + oy) * g.out_w + ox) * g.out_c;
                    for (oc, slot) in acc[base..base + g.out_c].iter_mut().enumerate() {
                        let ws = &w[((oc * g.k_h + fy) * g.k_w + fx) * g.in_c..][..g.in_c];
                        let mut a = *slot;
                        for (&xv, &wv) in xs.iter().zip(ws) {
                            a = mac(a, xv, wv, oc);
                        }
                        *slot = a;
                    }
                }
            }
        }
    }
}

/// The scalar executor of a TRANSPOSE_CONV [`ConvPlan`].
struct TransposeConv {
    name: &'static str,
    plan: ConvPlan,
}

/// Makes the TRANSPOSE_CONV kernel for `node`.
pub(super) fn make(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let plan = transpose_conv(node)?;
    Ok(Box::new(TransposeConv {
        name: scalar_name!("transpose_conv", &plan.quant),
        plan,
    }))
}

fn run_int<X: QType, W: QType, O: QType, A: Acc + bytemuck::Pod>(
    g: &Geom,
    x: &[X],
    w: &[W],
    bias: Bias<'_>,
    p: &IntParams,
    acc: &mut [A],
    out: &mut [O],
) {
    acc.fill(A::ZERO);
    let (in_off, w_off) = (p.in_offset, p.w_offset);
    for b in 0..g.n {
        scatter_batch(g, b, x, w, acc, |a: A, xv: X, wv: W, _| {
            a.mac(xv.widen() + in_off, wv.widen() + w_off)
        });
    }
    for (i, (o, a)) in out.iter_mut().zip(acc.iter()).enumerate() {
        let oc = i % g.out_c;
        *o = p.finish(*a, bias.int(oc), oc);
    }
}

impl Kernel for TransposeConv {
    fn name(&self) -> &str {
        self.name
    }

    fn scratch_bytes(&self) -> usize {
        let g = &self.plan.geom;
        match self.plan.quant {
            Quant::F32 { .. } => 0,
            Quant::I8(_) | Quant::U8(_) | Quant::I16 { wide: false, .. } => {
                scratch_piece::<i32>(g.out_len())
            }
            Quant::I16 { wide: true, .. } => scratch_piece::<i64>(g.out_len()),
            Quant::Hybrid { .. } => hybrid_scratch_bytes(g),
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let g = &self.plan.geom;
        let args = conv_args(&inputs, g, 2, 3)?;
        let bias = args.bias;
        let mut out_t = outputs.get(0)?;
        let out_len = g.out_len();
        let lens = (g.in_len(), g.filter_len(), out_len);
        match &self.plan.quant {
            Quant::F32 { lo, hi } => {
                let (x, w, out) = operands::<f32, f32, f32>(&args.x, &args.w, &mut out_t, lens)?;
                out.fill(0.0);
                for b in 0..g.n {
                    scatter_batch(g, b, x, w, out, |a, xv, wv, _| a + xv * wv);
                }
                finish_float(out, bias.float(), g.out_c, *lo, *hi);
            }
            Quant::I8(p) => {
                let (x, w, out) = operands::<i8, i8, i8>(&args.x, &args.w, &mut out_t, lens)?;
                let acc = take::<i32>(&mut scratch, out_len)?;
                run_int::<i8, i8, i8, i32>(g, x, w, bias, p, acc, out);
            }
            Quant::U8(p) => {
                let (x, w, out) = operands::<u8, u8, u8>(&args.x, &args.w, &mut out_t, lens)?;
                let acc = take::<i32>(&mut scratch, out_len)?;
                run_int::<u8, u8, u8, i32>(g, x, w, bias, p, acc, out);
            }
            Quant::I16 { p, wide } => {
                let (x, w, out) = operands::<i16, i8, i16>(&args.x, &args.w, &mut out_t, lens)?;
                if *wide {
                    let acc = take::<i64>(&mut scratch, out_len)?;
                    run_int::<i16, i8, i16, i64>(g, x, w, bias, p, acc, out);
                } else {
                    let acc = take::<i32>(&mut scratch, out_len)?;
                    run_int::<i16, i8, i16, i32>(g, x, w, bias, p, acc, out);
                }
            }
            Quant::Hybrid { h, lo, hi } => {
                let (x, w, out) = operands::<f32, i8, f32>(&args.x, &args.w, &mut out_t, lens)?;
                let hx = quantize_input(g, x, h, &mut scratch)?;
                let (q, sfs, zps) = (hx.q, hx.sf, hx.zp);
                out.fill(0.0);
                let scales = &h.scales;
                for b in 0..g.n {
                    let (sf, zp) = (sfs[b], zps[b]);
                    // LiteRT's `HybridTransposeConv` scales each product on its own.
                    scatter_batch(g, b, q, w, out, |a, qv: i8, wv: i8, oc| {
                        let prod = (i32::from(qv) - zp) * i32::from(wv);
                        a + prod as f32 * scales[oc] * sf
                    });
                }
                finish_float(out, bias.float(), g.out_c, *lo, *hi);
            }
        }
        Ok(())
    }
}

/// Adds the bias and applies the clamp, as LiteRT's second pass does.
fn finish_float(out: &mut [f32], bias: Option<&[f32]>, channels: usize, lo: f32, hi: f32) {
    for px in out.chunks_exact_mut(channels) {
        for (oc, v) in px.iter_mut().enumerate() {
            let mut a = *v;
            if let Some(b) = bias {
                a += b[oc];
            }
            *v = clamp_f32(a, lo, hi);
        }
    }
}
