//! DEPTHWISE_CONV_2D: float32, int8 (per-channel), int16x8 (64-bit bias), uint8 and hybrid
//! (float input, int8 weights, per-channel, asymmetric input quantization), with depth
//! multiplier, dilation and fused activations.

use super::common::{
    Acc, Bias, Geom, IntParams, QType, channel_scales, check_bias, check_len, check_len_mut, dims,
    float_range, hybrid_scratch_bytes, int_params, mac_i8, out_size, padding, positive,
    require_dtype, require_shape, require_zero_points_zero, take, taps, uint8_params,
};
use super::hybrid::quantize_asymmetric;
use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::clamp_f32;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tflrs_ir::{DType, DepthwiseConv2dAttrs};

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

enum Kind {
    F32 {
        lo: f32,
        hi: f32,
        acc: Vec<f32>,
    },
    I8 {
        p: IntParams,
        acc: Vec<i32>,
    },
    U8 {
        p: IntParams,
        acc: Vec<i32>,
    },
    I16 {
        p: IntParams,
        acc: Vec<i64>,
    },
    Hybrid {
        scales: Vec<f32>,
        lo: f32,
        hi: f32,
        acc: Vec<i32>,
    },
}

struct Depthwise {
    name: &'static str,
    g: Geom,
    kind: Kind,
}

