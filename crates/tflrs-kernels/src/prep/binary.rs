//! Plans of the binary family (see [the module docs](super)): ADD, SUB, MUL, DIV,
//! SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, POW, the six comparisons, LOGICAL_AND and LOGICAL_OR.
//!
//! [`plan`] validates a node (arity, types, broadcastable shapes, quantization) and computes
//! every constant LiteRT's `Prepare` computes, in the same float types, so that an executor
//! only applies the per-element functions given here ([`RescaleParams::add`],
//! [`MulDivParams::mul`], ...). Those functions are the reference a vector kernel is tested
//! against; the walk over the output is the [`Broadcast`]'s runs.
//!
//! Quantized arithmetic follows LiteRT's reference kernels (`add.cc`, `sub.cc`, `mul.cc`,
//! `div.cc`, `squared_difference.cc`, `comparisons.cc` and their `reference/` headers):
//! - ADD/SUB rescale both inputs to a common scale of twice the larger input scale, shifted
//!   left by 20 bits (int8/uint8) or 15 bits (int16), add or subtract, and requantize. The
//!   multipliers are computed in `double` from the `float` scales ([`RescaleParams::new`]).
//! - int16 ADD/SUB with `pot_scale_int16` and power-of-two scales use LiteRT's shift-only path
//!   ([`PotAddSubParams`]).
//! - MUL requantizes the product of the offset inputs with `s1 * s2 / s_out`, computed in
//!   `float` as LiteRT does; DIV multiplies by a fixed-point reciprocal of the divisor with
//!   `s1 / (s2 * s_out)`, also in `float` ([`MulDivParams`]).
//! - SQUARED_DIFFERENCE rescales like ADD with a 7-bit shift and squares.
//! - MAXIMUM and MINIMUM compare raw values (the converter gives inputs and output one scale).
//! - Quantized comparisons bring both inputs to a common real scale (offset, shifted left by 8
//!   bits, multiplied by their own scale) and compare the results ([`CompareParams`]).

pub use crate::scalar::binary::broadcast::{Broadcast, MAX_DIMS, broadcast_shape};

use crate::kernel::NodeCtx;
use crate::scalar::binary::elementwise::quant_in_range;
use crate::scalar::qmath::fixedpoint::{count_leading_sign_bits, get_reciprocal};
use crate::scalar::qmath::{
    activation_range_f32, activation_range_quantized, checked_log2,
    multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot_i16,
    rounding_divide_by_pot_x86, srdhm, srdhm_i16,
};
use crate::{KernelError, TensorInfo, ensure};
use alloc::format;
use tflrs_ir::{Activation, DType, Op};

/// The operator of a [`BinaryPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// ADD.
    Add,
    /// SUB.
    Sub,
    /// MUL.
    Mul,
    /// DIV.
    Div,
    /// SQUARED_DIFFERENCE.
    SquaredDifference,
    /// MAXIMUM.
    Maximum,
    /// MINIMUM.
    Minimum,
    /// POW.
    Pow,
    /// EQUAL.
    Equal,
    /// NOT_EQUAL.
    NotEqual,
    /// LESS.
    Less,
    /// LESS_EQUAL.
    LessEqual,
    /// GREATER.
    Greater,
    /// GREATER_EQUAL.
    GreaterEqual,
    /// LOGICAL_AND.
    LogicalAnd,
    /// LOGICAL_OR.
    LogicalOr,
}

