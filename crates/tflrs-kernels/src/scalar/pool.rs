//! MAX_POOL_2D and AVERAGE_POOL_2D on NHWC tensors: float32, int8, int16 and uint8, as
//! LiteRT's reference kernels compute them.
//!
//! Windows are clipped to the input (padding is never read); the average divides by the
//! number of elements inside the window. Quantized averages round half away from zero in
//! integer arithmetic (`(sum ± count / 2) / count`, uint8: `(sum + count / 2) / count`).

use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::pool::{PoolKind, PoolPlan, pool2d};
use crate::scalar::qmath::clamp_f32;
use crate::scalar::shape_ops::util::{check_len, kernel_name};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, Op};

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if !matches!(node.op, Op::MaxPool2d(_) | Op::AveragePool2d(_)) {
        return Ok(None);
    }
    let plan = pool2d(node)?;
    let name = match plan.kind {
        PoolKind::Max => kernel_name!("max_pool_2d", plan.dtype),
        PoolKind::Average => kernel_name!("average_pool_2d", plan.dtype),
    };
    Ok(Some(Box::new(Pool {
        name,
        max: plan.kind == PoolKind::Max,
        plan,
    })))
}

/// The scalar executor of a [`PoolPlan`].
#[derive(Debug)]
struct Pool {
    name: &'static str,
    max: bool,
    plan: PoolPlan,
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
    fn float(&self, x: &[f32], y: &mut [f32]) {
        let p = &self.plan;
        let [n, ih, iw, c] = p.input;
        let (lo, hi) = p.float_range;
        for b in 0..n {
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    let (y0, y1, x0, x1) = p.window(oy, ox);
                    let obase = ((b * p.out_h + oy) * p.out_w + ox) * c;
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
        let p = &self.plan;
        let [n, ih, iw, c] = p.input;
        let (lo, hi) = p.quant_range;
        for b in 0..n {
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    let (y0, y1, x0, x1) = p.window(oy, ox);
                    let count = ((y1 - y0) * (x1 - x0)) as i32;
                    let obase = ((b * p.out_h + oy) * p.out_w + ox) * c;
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
        let (n_in, n_out) = (self.plan.in_len(), self.plan.out_len());
        let es = self.plan.dtype.bits().unwrap_or(8) as usize / 8;
        check_len(self.name, input.bytes.len(), n_in * es)?;
        check_len(self.name, out.bytes.len(), n_out * es)?;
        match self.plan.dtype {
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
