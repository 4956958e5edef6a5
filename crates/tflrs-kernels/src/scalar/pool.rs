//! MAX_POOL_2D and AVERAGE_POOL_2D on NHWC tensors: float32, int8, int16 and uint8, as
//! LiteRT's reference kernels compute them.
//!
//! Windows are clipped to the input (padding is never read); the average divides by the
//! number of elements inside the window. Quantized averages round half away from zero in
//! integer arithmetic (`(sum ± count / 2) / count`, uint8: `(sum + count / 2) / count`).

use crate::kernel::{KernelIo, NodeCtx};
use crate::scalar::qmath::{activation_range_f32, activation_range_quantized, clamp_f32};
use crate::scalar::shape_ops::util::{check_len, expect_shape, kernel_name, quant_of, same_dtype};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, Op, Padding, Pool2dAttrs};

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    match node.op {
        Op::MaxPool2d(a) => pool(node, a, true).map(Some),
        Op::AveragePool2d(a) => pool(node, a, false).map(Some),
        _ => Ok(None),
    }
}

/// Output size and leading padding of one spatial dimension (LiteRT's
/// `ComputePaddingHeightWidth` with dilation 1).
fn out_and_pad(padding: Padding, input: usize, filter: usize, stride: usize) -> (usize, usize) {
    let out = match padding {
        Padding::Same => input.div_ceil(stride),
        Padding::Valid => (input + stride).saturating_sub(filter) / stride,
    };
    let total = (out.saturating_sub(1) * stride + filter).saturating_sub(input);
    (out, total / 2)
}

#[derive(Debug)]
struct Pool {
    name: &'static str,
    max: bool,
    dtype: DType,
    /// `[batch, in_h, in_w, channels]`.
    input: [usize; 4],
    out_h: usize,
    out_w: usize,
    stride: (usize, usize),
    filter: (usize, usize),
    pad: (usize, usize),
    clamp_f: (f32, f32),
    clamp_q: (i32, i32),
}

/// Element types pooled in integer arithmetic.
trait PoolInt: bytemuck::Pod + Into<i32> {
    fn from_i32(v: i32) -> Self;
    /// uint8 rounds its (non-negative) averages up at one half only.
    const UNSIGNED: bool;
}

impl PoolInt for i8 {
    fn from_i32(v: i32) -> Self {
        v as i8
    }
    const UNSIGNED: bool = false;
}

impl PoolInt for i16 {
    fn from_i32(v: i32) -> Self {
        v as i16
    }
    const UNSIGNED: bool = false;
}

impl PoolInt for u8 {
    fn from_i32(v: i32) -> Self {
        v as u8
    }
    const UNSIGNED: bool = true;
}

impl Pool {
    /// The clipped window `[y0, y1) x [x0, x1)` of output `(oy, ox)`.
    #[inline]
    fn window(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let [_, ih, iw, _] = self.input;
        let y = (oy * self.stride.0) as isize - self.pad.0 as isize;
        let x = (ox * self.stride.1) as isize - self.pad.1 as isize;
        let clip = |o: isize, f: usize, n: usize| {
            let start = o.max(0) as usize;
            let end = (o + f as isize).clamp(0, n as isize) as usize;
            (start, end.max(start))
        };
        let (y0, y1) = clip(y, self.filter.0, ih);
        let (x0, x1) = clip(x, self.filter.1, iw);
        (y0, y1, x0, x1)
    }