impl BinaryOp {
    /// The operator of `op` with its fused activation and `pot_scale_int16` flag, or `None`
    /// for an operator outside the family.
    pub fn of(op: &Op<'_>) -> Option<(Self, Activation, bool)> {
        let none = Activation::None;
        Some(match op {
            Op::Add(a) => (Self::Add, a.fused_activation_function, a.pot_scale_int16),
            Op::Sub(a) => (Self::Sub, a.fused_activation_function, a.pot_scale_int16),
            Op::Mul(a) => (Self::Mul, a.fused_activation_function, false),
            Op::Div(a) => (Self::Div, a.fused_activation_function, false),
            Op::SquaredDifference => (Self::SquaredDifference, none, false),
            Op::Maximum => (Self::Maximum, none, false),
            Op::Minimum => (Self::Minimum, none, false),
            Op::Pow => (Self::Pow, none, false),
            Op::Equal => (Self::Equal, none, false),
            Op::NotEqual => (Self::NotEqual, none, false),
            Op::Less => (Self::Less, none, false),
            Op::LessEqual => (Self::LessEqual, none, false),
            Op::Greater => (Self::Greater, none, false),
            Op::GreaterEqual => (Self::GreaterEqual, none, false),
            Op::LogicalAnd => (Self::LogicalAnd, none, false),
            Op::LogicalOr => (Self::LogicalOr, none, false),
            _ => return None,
        })
    }

    /// Whether this is one of the six comparisons (a bool output).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::Equal
                | Self::NotEqual
                | Self::Less
                | Self::LessEqual
                | Self::Greater
                | Self::GreaterEqual
        )
    }

    /// Applies a comparison; `false` for the operators that are not comparisons.
    #[inline]
    pub fn compare<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Self::Equal => a == b,
            Self::NotEqual => a != b,
            Self::Less => a < b,
            Self::LessEqual => a <= b,
            Self::Greater => a > b,
            Self::GreaterEqual => a >= b,
            _ => false,
        }
    }
}

/// A prepared binary node.
#[derive(Debug, Clone)]
pub struct BinaryPlan {
    /// The operator.
    pub op: BinaryOp,
    /// The inputs' element type (both inputs have it).
    pub dtype: DType,
    /// The output's element type: `dtype`, bool for comparisons, int8 for
    /// [`BinaryParams::MulI16ToI8`].
    pub out_dtype: DType,
    /// The fused activation (already folded into the clamp ranges of the parameters; kept for
    /// plain integer arithmetic, whose range depends on the element type).
    pub activation: Activation,
    /// The walk of the output with the inputs' indices.
    pub broadcast: Broadcast<2>,
    /// What the per-element function needs.
    pub params: BinaryParams,
}

/// The constants of a [`BinaryPlan`], by arithmetic.
#[derive(Debug, Clone, Copy)]
pub enum BinaryParams {
    /// Float arithmetic, clamped to the fused activation's range (LiteRT's
    /// `CalculateActivationRange`).
    Float {
        /// Lower clamp bound.
        act_min: f32,
        /// Upper clamp bound.
        act_max: f32,
    },
    /// Plain integer arithmetic (int16 without quantization, int32, int64), wrapping on
    /// overflow, clamped to [`BinaryPlan::activation`]'s range of the element type.
    Int,
    /// No constants: comparisons of unquantized values, MAXIMUM and MINIMUM (which compare
    /// raw values, quantized or not), LOGICAL_AND and LOGICAL_OR.
    Raw,
    /// Quantized ADD, SUB and SQUARED_DIFFERENCE.
    Rescale(RescaleParams),
    /// int16 ADD and SUB with power-of-two scales (`pot_scale_int16`).
    PotAddSub(PotAddSubParams),
    /// Quantized MUL and DIV.
    MulDiv(MulDivParams),
    /// MUL of two int16 tensors into int8 (LiteRT's LSTM helper kernel).
    MulI16ToI8(MulI16ToI8Params),
    /// Quantized comparisons.
    Compare(CompareParams),
}

