//! SOFTMAX and LOG_SOFTMAX over the last axis.
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
use crate::scalar::binary::elementwise::{QElem, quant_of};
use crate::scalar::binary::kname;
use crate::scalar::qmath::fixedpoint::{
    exp_on_negative_values, get_reciprocal, log_x_for_x_greater_than_or_equal_to_1, rescale,
};
use crate::scalar::qmath::lut::{Lut16, lookup16, lut16};
use crate::scalar::qmath::{
    multiply_by_quantized_multiplier, quantize_multiplier, quantize_multiplier_unchecked,
    rounding_divide_by_pot,
};
use crate::{Kernel, KernelError, TensorInfo, ensure};
use alloc::boxed::Box;
use alloc::format;
use core::marker::PhantomData;
use tflrs_ir::{DType, Op};

/// Integer bits of the scaled differences fed to the exponential (Q5.26).
const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials (Q12.19).
const ACCUMULATION_INTEGER_BITS: i32 = 12;

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let (log, beta) = match node.op {
        Op::Softmax(a) => (false, a.beta),
        Op::LogSoftmax => (true, 1.0),
        _ => return Ok(None),
    };
    node.expect_inputs(1, 1)?;
    node.expect_outputs(1)?;
    let x = node.input(0)?;
    let y = node.output(0)?;
    ensure!(
        x.shape == y.shape,
        "output shape {:?} differs from the input's {:?}",
        y.shape,
        x.shape
    );
    ensure!(
        !x.shape.is_empty(),
        "{} needs an input of rank 1 or more",
        node.op.name()
    );
    let depth = *x.shape.last().unwrap_or(&1);
    let rows = x.num_elements().checked_div(depth).unwrap_or(0);
    let shape = Rows { rows, depth };
    let unsupported = || {
        KernelError::unsupported(format!(
            "{} from {} to {}",
            node.op.name(),
            x.dtype,
            y.dtype
        ))
    };
    let k: Box<dyn Kernel> = match (log, x.dtype, y.dtype) {
        (false, DType::Float32, DType::Float32) => Box::new(SoftmaxF32 {
            shape,
            beta,
            name: kname!("softmax", DType::Float32),
        }),
        (true, DType::Float32, DType::Float32) => Box::new(LogSoftmaxF32 {
            shape,
            name: kname!("log_softmax", DType::Float32),
        }),
        (false, DType::Int8, DType::Int8) => {
            softmax_q8::<i8, i8>(kname!("softmax", DType::Int8), x, y, beta, shape)?
        }
        (false, DType::Int8, DType::Int16) => {
            softmax_q8::<i8, i16>(kname!("softmax_i8", DType::Int16), x, y, beta, shape)?
        }
        (false, DType::UInt8, DType::UInt8) => {
            softmax_q8::<u8, u8>(kname!("softmax", DType::UInt8), x, y, beta, shape)?
        }
        (false, DType::UInt8, DType::Int16) => {
            softmax_q8::<u8, i16>(kname!("softmax_u8", DType::Int16), x, y, beta, shape)?
        }
        (false, DType::Int16, DType::Int16) => softmax_i16(x, y, beta, shape)?,
        (true, DType::Int8, DType::Int8) => {
            log_softmax_q8::<i8>(kname!("log_softmax", DType::Int8), x, y, shape)?
        }
        (true, DType::UInt8, DType::UInt8) => {
            log_softmax_q8::<u8>(kname!("log_softmax", DType::UInt8), x, y, shape)?
        }
        _ => return Err(unsupported()),
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

/// LiteRT's `PreprocessSoftmaxScaling`: the multiplier taking input differences into
/// `Q(integer_bits)`, capped so that it fits a Q31 multiplier with a left shift.
fn softmax_scaling(beta: f64, input_scale: f64, integer_bits: i32) -> (i32, i32) {
    let max_real_multiplier = f64::from(i32::MAX);
    let real =
        (beta * input_scale * f64::from(1i32 << (31 - integer_bits))).min(max_real_multiplier);
    quantize_multiplier_unchecked(real)
}

/// LiteRT's `CalculateInputRadius`: the largest input difference whose scaled value still fits
/// `Q(integer_bits)`.
fn input_radius(integer_bits: i32, left_shift: i32) -> i32 {
    let max_input_rescaled = f64::from((1i32 << integer_bits) - 1)
        * (1i64 << (31 - integer_bits)) as f64
        / (1i64 << left_shift.clamp(0, 62)) as f64;
    libm::floor(max_input_rescaled) as i32
}

/// Constants of the fixed-point exponentials shared by int8/uint8 SOFTMAX and LOG_SOFTMAX.
#[derive(Debug, Clone, Copy)]
struct ExpParams {
    input_multiplier: i32,
    input_left_shift: i32,
    diff_min: i32,
}

impl ExpParams {
    fn new(beta: f32, input_scale: f32) -> Result<Self, KernelError> {
        let (input_multiplier, input_left_shift) = softmax_scaling(
            f64::from(beta),
            f64::from(input_scale),
            SCALED_DIFF_INTEGER_BITS,
        );
        ensure!(
            input_multiplier > 0 && input_left_shift >= 0,
            "beta {beta} times input scale {input_scale} is too small for the quantized softmax"
        );
        Ok(Self {
            input_multiplier,
            input_left_shift,
            diff_min: -input_radius(SCALED_DIFF_INTEGER_BITS, input_left_shift),
        })
    }

    /// The difference to the row maximum, in Q5.26.
    #[inline]
    fn scaled_diff(&self, diff: i32) -> i32 {
        multiply_by_quantized_multiplier(diff, self.input_multiplier, self.input_left_shift)
    }

    /// The row's sum of exponentials in Q12.19.
    fn sum_of_exps<T: QElem>(&self, row: &[T], max: i32) -> i32 {
        let mut sum = 0i32;
        for v in row {
            let diff = v.to_i32() - max;
            if diff >= self.diff_min {
                let e = exp_on_negative_values(self.scaled_diff(diff), SCALED_DIFF_INTEGER_BITS);
                sum = sum.wrapping_add(rescale(e, 0, ACCUMULATION_INTEGER_BITS));
            }
        }
        sum
    }
}

fn row_max<T: QElem>(row: &[T]) -> i32 {
    row.iter().fold(T::MIN, |m, v| m.max(v.to_i32()))
}

struct SoftmaxQ8<I, O> {
    name: &'static str,
    shape: Rows,
    p: ExpParams,
    _t: PhantomData<fn(I) -> O>,
}

fn softmax_q8<I: QElem, O: QElem>(
    name: &'static str,
    x: &TensorInfo,
    y: &TensorInfo,
    beta: f32,
    shape: Rows,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, _) = quant_of::<I>(x)?;
    let (so, zo) = quant_of::<O>(y)?;
    if O::MIN == -128 {
        ensure!(
            zo == -128 && (so - 1.0 / 256.0).abs() <= 0.001 / 256.0,
            "int8 SOFTMAX needs an output scale of 1/256 and zero point -128 (got {so}, {zo})"
        );
    }
    Ok(Box::new(SoftmaxQ8::<I, O> {
        name,
        shape,
        p: ExpParams::new(beta, si)?,
        _t: PhantomData,
    }))
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
            let sum = self.p.sum_of_exps(xr, max);
            let (shifted_scale, num_bits_over_unit) =
                get_reciprocal(sum, ACCUMULATION_INTEGER_BITS);
            let exponent = (num_bits_over_unit + 31 - out_bits).clamp(0, 31);
            for (o, v) in yr.iter_mut().zip(xr) {
                let diff = v.to_i32() - max;
                *o = if diff >= self.p.diff_min {
                    let e =
                        exp_on_negative_values(self.p.scaled_diff(diff), SCALED_DIFF_INTEGER_BITS);
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
    input_multiplier: i32,
    input_left_shift: i32,
    exp_lut: Box<Lut16>,
    one_over_one_plus_x_lut: Box<Lut16>,
}

fn softmax_i16(
    x: &TensorInfo,
    y: &TensorInfo,
    beta: f32,
    shape: Rows,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, zi) = quant_of::<i16>(x)?;
    let (so, zo) = quant_of::<i16>(y)?;
    ensure!(zi == 0 && zo == 0, "int16 SOFTMAX needs zero points of 0");
    let scale_ok = (so - 1.0 / 32768.0).abs() <= 0.001 / 32768.0;
    ensure!(
        scale_ok,
        "int16 SOFTMAX needs an output scale of 1/32768, got {so}"
    );
    let range = f64::from(65535i32);
    // exp on [-10, 0] and 1/(1+x) on [0, 1], both onto [-1, 1].
    let exp_lut = Box::new(lut16::<f64>(10.0 / range, 32767, 2.0 / range, 0, math::exp));
    let one_over_one_plus_x_lut =
        Box::new(lut16::<f64>(1.0 / range, -32768, 2.0 / range, 0, |v| {
            1.0 / (1.0 + v)
        }));
    // Input differences are scaled so that [-65535, 0] stands for [-10, 0].
    let (input_multiplier, input_left_shift) =
        quantize_multiplier(f64::from(si * beta) / (10.0 / 65535.0))?;
    Ok(Box::new(SoftmaxI16 {
        shape,
        input_multiplier,
        input_left_shift,
        exp_lut,
        one_over_one_plus_x_lut,
    }))
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
                    self.input_multiplier,
                    self.input_left_shift,
                );
                let sym = (scaled + 32767).clamp(-32768, 32767) as i16;
                *o = lookup16(sym, &self.exp_lut);
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
                &self.one_over_one_plus_x_lut,
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
    p: ExpParams,
    reverse_multiplier: i32,
    reverse_shift: i32,
    _t: PhantomData<fn() -> T>,
}

