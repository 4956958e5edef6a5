//! CONV_3D and CONV_3D_TRANSPOSE in float32, as LiteRT's reference `conv3d.h` and
//! `conv3d_transpose.h` compute them.
//!
//! CONV_3D: input `[N, D, H, W, C]`, filter `[KD, KH, KW, C, O]`, optional bias `[O]`; each
//! output sums its window's products (taps outside the input count as zero), adds the bias and
//! clamps to the fused activation. Padding is LiteRT's `ComputePaddingWithOffset` per axis (the
//! "before" part). CONV_3D_TRANSPOSE: inputs `output_shape` (int32 `[5]`), filter
//! `[KD, KH, KW, O, C]`, input `[N, D, H, W, C]`, optional bias; every input element scatters
//! `input * filter` into the output window it reaches (padding computed with input and output
//! swapped), then the bias and the activation.

use crate::kernel::NodeCtx;
use crate::scalar::qmath::{activation_range_f32, clamp_f32};
use crate::tensor::TensorInfo;
use crate::{Kernel, KernelError, KernelIo};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{Conv3dAttrs, DType, window};

#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    /// Spatial sizes of the small side (the input of CONV_3D, the input of the transpose).
    input: [usize; 3],
    /// Spatial sizes of the large side's counterpart: the output.
    output: [usize; 3],
    kernel: [usize; 3],
    stride: [usize; 3],
    dilation: [usize; 3],
    pad: [usize; 3],
    in_ch: usize,
    out_ch: usize,
}

#[derive(Debug)]
struct Conv3d {
    g: Geometry,
    transpose: bool,
    has_bias: bool,
    lo: f32,
    hi: f32,
}

fn positive(v: i32, what: &str) -> Result<usize, KernelError> {
    match usize::try_from(v) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(KernelError::invalid(format!(
            "CONV_3D {what} must be positive, is {v}"
        ))),
    }
}

fn rank5(t: &TensorInfo, what: &str) -> Result<[usize; 5], KernelError> {
    <[usize; 5]>::try_from(&t.shape[..]).map_err(|_| {
        KernelError::invalid(format!(
            "CONV_3D {what} '{}' must have rank 5, has shape {:?}",
            t.name, t.shape
        ))
    })
}

pub(super) fn make(
    node: &NodeCtx<'_>,
    a: &Conv3dAttrs,
    transpose: bool,
) -> Result<Box<dyn Kernel>, KernelError> {
    let op = if transpose {
        "CONV_3D_TRANSPOSE"
    } else {
        "CONV_3D"
    };
    node.expect_outputs(1)?;
    let (x_slot, bias_slot) = if transpose { (2, 3) } else { (0, 2) };
    let x = node.input(x_slot)?;
    let w = node.input(1)?;
    let out = node.output(0)?;
    for t in [x, w, out] {
        if t.dtype != DType::Float32 {
            return Err(KernelError::unsupported(format!(
                "{op} with {:?} tensor '{}' (float32 only)",
                t.dtype, t.name
            )));
        }
    }
    let xs = rank5(x, "input")?;
    let ws = rank5(w, "filter")?;
    let os = rank5(out, "output")?;
    let stride = [
        positive(a.stride_d, "stride")?,
        positive(a.stride_h, "stride")?,
        positive(a.stride_w, "stride")?,
    ];
    let dilation = [
        positive(a.dilation_d_factor, "dilation")?,
        positive(a.dilation_h_factor, "dilation")?,
        positive(a.dilation_w_factor, "dilation")?,
    ];
    let kernel = [ws[0], ws[1], ws[2]];
    let (in_ch, out_ch) = if transpose {
        (ws[4], ws[3])
    } else {
        (ws[3], ws[4])
    };
    crate::ensure!(
        xs[4] == in_ch && os[4] == out_ch && os[0] == xs[0],
        "{op}: input {xs:?}, filter {ws:?} and output {os:?} do not agree"
    );
    let mut pad = [0; 3];
    for k in 0..3 {
        let (small, large) = (xs[k + 1], os[k + 1]);
        if transpose {
            // LiteRT pads for the size a convolution of the output would have, whatever the
            // input's size; taps outside the output are skipped.
            let (_, p) = window::conv_axis(a.padding, large, kernel[k], stride[k], dilation[k])
                .ok_or_else(|| {
                    KernelError::invalid(format!("{op}: window does not fit on axis {k}"))
                })?;
            pad[k] = p.before;
        } else {
            let (o, p) = window::conv_axis(a.padding, small, kernel[k], stride[k], dilation[k])
                .ok_or_else(|| KernelError::invalid(format!("{op}: window does not fit")))?;
            crate::ensure!(
                o == large,
                "{op}: output '{}' {os:?} does not match the window (axis {k}: {o})",
                out.name
            );
            pad[k] = p.before;
        }
    }
    let has_bias = match node.optional_input(bias_slot) {
        Some(b) => {
            crate::ensure!(
                b.dtype == DType::Float32 && b.shape == [out_ch],
                "{op} bias '{}' must be float32 [{out_ch}], is {:?} {:?}",
                b.name,
                b.dtype,
                b.shape
            );
            true
        }
        None => false,
    };
    let (lo, hi) = activation_range_f32(a.fused_activation_function);
    Ok(Box::new(Conv3d {
        g: Geometry {
            batch: xs[0],
            input: [xs[1], xs[2], xs[3]],
            output: [os[1], os[2], os[3]],
            kernel,
            stride,
            dilation,
            pad,
            in_ch,
            out_ch,
        },
        transpose,
        has_bias,
        lo,
        hi,
    }))
}

