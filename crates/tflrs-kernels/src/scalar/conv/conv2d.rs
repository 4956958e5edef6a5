//! CONV_2D: float32, int8 (per-channel), int16x8, uint8, and hybrid (float input, int8
//! weights), with groups, dilation and fused activations, as LiteRT's reference kernels
//! compute them.

use super::common::{
    Acc, Bias, Geom, IntParams, QType, channel_scales, check_bias, check_len, check_len_mut, dims,
    dot_i8, float_range, has_many_scales, hybrid_scratch_bytes, int_params, out_size, padding,
    positive, require_dtype, require_shape, require_zero_points_zero, take, uint8_params,
};
use super::hybrid::quantize_row;
use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::clamp_f32;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tflrs_ir::{Conv2dAttrs, DType};

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

enum Kind {
    F32 {
        lo: f32,
        hi: f32,
    },
    I8(IntParams),
    U8(IntParams),
    /// int16 activations; `wide` selects the 64-bit accumulator (64-bit bias).
    I16 {
        p: IntParams,
        wide: bool,
    },
    /// Float input, int8 weights. `per_channel` holds the channel scales (asymmetric input
    /// quantization, LiteRT's `HybridConvPerChannel`); otherwise the input is quantized
    /// symmetrically and `filter_scale` applies to every channel (LiteRT's `HybridConv`).
    Hybrid {
        per_channel: Option<Vec<f32>>,
        filter_scale: f32,
        lo: f32,
        hi: f32,
    },
}

struct Conv2d {
    name: &'static str,
    g: Geom,
    w_len: usize,
    kind: Kind,
    /// One window of int8 input (`k_h * k_w * k_c`), for [`conv_i8_patched`].
    patch: Vec<i8>,
}

