//! FULLY_CONNECTED: float32, int8 (per-tensor or per-channel weights), int16x8, uint8, and
//! hybrid (float input, int8 weights, symmetric or asymmetric input quantization per batch
//! row), with `keep_num_dims`, an optional bias and fused activations.
//!
//! LiteRT's reference integer kernels requantize in double here, not with a fixed-point
//! multiplier: `round(acc * (input_scale * filter_scale / output_scale))`.

use super::common::{
    Acc, Bias, QType, channel_scales, check_bias, check_len, check_len_mut, checked_quant, dims,
    dot_i8, f64_to_i32_x86, float_range, require_dtype, scratch_piece, take,
};
use super::hybrid::quantize_row;
use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::{activation_range_quantized, clamp_f32, round_f64};
use crate::{Kernel, KernelError, math};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tflrs_ir::{Activation, DType, FullyConnectedAttrs, WeightsFormat};

/// Requantization of an integer fully connected layer.
struct FcParams {
    in_offset: i32,
    w_offset: i32,
    out_zp: i32,
    /// `input_scale * filter_scale / output_scale` per output unit, in double.
    scale: Vec<f64>,
    lo: i32,
    hi: i32,
}

enum Kind {
    /// `K == 0`: LiteRT writes zeros.
    Zero,
    F32 {
        lo: f32,
        hi: f32,
    },
    I8(FcParams),
    U8(FcParams),
    I16 {
        p: FcParams,
        wide: bool,
    },
    /// Float input, int8 weights; `scales` are the channel scales when the weights have more
    /// than one, else `None` and `filter_scale` folds into each row's scaling factor.
    Hybrid {
        scales: Option<Vec<f32>>,
        filter_scale: f32,
        asymmetric: bool,
        act: Activation,
    },
}

struct FullyConnected {
    name: &'static str,
    batches: usize,
    units: usize,
    depth: usize,
    kind: Kind,
}

