//! Plans of the softmax family (see [the module docs](super)): SOFTMAX and LOG_SOFTMAX over
//! the last axis.
//!
//! Quantized kernels follow LiteRT's reference path (`activations.cc` with `kReference`):
//! - int8/uint8 SOFTMAX: differences to the row maximum are scaled by `beta * s_in` into Q5.26,
//!   exponentiated with gemmlowp's `exp_on_negative_values`, summed in Q12.19 and divided by
//!   the sum through a fixed-point reciprocal; differences below `diff_min` contribute nothing
//!   ([`SoftmaxExpParams`]). The output may be int8/uint8 or int16.
//! - int16 SOFTMAX: two interpolated 513-entry tables (exp on [-10, 0] and `1 / (1 + x)` on
//!   [0, 1]), built in `double` as LiteRT does ([`SoftmaxI16Params`]).
//! - int8/uint8 LOG_SOFTMAX: the same Q5.26 exponentials, a fixed-point logarithm of the sum,
//!   and an output scale of 16/256 with the zero point at the type's maximum
//!   ([`LogSoftmaxParams`]).

use crate::kernel::NodeCtx;
use crate::math;
use crate::prep::unary::unary_io;
use crate::scalar::binary::elementwise::quant_in_range;
use crate::scalar::qmath::fixedpoint::{exp_on_negative_values, rescale};
use crate::scalar::qmath::lut::{Lut16, lut16};
use crate::scalar::qmath::{
    multiply_by_quantized_multiplier, quantize_multiplier, quantize_multiplier_unchecked,
};
use crate::{KernelError, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, Op};

/// Integer bits of the scaled differences fed to the exponential (Q5.26, LiteRT's
/// `kScaledDiffIntegerBits`).
pub const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials (Q12.19, LiteRT's `kAccumulationIntegerBits`).
pub const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// A prepared SOFTMAX or LOG_SOFTMAX node.
#[derive(Debug, Clone)]
pub struct SoftmaxPlan {
    /// LOG_SOFTMAX rather than SOFTMAX.
    pub log: bool,
    /// SOFTMAX's `beta` (1 for LOG_SOFTMAX).
    pub beta: f32,
    /// The input's element type.
    pub dtype: DType,
    /// The output's element type.
    pub out_dtype: DType,
    /// Rows: the product of all dimensions but the last.
    pub rows: usize,
    /// Elements of a row: the last dimension.
    pub depth: usize,
    /// The quantized constants.
    pub params: SoftmaxParams,
}

/// The constants of a [`SoftmaxPlan`], by arithmetic.
#[derive(Debug, Clone)]
pub enum SoftmaxParams {
    /// float32: `beta` is all there is.
    Float,
    /// int8/uint8 SOFTMAX (to int8/uint8 or int16).
    Exp(SoftmaxExpParams),
    /// int8/uint8 LOG_SOFTMAX.
    LogExp(LogSoftmaxParams),
    /// int16 SOFTMAX.
    Int16(Box<SoftmaxI16Params>),
}

/// LiteRT's `PreprocessSoftmaxScaling`: the multiplier taking input differences into
/// `Q(integer_bits)`, capped so that it fits a Q31 multiplier with a left shift.
pub fn softmax_scaling(beta: f64, input_scale: f64, integer_bits: i32) -> (i32, i32) {
    let max_real_multiplier = f64::from(i32::MAX);
    let real =
        (beta * input_scale * f64::from(1i32 << (31 - integer_bits))).min(max_real_multiplier);
    quantize_multiplier_unchecked(real)
}

/// LiteRT's `CalculateInputRadius`: the largest input difference whose scaled value still fits
/// `Q(integer_bits)`.
pub fn input_radius(integer_bits: i32, left_shift: i32) -> i32 {
    let max_input_rescaled = f64::from((1i32 << integer_bits) - 1)
        * (1i64 << (31 - integer_bits)) as f64
        / (1i64 << left_shift.clamp(0, 62)) as f64;
    libm::floor(max_input_rescaled) as i32
}

/// Constants of the fixed-point exponentials shared by int8/uint8 SOFTMAX and LOG_SOFTMAX
/// (LiteRT's `SoftmaxParams::input_multiplier`, `input_left_shift` and `diff_min`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxExpParams {
    /// Quantized `beta * s_in * 2^26` ([`softmax_scaling`]).
    pub input_multiplier: i32,
    /// Its left shift.
    pub input_left_shift: i32,
    /// Differences to the row maximum below this contribute nothing (minus
    /// [`input_radius`]).
    pub diff_min: i32,
}