/// Constants of quantized ADD/SUB/SQUARED_DIFFERENCE (LiteRT's `ArithmeticParams` as
/// `PrepareGeneralSubOp`/`PrepareInt8AddOp` fill them): each input is offset, shifted left
/// and rescaled to a common scale of `twice_max`; the result is requantized to the output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RescaleParams {
    /// Headroom bits the offset inputs are shifted left by: 20 (int8/uint8 ADD/SUB), 15
    /// (int16 ADD/SUB), 7 (SQUARED_DIFFERENCE).
    pub left_shift: i32,
    /// Twice the larger input scale, the common scale (in `double`, from the `float` scales).
    pub twice_max: f64,
    /// The first input onto the common scale: `s1 / twice_max`.
    pub input1: InputScale,
    /// The second input onto the common scale: `s2 / twice_max`.
    pub input2: InputScale,
    /// Quantized `twice_max / (2^left_shift * s_out)` (ADD/SUB) or
    /// `twice_max^2 / (2^(2 left_shift) * s_out)` (SQUARED_DIFFERENCE).
    pub output_multiplier: i32,
    /// Its shift.
    pub output_shift: i32,
    /// The output's zero point.
    pub output_offset: i32,
    /// Lower clamp bound of the output (fused activation within the type's range).
    pub act_min: i32,
    /// Upper clamp bound of the output.
    pub act_max: i32,
}

impl RescaleParams {
    /// The constants of quantized ADD/SUB with `left_shift` bits of headroom, from the inputs'
    /// and output's `(scale, zero_point)` and the output clamp range `act`.
    pub fn new(
        left_shift: i32,
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        act: (i32, i32),
    ) -> Result<Self, KernelError> {
        Self::with_output(left_shift, input1, input2, output, act, |twice_max, so| {
            twice_max / (f64::from(1u32 << left_shift) * so)
        })
    }

    /// The constants of quantized SQUARED_DIFFERENCE (7 bits of headroom; the output is
    /// clamped to the type's range `act`, there is no fused activation).
    pub fn squared_difference(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        act: (i32, i32),
    ) -> Result<Self, KernelError> {
        let left_shift = 7;
        Self::with_output(left_shift, input1, input2, output, act, |twice_max, so| {
            twice_max * twice_max / (f64::from(1u32 << (2 * left_shift)) * so)
        })
    }

    /// The constants, with the real output multiplier `out(twice_max, s_out)`.
    fn with_output(
        left_shift: i32,
        (s1, z1): (f32, i32),
        (s2, z2): (f32, i32),
        (so, zo): (f32, i32),
        (act_min, act_max): (i32, i32),
        out: impl Fn(f64, f64) -> f64,
    ) -> Result<Self, KernelError> {
        let twice_max = 2.0 * f64::from(s1.max(s2));
        let out_multiplier = out(twice_max, f64::from(so));
        let (output_multiplier, output_shift) = quantize_multiplier(out_multiplier)?;
        Ok(Self {
            left_shift,
            twice_max,
            input1: InputScale::new(z1, f64::from(s1) / twice_max)?,
            input2: InputScale::new(z2, f64::from(s2) / twice_max)?,
            output_multiplier,
            output_shift,
            output_offset: zo,
            act_min,
            act_max,
        })
    }

    /// Both raw inputs on the common scale (the first half of LiteRT's `AddElementwise`).
    #[inline]
    pub fn scaled_inputs(&self, a: i32, b: i32) -> (i32, i32) {
        (
            self.input1.apply(a, self.left_shift),
            self.input2.apply(b, self.left_shift),
        )
    }

    /// A raw result on the common scale requantized to the output and clamped.
    #[inline]
    pub fn finish(&self, raw: i32) -> i32 {
        let out = multiply_by_quantized_multiplier(raw, self.output_multiplier, self.output_shift)
            .wrapping_add(self.output_offset);
        out.clamp(self.act_min, self.act_max)
    }

    /// Quantized ADD of two raw values (LiteRT's `reference_integer_ops::AddElementwise`).
    #[inline]
    pub fn add(&self, a: i32, b: i32) -> i32 {
        let (u, v) = self.scaled_inputs(a, b);
        self.finish(u.wrapping_add(v))
    }

    /// Quantized SUB of two raw values (LiteRT's `reference_ops::SubElementwise`).
    #[inline]
    pub fn sub(&self, a: i32, b: i32) -> i32 {
        let (u, v) = self.scaled_inputs(a, b);
        self.finish(u.wrapping_sub(v))
    }

