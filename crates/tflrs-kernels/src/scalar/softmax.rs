//! SOFTMAX and LOG_SOFTMAX over the last axis: executors of the plans of
//! [`prep::softmax`](crate::prep::softmax).
//!
//! Float kernels compute in `f32` as LiteRT's reference kernels do. Quantized kernels follow
//! LiteRT's reference path (`activations.cc` with `kReference`):
//! - int8/uint8 SOFTMAX: differences to the row maximum are scaled by `beta * s_in` into Q5.26,
//!   exponentiated with gemmlowp's `exp_on_negative_values`, summed in Q12.19 and divided by
//!   the sum through a fixed-point reciprocal; differences below `diff_min` contribute nothing.
//!   The output may be int8/uint8 or int16.
//! - int16 SOFTMAX: two interpolated 513-entry tables (exp on [-10, 0] and `1 / (1 + x)` on
//!   [0, 1]), built in `double` as LiteRT does.
//! - int8/uint8 LOG_SOFTMAX: the same Q5.26 exponentials, a fixed-point logarithm of the sum, and
//!   an output scale of 16/256 with the zero point at the type's maximum.

use crate::kernel::{KernelIo, NodeCtx};
use crate::math;
use crate::prep::softmax::{
    ACCUMULATION_INTEGER_BITS, LogSoftmaxParams, SCALED_DIFF_INTEGER_BITS, SoftmaxExpParams,
    SoftmaxI16Params, SoftmaxParams,
};
use crate::scalar::binary::elementwise::QElem;
use crate::scalar::binary::kname;
use crate::scalar::qmath::fixedpoint::{get_reciprocal, log_x_for_x_greater_than_or_equal_to_1};
use crate::scalar::qmath::lut::lookup16;
use crate::scalar::qmath::{multiply_by_quantized_multiplier, rounding_divide_by_pot};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use alloc::format;
use core::marker::PhantomData;
use tflrs_ir::DType;

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let Some(plan) = crate::prep::softmax::plan(node)? else {
        return Ok(None);
    };
    let shape = Rows {
        rows: plan.rows,
        depth: plan.depth,
    };
    let (log, dt, out) = (plan.log, plan.dtype, plan.out_dtype);
    let k: Box<dyn Kernel> = match plan.params {
        SoftmaxParams::Float if log => Box::new(LogSoftmaxF32 {
            shape,
            name: kname!("log_softmax", DType::Float32),
        }),
        SoftmaxParams::Float => Box::new(SoftmaxF32 {
            shape,
            beta: plan.beta,
            name: kname!("softmax", DType::Float32),
        }),
        SoftmaxParams::Exp(p) => match (dt, out) {
            (DType::Int8, DType::Int8) => {
                softmax_q8::<i8, i8>(kname!("softmax", DType::Int8), p, shape)
            }
            (DType::Int8, _) => softmax_q8::<i8, i16>(kname!("softmax_i8", DType::Int16), p, shape),
            (_, DType::UInt8) => softmax_q8::<u8, u8>(kname!("softmax", DType::UInt8), p, shape),
            _ => softmax_q8::<u8, i16>(kname!("softmax_u8", DType::Int16), p, shape),
        },
        SoftmaxParams::Int16(p) => Box::new(SoftmaxI16 { shape, p }),
        SoftmaxParams::LogExp(p) => {
            if dt == DType::Int8 {
                log_softmax_q8::<i8>(kname!("log_softmax", DType::Int8), p, shape)
            } else {
                log_softmax_q8::<u8>(kname!("log_softmax", DType::UInt8), p, shape)
            }
        }
    };
    Ok(Some(k))
}

/// The input seen as `rows` rows of `depth` elements.
#[derive(Debug, Clone, Copy)]
struct Rows {
    rows: usize,
    depth: usize,
}

impl Rows {
    fn check(&self, name: &str, x: usize, y: usize) -> Result<(), KernelError> {
        let n = self.rows * self.depth;
        if x != n || y != n {
            return Err(KernelError::invalid(format!(
                "{name}: buffers of {x} and {y} elements, planned {n}"
            )));
        }
        Ok(())
    }
}

struct SoftmaxF32 {
    name: &'static str,
    shape: Rows,
    beta: f32,
}