/// Makes the DEPTHWISE_CONV_2D kernel for `node`.
pub(super) fn make(
    node: &NodeCtx<'_>,
    a: &DepthwiseConv2dAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 3)?;
    node.expect_outputs(1)?;
    let input = node.input(0)?;
    let filter = node.input(1)?;
    let bias = node.optional_input(2);
    let output = node.output(0)?;
    let [n, in_h, in_w, in_c] = dims::<4>(input, "input")?;
    let [one, k_h, k_w, out_c] = dims::<4>(filter, "filter")?;
    crate::ensure!(
        one == 1,
        "DEPTHWISE_CONV_2D filter '{}' must be [1, H, W, C], is {:?}",
        filter.name,
        filter.shape
    );
    crate::ensure!(
        in_h > 0 && in_w > 0 && in_c > 0 && k_h > 0 && k_w > 0 && out_c > 0,
        "DEPTHWISE_CONV_2D needs non-empty input {:?} and filter {:?}",
        input.shape,
        filter.shape
    );
    crate::ensure!(
        out_c % in_c == 0,
        "DEPTHWISE_CONV_2D filter channels {out_c} are not a multiple of input channels {in_c}"
    );
    // The output depth comes from the shapes, as LiteRT's float and int8 kernels take it; the
    // `depth_multiplier` attribute is informational there.
    let stride_h = positive(a.stride_h, "stride_h")?;
    let stride_w = positive(a.stride_w, "stride_w")?;
    let dil_h = positive(a.dilation_h_factor, "dilation_h_factor")?;
    let dil_w = positive(a.dilation_w_factor, "dilation_w_factor")?;
    let (Some(out_h), Some(out_w)) = (
        out_size(a.padding, in_h, k_h, stride_h, dil_h),
        out_size(a.padding, in_w, k_w, stride_w, dil_w),
    ) else {
        return Err(KernelError::invalid(alloc::format!(
            "DEPTHWISE_CONV_2D window {k_h}x{k_w} (dilation {dil_h}x{dil_w}) does not fit input {in_h}x{in_w}"
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
        k_c: 1,
        stride_h,
        stride_w,
        dil_h,
        dil_w,
        pad_h,
        pad_w,
    };
    let act = a.fused_activation_function;
    let (name, kind) = match (input.dtype, filter.dtype) {
        (DType::Float32, DType::Float32) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, out_c, &[DType::Float32])?;
            let (lo, hi) = float_range(act);
            (
                "depthwise_conv_2d_f32__scalar",
                Kind::F32 {
                    lo,
                    hi,
                    acc: alloc::vec![0.0; out_c],
                },
            )
        }
        (DType::Float32, DType::Int8) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, out_c, &[DType::Float32])?;
            let (lo, hi) = float_range(act);
            let scales = channel_scales(filter, 3, out_c)?;
            (
                "depthwise_conv_2d_hybrid_i8__scalar",
                Kind::Hybrid {
                    scales,
                    lo,
                    hi,
                    acc: alloc::vec![0; out_c],
                },
            )
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
                3,
                (i8::MIN.into(), i8::MAX.into()),
                30,
            )?;
            (
                "depthwise_conv_2d_i8__scalar",
                Kind::I8 {
                    p,
                    acc: alloc::vec![0; out_c],
                },
            )
        }
        (DType::Int16, DType::Int8) => {
            require_dtype(output, DType::Int16, "output")?;
            // LiteRT's int16 depthwise kernel takes only 64-bit biases.
            check_bias(bias, out_c, &[DType::Int64])?;
            require_zero_points_zero(filter)?;
            let p = int_params(
                input,
                filter,
                output,
                act,
                out_c,
                3,
                (i16::MIN.into(), i16::MAX.into()),
                14,
            )?;
            crate::ensure!(
                p.in_offset == 0 && p.out_zp == 0,
                "DEPTHWISE_CONV_2D int16 needs zero points of 0 on input and output"
            );
            (
                "depthwise_conv_2d_i16__scalar",
                Kind::I16 {
                    p,
                    acc: alloc::vec![0; out_c],
                },
            )
        }
        (DType::UInt8, DType::UInt8) => {
            require_dtype(output, DType::UInt8, "output")?;
            check_bias(bias, out_c, &[DType::Int32])?;
            let p = uint8_params(input, filter, output, act, out_c)?;
            (
                "depthwise_conv_2d_u8__scalar",
                Kind::U8 {
                    p,
                    acc: alloc::vec![0; out_c],
                },
            )
        }
        (i, f) => {
            return Err(KernelError::unsupported(alloc::format!(
                "DEPTHWISE_CONV_2D with {i} input and {f} filter"
            )));
        }
    };
    Ok(Box::new(Depthwise { name, g, kind }))
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
        let (in_len, w_len, out_len) = (g.in_len(), g.k_h * g.k_w * g.out_c, g.out_len());
        match &mut self.kind {
            Kind::F32 { lo, hi, acc } => {
                let x = check_len(x_t.as_slice::<f32>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<f32>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, out_len, out_info)?;
                let bias = bias.float();
                let (lo, hi) = (*lo, *hi);
                for b in 0..g.n {
                    dw_batch(
                        g,
                        b,
                        x,
                        w,
                        acc,
                        0.0f32,
                        |a, xv, wv| a + xv * wv,
                        |i, oc, a| {
                            let bv = bias.map_or(0.0, |bias| bias[oc]);
                            out[i] = clamp_f32(a + bv, lo, hi);
                        },
                    );
                }
            }
            Kind::I8 { p, acc } => {
                let x = check_len(x_t.as_slice::<i8>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i8>()?, out_len, out_info)?;
                run_i8(g, x, w, bias, p, acc, out);
            }
            Kind::U8 { p, acc } => {
                let x = check_len(x_t.as_slice::<u8>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<u8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<u8>()?, out_len, out_info)?;
                run_int::<u8, u8, u8, i32>(g, x, w, bias, p, acc, out);
            }
            Kind::I16 { p, acc } => {
                let x = check_len(x_t.as_slice::<i16>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i16>()?, out_len, out_info)?;
                run_int::<i16, i8, i16, i64>(g, x, w, bias, p, acc, out);
            }
            Kind::Hybrid {
                scales,
                lo,
                hi,
                acc,
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
                    (sfs[b], zps[b]) = quantize_asymmetric(&x[rows.clone()], &mut q[rows]);
                }
                let bias = bias.float();
                let (lo, hi) = (*lo, *hi);
                for b in 0..g.n {
                    let (sf, zp) = (sfs[b], zps[b]);
                    // The quantized input's zero point is an int8 value.
                    let off = -zp as i16;
                    dw_batch(
                        g,
                        b,
                        q,
                        w,
                        acc,
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