    /// Quantized SQUARED_DIFFERENCE of two raw values (LiteRT's
    /// `squared_difference::EvalQuantizedSquaredDifference`).
    #[inline]
    pub fn squared_difference_of(&self, a: i32, b: i32) -> i32 {
        let (u, v) = self.scaled_inputs(a, b);
        let d = u.wrapping_sub(v);
        self.finish(d.wrapping_mul(d))
    }
}

/// int16 ADD/SUB with power-of-two scales (LiteRT's `AddElementwiseInt16` shift path): one
/// input is rounded down to the other's scale by a shift, then the raw values are added or
/// subtracted and clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PotAddSubParams {
    /// Right shift of the first input (`log2(s_out) - log2(s1)`), in `0..=31`.
    pub input1_shift: i32,
    /// Right shift of the second input, in `0..=31`; one of the two shifts is 0.
    pub input2_shift: i32,
    /// Lower clamp bound.
    pub act_min: i32,
    /// Upper clamp bound.
    pub act_max: i32,
}

impl PotAddSubParams {
    /// `a + b` on raw int16 values.
    #[inline]
    pub fn add(&self, a: i16, b: i16) -> i16 {
        let (u, v) = self.scaled(a, b);
        (u + v).clamp(self.act_min, self.act_max) as i16
    }

    /// `a - b` on raw int16 values.
    #[inline]
    pub fn sub(&self, a: i16, b: i16) -> i16 {
        let (u, v) = self.scaled(a, b);
        (u - v).clamp(self.act_min, self.act_max) as i16
    }

    #[inline]
    fn scaled(&self, a: i16, b: i16) -> (i32, i32) {
        (
            i32::from(rounding_divide_by_pot_i16(a, self.input1_shift)),
            i32::from(rounding_divide_by_pot_i16(b, self.input2_shift)),
        )
    }
}

/// Constants of quantized MUL and DIV (LiteRT's `ArithmeticParams` of `mul.cc`/`div.cc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulDivParams {
    /// Minus the first input's zero point.
    pub input1_offset: i32,
    /// Minus the second input's zero point (a DIV divisor equal to the zero point is refused
    /// at run time, as LiteRT does).
    pub input2_offset: i32,
    /// Quantized `s1 * s2 / s_out` (MUL) or `s1 / (s2 * s_out)` (DIV), computed in `float`.
    pub output_multiplier: i32,
    /// Its shift.
    pub output_shift: i32,
    /// The output's zero point.
    pub output_offset: i32,
    /// Lower clamp bound.
    pub act_min: i32,
    /// Upper clamp bound.
    pub act_max: i32,
}

impl MulDivParams {
    /// Quantized MUL of two raw values (LiteRT's `reference_integer_ops::MulElementwise`).
    #[inline]
    pub fn mul(&self, a: i32, b: i32) -> i32 {
        let prod = (a + self.input1_offset).wrapping_mul(b + self.input2_offset);
        let r = multiply_by_quantized_multiplier(prod, self.output_multiplier, self.output_shift)
            .wrapping_add(self.output_offset);
        r.clamp(self.act_min, self.act_max)
    }

    /// Quantized DIV of two raw values (LiteRT's `reference_ops::DivElementwise`): the
    /// divisor's reciprocal in fixed point, the dividend shifted to use all its headroom, then
    /// requantized. The divisor must not be the zero point.
    #[inline]
    pub fn div(&self, a: i32, b: i32) -> i32 {
        let (mut x, mut y) = (a + self.input1_offset, b + self.input2_offset);
        if y < 0 {
            // The reciprocal must be positive to be used as a multiplier.
            x = -x;
            y = -y;
        }
        let (recip, recip_shift) = get_reciprocal(y, 31);
        let headroom = count_leading_sign_bits(x);
        let unscaled = srdhm(x.wrapping_mul(1i32.wrapping_shl(headroom as u32)), recip);
        let total_shift = self.output_shift - recip_shift - headroom;
        let r = rounding_divide_by_pot_x86(srdhm(unscaled, self.output_multiplier), -total_shift);
        r.wrapping_add(self.output_offset)
            .clamp(self.act_min, self.act_max)
    }
}