/// Makes the FULLY_CONNECTED kernel for `node`.
pub(super) fn make(
    node: &NodeCtx<'_>,
    a: &FullyConnectedAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 3)?;
    node.expect_outputs(1)?;
    if a.weights_format != WeightsFormat::Default {
        return Err(KernelError::unsupported(alloc::format!(
            "FULLY_CONNECTED weights format {}",
            a.weights_format
        )));
    }
    let input = node.input(0)?;
    let filter = node.input(1)?;
    let bias = node.optional_input(2);
    let output = node.output(0)?;
    let [units, depth] = dims::<2>(filter, "weights")?;
    let total = input.num_elements();
    let batches = if depth == 0 {
        input
            .shape
            .split_last()
            .map_or(1, |(_, lead)| lead.iter().product())
    } else {
        crate::ensure!(
            total % depth == 0,
            "FULLY_CONNECTED input '{}' of {total} elements is not a whole number of rows of {depth}",
            input.name
        );
        total / depth
    };
    if a.keep_num_dims {
        crate::ensure!(
            input.shape.last() == Some(&depth),
            "FULLY_CONNECTED with keep_num_dims needs the input's last dimension to be {depth}, input is {:?}",
            input.shape
        );
    }
    crate::ensure!(
        output.num_elements() == batches * units
            && (output.shape.last() == Some(&units) || batches * units == 0),
        "FULLY_CONNECTED output '{}' has shape {:?}, expected {batches} rows of {units}",
        output.name,
        output.shape
    );
    let act = a.fused_activation_function;
    let hybrid = input.dtype == DType::Float32 && filter.dtype == DType::Int8;
    if !hybrid {
        crate::ensure!(
            matches!(
                act,
                Activation::None | Activation::Relu | Activation::ReluN1To1 | Activation::Relu6
            ),
            "FULLY_CONNECTED supports only clipping activations, not {act}"
        );
    }
    let (name, kind) = match (input.dtype, filter.dtype) {
        (DType::Float32, DType::Float32) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, units, &[DType::Float32])?;
            let (lo, hi) = float_range(act);
            ("fully_connected_f32__scalar", Kind::F32 { lo, hi })
        }
        (DType::Float32, DType::Int8) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, units, &[DType::Float32])?;
            let scales = channel_scales(filter, 0, units)?;
            let per_channel = filter.scales().len() > 1;
            (
                "fully_connected_hybrid_i8__scalar",
                Kind::Hybrid {
                    filter_scale: scales.first().copied().unwrap_or(1.0),
                    scales: per_channel.then_some(scales),
                    asymmetric: a.asymmetric_quantize_inputs,
                    act,
                },
            )
        }
        (DType::Int8, DType::Int8) => {
            require_dtype(output, DType::Int8, "output")?;
            check_bias(bias, units, &[DType::Int32])?;
            let p = int_params(
                input,
                filter,
                output,
                act,
                units,
                i8::MIN.into(),
                i8::MAX.into(),
            )?;
            ("fully_connected_i8__scalar", Kind::I8(p))
        }
        (DType::Int16, DType::Int8) => {
            require_dtype(output, DType::Int16, "output")?;
            check_bias(bias, units, &[DType::Int32, DType::Int64])?;
            let p = int_params(
                input,
                filter,
                output,
                act,
                units,
                i16::MIN.into(),
                i16::MAX.into(),
            )?;
            crate::ensure!(
                p.in_offset == 0 && p.out_zp == 0,
                "FULLY_CONNECTED int16 needs zero points of 0 on input and output"
            );
            let wide = match bias {
                Some(b) => b.dtype == DType::Int64,
                None => a.quantized_bias_type != DType::Int32,
            };
            ("fully_connected_i16__scalar", Kind::I16 { p, wide })
        }
        (DType::UInt8, DType::UInt8) => {
            require_dtype(output, DType::UInt8, "output")?;
            check_bias(bias, units, &[DType::Int32])?;
            crate::ensure!(
                filter.scales().len() <= 1,
                "FULLY_CONNECTED uint8 supports only per-tensor weights"
            );
            let p = int_params(input, filter, output, act, units, 0, 255)?;
            ("fully_connected_u8__scalar", Kind::U8(p))
        }
        (i, f) => {
            return Err(KernelError::unsupported(alloc::format!(
                "FULLY_CONNECTED with {i} input and {f} weights"
            )));
        }
    };
    let kind = if depth == 0 { Kind::Zero } else { kind };
    Ok(Box::new(FullyConnected {
        name,
        batches,
        units,
        depth,
        kind,
    }))
}

/// Output range and per-unit double scales. Per-tensor weights keep their zero point (LiteRT
/// subtracts it); per-channel weights are symmetric by specification and theirs is ignored.
fn int_params(
    input: &crate::TensorInfo,
    filter: &crate::TensorInfo,
    output: &crate::TensorInfo,
    act: Activation,
    units: usize,
    qmin: i32,
    qmax: i32,
) -> Result<FcParams, KernelError> {
    let (in_s, in_zp) = checked_quant(input)?;
    let (out_s, out_zp) = checked_quant(output)?;
    let per_channel = filter.scales().len() > 1;
    let scales = channel_scales(filter, 0, units)?;
    let w_zp = if per_channel {
        0
    } else {
        checked_quant(filter)?.1
    };
    let scale = scales
        .iter()
        .map(|&fs| f64::from(in_s) * f64::from(fs) / f64::from(out_s))
        .collect();
    let (lo, hi) = activation_range_quantized(act, out_s, out_zp, qmin, qmax);
    Ok(FcParams {
        in_offset: -in_zp,
        w_offset: -w_zp,
        out_zp,
        scale,
        lo,
        hi,
    })
}