    fn float(&self, x: &[f32], y: &mut [f32]) {
        let [n, ih, iw, c] = self.input;
        let (lo, hi) = self.clamp_f;
        for b in 0..n {
            for oy in 0..self.out_h {
                for ox in 0..self.out_w {
                    let (y0, y1, x0, x1) = self.window(oy, ox);
                    let obase = ((b * self.out_h + oy) * self.out_w + ox) * c;
                    for ch in 0..c {
                        let mut acc = if self.max { f32::MIN } else { 0.0 };
                        let mut count = 0.0f32;
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                let v = x[((b * ih + iy) * iw + ix) * c + ch];
                                if self.max {
                                    // std::max(max, v): v wins only when larger.
                                    if acc < v {
                                        acc = v;
                                    }
                                } else {
                                    acc += v;
                                    count += 1.0;
                                }
                            }
                        }
                        let v = if self.max { acc } else { acc / count };
                        y[obase + ch] = clamp_f32(v, lo, hi);
                    }
                }
            }
        }
    }

    fn int<T: PoolInt>(&self, x: &[T], y: &mut [T], lowest: i32) {
        let [n, ih, iw, c] = self.input;
        let (lo, hi) = self.clamp_q;
        for b in 0..n {
            for oy in 0..self.out_h {
                for ox in 0..self.out_w {
                    let (y0, y1, x0, x1) = self.window(oy, ox);
                    let count = ((y1 - y0) * (x1 - x0)) as i32;
                    let obase = ((b * self.out_h + oy) * self.out_w + ox) * c;
                    for ch in 0..c {
                        let mut acc = if self.max { lowest } else { 0 };
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                let v: i32 = x[((b * ih + iy) * iw + ix) * c + ch].into();
                                if self.max {
                                    acc = acc.max(v);
                                } else {
                                    acc = acc.wrapping_add(v);
                                }
                            }
                        }
                        if !self.max {
                            acc = if T::UNSIGNED || acc > 0 {
                                (acc + count / 2) / count
                            } else {
                                (acc - count / 2) / count
                            };
                        }
                        y[obase + ch] = T::from_i32(acc.clamp(lo, hi));
                    }
                }
            }
        }
    }
}