impl Kernel for SoftmaxF32 {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let beta = self.beta;
        for_each_f32_row(io, self.name, &self.shape, |xr, yr| {
            let max = row_max_f32(xr);
            let mut sum = 0.0f32;
            for (o, &v) in yr.iter_mut().zip(xr) {
                let e = math::expf((v - max) * beta);
                *o = e;
                sum += e;
            }
            for o in yr.iter_mut() {
                *o /= sum;
            }
        })
    }
}

struct LogSoftmaxF32 {
    name: &'static str,
    shape: Rows,
}

impl Kernel for LogSoftmaxF32 {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        for_each_f32_row(io, self.name, &self.shape, |xr, yr| {
            let max = row_max_f32(xr);
            let sum: f32 = xr.iter().fold(0.0, |s, &v| s + math::expf(v - max));
            let log_sum = math::logf(sum);
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = v - max - log_sum;
            }
        })
    }
}

/// The largest element of a row, as LiteRT's float softmax finds it.
fn row_max_f32(xr: &[f32]) -> f32 {
    xr.iter().fold(f32::MIN, |m, &v| if m < v { v } else { m })
}

/// Calls `f` on each row (the last axis) of a float32 input and the matching output row.
fn for_each_f32_row(
    io: &mut KernelIo<'_>,
    name: &str,
    shape: &Rows,
    mut f: impl FnMut(&[f32], &mut [f32]),
) -> Result<(), KernelError> {
    let (inputs, mut outputs, _, _) = io.split();
    let x = inputs.get(0)?.as_slice::<f32>()?;
    let mut out = outputs.get(0)?;
    let y = out.as_slice_mut::<f32>()?;
    shape.check(name, x.len(), y.len())?;
    if shape.depth == 0 {
        return Ok(());
    }
    for (xr, yr) in x
        .chunks_exact(shape.depth)
        .zip(y.chunks_exact_mut(shape.depth))
    {
        f(xr, yr);
    }
    Ok(())
}

fn row_max<T: QElem>(row: &[T]) -> i32 {
    row.iter().fold(T::MIN, |m, v| m.max(v.to_i32()))
}

struct SoftmaxQ8<I, O> {
    name: &'static str,
    shape: Rows,
    p: SoftmaxExpParams,
    _t: PhantomData<fn(I) -> O>,
}

fn softmax_q8<I: QElem, O: QElem>(
    name: &'static str,
    p: SoftmaxExpParams,
    shape: Rows,
) -> Box<dyn Kernel> {
    Box::new(SoftmaxQ8::<I, O> {
        name,
        shape,
        p,
        _t: PhantomData,
    })
}

impl<I: QElem, O: QElem> Kernel for SoftmaxQ8<I, O> {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<I>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<O>()?;
        self.shape.check(self.name, x.len(), y.len())?;
        let depth = self.shape.depth;
        if depth == 0 {
            return Ok(());
        }
        let out_bits = (core::mem::size_of::<O>() * 8) as i32;
        for (xr, yr) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
            let max = row_max(xr);
            let sum = self.p.sum_of_exps(xr.iter().map(|v| v.to_i32()), max);
            let (shifted_scale, num_bits_over_unit) =
                get_reciprocal(sum, ACCUMULATION_INTEGER_BITS);
            let exponent = (num_bits_over_unit + 31 - out_bits).clamp(0, 31);
            for (o, v) in yr.iter_mut().zip(xr) {
                let diff = v.to_i32() - max;
                *o = if diff >= self.p.diff_min {
                    let e = self.p.exp(diff);
                    let unsat = rounding_divide_by_pot(
                        crate::scalar::qmath::srdhm(shifted_scale, e),
                        exponent,
                    );
                    O::saturate(unsat + O::MIN)
                } else {
                    O::from_i32(O::MIN)
                };
            }
        }
        Ok(())
    }
}

struct SoftmaxI16 {
    shape: Rows,
    p: Box<SoftmaxI16Params>,
}

