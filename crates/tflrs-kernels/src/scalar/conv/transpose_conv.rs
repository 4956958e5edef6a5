//! TRANSPOSE_CONV: float32, int8 (per-channel), int16x8, uint8 and hybrid (float input, int8
//! weights), weights OHWI, output shape from the `output_shape` operand, optional bias, fused
//! activation. Padding follows LiteRT: the padding of a convolution from the output back to
//! the input.
//!
//! The kernels scatter each input pixel into the outputs it touches, in LiteRT's reference
//! order, so that float sums are added in the same sequence.

use super::common::{
    Acc, Bias, Geom, IntParams, QType, channel_scales, check_bias, check_len, check_len_mut, dims,
    float_range, int_params, out_size, padding, positive, require_dtype, scratch_piece, take, taps,
    uint8_params,
};
use super::hybrid::quantize_asymmetric;
use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::clamp_f32;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::vec::Vec;
use tflrs_ir::{DType, TransposeConvAttrs};

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

enum Kind {
    F32 { lo: f32, hi: f32 },
    I8(IntParams),
    U8(IntParams),
    I16 { p: IntParams, wide: bool },
    Hybrid { scales: Vec<f32>, lo: f32, hi: f32 },
}

struct TransposeConv {
    name: &'static str,
    g: Geom,
    kind: Kind,
}