/// MUL of two int16 tensors into int8 (LiteRT's `MulElementwise` int16 x int16 -> int8, used
/// by its LSTM helpers): a Q0.15 product, divided by 2^8, offset by the output zero point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulI16ToI8Params {
    /// The output's zero point.
    pub output_offset: i32,
    /// Lower clamp bound of the output, before the offset is added.
    pub act_min: i16,
    /// Upper clamp bound of the output, before the offset is added.
    pub act_max: i16,
}

impl MulI16ToI8Params {
    /// The product of two raw int16 values as raw int8.
    #[inline]
    pub fn mul(&self, a: i16, b: i16) -> i8 {
        let rescaled = rounding_divide_by_pot_i16(srdhm_i16(a, b), 8);
        let clamped = rescaled.min(self.act_max).max(self.act_min);
        (i32::from(clamped) + self.output_offset) as i8
    }
}

/// Constants of quantized comparisons (LiteRT's `ComparisonParams` of `comparisons.cc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompareParams {
    /// Headroom bits the offset inputs are shifted left by (8).
    pub left_shift: i32,
    /// The first input onto a real scale: its own scale `s1` as the multiplier.
    pub input1: InputScale,
    /// The second input: `s2`.
    pub input2: InputScale,
}

impl CompareParams {
    /// Both raw inputs on a common scale, ready to be compared (LiteRT's
    /// `ComparisonWithScaling`).
    #[inline]
    pub fn scaled(&self, a: i32, b: i32) -> (i32, i32) {
        (
            self.input1.apply(a, self.left_shift),
            self.input2.apply(b, self.left_shift),
        )
    }
}

/// One input's rescaling in ADD/SUB/SQUARED_DIFFERENCE and comparisons: offset, shifted left
/// by the operator's headroom, multiplied by a quantized multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputScale {
    /// Minus the input's zero point (`input1_offset`/`input2_offset`).
    pub offset: i32,
    /// The quantized multiplier (`input1_multiplier`/`input2_multiplier`).
    pub multiplier: i32,
    /// Its shift (`input1_shift`/`input2_shift`).
    pub shift: i32,
}

impl InputScale {
    /// The rescaling of an input with zero point `zero_point` by the real multiplier `m`.
    pub fn new(zero_point: i32, m: f64) -> Result<Self, KernelError> {
        let (multiplier, shift) = quantize_multiplier(m)?;
        Ok(Self {
            offset: -zero_point,
            multiplier,
            shift,
        })
    }

    /// `MultiplyByQuantizedMultiplier((x + offset) << left_shift, multiplier, shift)`.
    #[inline]
    pub fn apply(&self, x: i32, left_shift: i32) -> i32 {
        let shifted = (self.offset + x).wrapping_mul(1 << left_shift);
        multiply_by_quantized_multiplier(shifted, self.multiplier, self.shift)
    }
}

/// The value range of a quantized element type.
fn qrange(dt: DType) -> Option<(i32, i32)> {
    match dt {
        DType::Int8 => Some((-128, 127)),
        DType::UInt8 => Some((0, 255)),
        DType::Int16 => Some((-32768, 32767)),
        _ => None,
    }
}

