//! Plans of the unary family (see [the module docs](super)) for the operators with quantized
//! constants: ABS, SQRT, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, EXP, LOG, RSQRT, HARD_SWISH,
//! GELU, LOGISTIC and TANH (lookup tables and fixed-point constants), and the checks every
//! elementwise unary node shares ([`unary_io`], [`same_dtype_io`]).
//!
//! - Quantized RELU-likes requantize `x - zp_in` with `s_in / s_out` and clamp to the
//!   activation's bounds quantized on the output scale ([`RequantizeParams`]); LEAKY_RELU
//!   requantizes with `s_in / s_out` above zero and `s_in * alpha / s_out` below
//!   ([`LeakyReluParams`]); quantized ABS and SQRT follow `elementwise.cc` ([`AbsParams`],
//!   [`SqrtParams`]).
//! - int8/uint8 EXP, LOG, LOGISTIC, TANH and GELU are 256-entry tables built in `f32`; int16
//!   EXP, LOG, GELU and RSQRT are interpolated 513-entry tables ([`UnaryLut`], built by
//!   LiteRT's `LUTPopulate`, [`qmath::lut`](crate::scalar::qmath::lut)).
//! - int8 RSQRT is a fixed-point inverse square root, requantized ([`RsqrtParams`]).
//! - int16 LOGISTIC and TANH rescale the input and interpolate LiteRT's 256-entry sigmoid table
//!   ([`SigmoidI16Params`]).
//! - HARD_SWISH int8/uint8 is LiteRT's 16-bit fixed-point evaluation ([`HardSwishParams`]).
//!
//! PRELU, whose alpha broadcasts against the input, requantizes with `s_in / s_out` above zero
//! and `s_in * s_alpha / s_out` times the offset alpha below ([`PreluPlan`]).
//!
//! NEG, SQUARE, LOGICAL_NOT and ZEROS_LIKE have no constants; CAST, QUANTIZE and DEQUANTIZE
//! are not planned here yet: their scalar kernels compute their constants themselves.

use crate::kernel::NodeCtx;
use crate::math;
use crate::prep::binary::Broadcast;
use crate::scalar::binary::elementwise::quant_in_range;
use crate::scalar::qmath::fixedpoint::inv_sqrt_quantized_multiplier_exp;
use crate::scalar::qmath::lut::{Lut16, lut8, lut16};
use crate::scalar::qmath::{
    checked_log2, downscale_multiplier, multiply_by_quantized_multiplier, quantize_multiplier,
    round_f32, rounding_divide_by_pot_i16_any, saturating_doubling_high_mul_i16,
    saturating_left_shift_i16, srdhm_i16,
};
use crate::{KernelError, TensorInfo, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, Op};

/// The single input and output of an elementwise unary node, checked to have the same shape.
pub fn unary_io<'a>(node: &NodeCtx<'a>) -> Result<(&'a TensorInfo, &'a TensorInfo), KernelError> {
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
    Ok((x, y))
}

/// [`unary_io`], also checking that the output has the input's element type.
pub fn same_dtype_io<'a>(
    node: &NodeCtx<'a>,
) -> Result<(&'a TensorInfo, &'a TensorInfo), KernelError> {
    let (x, y) = unary_io(node)?;
    same_dtype(x, y)?;
    Ok((x, y))
}

fn same_dtype(x: &TensorInfo, y: &TensorInfo) -> Result<(), KernelError> {
    ensure!(
        x.dtype == y.dtype,
        "output type {} differs from the input's {}",
        y.dtype,
        x.dtype
    );
    Ok(())
}

/// The error for a unary operator on an element type it does not take.
pub fn unsupported(node: &NodeCtx<'_>, dt: DType) -> KernelError {
    KernelError::unsupported(format!("{} on {dt} tensors", node.op.name()))
}

/// The operators [`plan`] prepares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    /// ABS.
    Abs,
    /// SQRT.
    Sqrt,
    /// RELU.
    Relu,
    /// RELU6.
    Relu6,
    /// RELU_N1_TO_1.
    ReluN1To1,
    /// PRELU (a second input, alpha, broadcast against the first).
    Prelu,
    /// LEAKY_RELU with its `alpha`.
    LeakyRelu {
        /// The slope below zero.
        alpha: f32,
    },
    /// EXP.
    Exp,
    /// LOG.
    Log,
    /// RSQRT.
    Rsqrt,
    /// HARD_SWISH.
    HardSwish,
    /// GELU, exact or with the tanh approximation.
    Gelu {
        /// The tanh approximation ([`gelu_approximate`]) rather than [`gelu_exact`].
        approximate: bool,
    },
    /// LOGISTIC.
    Logistic,
    /// TANH.
    Tanh,
}