/// Makes the CONV_2D kernel for `node`.
pub(super) fn make(node: &NodeCtx<'_>, a: &Conv2dAttrs) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 3)?;
    node.expect_outputs(1)?;
    let input = node.input(0)?;
    let filter = node.input(1)?;
    let bias = node.optional_input(2);
    let output = node.output(0)?;
    let [n, in_h, in_w, in_c] = dims::<4>(input, "input")?;
    let [out_c, k_h, k_w, k_c] = dims::<4>(filter, "filter")?;
    crate::ensure!(
        in_h > 0 && in_w > 0 && in_c > 0 && out_c > 0 && k_h > 0 && k_w > 0 && k_c > 0,
        "CONV_2D needs non-empty input {:?} and filter {:?}",
        input.shape,
        filter.shape
    );
    crate::ensure!(
        in_c % k_c == 0 && out_c % (in_c / k_c) == 0,
        "CONV_2D filter depth {k_c} and {out_c} filters do not divide input depth {in_c} into groups"
    );
    let stride_h = positive(a.stride_h, "stride_h")?;
    let stride_w = positive(a.stride_w, "stride_w")?;
    let dil_h = positive(a.dilation_h_factor, "dilation_h_factor")?;
    let dil_w = positive(a.dilation_w_factor, "dilation_w_factor")?;
    let out_h = out_size(a.padding, in_h, k_h, stride_h, dil_h);
    let out_w = out_size(a.padding, in_w, k_w, stride_w, dil_w);
    let (Some(out_h), Some(out_w)) = (out_h, out_w) else {
        return Err(KernelError::invalid(alloc::format!(
            "CONV_2D window {k_h}x{k_w} (dilation {dil_h}x{dil_w}) does not fit input {in_h}x{in_w}"
        )));
    };
    require_shape(output, &[n, out_h, out_w, out_c], "output")?;
    let (pad_h, _) = padding(stride_h, dil_h, in_h, k_h, out_h);
    let (pad_w, _) = padding(stride_w, dil_w, in_w, k_w, out_w);
    let g = Geom {
        n,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        k_h,
        k_w,
        k_c,
        stride_h,
        stride_w,
        dil_h,
        dil_w,
        pad_h,
        pad_w,
    };
    let groups = in_c / k_c;
    let act = a.fused_activation_function;
    let (name, kind) = match (input.dtype, filter.dtype) {
        (DType::Float32, DType::Float32) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, out_c, &[DType::Float32])?;
            let (lo, hi) = float_range(act);
            ("conv_2d_f32__scalar", Kind::F32 { lo, hi })
        }
        (DType::Float32, DType::Int8) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, out_c, &[DType::Float32])?;
            let (lo, hi) = float_range(act);
            let scales = channel_scales(filter, 0, out_c)?;
            // LiteRT takes the per-channel path only when the scales differ (or for groups);
            // equal scales run the per-tensor kernel with the first one.
            let per_channel =
                groups != 1 || (has_many_scales(filter) && scales.iter().any(|&s| s != scales[0]));
            if per_channel {
                (
                    "conv_2d_hybrid_i8__scalar_per_channel",
                    Kind::Hybrid {
                        filter_scale: scales[0],
                        per_channel: Some(scales),
                        lo,
                        hi,
                    },
                )
            } else {
                (
                    "conv_2d_hybrid_i8__scalar",
                    Kind::Hybrid {
                        filter_scale: scales[0],
                        per_channel: None,
                        lo,
                        hi,
                    },
                )
            }
        }
        (DType::Int8, DType::Int8) => {
            require_dtype(output, DType::Int8, "output")?;
            check_bias(bias, out_c, &[DType::Int32])?;
            require_zero_points_zero(filter)?;
            let p = int_params(
                input,
                filter,
                output,
                act,
                out_c,
                0,
                (i8::MIN.into(), i8::MAX.into()),
                30,
            )?;
            ("conv_2d_i8__scalar", Kind::I8(p))
        }
        (DType::Int16, DType::Int8) => {
            require_dtype(output, DType::Int16, "output")?;
            check_bias(bias, out_c, &[DType::Int32, DType::Int64])?;
            require_zero_points_zero(filter)?;
            // LiteRT's int16 kernel accumulates in 64 bits unless the bias is int32 (the
            // `quantized_bias_type` attribute says int32 when there is no bias).
            let wide = match bias {
                Some(b) => b.dtype == DType::Int64,
                None => a.quantized_bias_type != DType::Int32,
            };
            let max_shift = if wide { 14 } else { 30 };
            let p = int_params(
                input,
                filter,
                output,
                act,
                out_c,
                0,
                (i16::MIN.into(), i16::MAX.into()),
                max_shift,
            )?;
            crate::ensure!(
                p.in_offset == 0 && p.out_zp == 0,
                "CONV_2D int16 needs zero points of 0 on input and output"
            );
            ("conv_2d_i16__scalar", Kind::I16 { p, wide })
        }
        (DType::UInt8, DType::UInt8) => {
            require_dtype(output, DType::UInt8, "output")?;
            check_bias(bias, out_c, &[DType::Int32])?;
            let p = uint8_params(input, filter, output, act, out_c)?;
            ("conv_2d_u8__scalar", Kind::U8(p))
        }
        (i, f) => {
            return Err(KernelError::unsupported(alloc::format!(
                "CONV_2D with {i} input and {f} filter"
            )));
        }
    };
    let patch = match kind {
        Kind::I8(_) | Kind::Hybrid { .. } if patched(&g) => alloc::vec![0; k_h * k_w * k_c],
        _ => Vec::new(),
    };
    Ok(Box::new(Conv2d {
        name,
        g,
        w_len: filter.num_elements(),
        kind,
        patch,
    }))
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
        match self.kind {
            Kind::Hybrid { .. } => hybrid_scratch_bytes(&self.g),
            _ => 0,
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let g = &self.g;
        let x_t = inputs.get(0)?;
        let w_t = inputs.get(1)?;
        let bias = Bias::view(inputs.optional(2), g.out_c)?;
        let mut out_t = outputs.get(0)?;
        let out_info = out_t.info;
        let (in_len, w_len, out_len) = (g.in_len(), self.w_len, g.out_len());
        let (kind, patch) = (&self.kind, &mut self.patch);
        match kind {
            Kind::F32 { lo, hi } => {
                let x = check_len(x_t.as_slice::<f32>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<f32>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, out_len, out_info)?;
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
            Kind::I8(p) => {
                let x = check_len(x_t.as_slice::<i8>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i8>()?, out_len, out_info)?;
                run_i8(g, x, w, bias, p, patch, out);
            }
            Kind::U8(p) => {
                let x = check_len(x_t.as_slice::<u8>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<u8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<u8>()?, out_len, out_info)?;
                run_int::<u8, u8, u8, i32>(g, x, w, bias, p, out);
            }
            Kind::I16 { p, wide } => {
                let x = check_len(x_t.as_slice::<i16>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i16>()?, out_len, out_info)?;
                if *wide {
                    run_int::<i16, i8, i16, i64>(g, x, w, bias, p, out);
                } else {
                    run_int::<i16, i8, i16, i32>(g, x, w, bias, p, out);
                }
            }
            Kind::Hybrid {
                per_channel,
                filter_scale,
                lo,
                hi,
            } => {
                let x = check_len(x_t.as_slice::<f32>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, out_len, out_info)?;
                let q = take::<i8>(&mut scratch, in_len)?;
                let sfs = take::<f32>(&mut scratch, g.n)?;
                let zps = take::<i32>(&mut scratch, g.n)?;
                let batch_len = g.in_batch_len();
                for b in 0..g.n {
                    let rows = b * batch_len..(b + 1) * batch_len;
                    let (sf, zp) =
                        quantize_row(&x[rows.clone()], &mut q[rows], per_channel.is_some());
                    sfs[b] = if per_channel.is_some() {
                        sf
                    } else {
                        sf * filter_scale
                    };
                    zps[b] = zp;
                }
                let bias = bias.float();
                for b in 0..g.n {
                    let (sf, zp) = (sfs[b], zps[b]);
                    // The quantized input's zero point is an int8 value.
                    let zp = zp as i8;
                    match per_channel {
                        // LiteRT's reference: (acc * channel scale) * batch scale, then bias.
                        Some(scales) => conv_i8(g, b, q, w, zp, patch, |i, oc, acc| {
                            let mut v = acc as f32 * scales[oc] * sf;
                            if let Some(bias) = bias {
                                v += bias[oc];
                            }
                            out[i] = clamp_f32(v, *lo, *hi);
                        }),
                        // LiteRT's im2col + GEMM kernel: a zeroed output accumulates
                        // acc * scale, then bias and clamp.
                        None => conv_i8(g, b, q, w, zp, patch, |i, oc, acc| {
                            let v = 0.0f32 + acc as f32 * sf;
                            let bv = bias.map_or(0.0, |bias| bias[oc]);
                            out[i] = clamp_f32(v + bv, *lo, *hi);
                        }),
                    }
                }
            }
        }
        Ok(())
    }
}