/// Runs an integer fully connected layer: `dot(acc, input_row, weight_row)` accumulates one
/// output, then bias, double-precision requantization, zero point and clamp.
#[allow(clippy::too_many_arguments)]
fn run_int<X: QType, W: QType, O: QType, A: Acc>(
    batches: usize,
    units: usize,
    depth: usize,
    x: &[X],
    w: &[W],
    bias: Bias<'_>,
    p: &FcParams,
    out: &mut [O],
    mut dot: impl FnMut(&[X], &[W]) -> A,
) {
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
        match self.kind {
            Kind::Hybrid { .. } => scratch_piece::<i8>(self.batches * self.depth),
            _ => 0,
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let (batches, units, depth) = (self.batches, self.units, self.depth);
        let mut out_t = outputs.get(0)?;
        let out_info = out_t.info;
        let out_len = batches * units;
        if let Kind::Zero = self.kind {
            out_t.bytes.fill(0);
            return Ok(());
        }
        let x_t = inputs.get(0)?;
        let w_t = inputs.get(1)?;
        let bias = Bias::view(inputs.optional(2), units)?;
        let (in_len, w_len) = (batches * depth, units * depth);
        match &self.kind {
            Kind::Zero => {}
            Kind::F32 { lo, hi } => {
                let x = check_len(x_t.as_slice::<f32>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<f32>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, out_len, out_info)?;
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
            Kind::I8(p) => {
                let x = check_len(x_t.as_slice::<i8>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i8>()?, out_len, out_info)?;
                if p.w_offset == 0 {
                    let off = p.in_offset as i16;
                    run_int::<i8, i8, i8, i32>(
                        batches,
                        units,
                        depth,
                        x,
                        w,
                        bias,
                        p,
                        out,
                        |xs, ws| dot_i8(0, xs, ws, off),
                    );
                } else {
                    run_int::<i8, i8, i8, i32>(
                        batches,
                        units,
                        depth,
                        x,
                        w,
                        bias,
                        p,
                        out,
                        plain_dot(p),
                    );
                }
            }
            Kind::U8(p) => {
                let x = check_len(x_t.as_slice::<u8>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<u8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<u8>()?, out_len, out_info)?;
                run_int::<u8, u8, u8, i32>(batches, units, depth, x, w, bias, p, out, plain_dot(p));
            }
            Kind::I16 { p, wide } => {
                let x = check_len(x_t.as_slice::<i16>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i16>()?, out_len, out_info)?;
                if *wide {
                    run_int::<i16, i8, i16, i64>(
                        batches,
                        units,
                        depth,
                        x,
                        w,
                        bias,
                        p,
                        out,
                        plain_dot(p),
                    );
                } else {
                    run_int::<i16, i8, i16, i32>(
                        batches,
                        units,
                        depth,
                        x,
                        w,
                        bias,
                        p,
                        out,
                        plain_dot(p),
                    );
                }
            }
            Kind::Hybrid {
                scales,
                filter_scale,
                asymmetric,
                act,
            } => {
                let x = check_len(x_t.as_slice::<f32>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, out_len, out_info)?;
                let q = take::<i8>(&mut scratch, in_len)?;
                let bias = bias.float();
                for ((xs, qs), outs) in x
                    .chunks_exact(depth)
                    .zip(q.chunks_exact_mut(depth))
                    .zip(out.chunks_exact_mut(units))
                {
                    let (sf, zp) = quantize_row(xs, qs, *asymmetric);
                    let sf = if scales.is_some() {
                        sf
                    } else {
                        sf * filter_scale
                    };
                    for (u, (ws, o)) in w.chunks_exact(depth).zip(outs.iter_mut()).enumerate() {
                        // Equal, modulo 2^32, to LiteRT's `dot - row_sum * zero_point`.
                        // The zero point is an int8 value.
                        let dot = dot_i8(0, qs, ws, -zp as i16);
                        let scale = scales.as_ref().map_or(sf, |s| sf * s[u]);
                        let init = bias.map_or(0.0, |b| b[u]);
                        *o = hybrid_activation(init + dot as f32 * scale, *act);
                    }
                }
            }
        }
        Ok(())
    }
}