/// A prepared unary node.
#[derive(Debug, Clone)]
pub struct UnaryPlan {
    /// The operator.
    pub op: UnaryOp,
    /// The element type of input and output.
    pub dtype: DType,
    /// Elements of the input (and output).
    pub len: usize,
    /// The constants.
    pub params: UnaryParams,
}

/// The constants of a [`UnaryPlan`], by arithmetic.
#[derive(Debug, Clone)]
pub enum UnaryParams {
    /// float32, or ABS of unquantized integers: LiteRT's plain function of the operator,
    /// nothing prepared.
    Plain,
    /// Quantized RELU, RELU6 and RELU_N1_TO_1.
    Requantize(RequantizeParams),
    /// Quantized LEAKY_RELU.
    LeakyRelu(LeakyReluParams),
    /// Quantized ABS.
    Abs(AbsParams),
    /// PRELU, float or quantized.
    Prelu(Box<PreluPlan>),
    /// Quantized SQRT (inputs below the zero point are refused at run time).
    Sqrt(SqrtParams),
    /// A lookup table (int16 RSQRT also refuses negative inputs at run time).
    Lut(UnaryLut),
    /// int8 RSQRT.
    Rsqrt(RsqrtParams),
    /// int8/uint8 HARD_SWISH.
    HardSwish(HardSwishParams),
    /// int16 LOGISTIC and TANH.
    SigmoidI16(SigmoidI16Params),
}

/// A lookup table of a quantized elementwise function, by element type: 8-bit tables are
/// indexed by the raw byte ([`Lut8Elem::slot`](crate::scalar::qmath::lut::Lut8Elem::slot)),
/// int16 tables are interpolated ([`lookup16`](crate::scalar::qmath::lut::lookup16)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnaryLut {
    /// int8 input and output.
    I8(Box<[i8; 256]>),
    /// uint8 input and output.
    U8(Box<[u8; 256]>),
    /// int16 input and output.
    I16(Box<Lut16>),
}

impl UnaryLut {
    /// The table of `f` from `x`'s quantization to `y`'s, for `x`'s element type (int8,
    /// uint8: LiteRT's `LUTPopulate`; int16: `LUTPopulateInt16` in `f32`).
    pub fn build(
        x: &TensorInfo,
        y: &TensorInfo,
        f: impl Fn(f32) -> f32,
    ) -> Result<Self, KernelError> {
        let (min, max) = match x.dtype {
            DType::Int8 => (-128, 127),
            DType::UInt8 => (0, 255),
            DType::Int16 => (-32768, 32767),
            dt => {
                return Err(KernelError::unsupported(format!(
                    "a lookup table on {dt} tensors"
                )));
            }
        };
        let (si, zi) = quant_in_range(x, min, max)?;
        let (so, zo) = quant_in_range(y, min, max)?;
        Ok(match x.dtype {
            DType::Int8 => Self::I8(Box::new(lut8(si, zi, so, zo, f))),
            DType::UInt8 => Self::U8(Box::new(lut8(si, zi, so, zo, f))),
            _ => Self::I16(Box::new(lut16::<f32>(si, zi, so, zo, f))),
        })
    }
}

/// Constants of quantized RELU, RELU6 and RELU_N1_TO_1 (LiteRT's `QuantizedReluX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequantizeParams {
    /// The input's zero point.
    pub input_zero_point: i32,
    /// Quantized `s_in / s_out`.
    pub output_multiplier: i32,
    /// Its shift.
    pub output_shift: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// The activation's lower bound on the output scale, within the type's range.
    pub act_min: i32,
    /// The activation's upper bound.
    pub act_max: i32,
}

impl RequantizeParams {
    /// One raw element: requantized, then clamped.
    #[inline]
    pub fn eval(&self, v: i32) -> i32 {
        let r = self
            .output_zero_point
            .wrapping_add(multiply_by_quantized_multiplier(
                v - self.input_zero_point,
                self.output_multiplier,
                self.output_shift,
            ));
        r.max(self.act_min).min(self.act_max)
    }
}

/// Constants of quantized LEAKY_RELU (LiteRT's `LeakyReluPrepare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakyReluParams {
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// Quantized `s_in / s_out`, for inputs at or above the zero point.
    pub identity_multiplier: i32,
    /// Its shift.
    pub identity_shift: i32,
    /// Quantized `|s_in * alpha / s_out|`, for inputs below the zero point.
    pub alpha_multiplier: i32,
    /// Its shift.
    pub alpha_shift: i32,
    /// `alpha` is negative: the scaled value is negated.
    pub alpha_negative: bool,
}