impl Kernel for SoftmaxI16 {
    fn name(&self) -> &str {
        kname!("softmax", DType::Int16)
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<i16>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<i16>()?;
        self.shape.check(self.name(), x.len(), y.len())?;
        let depth = self.shape.depth;
        if depth == 0 {
            return Ok(());
        }
        for (xr, yr) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
            let max = xr.iter().copied().max().unwrap_or(i16::MIN);
            // The exponentials (Q0.15) are kept in the output row until they are rescaled.
            let mut sum_of_exps = 0i32;
            for (o, &v) in yr.iter_mut().zip(xr) {
                let diff = i32::from(v) - i32::from(max);
                let scaled = multiply_by_quantized_multiplier(
                    diff,
                    self.p.input_multiplier,
                    self.p.input_left_shift,
                );
                let sym = (scaled + 32767).clamp(-32768, 32767) as i16;
                *o = lookup16(sym, &self.p.exp_lut);
                sum_of_exps = sum_of_exps.wrapping_add(i32::from(*o));
            }
            // 1 / sum through the 1/(1+x) table, with x = sum - 1 normalized to [0, 1).
            let headroom_plus_one = (sum_of_exps as u32).leading_zeros() as i32;
            let shifted_sum = (((i64::from(sum_of_exps) << (headroom_plus_one - 1).clamp(0, 62))
                + (1 << 13))
                >> 14) as i32;
            let sym_shifted_sum = shifted_sum - ((1 << 15) + (1 << 16));
            let reciprocal = lookup16(
                sym_shifted_sum.clamp(-32768, 32767) as i16,
                &self.p.one_over_one_plus_x_lut,
            );
            let right_shift = (31 - headroom_plus_one).clamp(1, 62);
            let round = 1i64 << (right_shift - 1);
            for o in yr.iter_mut() {
                let r = ((i64::from(*o) * i64::from(reciprocal) + round) >> right_shift) as i32;
                *o = r.clamp(0, 32767) as i16;
            }
        }
        Ok(())
    }
}

struct LogSoftmaxQ8<T> {
    name: &'static str,
    shape: Rows,
    p: LogSoftmaxParams,
    _t: PhantomData<fn() -> T>,
}

fn log_softmax_q8<T: QElem>(
    name: &'static str,
    p: LogSoftmaxParams,
    shape: Rows,
) -> Box<dyn Kernel> {
    Box::new(LogSoftmaxQ8::<T> {
        name,
        shape,
        p,
        _t: PhantomData,
    })
}

impl<T: QElem> Kernel for LogSoftmaxQ8<T> {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        const OUTPUT_INTEGER_BITS: i32 = 4;
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<T>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<T>()?;
        self.shape.check(self.name, x.len(), y.len())?;
        let depth = self.shape.depth;
        if depth == 0 {
            return Ok(());
        }
        for (xr, yr) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
            let max = row_max(xr);
            let sum = self.p.exp.sum_of_exps(xr.iter().map(|v| v.to_i32()), max);
            let log_sum = log_x_for_x_greater_than_or_equal_to_1(
                sum,
                ACCUMULATION_INTEGER_BITS,
                SCALED_DIFF_INTEGER_BITS,
            );
            // Differences at or below this give the lowest output.
            let shifted_log_sum = log_sum.wrapping_add(i32::MIN);
            let adjusted_diff_min =
                (self.p.exp.diff_min - 1).max(multiply_by_quantized_multiplier(
                    shifted_log_sum,
                    self.p.reverse_multiplier,
                    self.p.reverse_shift,
                ));
            for (o, v) in yr.iter_mut().zip(xr) {
                let diff = v.to_i32() - max;
                *o = if diff > adjusted_diff_min {
                    let scaled = self.p.exp.scaled_diff(diff);
                    let r = rounding_divide_by_pot(
                        scaled.wrapping_sub(log_sum),
                        31 - SCALED_DIFF_INTEGER_BITS - OUTPUT_INTEGER_BITS,
                    ) + T::MAX;
                    T::saturate(r)
                } else {
                    T::from_i32(T::MIN)
                };
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{DType, Op, SoftmaxAttrs};

    fn run<I: bytemuck::Pod, O: bytemuck::Pod>(
        op: &Op<'_>,
        x: TensorInfo,
        v: &[I],
        y: TensorInfo,
    ) -> Vec<O> {
        let out = run_node(
            &ScalarBackend,
            op,
            &[Some(TestInput::from_slice(x, v))],
            &[y],
        )
        .unwrap();
        bytemuck::cast_slice(&out[0]).to_vec()
    }

    fn softmax(beta: f32) -> Op<'static> {
        Op::Softmax(SoftmaxAttrs { beta })
    }