/// Makes the TRANSPOSE_CONV kernel for `node`.
pub(super) fn make(
    node: &NodeCtx<'_>,
    a: &TransposeConvAttrs,
) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(3, 4)?;
    node.expect_outputs(1)?;
    let shape_in = node.input(0)?;
    let filter = node.input(1)?;
    let input = node.input(2)?;
    let bias = node.optional_input(3);
    let output = node.output(0)?;
    crate::ensure!(
        shape_in.rank() == 1 && shape_in.num_elements() == 4,
        "TRANSPOSE_CONV output_shape '{}' must hold 4 values, has shape {:?}",
        shape_in.name,
        shape_in.shape
    );
    let [n, in_h, in_w, in_c] = dims::<4>(input, "input")?;
    let [out_c, k_h, k_w, k_c] = dims::<4>(filter, "weights")?;
    let [on, out_h, out_w, oc2] = dims::<4>(output, "output")?;
    crate::ensure!(
        in_h > 0 && in_w > 0 && in_c > 0 && out_c > 0 && k_h > 0 && k_w > 0,
        "TRANSPOSE_CONV needs non-empty input {:?} and weights {:?}",
        input.shape,
        filter.shape
    );
    crate::ensure!(
        k_c == in_c,
        "TRANSPOSE_CONV weights depth {k_c} differs from input depth {in_c}"
    );
    crate::ensure!(
        on == n && oc2 == out_c && out_h > 0 && out_w > 0,
        "TRANSPOSE_CONV output {:?} does not match input batches {n} and {out_c} output channels",
        output.shape
    );
    if let Some(bytes) = node.constant(0) {
        let want: [i64; 4] = [n as i64, out_h as i64, out_w as i64, out_c as i64];
        let got: Vec<i64> = match shape_in.dtype {
            DType::Int32 => bytes
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DType::Int64 => bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            d => {
                return Err(KernelError::invalid(alloc::format!(
                    "TRANSPOSE_CONV output_shape has type {d}, expected int32"
                )));
            }
        };
        crate::ensure!(
            got == want,
            "TRANSPOSE_CONV output_shape {got:?} differs from the output tensor's shape {:?}",
            output.shape
        );
    }
    let stride_h = positive(a.stride_h, "stride_h")?;
    let stride_w = positive(a.stride_w, "stride_w")?;
    // LiteRT derives the padding by running the convolution shape rules from the output back
    // to the input, and requires that to land on the input's size.
    let back_h = out_size(a.padding, out_h, k_h, stride_h, 1);
    let back_w = out_size(a.padding, out_w, k_w, stride_w, 1);
    crate::ensure!(
        back_h == Some(in_h) && back_w == Some(in_w),
        "TRANSPOSE_CONV output {out_h}x{out_w} with a {k_h}x{k_w} window, stride {stride_h}x{stride_w} and {} padding does not come from input {in_h}x{in_w}",
        a.padding
    );
    let (pad_h, _) = padding(stride_h, 1, out_h, k_h, in_h);
    let (pad_w, _) = padding(stride_w, 1, out_w, k_w, in_w);
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
        dil_h: 1,
        dil_w: 1,
        pad_h,
        pad_w,
    };
    let act = a.fused_activation_function;
    let (name, kind) = match (input.dtype, filter.dtype) {
        (DType::Float32, DType::Float32) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, out_c, &[DType::Float32])?;
            let (lo, hi) = float_range(act);
            ("transpose_conv_f32__scalar", Kind::F32 { lo, hi })
        }
        (DType::Float32, DType::Int8) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, out_c, &[DType::Float32])?;
            let (lo, hi) = float_range(act);
            let scales = channel_scales(filter, 0, out_c)?;
            (
                "transpose_conv_hybrid_i8__scalar",
                Kind::Hybrid { scales, lo, hi },
            )
        }
        (DType::Int8, DType::Int8) => {
            require_dtype(output, DType::Int8, "output")?;
            check_bias(bias, out_c, &[DType::Int32])?;
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
            ("transpose_conv_i8__scalar", Kind::I8(p))
        }
        (DType::Int16, DType::Int8) => {
            require_dtype(output, DType::Int16, "output")?;
            check_bias(bias, out_c, &[DType::Int32, DType::Int64])?;
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
                "TRANSPOSE_CONV int16 needs zero points of 0 on input and output"
            );
            ("transpose_conv_i16__scalar", Kind::I16 { p, wide })
        }
        (DType::UInt8, DType::UInt8) => {
            require_dtype(output, DType::UInt8, "output")?;
            check_bias(bias, out_c, &[DType::Int32])?;
            let p = uint8_params(input, filter, output, act, out_c)?;
            ("transpose_conv_u8__scalar", Kind::U8(p))
        }
        (i, f) => {
            return Err(KernelError::unsupported(alloc::format!(
                "TRANSPOSE_CONV with {i} input and {f} weights"
            )));
        }
    };
    Ok(Box::new(TransposeConv { name, g, kind }))
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
        let g = &self.g;
        match self.kind {
            Kind::F32 { .. } => 0,
            Kind::I8(_) | Kind::U8(_) | Kind::I16 { wide: false, .. } => {
                scratch_piece::<i32>(g.out_len())
            }
            Kind::I16 { wide: true, .. } => scratch_piece::<i64>(g.out_len()),
            Kind::Hybrid { .. } => {
                scratch_piece::<i8>(g.in_len())
                    + scratch_piece::<f32>(g.n)
                    + scratch_piece::<i32>(g.n)
            }
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, mut scratch, _) = io.split();
        let g = &self.g;
        let w_t = inputs.get(1)?;
        let x_t = inputs.get(2)?;
        let bias = Bias::view(inputs.optional(3), g.out_c)?;
        let mut out_t = outputs.get(0)?;
        let out_info = out_t.info;
        let (in_len, w_len, out_len) = (g.in_len(), g.out_c * g.k_h * g.k_w * g.k_c, g.out_len());
        match &self.kind {
            Kind::F32 { lo, hi } => {
                let x = check_len(x_t.as_slice::<f32>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<f32>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<f32>()?, out_len, out_info)?;
                out.fill(0.0);
                for b in 0..g.n {
                    scatter_batch(g, b, x, w, out, |a, xv, wv, _| a + xv * wv);
                }
                finish_float(out, bias.float(), g.out_c, *lo, *hi);
            }
            Kind::I8(p) => {
                let x = check_len(x_t.as_slice::<i8>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i8>()?, out_len, out_info)?;
                let acc = take::<i32>(&mut scratch, out_len)?;
                run_int::<i8, i8, i8, i32>(g, x, w, bias, p, acc, out);
            }
            Kind::U8(p) => {
                let x = check_len(x_t.as_slice::<u8>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<u8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<u8>()?, out_len, out_info)?;
                let acc = take::<i32>(&mut scratch, out_len)?;
                run_int::<u8, u8, u8, i32>(g, x, w, bias, p, acc, out);
            }
            Kind::I16 { p, wide } => {
                let x = check_len(x_t.as_slice::<i16>()?, in_len, x_t.info)?;
                let w = check_len(w_t.as_slice::<i8>()?, w_len, w_t.info)?;
                let out = check_len_mut(out_t.as_slice_mut::<i16>()?, out_len, out_info)?;
                if *wide {
                    let acc = take::<i64>(&mut scratch, out_len)?;
                    run_int::<i16, i8, i16, i64>(g, x, w, bias, p, acc, out);
                } else {
                    let acc = take::<i32>(&mut scratch, out_len)?;
                    run_int::<i16, i8, i16, i32>(g, x, w, bias, p, acc, out);
                }
            }
            Kind::Hybrid { scales, lo, hi } => {
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
                out.fill(0.0);
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