impl LeakyReluParams {
    /// One raw element, saturated to `qmin..=qmax`.
    #[inline]
    pub fn eval(&self, v: i32, qmin: i32, qmax: i32) -> i32 {
        let d = v - self.input_zero_point;
        let r = if d >= 0 {
            multiply_by_quantized_multiplier(d, self.identity_multiplier, self.identity_shift)
        } else {
            let scaled =
                multiply_by_quantized_multiplier(d, self.alpha_multiplier, self.alpha_shift);
            if self.alpha_negative {
                scaled.wrapping_neg()
            } else {
                scaled
            }
        };
        self.output_zero_point.wrapping_add(r).clamp(qmin, qmax)
    }
}

/// PRELU's broadcast of alpha against the input, and its quantized constants.
#[derive(Debug, Clone)]
pub struct PreluPlan {
    /// The walk of the output with the input's and alpha's indices.
    pub broadcast: Broadcast<2>,
    /// Alpha's element type (int8 for int16 inputs, the input's type otherwise).
    pub alpha_dtype: DType,
    /// `None` for float32.
    pub quant: Option<PreluParams>,
}

/// Constants of quantized PRELU (LiteRT's `PreluPrepare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreluParams {
    /// The input's zero point.
    pub input_zero_point: i32,
    /// Alpha's zero point.
    pub alpha_zero_point: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// Quantized `s_in / s_out`, for inputs at or above the zero point.
    pub identity_multiplier: i32,
    /// Its shift.
    pub identity_shift: i32,
    /// Quantized `s_in * s_alpha / s_out`, for inputs below the zero point (times the offset
    /// alpha).
    pub alpha_multiplier: i32,
    /// Its shift.
    pub alpha_shift: i32,
}

impl PreluParams {
    /// One raw element `v` with its raw alpha `a`, saturated to `qmin..=qmax`.
    #[inline]
    pub fn eval(&self, v: i32, a: i32, qmin: i32, qmax: i32) -> i32 {
        let d = v - self.input_zero_point;
        let r = if d >= 0 {
            multiply_by_quantized_multiplier(d, self.identity_multiplier, self.identity_shift)
        } else {
            multiply_by_quantized_multiplier(
                d.wrapping_mul(a - self.alpha_zero_point),
                self.alpha_multiplier,
                self.alpha_shift,
            )
        };
        r.wrapping_add(self.output_zero_point).clamp(qmin, qmax)
    }
}

fn prelu(node: &NodeCtx<'_>) -> Result<UnaryPlan, KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let x = node.input(0)?;
    let alpha = node.input(1)?;
    let y = node.output(0)?;
    same_dtype(x, y)?;
    ensure!(
        y.shape == x.shape,
        "PRELU output shape {:?} differs from the input's {:?}",
        y.shape,
        x.shape
    );
    let broadcast = Broadcast::new(&y.shape, [&x.shape, &alpha.shape])?;
    let range = |dt| match dt {
        DType::Int8 => (-128, 127),
        DType::UInt8 => (0, 255),
        _ => (-32768, 32767),
    };
    let quant = match (x.dtype, alpha.dtype) {
        (DType::Float32, DType::Float32) => None,
        // int16 activations take int8 alphas.
        (DType::Int8, DType::Int8) | (DType::UInt8, DType::UInt8) | (DType::Int16, DType::Int8) => {
            let (min, max) = range(x.dtype);
            let (amin, amax) = range(alpha.dtype);
            let (si, zi) = quant_in_range(x, min, max)?;
            let (sa, za) = quant_in_range(alpha, amin, amax)?;
            let (so, zo) = quant_in_range(y, min, max)?;
            let (identity_multiplier, identity_shift) = quantize_multiplier(f64::from(si / so))?;
            let (alpha_multiplier, alpha_shift) = quantize_multiplier(f64::from(si * sa / so))?;
            Some(PreluParams {
                input_zero_point: zi,
                alpha_zero_point: za,
                output_zero_point: zo,
                identity_multiplier,
                identity_shift,
                alpha_multiplier,
                alpha_shift,
            })
        }
        (dt, at) => {
            return Err(KernelError::unsupported(format!(
                "PRELU on {dt} with {at} alpha"
            )));
        }
    };
    Ok(UnaryPlan {
        op: UnaryOp::Prelu,
        dtype: x.dtype,
        len: x.num_elements(),
        params: UnaryParams::Prelu(Box::new(PreluPlan {
            broadcast,
            alpha_dtype: alpha.dtype,
            quant,
        })),
    })
}

/// Constants of quantized ABS (LiteRT's `elementwise.cc` `AbsEvalQuantized`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsParams {
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// Quantized `s_in / s_out` and its shift; `None` where the scales are equal (no
    /// requantization).
    pub rescale: Option<(i32, i32)>,
}