    #[test]
    fn float_softmax_and_log_softmax() {
        let f = |s: &[usize]| TensorInfo::new("t", DType::Float32, s.to_vec());
        let y: Vec<f32> = run(
            &softmax(1.0),
            f(&[2, 2]),
            &[0.0f32, 0.0, 1.0, 3.0],
            f(&[2, 2]),
        );
        assert!((y[0] - 0.5).abs() < 1e-7 && (y[1] - 0.5).abs() < 1e-7);
        let e = 1.0 / (1.0 + 2f32.exp());
        assert!((y[2] - e).abs() < 1e-6 && (y[3] - (1.0 - e)).abs() < 1e-6);
        let y: Vec<f32> = run(&softmax(2.0), f(&[2]), &[0.0f32, 0.5], f(&[2]));
        assert!((y[1] - 1.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
        let y: Vec<f32> = run(&Op::LogSoftmax, f(&[3]), &[1.0f32, 2.0, 3.0], f(&[3]));
        let lse = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
        for (i, v) in y.iter().enumerate() {
            assert!((v - (i as f32 + 1.0 - lse)).abs() < 1e-6);
        }
    }

    #[test]
    fn int8_softmax_close_to_float() {
        let si = 0.05f32;
        let xs: Vec<i8> = vec![-128, -20, 0, 5, 40, 100, 127, 127, -60, 3];
        let y: Vec<i8> = run(
            &softmax(1.0),
            TensorInfo::new("x", DType::Int8, vec![1, 10]).with_quant(si, -1),
            &xs,
            TensorInfo::new("y", DType::Int8, vec![1, 10]).with_quant(1.0 / 256.0, -128),
        );
        let reals: Vec<f64> = xs
            .iter()
            .map(|&v| f64::from(si) * f64::from(i32::from(v) + 1))
            .collect();
        let max = reals.iter().cloned().fold(f64::MIN, f64::max);
        let sum: f64 = reals.iter().map(|r| (r - max).exp()).sum();
        for (r, &got) in reals.iter().zip(&y) {
            let want = ((r - max).exp() / sum * 256.0 - 128.0).clamp(-128.0, 127.0);
            assert!((f64::from(got) - want).abs() <= 1.0, "{got} vs {want}");
        }
    }

    #[test]
    fn int16_softmax_close_to_float() {
        let si = 1.0f32 / 8192.0;
        let xs: Vec<i16> = vec![-32768, -1000, 0, 5000, 20000, 32767];
        let y: Vec<i16> = run(
            &softmax(1.0),
            TensorInfo::new("x", DType::Int16, vec![6]).with_quant(si, 0),
            &xs,
            TensorInfo::new("y", DType::Int16, vec![6]).with_quant(1.0 / 32768.0, 0),
        );
        let reals: Vec<f64> = xs.iter().map(|&v| f64::from(si) * f64::from(v)).collect();
        let max = reals.iter().cloned().fold(f64::MIN, f64::max);
        let sum: f64 = reals.iter().map(|r| (r - max).exp()).sum();
        for (r, &got) in reals.iter().zip(&y) {
            let want = ((r - max).exp() / sum * 32768.0).min(32767.0);
            assert!((f64::from(got) - want).abs() <= 40.0, "{got} vs {want}");
        }
    }

    #[test]
    fn int8_log_softmax_close_to_float() {
        let si = 0.1f32;
        let xs: Vec<i8> = vec![-128, -20, 0, 5, 40, 100, 127];
        let y: Vec<i8> = run(
            &Op::LogSoftmax,
            TensorInfo::new("x", DType::Int8, vec![7]).with_quant(si, 0),
            &xs,
            TensorInfo::new("y", DType::Int8, vec![7]).with_quant(16.0 / 256.0, 127),
        );
        let reals: Vec<f64> = xs.iter().map(|&v| f64::from(si) * f64::from(v)).collect();
        let max = reals.iter().cloned().fold(f64::MIN, f64::max);
        let lse = max + reals.iter().map(|r| (r - max).exp()).sum::<f64>().ln();
        for (r, &got) in reals.iter().zip(&y) {
            let want = ((r - lse) * 16.0 + 127.0).clamp(-128.0, 127.0);
            assert!((f64::from(got) - want).abs() <= 1.0, "{got} vs {want}");
        }
    }
}