impl Kernel for Pool {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let input = inputs.get(0)?;
        let mut out = outputs.get(0)?;
        let [n, ih, iw, c] = self.input;
        let (n_in, n_out) = (n * ih * iw * c, n * self.out_h * self.out_w * c);
        let es = self.dtype.bits().unwrap_or(8) as usize / 8;
        check_len(self.name, input.bytes.len(), n_in * es)?;
        check_len(self.name, out.bytes.len(), n_out * es)?;
        match self.dtype {
            DType::Float32 => self.float(
                &input.as_slice::<f32>()?[..n_in],
                &mut out.as_slice_mut::<f32>()?[..n_out],
            ),
            DType::Int8 => self.int::<i8>(
                &input.as_slice::<i8>()?[..n_in],
                &mut out.as_slice_mut::<i8>()?[..n_out],
                -128,
            ),
            DType::Int16 => self.int::<i16>(
                &input.as_slice::<i16>()?[..n_in],
                &mut out.as_slice_mut::<i16>()?[..n_out],
                -32768,
            ),
            DType::UInt8 => self.int::<u8>(
                &input.as_slice::<u8>()?[..n_in],
                &mut out.as_slice_mut::<u8>()?[..n_out],
                0,
            ),
            other => {
                return Err(KernelError::unsupported(format!(
                    "{}: type {other}",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

fn pool(node: &NodeCtx<'_>, a: &Pool2dAttrs, max: bool) -> Result<Box<dyn Kernel>, KernelError> {
    let op = if max {
        "MAX_POOL_2D"
    } else {
        "AVERAGE_POOL_2D"
    };
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let (input, output) = (node.input(0)?, node.output(0)?);
    same_dtype(op, input, output)?;
    crate::ensure!(
        input.rank() == 4,
        "{op}: input '{}' must be 4-D (NHWC), got {:?}",
        input.name,
        input.shape
    );
    crate::ensure!(
        a.stride_h > 0 && a.stride_w > 0 && a.filter_height > 0 && a.filter_width > 0,
        "{op}: strides ({}, {}) and filter ({}, {}) must be positive",
        a.stride_h,
        a.stride_w,
        a.filter_height,
        a.filter_width
    );
    let [n, ih, iw, c] = [
        input.shape[0],
        input.shape[1],
        input.shape[2],
        input.shape[3],
    ];
    let (sh, sw, fh, fw) = (
        a.stride_h as usize,
        a.stride_w as usize,
        a.filter_height as usize,
        a.filter_width as usize,
    );
    let (oh, ph) = out_and_pad(a.padding, ih, fh, sh);
    let (ow, pw) = out_and_pad(a.padding, iw, fw, sw);
    expect_shape(op, output, &[n, oh, ow, c])?;
    let act = a.fused_activation_function;
    let (qmin, qmax) = match input.dtype {
        DType::Float32 => (0, 0),
        DType::Int8 => (-128, 127),
        DType::Int16 => (-32768, 32767),
        DType::UInt8 => (0, 255),
        other => {
            return Err(KernelError::unsupported(format!(
                "{op}: type {other} of '{}'",
                input.name
            )));
        }
    };
    let clamp_q = match quant_of(output) {
        Some((scale, zp)) => activation_range_quantized(act, scale, zp, qmin, qmax),
        None => (qmin, qmax),
    };
    let kernel = Pool {
        name: if max {
            kernel_name!("max_pool_2d", input.dtype)
        } else {
            kernel_name!("average_pool_2d", input.dtype)
        },
        max,
        dtype: input.dtype,
        input: [n, ih, iw, c],
        out_h: oh,
        out_w: ow,
        stride: (sh, sw),
        filter: (fh, fw),
        pad: (ph, pw),
        clamp_f: activation_range_f32(act),
        clamp_q,
    };
    // Every window must hold an input element (LiteRT fails the invoke otherwise); rows and
    // columns clip independently.
    for oy in 0..oh {
        let (y0, y1, _, _) = kernel.window(oy, 0);
        crate::ensure!(
            y1 > y0,
            "{op}: the window of output row {oy} lies in the padding"
        );
    }
    for ox in 0..ow {
        let (_, _, x0, x1) = kernel.window(0, ox);
        crate::ensure!(
            x1 > x0,
            "{op}: the window of output column {ox} lies in the padding"
        );
    }
    Ok(Box::new(kernel))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestInput, run_node};
    use crate::{ScalarBackend, TensorInfo};
    use tflrs_ir::{Activation, DType, Op, Padding, Pool2dAttrs};

    fn attrs(padding: Padding, s: i32, f: i32, act: Activation) -> Pool2dAttrs {
        Pool2dAttrs {
            padding,
            stride_w: s,
            stride_h: s,
            filter_width: f,
            filter_height: f,
            fused_activation_function: act,
        }
    }

    #[test]
    fn average_same_clips_windows() {
        // 3x3 input, 2x2 window, stride 2, SAME: output 2x2, windows clipped at the far edge.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let op = Op::AveragePool2d(attrs(Padding::Same, 2, 2, Activation::None));
        let inputs = [Some(TestInput::from_slice(
            TensorInfo::new("x", DType::Float32, [1, 3, 3, 1]),
            &x,
        ))];
        let got = run_node(
            &ScalarBackend,
            &op,
            &inputs,
            &[TensorInfo::new("y", DType::Float32, [1, 2, 2, 1])],
        )
        .unwrap();
        assert_eq!(
            bytemuck::cast_slice::<u8, f32>(&got[0]),
            &[3., 4.5, 7.5, 9.]
        );
        assert!(
            run_node(
                &ScalarBackend,
                &op,
                &inputs,
                &[TensorInfo::new("y", DType::Float32, [1, 1, 1, 1])]
            )
            .is_err()
        );
    }

    #[test]
    fn int8_average_rounds_half_away_and_max_relu() {
        // Window sums -3 and 3 over 2 elements: -1.5 -> -2, 1.5 -> 2.
        let x = [-1i8, -2, 1, 2];
        let inputs = [Some(TestInput::from_slice(
            TensorInfo::new("x", DType::Int8, [1, 2, 2, 1]).with_quant(0.5, 0),
            &x,
        ))];
        let op1 = Op::AveragePool2d(Pool2dAttrs {
            filter_height: 1,
            stride_h: 1,
            ..attrs(Padding::Valid, 2, 2, Activation::None)
        });
        let out = [TensorInfo::new("y", DType::Int8, [1, 2, 1, 1]).with_quant(0.5, 0)];
        let got = run_node(&ScalarBackend, &op1, &inputs, &out).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[-2, 2]);
        let op = Op::MaxPool2d(attrs(Padding::Valid, 2, 2, Activation::Relu));
        let x = [-5i8, -7, -9, -6];
        let inputs = [Some(TestInput::from_slice(
            TensorInfo::new("x", DType::Int8, [1, 2, 2, 1]).with_quant(0.5, -3),
            &x,
        ))];
        let out = [TensorInfo::new("y", DType::Int8, [1, 1, 1, 1]).with_quant(0.5, -3)];
        let got = run_node(&ScalarBackend, &op, &inputs, &out).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&got[0]), &[-3]);
    }
}