impl AbsParams {
    /// One raw element, saturated to `qmin..=qmax`.
    #[inline]
    pub fn eval(&self, v: i32, qmin: i32, qmax: i32) -> i32 {
        let a = (v - self.input_zero_point).abs();
        let r = match self.rescale {
            Some((m, s)) => multiply_by_quantized_multiplier(a, m, s),
            None => a,
        };
        (r + self.output_zero_point).clamp(qmin, qmax)
    }
}

/// Constants of quantized SQRT: dequantize, take the float square root, truncate (not round)
/// back (LiteRT's `elementwise.cc` `SqrtEvalQuantized`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SqrtParams {
    /// The input's scale.
    pub input_scale: f32,
    /// The input's zero point; inputs below it are refused at run time.
    pub input_zero_point: i32,
    /// The output's scale.
    pub output_scale: f32,
    /// The output's zero point.
    pub output_zero_point: i32,
}

impl SqrtParams {
    /// One raw element (at least the input zero point), saturated to `qmin..=qmax`.
    #[inline]
    pub fn eval(&self, v: i32, qmin: i32, qmax: i32) -> i32 {
        let real = self.input_scale * (v - self.input_zero_point) as f32;
        let q = (math::sqrtf(real) / self.output_scale) as i32;
        q.saturating_add(self.output_zero_point).clamp(qmin, qmax)
    }
}

/// Constants of int8 RSQRT (LiteRT's `elementwise.cc` `RsqrtEvalQuantized`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsqrtParams {
    /// The input's zero point; inputs below it are refused at run time.
    pub input_zero_point: i32,
    /// Quantized `1 / (sqrt(s_in) * s_out)`.
    pub output_multiplier: i32,
    /// Its shift.
    pub output_shift: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
}

impl RsqrtParams {
    /// Fixed-point bits that keep the intermediate inverse square root integral.
    pub const SHIFT: i32 = 20;

    /// One element (at least the input zero point).
    #[inline]
    pub fn eval(&self, v: i8) -> i8 {
        let value = i32::from(v) - self.input_zero_point;
        if value == 0 {
            return i8::MAX;
        }
        let (inv_m, inv_s) = inv_sqrt_quantized_multiplier_exp(value, -1);
        let data = multiply_by_quantized_multiplier(1, inv_m, inv_s + Self::SHIFT);
        multiply_by_quantized_multiplier(
            data,
            self.output_multiplier,
            self.output_shift - Self::SHIFT,
        )
        .saturating_add(self.output_zero_point)
        .clamp(-128, 127) as i8
    }
}

/// Constants of LiteRT's quantized HARD_SWISH (`HardSwishParams` of `activations.cc`): 16-bit
/// fixed-point multipliers onto the output scale and onto the "relu-ish" scale where 3.0 is
/// 32768.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardSwishParams {
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// Q15 multiplier from the high-resolution input scale (`s_in / 128`) to the output's.
    pub output_multiplier: i16,
    /// Its exponent (at most 0).
    pub output_exponent: i32,
    /// Q15 multiplier from the high-resolution input scale to the "relu-ish" scale.
    pub reluish_multiplier: i16,
    /// Its exponent.
    pub reluish_exponent: i32,
}

impl HardSwishParams {
    /// The constants for the input's and output's scales and zero points.
    pub fn new(si: f32, zi: i32, so: f32, zo: i32) -> Result<Self, KernelError> {
        let hires_input_scale = (1.0f32 / 128.0) * si;
        let reluish_scale = 3.0f32 / 32768.0;
        let (om, oe) = quantize_multiplier(f64::from(hires_input_scale / so))?;
        ensure!(
            oe <= 0,
            "HARD_SWISH output multiplier {} is too large (input scale {si}, output scale {so})",
            hires_input_scale / so
        );
        let (rm, re) = quantize_multiplier(f64::from(hires_input_scale / reluish_scale))?;
        Ok(Self {
            input_zero_point: zi,
            output_zero_point: zo,
            output_multiplier: downscale_multiplier(om),
            output_exponent: oe,
            reluish_multiplier: downscale_multiplier(rm),
            reluish_exponent: re,
        })
    }

    /// One element, in LiteRT's int16 steps (intermediate values wrap to 16 bits as there),
    /// clamped to `qmin..=qmax` (LiteRT's `reference_ops::HardSwish`).
    #[inline]
    pub fn eval(&self, v: i32, qmin: i32, qmax: i32) -> i32 {
        let input_value = (v - self.input_zero_point) as i16;
        let hires = (i32::from(input_value) * (1 << 7)) as i16;
        let preshift_output = srdhm_i16(hires, self.output_multiplier);
        let mut reluish = hires;
        if self.reluish_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, self.reluish_exponent - 1);
        }
        reluish = srdhm_i16(reluish, self.reluish_multiplier);
        if self.reluish_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, 1);
        }
        if self.reluish_exponent < 0 {
            reluish = rounding_divide_by_pot_i16_any(reluish, -self.reluish_exponent);
        }
        // From [-1, 1] to [0, 1].
        reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let preshift_value = saturating_doubling_high_mul_i16(reluish, preshift_output);
        let mut out = rounding_divide_by_pot_i16_any(preshift_value, -self.output_exponent);
        out = (i32::from(out) + self.output_zero_point) as i16;
        i32::from(out).clamp(qmin, qmax)
    }
}