/// Prepares a binary node, or answers `Ok(None)` for an operator outside the family
/// (SELECT_V2, three inputs, has no constants beyond its [`Broadcast<3>`](Broadcast) and is
/// not planned here).
pub fn plan(node: &NodeCtx<'_>) -> Result<Option<BinaryPlan>, KernelError> {
    let Some((op, activation, pot_scale_int16)) = BinaryOp::of(node.op) else {
        return Ok(None);
    };
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let a = node.input(0)?;
    let b = node.input(1)?;
    let out = node.output(0)?;
    if matches!(op, BinaryOp::LogicalAnd | BinaryOp::LogicalOr) {
        ensure!(
            a.dtype == DType::Bool && b.dtype == DType::Bool && out.dtype == DType::Bool,
            "{} needs bool tensors (got {}, {} -> {})",
            node.op.name(),
            a.dtype,
            b.dtype,
            out.dtype
        );
    }
    ensure!(
        a.dtype == b.dtype,
        "inputs have different types ({} and {})",
        a.dtype,
        b.dtype
    );
    if op.is_comparison() {
        ensure!(
            out.dtype == DType::Bool,
            "output type {} is not bool",
            out.dtype
        );
    }
    let broadcast = Broadcast::new(&out.shape, [&a.shape, &b.shape])?;
    let params = if op.is_comparison() {
        compare_params(node, op, a, b)?
    } else if matches!(op, BinaryOp::LogicalAnd | BinaryOp::LogicalOr) {
        BinaryParams::Raw
    } else if op == BinaryOp::Mul && a.dtype == DType::Int16 && out.dtype == DType::Int8 {
        let (so, zo) = quant_in_range(out, -128, 127)?;
        let (act_min, act_max) = activation_range_quantized(activation, so, zo, -128, 127);
        BinaryParams::MulI16ToI8(MulI16ToI8Params {
            output_offset: zo,
            act_min: (act_min - zo) as i16,
            act_max: (act_max - zo) as i16,
        })
    } else {
        ensure!(
            out.dtype == a.dtype,
            "output type {} differs from the inputs' {}",
            out.dtype,
            a.dtype
        );
        arith_params(op, activation, pot_scale_int16, a, b, out)?
    };
    Ok(Some(BinaryPlan {
        op,
        dtype: a.dtype,
        out_dtype: out.dtype,
        activation,
        broadcast,
        params,
    }))
}

fn compare_params(
    node: &NodeCtx<'_>,
    op: BinaryOp,
    a: &TensorInfo,
    b: &TensorInfo,
) -> Result<BinaryParams, KernelError> {
    let quantized = a.quant.is_some() && b.quant.is_some();
    match a.dtype {
        DType::Float32 | DType::Float16 | DType::BFloat16 | DType::Int32 | DType::Int64 => {
            Ok(BinaryParams::Raw)
        }
        DType::Int8 | DType::UInt8 | DType::Int16 if quantized => {
            let (min, max) = qrange(a.dtype).expect("a quantized type");
            let (s1, z1) = quant_in_range(a, min, max)?;
            let (s2, z2) = quant_in_range(b, min, max)?;
            // The input scales themselves are the multipliers; 8 bits of headroom keep
            // precision.
            Ok(BinaryParams::Compare(CompareParams {
                left_shift: 8,
                input1: InputScale::new(z1, f64::from(s1))?,
                input2: InputScale::new(z2, f64::from(s2))?,
            }))
        }
        DType::Int8 | DType::UInt8 | DType::Int16 => Ok(BinaryParams::Raw),
        DType::Bool if matches!(op, BinaryOp::Equal | BinaryOp::NotEqual) => Ok(BinaryParams::Raw),
        dt => Err(KernelError::unsupported(format!(
            "{} on {dt} tensors",
            node.op.name()
        ))),
    }
}