/// The position `origin + tap * dilation` when it lies in `0..size`.
#[inline]
fn at(origin: isize, tap: usize, dilation: usize, size: usize) -> Option<usize> {
    let p = origin + (tap * dilation) as isize;
    (p >= 0 && (p as usize) < size).then_some(p as usize)
}

impl Kernel for Conv3d {
    fn name(&self) -> &str {
        if self.transpose {
            "conv_3d_transpose_f32__scalar"
        } else {
            "conv_3d_f32__scalar"
        }
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let g = self.g;
        let (x_slot, bias_slot) = if self.transpose { (2, 3) } else { (0, 2) };
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(x_slot)?.as_slice::<f32>()?;
        let w = inputs.get(1)?.as_slice::<f32>()?;
        let bias = if self.has_bias {
            inputs.get(bias_slot)?.as_slice::<f32>()?
        } else {
            &[]
        };
        let [id, ih, iw] = g.input;
        let [od, oh, ow] = g.output;
        let [kd, kh, kw] = g.kernel;
        let (ci, co) = (g.in_ch, g.out_ch);
        crate::ensure!(
            x.len() == g.batch * id * ih * iw * ci && w.len() == kd * kh * kw * ci * co,
            "CONV_3D input or filter does not match the geometry"
        );
        let mut out_t = outputs.get(0)?;
        let y = out_t.as_slice_mut::<f32>()?;
        crate::ensure!(
            y.len() == g.batch * od * oh * ow * co,
            "CONV_3D output does not match the geometry"
        );
        let x_at = |b: usize, d: usize, h: usize, v: usize| (((b * id + d) * ih + h) * iw + v) * ci;
        let y_at = |b: usize, d: usize, h: usize, v: usize| (((b * od + d) * oh + h) * ow + v) * co;
        let origin = |i: usize, k: usize| (i * g.stride[k]) as isize - g.pad[k] as isize;
        if !self.transpose {
            for b in 0..g.batch {
                for d in 0..od {
                    for h in 0..oh {
                        for v in 0..ow {
                            let yo = y_at(b, d, h, v);
                            for oc in 0..co {
                                let mut total = 0.0f32;
                                for fd in 0..kd {
                                    let Some(pd) = at(origin(d, 0), fd, g.dilation[0], id) else {
                                        continue;
                                    };
                                    for fh in 0..kh {
                                        let Some(ph) = at(origin(h, 1), fh, g.dilation[1], ih)
                                        else {
                                            continue;
                                        };
                                        for fw in 0..kw {
                                            let Some(pw) = at(origin(v, 2), fw, g.dilation[2], iw)
                                            else {
                                                continue;
                                            };
                                            let xi = x_at(b, pd, ph, pw);
                                            let wi = ((fd * kh + fh) * kw + fw) * ci * co + oc;
                                            for c in 0..ci {
                                                total += x[xi + c] * w[wi + c * co];
                                            }
                                        }
                                    }
                                }
                                let bv = bias.get(oc).copied().unwrap_or(0.0);
                                y[yo + oc] = clamp_f32(total + bv, self.lo, self.hi);
                            }
                        }
                    }
                }
            }
        } else {
            y.fill(0.0);
            for b in 0..g.batch {
                for d in 0..id {
                    for h in 0..ih {
                        for v in 0..iw {
                            let xi = x_at(b, d, h, v);
                            for c in 0..ci {
                                let xv = x[xi + c];
                                for fd in 0..kd {
                                    let Some(pd) = at(origin(d, 0), fd, g.dilation[0], od) else {
                                        continue;
                                    };
                                    for fh in 0..kh {
                                        let Some(ph) = at(origin(h, 1), fh, g.dilation[1], oh)
                                        else {
                                            continue;
                                        };
                                        for fw in 0..kw {
                                            let Some(pw) = at(origin(v, 2), fw, g.dilation[2], ow)
                                            else {
                                                continue;
                                            };
                                            let yo = y_at(b, pd, ph, pw);
                                            let wi = ((fd * kh + fh) * kw + fw) * co * ci + c;
                                            for oc in 0..co {
                                                y[yo + oc] += xv * w[wi + oc * ci];
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for (k, v) in y.iter_mut().enumerate() {
                let bv = bias.get(k % co).copied().unwrap_or(0.0);
                *v = clamp_f32(*v + bv, self.lo, self.hi);
            }
        }
        Ok(())
    }
}