/// `sqrt(2 / pi)` rounded to `f32` from its `double` value, as LiteRT's constant is.
pub const SQRT_2_OVER_PI: f32 =
    (core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2) as f32;

/// LiteRT's `GeluTransform`: `x/2 * erfc(-x/sqrt(2))`, which avoids cancellation for large
/// negative `x`.
pub fn gelu_exact(x: f32) -> f32 {
    0.5 * x * libm::erfcf(x * -(core::f64::consts::FRAC_1_SQRT_2 as f32))
}

/// LiteRT's `GeluTransformApproximate`: the tanh approximation.
pub fn gelu_approximate(x: f32) -> f32 {
    0.5 * x * (1.0 + math::tanhf(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
}

/// LiteRT's float logistic: exact `1 / (1 + e^-x)` between cut-offs, `e^x` far below, 1 far
/// above.
pub fn logistic_f32(x: f32) -> f32 {
    const CUTOFF_UPPER: f32 = 16.619_047;
    const CUTOFF_LOWER: f32 = -9.0;
    if x > CUTOFF_UPPER {
        1.0
    } else if x < CUTOFF_LOWER {
        math::expf(x)
    } else {
        1.0 / (1.0 + math::expf(-x))
    }
}

/// The logistic function LiteRT's 8-bit tables are built from (no cut-offs).
pub fn logistic_lut(x: f32) -> f32 {
    1.0 / (1.0 + math::expf(-x))
}

/// `sigmoid(i / 24)` in Q0.16 for `i` in `0..256`: the table LiteRT's int16 LOGISTIC and TANH
/// interpolate (tanh uses `tanh(x) = 2 * sigmoid(2x) - 1`). These exact values define the
/// kernels' results; they are LiteRT's own entries, which no simple rounding rule reproduces.
#[rustfmt::skip]
pub const SIGMOID_TABLE: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498,
    40149, 40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255,
    46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865,
    52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174,
    56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288,
    59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441,
    61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886,
    62990, 63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835,
    63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450,
    64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845,
    64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097,
    65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465,
    65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508,
    65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517, 65517, 65518,
    65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525,
    65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529,
    65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531,
    65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533,
    65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65535,
];

/// Constants of int16 LOGISTIC and TANH (LiteRT's `SigmoidPrepare`/`TanhPrepare` for int16):
/// the input is rescaled so that 2^9 (logistic) or 2^8 (tanh) steps span 1/24 of
/// [`SIGMOID_TABLE`]'s argument, then the table is interpolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigmoidI16Params {
    /// TANH rather than LOGISTIC.
    pub tanh: bool,
    /// The input multiplier (`input_multiplier`).
    pub multiplier: i32,
    /// The rounding right shift applied after it (`input_left_shift`).
    pub left_shift: i32,
}

impl SigmoidI16Params {
    /// The constants for the input's and output's scales (zero points must be 0, the output
    /// scale 2^-15).
    pub fn new(tanh: bool, si: f32, so: f32) -> Result<Self, KernelError> {
        let (out_pot, out_log2) = checked_log2(so);
        ensure!(
            out_pot && out_log2 == -15,
            "int16 LOGISTIC/TANH need an output scale of 2^-15, got {so}"
        );
        const INPUT_INTEGER_BITS: i32 = 3;
        let (in_pot, in_log2) = checked_log2(si);
        let mut left_shift = (15 - INPUT_INTEGER_BITS) + in_log2;
        let pot = in_pot && (left_shift == 0 || (tanh && left_shift == 1));
        let mut multiplier = 0i32;
        if !pot {
            // Rescale the input so that +-2^17 stands for +-10.7 (3 * 4096 per unit).
            let mut m = f64::from(si) * 4096.0 * 3.0;
            left_shift = 0;
            while m <= 32767.0 / 2.0 && left_shift <= 30 {
                left_shift += 1;
                m *= 2.0;
            }
            multiplier = m as i32;
        }
        if multiplier == 0 {
            // Power-of-two input scale: only the factor 3 remains.
            multiplier = 3i32.wrapping_shl(left_shift as u32);
            left_shift = 0;
        }
        Ok(Self {
            tanh,
            multiplier,
            left_shift,
        })
    }