fn arith_params(
    op: BinaryOp,
    act: Activation,
    pot_scale_int16: bool,
    a: &TensorInfo,
    b: &TensorInfo,
    out: &TensorInfo,
) -> Result<BinaryParams, KernelError> {
    let unsupported = || KernelError::unsupported(format!("{op:?} on {} tensors", a.dtype));
    let dt = a.dtype;
    match dt {
        DType::Float32 => {
            let (act_min, act_max) = activation_range_f32(act);
            return Ok(BinaryParams::Float { act_min, act_max });
        }
        DType::Int32 | DType::Int64 => return Ok(BinaryParams::Int),
        DType::Int16 if a.quant.is_none() && out.quant.is_none() => return Ok(BinaryParams::Int),
        DType::Int8 | DType::UInt8 | DType::Int16 => {}
        _ => return Err(unsupported()),
    }
    // MAXIMUM and MINIMUM compare raw values; no quantization is needed.
    match op {
        BinaryOp::Maximum | BinaryOp::Minimum => return Ok(BinaryParams::Raw),
        BinaryOp::Pow => return Err(unsupported()),
        _ => {}
    }
    let (min, max) = qrange(dt).expect("a quantized type");
    let (s1, z1) = quant_in_range(a, min, max)?;
    let (s2, z2) = quant_in_range(b, min, max)?;
    let (so, zo) = quant_in_range(out, min, max)?;
    let is16 = dt == DType::Int16;
    if is16 {
        ensure!(
            z1 == 0 && z2 == 0 && zo == 0,
            "int16 {op:?} needs zero points of 0 (got {z1}, {z2}, {zo})"
        );
    }
    let (act_min, act_max) = activation_range_quantized(act, so, zo, min, max);
    Ok(match op {
        BinaryOp::Add | BinaryOp::Sub => {
            if is16 && pot_scale_int16 {
                let (p1, l1) = checked_log2(s1);
                let (p2, l2) = checked_log2(s2);
                let (po, lo) = checked_log2(so);
                if p1 && p2 && po {
                    let (shift1, shift2) = (l1 - lo, l2 - lo);
                    ensure!(
                        (shift1 == 0 || shift2 == 0) && shift1 <= 0 && shift2 <= 0,
                        "int16 power-of-two {} needs one input on the output scale and the other finer (shifts {shift1}, {shift2})",
                        if op == BinaryOp::Sub { "SUB" } else { "ADD" }
                    );
                    ensure!(-shift1 <= 31 && -shift2 <= 31, "shift out of range");
                    return Ok(BinaryParams::PotAddSub(PotAddSubParams {
                        input1_shift: -shift1,
                        input2_shift: -shift2,
                        act_min,
                        act_max,
                    }));
                }
            }
            let left_shift = if is16 { 15 } else { 20 };
            BinaryParams::Rescale(RescaleParams::new(
                left_shift,
                (s1, z1),
                (s2, z2),
                (so, zo),
                (act_min, act_max),
            )?)
        }
        BinaryOp::SquaredDifference => {
            ensure!(!is16, "int16 SQUARED_DIFFERENCE is not a LiteRT kernel");
            BinaryParams::Rescale(RescaleParams::squared_difference(
                (s1, z1),
                (s2, z2),
                (so, zo),
                (min, max),
            )?)
        }
        BinaryOp::Mul | BinaryOp::Div => {
            // LiteRT computes these multipliers in float before widening.
            let m = if op == BinaryOp::Mul {
                s1 * s2 / so
            } else {
                s1 / (s2 * so)
            };
            let (output_multiplier, output_shift) = quantize_multiplier(f64::from(m))?;
            BinaryParams::MulDiv(MulDivParams {
                input1_offset: -z1,
                input2_offset: -z2,
                output_multiplier,
                output_shift,
                output_offset: zo,
                act_min,
                act_max,
            })
        }
        _ => unreachable!("the other operators returned above"),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec::Vec;
    use tflrs_ir::AddAttrs;

    fn q(shape: &[usize], scale: f32, zp: i32) -> TensorInfo {
        TensorInfo::new("t", DType::Int8, shape.to_vec()).with_quant(scale, i64::from(zp))
    }

    /// Calls `f` with the node of `op` on `inputs -> outputs`, assembled as
    /// `testing::make_kernel` assembles it (no constants). Shared by the plans' tests.
    pub(crate) fn with_node<R>(
        op: &Op<'_>,
        inputs: &[TensorInfo],
        outputs: &[TensorInfo],
        f: impl FnOnce(&NodeCtx<'_>) -> R,
    ) -> R {
        let infos: Vec<Option<&TensorInfo>> = inputs.iter().map(Some).collect();
        let constants: Vec<Option<&[u8]>> = inputs.iter().map(|_| None).collect();
        let outs: Vec<&TensorInfo> = outputs.iter().collect();
        let node = NodeCtx {
            subgraph: 0,
            index: 0,
            op,
            inputs: &infos,
            constants: &constants,
            outputs: &outs,
            intermediates: &[],
        };
        f(&node)
    }

    fn plan_of(op: &Op<'_>, inputs: &[TensorInfo], outputs: &[TensorInfo]) -> BinaryPlan {
        with_node(op, inputs, outputs, |node| plan(node).unwrap().unwrap())
    }

    /// LiteRT's `QuantizeMultiplier` worked by hand: `m = q * 2^shift` with `q` in `[0.5, 1)`,
    /// `q` rounded to 31 fractional bits.
    fn by_hand(m: f64) -> (i32, i32) {
        let mut shift = 0;
        let mut q = m;
        while q >= 1.0 {
            q /= 2.0;
            shift += 1;
        }
        while q < 0.5 {
            q *= 2.0;
            shift -= 1;
        }
        ((q * 2f64.powi(31)).round() as i32, shift)
    }

    #[test]
    fn int8_add_plan_matches_litert_formula() {
        let op = Op::Add(AddAttrs {
            fused_activation_function: Activation::Relu6,
            pot_scale_int16: false,
        });
        let (s1, z1, s2, z2, so, zo) = (0.0078f32, -1, 0.0037f32, -78, 0.0115f32, -26);
        let plan = plan_of(
            &op,
            &[q(&[2, 3], s1, z1), q(&[3], s2, z2)],
            &[q(&[2, 3], so, zo)],
        );
        assert_eq!(plan.op, BinaryOp::Add);
        assert_eq!((plan.dtype, plan.out_dtype), (DType::Int8, DType::Int8));
        let BinaryParams::Rescale(p) = plan.params else {
            panic!("{:?}", plan.params)
        };
        // PrepareInt8AddOp: left_shift 20, twice_max_input_scale = 2 * max(s1, s2) in double,
        // real multipliers s1 / twice_max, s2 / twice_max, twice_max / (2^20 * s_out).
        let twice_max = 2.0 * f64::from(s1);
        assert_eq!(p.left_shift, 20);
        assert_eq!(p.twice_max, twice_max);
        // s1 / twice_max = 0.5 exactly: 2^30 with shift 0.
        assert_eq!((p.input1.multiplier, p.input1.shift), (1 << 30, 0));
        assert_eq!(
            (p.input2.multiplier, p.input2.shift),
            by_hand(f64::from(s2) / twice_max)
        );
        assert_eq!(
            (p.output_multiplier, p.output_shift),
            by_hand(twice_max / (f64::from(1 << 20) * f64::from(so)))
        );
        // 0.0037 / 0.0156 = 0.2371..: shift -2; 0.0156 / (2^20 * 0.0115) = 1.29e-6: shift -19.
        assert_eq!(p.input2.shift, -2);
        assert_eq!(p.output_shift, -19);
        assert_eq!(
            (p.input1.offset, p.input2.offset, p.output_offset),
            (1, 78, -26)
        );
        // RELU6: [max(-128, zo + round(0 / so)), min(127, zo + round(6 / so))] = [-26, 127].
        assert_eq!((p.act_min, p.act_max), (-26, 127));
        // The second input broadcasts along the rows: runs of 3 with step 0 then 1.
        let mut runs = Vec::new();
        plan.broadcast
            .for_each_run(|o, s, st| runs.push((o, s, st)));
        assert_eq!(runs, [(0..3, [0, 0], [1, 1]), (3..6, [3, 0], [1, 1])]);
        // One element by hand: 1.0 + 0.5 = 1.5 in the output's scale, 130.4 + zo = 104.
        let (x, y) = (((1.0 / s1) as i32) + z1, ((0.5 / s2).round() as i32) + z2);
        assert_eq!(p.add(x, y), 104);
    }
}