fn log_softmax_q8<T: QElem>(
    name: &'static str,
    x: &TensorInfo,
    y: &TensorInfo,
    shape: Rows,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, _) = quant_of::<T>(x)?;
    let (so, zo) = quant_of::<T>(y)?;
    ensure!(
        so == 16.0 / 256.0 && zo == T::MAX,
        "quantized LOG_SOFTMAX needs an output scale of 16/256 and zero point {} (got {so}, {zo})",
        T::MAX
    );
    let p = ExpParams::new(1.0, si)?;
    // The inverse of the input scaling, to bound the differences that give the lowest output.
    let real_reverse =
        (1i64 << (31 - p.input_left_shift).clamp(0, 62)) as f64 / f64::from(p.input_multiplier);
    let (reverse_multiplier, reverse_left_shift) = quantize_multiplier(real_reverse)?;
    Ok(Box::new(LogSoftmaxQ8::<T> {
        name,
        shape,
        p,
        reverse_multiplier,
        reverse_shift: reverse_left_shift,
        _t: PhantomData,
    }))
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
            let sum = self.p.sum_of_exps(xr, max);
            let log_sum = log_x_for_x_greater_than_or_equal_to_1(
                sum,
                ACCUMULATION_INTEGER_BITS,
                SCALED_DIFF_INTEGER_BITS,
            );
            // Differences at or below this give the lowest output.
            let shifted_log_sum = log_sum.wrapping_add(i32::MIN);
            let adjusted_diff_min = (self.p.diff_min - 1).max(multiply_by_quantized_multiplier(
                shifted_log_sum,
                self.reverse_multiplier,
                self.reverse_shift,
            ));
            for (o, v) in yr.iter_mut().zip(xr) {
                let diff = v.to_i32() - max;
                *o = if diff > adjusted_diff_min {
                    let scaled = self.p.scaled_diff(diff);
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