    /// One element (LiteRT's `reference_integer_ops::Logistic`/`Tanh` on int16).
    #[inline]
    pub fn eval(&self, v: i16) -> i16 {
        let (multiplier, left_shift, tanh) = (self.multiplier, self.left_shift, self.tanh);
        let round = if left_shift > 0 {
            1i64 << (left_shift - 1)
        } else {
            0
        };
        let input = ((i64::from(v) * i64::from(multiplier) + round) >> left_shift) as i32;
        let abs = input.unsigned_abs();
        if tanh {
            let uh = abs >> 8;
            let mut result: i32 = if uh >= 255 {
                0xFFFF << 8
            } else {
                let ua = u32::from(SIGMOID_TABLE[uh as usize]);
                let ub = u32::from(SIGMOID_TABLE[uh as usize + 1]);
                let ut = abs & 0xFF;
                ((ua << 8) + ut * (ub - ua)) as i32
            };
            result = if input >= 0 {
                result - (1 << (14 + 9)) + (1 << (9 - 2))
            } else {
                -result + (1 << (14 + 9)) + (1 << (9 - 2)) - 1
            };
            (result >> (9 - 1)) as i16
        } else {
            let uh = abs >> 9;
            let mut result: u32 = if uh >= 255 {
                0x7FFF << 10
            } else {
                let ua = u32::from(SIGMOID_TABLE[uh as usize]);
                let ub = u32::from(SIGMOID_TABLE[uh as usize + 1]);
                let ut = abs & 0x1FF;
                (ua << 9) + ut * (ub - ua)
            };
            result = if input >= 0 {
                result + (1 << 9)
            } else {
                (1 << (16 + 9)) - result + (1 << 9) - 1
            };
            (result >> 10) as i16
        }
    }
}