impl SoftmaxExpParams {
    /// The constants for `beta` and the input scale, refused where the scaling underflows.
    pub fn new(beta: f32, input_scale: f32) -> Result<Self, KernelError> {
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
    pub fn scaled_diff(&self, diff: i32) -> i32 {
        multiply_by_quantized_multiplier(diff, self.input_multiplier, self.input_left_shift)
    }

    /// `exp` of a difference to the row maximum (at least `diff_min`), in Q0.
    #[inline]
    pub fn exp(&self, diff: i32) -> i32 {
        exp_on_negative_values(self.scaled_diff(diff), SCALED_DIFF_INTEGER_BITS)
    }

    /// The row's sum of exponentials in Q12.19, from its raw values and maximum.
    pub fn sum_of_exps(&self, row: impl IntoIterator<Item = i32>, max: i32) -> i32 {
        let mut sum = 0i32;
        for v in row {
            let diff = v - max;
            if diff >= self.diff_min {
                sum = sum.wrapping_add(rescale(self.exp(diff), 0, ACCUMULATION_INTEGER_BITS));
            }
        }
        sum
    }
}

/// Constants of int8/uint8 LOG_SOFTMAX (LiteRT's `LogSoftmaxPrepare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSoftmaxParams {
    /// The exponentials (with `beta` 1).
    pub exp: SoftmaxExpParams,
    /// Quantized inverse of the input scaling, bounding the differences that give the lowest
    /// output (`reverse_scaling_divisor`).
    pub reverse_multiplier: i32,
    /// Its shift (`reverse_scaling_right_shift`, as a left shift).
    pub reverse_shift: i32,
}

/// Tables and input scaling of int16 SOFTMAX (LiteRT's `SoftmaxInt16` preparation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftmaxI16Params {
    /// Quantized `beta * s_in / (10 / 65535)`: differences in `[-65535, 0]` stand for
    /// `[-10, 0]`.
    pub input_multiplier: i32,
    /// Its shift.
    pub input_left_shift: i32,
    /// `exp` on `[-10, 0]` onto `[-1, 1]`, built in `double`.
    pub exp_lut: Lut16,
    /// `1 / (1 + x)` on `[0, 1]` onto `[-1, 1]`, built in `double`.
    pub one_over_one_plus_x_lut: Lut16,
}

impl SoftmaxI16Params {
    /// The tables and the scaling for `beta` and the input scale.
    pub fn new(beta: f32, input_scale: f32) -> Result<Self, KernelError> {
        let range = f64::from(65535i32);
        let exp_lut = lut16::<f64>(10.0 / range, 32767, 2.0 / range, 0, math::exp);
        let one_over_one_plus_x_lut =
            lut16::<f64>(1.0 / range, -32768, 2.0 / range, 0, |v| 1.0 / (1.0 + v));
        let (input_multiplier, input_left_shift) =
            quantize_multiplier(f64::from(input_scale * beta) / (10.0 / 65535.0))?;
        Ok(Self {
            input_multiplier,
            input_left_shift,
            exp_lut,
            one_over_one_plus_x_lut,
        })
    }
}

