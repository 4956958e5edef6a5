//! FULLY_CONNECTED: float32, int8 (per-tensor or per-channel weights), int16x8, uint8, and
//! hybrid (float input, int8 weights, symmetric or asymmetric input quantization per batch
//! row), with `keep_num_dims`, an optional bias and fused activations.
//!
//! LiteRT's reference integer kernels requantize in double here, not with a fixed-point
//! multiplier: `round(acc * (input_scale * filter_scale / output_scale))`.

use super::common::{
    Acc, Bias, QType, dot_i8, f64_to_i32_x86, operands, scalar_name, scratch_piece, take,
};
use super::hybrid::quantize_row;
use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::conv::{FcParams, FcPlan, Quant, fully_connected};
use crate::scalar::qmath::{clamp_f32, round_f64};
use crate::{Kernel, KernelError, math};
use alloc::boxed::Box;
use tflrs_ir::Activation;

/// The scalar executor of an [`FcPlan`].
struct FullyConnected {
    name: &'static str,
    plan: FcPlan,
}

/// Makes the FULLY_CONNECTED kernel for `node`.
pub(super) fn make(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let plan = fully_connected(node)?;
    Ok(Box::new(FullyConnected {
        name: scalar_name!("fully_connected", &plan.quant),
        plan,
    }))
}

/// Runs an integer fully connected layer: `dot(acc, input_row, weight_row)` accumulates one
/// output, then bias, double-precision requantization, zero point and clamp.
fn run_int<X: QType, W: QType, O: QType, A: Acc>(
    plan: &FcPlan,
    x: &[X],
    w: &[W],
    bias: Bias<'_>,
    p: &FcParams,
    out: &mut [O],
    mut dot: impl FnMut(&[X], &[W]) -> A,
) {
    let (batches, units, depth) = (plan.batches, plan.units, plan.depth);
    for (xs, outs) in x
        .chunks_exact(depth)
        .zip(out.chunks_exact_mut(units))
        .take(batches)
    {
        for (u, (ws, o)) in w.chunks_exact(depth).zip(outs.iter_mut()).enumerate() {
            let acc = dot(xs, ws).add_bias(bias.int(u));
            let v = f64_to_i32_x86(round_f64(acc.to_f64() * p.scale[u])).wrapping_add(p.out_zp);
            *o = O::narrow(v.max(p.lo).min(p.hi));
        }
    }
}

/// The plain product-sum of [`run_int`]: `sum((w + w_offset) * (x + in_offset))`.
fn plain_dot<X: QType, W: QType, A: Acc>(p: &FcParams) -> impl Fn(&[X], &[W]) -> A {
    let (in_off, w_off) = (p.in_offset, p.w_offset);
    move |xs, ws| {
        xs.iter().zip(ws).fold(A::ZERO, |a, (&xv, &wv)| {
            a.mac(wv.widen() + w_off, xv.widen() + in_off)
        })
    }
}

/// LiteRT's `ApplyActivationToVector` on one value (hybrid kernels apply every activation).
#[inline]
fn hybrid_activation(v: f32, act: Activation) -> f32 {
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

impl Kernel for FullyConnected {
    fn name(&self) -> &str {
        self.name
    }

    fn scratch_bytes(&self) -> usize {
        let p = &self.plan;
        match p.quant {
            Quant::Hybrid { .. } if p.depth > 0 => scratch_piece::<i8>(p.batches * p.depth),
            _ => 0,
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let plan = &self.plan;
        let (batches, units, depth) = (plan.batches, plan.units, plan.depth);
        let mut out_t = outputs.get(0)?;
        if depth == 0 {
            // `K == 0`: LiteRT writes zeros.
            out_t.bytes.fill(0);
            return Ok(());
        }
        let x_t = inputs.get(0)?;
        let w_t = inputs.get(1)?;
        let bias = Bias::view(inputs.optional(2), units)?;
        let in_len = batches * depth;
        let lens = (in_len, units * depth, batches * units);
        match &plan.quant {
            Quant::F32 { lo, hi } => {
                let (x, w, out) = operands::<f32, f32, f32>(&x_t, &w_t, &mut out_t, lens)?;
                let bias = bias.float();
                for (xs, outs) in x.chunks_exact(depth).zip(out.chunks_exact_mut(units)) {
                    for (u, (ws, o)) in w.chunks_exact(depth).zip(outs.iter_mut()).enumerate() {
                        let mut acc = 0.0f32;
                        for (&xv, &wv) in xs.iter().zip(ws) {
                            acc += xv * wv;
                        }
                        let bv = bias.map_or(0.0, |b| b[u]);
                        *o = clamp_f32(acc + bv, *lo, *hi);
                    }
                }
            }
            Quant::I8(p) => {
                let (x, w, out) = operands::<i8, i8, i8>(&x_t, &w_t, &mut out_t, lens)?;
                if p.w_offset == 0 {
                    let off = p.in_offset as i16;
                    run_int::<i8, i8, i8, i32>(plan, x, w, bias, p, out, |xs, ws| {
                        dot_i8(0, xs, ws, off)
                    });
                } else {
                    run_int::<i8, i8, i8, i32>(plan, x, w, bias, p, out, plain_dot(p));
                }
            }
            Quant::U8(p) => {
                let (x, w, out) = operands::<u8, u8, u8>(&x_t, &w_t, &mut out_t, lens)?;
                run_int::<u8, u8, u8, i32>(plan, x, w, bias, p, out, plain_dot(p));
            }
            Quant::I16 { p, wide } => {
                let (x, w, out) = operands::<i16, i8, i16>(&x_t, &w_t, &mut out_t, lens)?;
                if *wide {
                    run_int::<i16, i8, i16, i64>(plan, x, w, bias, p, out, plain_dot(p));
                } else {
                    run_int::<i16, i8, i16, i32>(plan, x, w, bias, p, out, plain_dot(p));
                }
            }
            Quant::Hybrid { h, .. } => {
                let (x, w, out) = operands::<f32, i8, f32>(&x_t, &w_t, &mut out_t, lens)?;
                let q = take::<i8>(&mut scratch, in_len)?;
                let bias = bias.float();
                for ((xs, qs), outs) in x
                    .chunks_exact(depth)
                    .zip(q.chunks_exact_mut(depth))
                    .zip(out.chunks_exact_mut(units))
                {
                    let (sf, zp) = quantize_row(xs, qs, h.asymmetric);
                    let sf = if h.per_channel {
                        sf
                    } else {
                        sf * h.filter_scale()
                    };
                    for (u, (ws, o)) in w.chunks_exact(depth).zip(outs.iter_mut()).enumerate() {
                        // Equal, modulo 2^32, to LiteRT's `dot - row_sum * zero_point`.
                        // The zero point is an int8 value.
                        let dot = dot_i8(0, qs, ws, -zp as i16);
                        let scale = if h.per_channel { sf * h.scales[u] } else { sf };
                        let init = bias.map_or(0.0, |b| b[u]);
                        *o = hybrid_activation(init + dot as f32 * scale, plan.act);
                    }
                }
            }
        }
        Ok(())
    }
}