/// Prepares an EXP, LOG, RSQRT, HARD_SWISH, GELU, LOGISTIC or TANH node, or answers
/// `Ok(None)` for another operator.
pub fn plan(node: &NodeCtx<'_>) -> Result<Option<UnaryPlan>, KernelError> {
    let op = match node.op {
        Op::Abs => UnaryOp::Abs,
        Op::Sqrt => UnaryOp::Sqrt,
        Op::Relu => UnaryOp::Relu,
        Op::Relu6 => UnaryOp::Relu6,
        Op::ReluN1To1 => UnaryOp::ReluN1To1,
        Op::LeakyRelu(a) => UnaryOp::LeakyRelu { alpha: a.alpha },
        Op::Prelu => return prelu(node).map(Some),
        Op::Exp => UnaryOp::Exp,
        Op::Log => UnaryOp::Log,
        Op::Rsqrt => UnaryOp::Rsqrt,
        Op::HardSwish => UnaryOp::HardSwish,
        Op::Gelu(a) => UnaryOp::Gelu {
            approximate: a.approximate,
        },
        Op::Logistic => UnaryOp::Logistic,
        Op::Tanh => UnaryOp::Tanh,
        _ => return Ok(None),
    };
    let (x, y) = same_dtype_io(node)?;
    let dt = x.dtype;
    let zero_points_0 = |what: &str| -> Result<(), KernelError> {
        let (_, zi) = quant_in_range(x, -32768, 32767)?;
        let (_, zo) = quant_in_range(y, -32768, 32767)?;
        ensure!(zi == 0 && zo == 0, "int16 {what} needs zero points of 0");
        Ok(())
    };
    let lut = |f: &dyn Fn(f32) -> f32| UnaryLut::build(x, y, f).map(UnaryParams::Lut);
    let q8 = |dt| match dt {
        DType::Int8 => (-128, 127),
        DType::UInt8 => (0, 255),
        _ => (-32768, 32767),
    };
    let params = match (op, dt) {
        (_, DType::Float32) => UnaryParams::Plain,
        (UnaryOp::Abs, DType::Int8) | (UnaryOp::Abs, DType::Int16)
            if x.quant.is_some() || dt == DType::Int8 =>
        {
            let (min, max) = q8(dt);
            let (si, zi) = quant_in_range(x, min, max)?;
            let (so, zo) = quant_in_range(y, min, max)?;
            if dt == DType::Int16 {
                ensure!(zi == 0 && zo == 0, "int16 ABS needs zero points of 0");
            }
            let rescale = if si == so {
                None
            } else {
                Some(quantize_multiplier(f64::from(si / so))?)
            };
            UnaryParams::Abs(AbsParams {
                input_zero_point: zi,
                output_zero_point: zo,
                rescale,
            })
        }
        // Unquantized integers wrap like LiteRT (abs(-32768) stays -32768).
        (UnaryOp::Abs, DType::Int16 | DType::Int32 | DType::Int64) => UnaryParams::Plain,
        (UnaryOp::Sqrt, DType::Int8 | DType::Int16) => {
            let (min, max) = q8(dt);
            let (input_scale, input_zero_point) = quant_in_range(x, min, max)?;
            let (output_scale, output_zero_point) = quant_in_range(y, min, max)?;
            UnaryParams::Sqrt(SqrtParams {
                input_scale,
                input_zero_point,
                output_scale,
                output_zero_point,
            })
        }
        (
            UnaryOp::Relu | UnaryOp::Relu6 | UnaryOp::ReluN1To1,
            DType::Int8 | DType::UInt8 | DType::Int16,
        ) => {
            let (min, max) = q8(dt);
            if dt == DType::Int16 {
                zero_points_0(&node.op.name())?;
            }
            let (si, zi) = quant_in_range(x, min, max)?;
            let (so, zo) = quant_in_range(y, min, max)?;
            let (output_multiplier, output_shift) = quantize_multiplier(f64::from(si / so))?;
            let bound = |f: f32| zo.saturating_add(round_f32(f / so) as i32);
            let (act_min, act_max) = match op {
                UnaryOp::Relu => (min.max(bound(0.0)), max),
                UnaryOp::Relu6 => (min.max(bound(0.0)), max.min(bound(6.0))),
                _ => (min.max(bound(-1.0)), max.min(bound(1.0))),
            };
            UnaryParams::Requantize(RequantizeParams {
                input_zero_point: zi,
                output_multiplier,
                output_shift,
                output_zero_point: zo,
                act_min,
                act_max,
            })
        }
        (UnaryOp::LeakyRelu { alpha }, DType::Int8 | DType::UInt8 | DType::Int16) => {
            let (min, max) = q8(dt);
            if dt == DType::Int16 {
                zero_points_0("LEAKY_RELU")?;
            }
            let (si, zi) = quant_in_range(x, min, max)?;
            let (so, zo) = quant_in_range(y, min, max)?;
            let (alpha_multiplier, alpha_shift) = quantize_multiplier(f64::from(si * alpha / so))?;
            let (identity_multiplier, identity_shift) = quantize_multiplier(f64::from(si / so))?;
            // A negative alpha is applied as a positive multiplier and a negation.
            UnaryParams::LeakyRelu(LeakyReluParams {
                input_zero_point: zi,
                output_zero_point: zo,
                identity_multiplier,
                identity_shift,
                alpha_multiplier: alpha_multiplier.wrapping_abs(),
                alpha_shift,
                alpha_negative: alpha_multiplier < 0,
            })
        }
        (UnaryOp::Exp, DType::Int8 | DType::UInt8) => lut(&math::expf)?,
        (UnaryOp::Exp, DType::Int16) => {
            zero_points_0(&node.op.name())?;
            lut(&math::expf)?
        }
        (UnaryOp::Log, DType::Int8 | DType::Int16) => {
            // Non-positive inputs map to the lowest output value.
            let (so, zo) = y.require_per_tensor_quant()?;
            let qmin = if dt == DType::Int8 { -128 } else { -32768 };
            let lo = (qmin - zo) as f32 * so;
            if dt == DType::Int16 {
                zero_points_0("LOG")?;
            }
            lut(&move |v| if v <= 0.0 { lo } else { math::logf(v) })?
        }
        (UnaryOp::Rsqrt, DType::Int8) => {
            let (si, zi) = quant_in_range(x, -128, 127)?;
            let (so, zo) = quant_in_range(y, -128, 127)?;
            let (output_multiplier, output_shift) =
                quantize_multiplier(1.0 / f64::from(math::sqrtf(si) * so))?;
            UnaryParams::Rsqrt(RsqrtParams {
                input_zero_point: zi,
                output_multiplier,
                output_shift,
                output_zero_point: zo,
            })
        }
        (UnaryOp::Rsqrt, DType::Int16) => {
            zero_points_0("RSQRT")?;
            let (so, _) = quant_in_range(y, -32768, 32767)?;
            let big = 32767.0 * so;
            lut(&move |v| if v <= 0.0 { big } else { 1.0 / math::sqrtf(v) })?
        }
        (UnaryOp::HardSwish, DType::Int8 | DType::UInt8) => {
            let (min, max) = if dt == DType::Int8 {
                (-128, 127)
            } else {
                (0, 255)
            };
            let (si, zi) = quant_in_range(x, min, max)?;
            let (so, zo) = quant_in_range(y, min, max)?;
            UnaryParams::HardSwish(HardSwishParams::new(si, zi, so, zo)?)
        }
        (UnaryOp::Gelu { approximate }, DType::Int8 | DType::UInt8 | DType::Int16) => {
            if approximate {
                lut(&gelu_approximate)?
            } else {
                lut(&gelu_exact)?
            }
        }
        (UnaryOp::Logistic, DType::Int8 | DType::UInt8) => {
            let out_scale_is = |want: f32| y.per_tensor_quant().is_some_and(|(s, _)| s == want);
            ensure!(
                out_scale_is(1.0 / 256.0),
                "quantized LOGISTIC needs an output scale of 1/256, got {:?}",
                y.per_tensor_quant()
            );
            lut(&logistic_lut)?
        }
        (UnaryOp::Tanh, DType::Int8 | DType::UInt8) => lut(&math::tanhf)?,
        (UnaryOp::Logistic | UnaryOp::Tanh, DType::Int16) => {
            let (si, zi) = quant_in_range(x, -32768, 32767)?;
            let (so, zo) = quant_in_range(y, -32768, 32767)?;
            ensure!(
                zi == 0 && zo == 0,
                "int16 LOGISTIC/TANH need zero points of 0"
            );
            UnaryParams::SigmoidI16(SigmoidI16Params::new(op == UnaryOp::Tanh, si, so)?)
        }
        _ => return Err(unsupported(node, dt)),
    };
    Ok(Some(UnaryPlan {
        op,
        dtype: dt,
        len: x.num_elements(),
        params,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prep::binary::tests::with_node;

    fn q(dt: DType, scale: f32, zp: i64) -> TensorInfo {
        TensorInfo::new("t", dt, alloc::vec![4]).with_quant(scale, zp)
    }

    fn plan_of(op: Op<'_>, x: TensorInfo, y: TensorInfo) -> Result<UnaryPlan, KernelError> {
        with_node(&op, &[x], &[y], |node| plan(node).map(Option::unwrap))
    }

    #[test]
    fn int16_sigmoid_constants_by_hand() {
        // A power-of-two input scale 2^-12 (Q3.12) needs no rescaling: only the factor 3.
        let p = plan_of(
            Op::Logistic,
            q(DType::Int16, 1.0 / 4096.0, 0),
            q(DType::Int16, 1.0 / 32768.0, 0),
        )
        .unwrap();
        let UnaryParams::SigmoidI16(s) = p.params else {
            panic!("{:?}", p.params)
        };
        assert_eq!((s.tanh, s.multiplier, s.left_shift), (false, 3, 0));
        // Scale 0.001: 0.001 * 4096 * 3 = 12.288, doubled while at most 16383.5: 11 times.
        let p = plan_of(
            Op::Tanh,
            q(DType::Int16, 0.001, 0),
            q(DType::Int16, 1.0 / 32768.0, 0),
        )
        .unwrap();
        let UnaryParams::SigmoidI16(s) = p.params else {
            panic!("{:?}", p.params)
        };
        assert_eq!((s.tanh, s.multiplier, s.left_shift), (true, 25165, 11));
        // The output scale must be 2^-15.
        assert!(
            plan_of(
                Op::Tanh,
                q(DType::Int16, 0.001, 0),
                q(DType::Int16, 1.0 / 4096.0, 0),
            )
            .is_err()
        );
    }

    #[test]
    fn int8_rsqrt_and_tables() {
        let p = plan_of(Op::Rsqrt, q(DType::Int8, 0.25, -3), q(DType::Int8, 0.5, 7)).unwrap();
        // 1 / (sqrt(0.25) * 0.5) = 4 = 0.5 * 2^3.
        assert_eq!(
            p.params_rsqrt(),
            Some(RsqrtParams {
                input_zero_point: -3,
                output_multiplier: 1 << 30,
                output_shift: 3,
                output_zero_point: 7,
            })
        );
        // 1 / sqrt(4 * 0.25) = 1 -> 2 + 7.
        assert_eq!(p.params_rsqrt().unwrap().eval(1), 9);
        // EXP on int8 is a table indexed by the raw byte: exp(0) = 1 -> 1 / 0.5 + 7.
        let p = plan_of(Op::Exp, q(DType::Int8, 0.25, -3), q(DType::Int8, 0.5, 7)).unwrap();
        let UnaryParams::Lut(UnaryLut::I8(t)) = p.params else {
            panic!("{:?}", p.params)
        };
        assert_eq!(t[usize::from(-3i8 as u8)], 9);
        // Unquantized or unsupported types are refused.
        assert!(plan_of(Op::Exp, q(DType::Int32, 1.0, 0), q(DType::Int32, 1.0, 0)).is_err());
    }

    impl UnaryPlan {
        fn params_rsqrt(&self) -> Option<RsqrtParams> {
            match self.params {
                UnaryParams::Rsqrt(p) => Some(p),
                _ => None,
            }
        }
    }
}