/// Prepares a SOFTMAX or LOG_SOFTMAX node, or answers `Ok(None)` for another operator.
pub fn plan(node: &NodeCtx<'_>) -> Result<Option<SoftmaxPlan>, KernelError> {
    let (log, beta) = match node.op {
        Op::Softmax(a) => (false, a.beta),
        Op::LogSoftmax => (true, 1.0),
        _ => return Ok(None),
    };
    let (x, y) = unary_io(node)?;
    ensure!(
        !x.shape.is_empty(),
        "{} needs an input of rank 1 or more",
        node.op.name()
    );
    let depth = *x.shape.last().unwrap_or(&1);
    let rows = x.num_elements().checked_div(depth).unwrap_or(0);
    let unsupported = || {
        KernelError::unsupported(format!(
            "{} from {} to {}",
            node.op.name(),
            x.dtype,
            y.dtype
        ))
    };
    let range = |dt| match dt {
        DType::Int8 => (-128, 127),
        DType::UInt8 => (0, 255),
        _ => (-32768, 32767),
    };
    let params = match (log, x.dtype, y.dtype) {
        (_, DType::Float32, DType::Float32) => SoftmaxParams::Float,
        (false, DType::Int8 | DType::UInt8, o) if o == x.dtype || o == DType::Int16 => {
            let (imin, imax) = range(x.dtype);
            let (omin, omax) = range(o);
            let (si, _) = quant_in_range(x, imin, imax)?;
            let (so, zo) = quant_in_range(y, omin, omax)?;
            if o == DType::Int8 {
                ensure!(
                    zo == -128 && (so - 1.0 / 256.0).abs() <= 0.001 / 256.0,
                    "int8 SOFTMAX needs an output scale of 1/256 and zero point -128 (got {so}, {zo})"
                );
            }
            SoftmaxParams::Exp(SoftmaxExpParams::new(beta, si)?)
        }
        (false, DType::Int16, DType::Int16) => {
            let (si, zi) = quant_in_range(x, -32768, 32767)?;
            let (so, zo) = quant_in_range(y, -32768, 32767)?;
            ensure!(zi == 0 && zo == 0, "int16 SOFTMAX needs zero points of 0");
            let scale_ok = (so - 1.0 / 32768.0).abs() <= 0.001 / 32768.0;
            ensure!(
                scale_ok,
                "int16 SOFTMAX needs an output scale of 1/32768, got {so}"
            );
            SoftmaxParams::Int16(Box::new(SoftmaxI16Params::new(beta, si)?))
        }
        (true, DType::Int8 | DType::UInt8, o) if o == x.dtype => {
            let (min, max) = range(o);
            let (si, _) = quant_in_range(x, min, max)?;
            let (so, zo) = quant_in_range(y, min, max)?;
            ensure!(
                so == 16.0 / 256.0 && zo == max,
                "quantized LOG_SOFTMAX needs an output scale of 16/256 and zero point {max} (got {so}, {zo})"
            );
            let exp = SoftmaxExpParams::new(1.0, si)?;
            let real_reverse = (1i64 << (31 - exp.input_left_shift).clamp(0, 62)) as f64
                / f64::from(exp.input_multiplier);
            let (reverse_multiplier, reverse_shift) = quantize_multiplier(real_reverse)?;
            SoftmaxParams::LogExp(LogSoftmaxParams {
                exp,
                reverse_multiplier,
                reverse_shift,
            })
        }
        _ => return Err(unsupported()),
    };
    Ok(Some(SoftmaxPlan {
        log,
        beta,
        dtype: x.dtype,
        out_dtype: y.dtype,
        rows,
        depth,
        params,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorInfo;
    use crate::prep::binary::tests::with_node;
    use tflrs_ir::SoftmaxAttrs;

    #[test]
    fn int8_softmax_constants_by_hand() {
        let x = TensorInfo::new("x", DType::Int8, alloc::vec![2, 5]).with_quant(0.1, 3);
        let y = TensorInfo::new("y", DType::Int8, alloc::vec![2, 5]).with_quant(1.0 / 256.0, -128);
        let op = Op::Softmax(SoftmaxAttrs { beta: 1.0 });
        let p = with_node(&op, &[x], &[y], |node| plan(node).unwrap().unwrap());
        assert_eq!((p.rows, p.depth, p.log), (2, 5, false));
        let SoftmaxParams::Exp(e) = p.params else {
            panic!("{:?}", p.params)
        };
        // beta * s_in * 2^26 = 6710886.5 (s_in is 0.1 in f32) = 0.8000000119 * 2^23, and the
        // multiplier is that mantissa in Q31: s_in * 2^(26 - 23 + 31) rounded.
        let mantissa = (f64::from(0.1f32) * 2f64.powi(34)).round() as i32;
        assert_eq!(mantissa, 1_717_986_944);
        assert_eq!((e.input_multiplier, e.input_left_shift), (mantissa, 23));
        // CalculateInputRadius: floor((2^5 - 1) * 2^26 / 2^23) = 248.
        assert_eq!(e.diff_min, -248);
        // exp(0) is 1 in Q0.
        assert_eq!(e.exp(0), i32::MAX);
    }
}
