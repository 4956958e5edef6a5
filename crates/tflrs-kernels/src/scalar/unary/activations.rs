//! RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, PRELU, HARD_SWISH, GELU, LOGISTIC and TANH
//! (LiteRT's `activations.cc` and its `reference/` headers).
//!
//! - Quantized RELU-likes requantize `x - zp_in` with `s_in / s_out` and clamp to the
//!   activation's bounds quantized on the output scale.
//! - LEAKY_RELU and PRELU requantize with `s_in / s_out` above zero and `s_in * alpha / s_out`
//!   (LEAKY_RELU) or `s_in * s_alpha / s_out` times the offset alpha (PRELU) below.
//! - int8/uint8 LOGISTIC, TANH and GELU are lookup tables built in `f32`; int16 GELU is an
//!   interpolated table; int16 LOGISTIC and TANH interpolate LiteRT's 256-entry sigmoid table.
//! - HARD_SWISH int8/uint8 is LiteRT's 16-bit fixed-point evaluation.

use super::unary_io;
use crate::kernel::NodeCtx;
use crate::math;
use crate::scalar::binary::broadcast::Broadcast;
use crate::scalar::binary::elementwise::{QElem, map, quant_of, zip};
use crate::scalar::binary::kname;
use crate::scalar::qmath::lut::{Lut8Elem, lookup16, lut8, lut16};
use crate::scalar::qmath::{
    multiply_by_quantized_multiplier, quantize_multiplier, round_f32, srdhm_i16,
};
use crate::{Kernel, KernelError, TensorInfo, ensure};
use alloc::boxed::Box;
use alloc::format;
use tflrs_ir::{DType, Op};

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let k = match node.op {
        Op::Relu => relu_like(node, ReluKind::Relu)?,
        Op::Relu6 => relu_like(node, ReluKind::Relu6)?,
        Op::ReluN1To1 => relu_like(node, ReluKind::ReluN1To1)?,
        Op::LeakyRelu(a) => leaky_relu(node, a.alpha)?,
        Op::Prelu => prelu(node)?,
        Op::HardSwish => hard_swish(node)?,
        Op::Gelu(a) => gelu(node, a.approximate)?,
        Op::Logistic => logistic(node)?,
        Op::Tanh => tanh(node)?,
        _ => return Ok(None),
    };
    Ok(Some(k))
}

fn unsupported(node: &NodeCtx<'_>, dt: DType) -> KernelError {
    KernelError::unsupported(format!("{} on {dt} tensors", node.op.name()))
}

fn same_dtype<'a>(node: &NodeCtx<'a>) -> Result<(&'a TensorInfo, &'a TensorInfo), KernelError> {
    let (x, y) = unary_io(node)?;
    ensure!(
        x.dtype == y.dtype,
        "output type {} differs from the input's {}",
        y.dtype,
        x.dtype
    );
    Ok((x, y))
}

#[derive(Debug, Clone, Copy)]
enum ReluKind {
    Relu,
    Relu6,
    ReluN1To1,
}

fn relu_like(node: &NodeCtx<'_>, kind: ReluKind) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let n = x.num_elements();
    let (lo, hi) = match kind {
        ReluKind::Relu => (0.0f32, f32::INFINITY),
        ReluKind::Relu6 => (0.0, 6.0),
        ReluKind::ReluN1To1 => (-1.0, 1.0),
    };
    let name = match kind {
        ReluKind::Relu => kname!("relu", x.dtype),
        ReluKind::Relu6 => kname!("relu6", x.dtype),
        ReluKind::ReluN1To1 => kname!("relu_n1_to_1", x.dtype),
    };
    match x.dtype {
        DType::Float32 => Ok(match kind {
            ReluKind::Relu => map(name, n, |v: f32| if v > 0.0 { v } else { 0.0 }),
            _ => map(name, n, move |v: f32| {
                if v > hi {
                    hi
                } else if v < lo {
                    lo
                } else {
                    v
                }
            }),
        }),
        DType::Int8 => relu_quantized::<i8>(name, x, y, lo, hi),
        DType::UInt8 => relu_quantized::<u8>(name, x, y, lo, hi),
        DType::Int16 => {
            ensure!(
                quant_of::<i16>(x)?.1 == 0 && quant_of::<i16>(y)?.1 == 0,
                "int16 {} needs zero points of 0",
                node.op.name()
            );
            relu_quantized::<i16>(name, x, y, lo, hi)
        }
        dt => Err(unsupported(node, dt)),
    }
}

/// LiteRT's `QuantizedReluX`: requantize, then clamp to the bounds on the output scale.
fn relu_quantized<T: QElem>(
    name: &'static str,
    x: &TensorInfo,
    y: &TensorInfo,
    lo: f32,
    hi: f32,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, zi) = quant_of::<T>(x)?;
    let (so, zo) = quant_of::<T>(y)?;
    let (m, s) = quantize_multiplier(f64::from(si / so))?;
    let act_min = T::MIN.max(zo.saturating_add(round_f32(lo / so) as i32));
    let act_max = if hi == f32::INFINITY {
        T::MAX
    } else {
        T::MAX.min(zo.saturating_add(round_f32(hi / so) as i32))
    };
    Ok(map(name, x.num_elements(), move |v: T| {
        let r = zo.wrapping_add(multiply_by_quantized_multiplier(v.to_i32() - zi, m, s));
        T::from_i32(r.max(act_min).min(act_max))
    }))
}

fn leaky_relu(node: &NodeCtx<'_>, alpha: f32) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let name = kname!("leaky_relu", x.dtype);
    match x.dtype {
        DType::Float32 => Ok(map(name, x.num_elements(), move |v: f32| {
            if v > 0.0 { v } else { v * alpha }
        })),
        DType::Int8 => leaky_quantized::<i8>(name, x, y, alpha),
        DType::UInt8 => leaky_quantized::<u8>(name, x, y, alpha),
        DType::Int16 => {
            ensure!(
                quant_of::<i16>(x)?.1 == 0 && quant_of::<i16>(y)?.1 == 0,
                "int16 LEAKY_RELU needs zero points of 0"
            );
            leaky_quantized::<i16>(name, x, y, alpha)
        }
        dt => Err(unsupported(node, dt)),
    }
}

fn leaky_quantized<T: QElem>(
    name: &'static str,
    x: &TensorInfo,
    y: &TensorInfo,
    alpha: f32,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, zi) = quant_of::<T>(x)?;
    let (so, zo) = quant_of::<T>(y)?;
    let (m_alpha, s_alpha) = quantize_multiplier(f64::from(si * alpha / so))?;
    let (m_id, s_id) = quantize_multiplier(f64::from(si / so))?;
    // A negative alpha is applied as a positive multiplier and a negation.
    let negative = m_alpha < 0;
    let m_alpha = m_alpha.wrapping_abs();
    Ok(map(name, x.num_elements(), move |v: T| {
        let d = v.to_i32() - zi;
        let r = if d >= 0 {
            multiply_by_quantized_multiplier(d, m_id, s_id)
        } else {
            let scaled = multiply_by_quantized_multiplier(d, m_alpha, s_alpha);
            if negative {
                scaled.wrapping_neg()
            } else {
                scaled
            }
        };
        T::saturate(zo.wrapping_add(r))
    }))
}

fn prelu(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let x = node.input(0)?;
    let alpha = node.input(1)?;
    let y = node.output(0)?;
    ensure!(
        x.dtype == y.dtype,
        "output type {} differs from the input's {}",
        y.dtype,
        x.dtype
    );
    ensure!(
        y.shape == x.shape,
        "PRELU output shape {:?} differs from the input's {:?}",
        y.shape,
        x.shape
    );
    let bc = Broadcast::new(&y.shape, [&x.shape, &alpha.shape])?;
    let name = kname!("prelu", x.dtype);
    match (x.dtype, alpha.dtype) {
        (DType::Float32, DType::Float32) => Ok(zip(
            name,
            bc,
            |v: f32, a: f32| if v >= 0.0 { v } else { v * a },
        )),
        (DType::Int8, DType::Int8) => prelu_quantized::<i8, i8>(name, x, alpha, y, bc),
        (DType::UInt8, DType::UInt8) => prelu_quantized::<u8, u8>(name, x, alpha, y, bc),
        // int16 activations take int8 alphas.
        (DType::Int16, DType::Int8) => prelu_quantized::<i16, i8>(name, x, alpha, y, bc),
        (dt, at) => Err(KernelError::unsupported(format!(
            "PRELU on {dt} with {at} alpha"
        ))),
    }
}

fn prelu_quantized<T: QElem, A: QElem>(
    name: &'static str,
    x: &TensorInfo,
    alpha: &TensorInfo,
    y: &TensorInfo,
    bc: Broadcast<2>,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, zi) = quant_of::<T>(x)?;
    let (sa, za) = quant_of::<A>(alpha)?;
    let (so, zo) = quant_of::<T>(y)?;
    let (m1, s1) = quantize_multiplier(f64::from(si / so))?;
    let (m2, s2) = quantize_multiplier(f64::from(si * sa / so))?;
    Ok(zip(name, bc, move |v: T, a: A| {
        let d = v.to_i32() - zi;
        let r = if d >= 0 {
            multiply_by_quantized_multiplier(d, m1, s1)
        } else {
            multiply_by_quantized_multiplier(d.wrapping_mul(a.to_i32() - za), m2, s2)
        };
        T::saturate(r.wrapping_add(zo))
    }))
}

/// Constants of LiteRT's quantized HARD_SWISH: 16-bit fixed-point multipliers onto the output
/// scale and onto the "relu-ish" scale where 3.0 is 32768.
#[derive(Debug, Clone, Copy)]
struct HardSwishParams {
    input_zero_point: i32,
    output_zero_point: i32,
    output_multiplier: i16,
    output_exponent: i32,
    reluish_multiplier: i16,
    reluish_exponent: i32,
}

/// A Q31 multiplier rounded to Q15 (LiteRT's `DownScaleInt32ToInt16Multiplier`).
fn downscale_multiplier(m: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        i16::MAX
    } else {
        ((m + ROUNDING) >> 16) as i16
    }
}

/// `x * 2^amount` saturated to int16.
fn saturating_left_shift_i16(x: i16, amount: i32) -> i16 {
    let wide = if amount >= 48 {
        i64::from(x.signum()) << 48
    } else {
        i64::from(x) << amount
    };
    wide.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// `a * b / 2^15` truncated toward zero, saturating `-1 * -1` (ARM's SQDMULH).
fn saturating_doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// gemmlowp's rounding division of an int16 by `2^exponent`, also for exponents of 16 and
/// more (where the int16 mask wraps the way gemmlowp's does).
fn rounding_divide_by_pot_i16_any(x: i16, exponent: i32) -> i16 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1i64 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i16::from(x < 0);
    let shifted = (i32::from(x) >> exponent) as i16;
    shifted.wrapping_add(i16::from(remainder > threshold))
}

impl HardSwishParams {
    fn new(si: f32, zi: i32, so: f32, zo: i32) -> Result<Self, KernelError> {
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

    /// One element, in LiteRT's int16 steps (intermediate values wrap to 16 bits as there).
    #[inline]
    fn eval(&self, v: i32, qmin: i32, qmax: i32) -> i32 {
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

fn hard_swish(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let n = x.num_elements();
    let name = kname!("hard_swish", x.dtype);
    match x.dtype {
        DType::Float32 => Ok(map(name, n, |v: f32| {
            let relu6 = (v + 3.0).clamp(0.0, 6.0);
            v * relu6 / 6.0
        })),
        DType::Int8 => hard_swish_quantized::<i8>(name, x, y),
        DType::UInt8 => hard_swish_quantized::<u8>(name, x, y),
        dt => Err(unsupported(node, dt)),
    }
}

fn hard_swish_quantized<T: QElem>(
    name: &'static str,
    x: &TensorInfo,
    y: &TensorInfo,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, zi) = quant_of::<T>(x)?;
    let (so, zo) = quant_of::<T>(y)?;
    let p = HardSwishParams::new(si, zi, so, zo)?;
    Ok(map(name, x.num_elements(), move |v: T| {
        T::from_i32(p.eval(v.to_i32(), T::MIN, T::MAX))
    }))
}

/// `sqrt(2 / pi)` rounded to `f32` from its `double` value, as LiteRT's constant is.
const SQRT_2_OVER_PI: f32 =
    (core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2) as f32;

/// LiteRT's `GeluTransform`: `x/2 * erfc(-x/sqrt(2))`, which avoids cancellation for large
/// negative `x`.
fn gelu_exact(x: f32) -> f32 {
    0.5 * x * libm::erfcf(x * -(core::f64::consts::FRAC_1_SQRT_2 as f32))
}

/// LiteRT's `GeluTransformApproximate`: the tanh approximation.
fn gelu_approximate(x: f32) -> f32 {
    0.5 * x * (1.0 + math::tanhf(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
}

fn gelu(node: &NodeCtx<'_>, approximate: bool) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let f: fn(f32) -> f32 = if approximate {
        gelu_approximate
    } else {
        gelu_exact
    };
    let name = if approximate {
        kname!("gelu", x.dtype, "_approximate")
    } else {
        kname!("gelu", x.dtype)
    };
    match x.dtype {
        DType::Float32 => Ok(map(name, x.num_elements(), f)),
        DType::Int8 => lut8_kernel::<i8>(name, x, y, f),
        DType::UInt8 => lut8_kernel::<u8>(name, x, y, f),
        DType::Int16 => {
            let (si, zi) = quant_of::<i16>(x)?;
            let (so, zo) = quant_of::<i16>(y)?;
            let table = Box::new(lut16::<f32>(si, zi, so, zo, f));
            Ok(map(name, x.num_elements(), move |v: i16| {
                lookup16(v, &table)
            }))
        }
        dt => Err(unsupported(node, dt)),
    }
}

fn lut8_kernel<T: QElem + Lut8Elem>(
    name: &'static str,
    x: &TensorInfo,
    y: &TensorInfo,
    f: fn(f32) -> f32,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, zi) = quant_of::<T>(x)?;
    let (so, zo) = quant_of::<T>(y)?;
    let table: Box<[T; 256]> = Box::new(lut8(si, zi, so, zo, f));
    Ok(map(name, x.num_elements(), move |v: T| table[v.slot()]))
}

/// LiteRT's float logistic: exact `1 / (1 + e^-x)` between cut-offs, `e^x` far below, 1 far
/// above.
fn logistic_f32(x: f32) -> f32 {
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

fn logistic_lut(x: f32) -> f32 {
    1.0 / (1.0 + math::expf(-x))
}

fn logistic(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let name = kname!("logistic", x.dtype);
    let out_scale_is = |want: f32| y.per_tensor_quant().is_some_and(|(s, _)| s == want);
    match x.dtype {
        DType::Float32 => Ok(map(name, x.num_elements(), logistic_f32)),
        DType::Int8 | DType::UInt8 => {
            ensure!(
                out_scale_is(1.0 / 256.0),
                "quantized LOGISTIC needs an output scale of 1/256, got {:?}",
                y.per_tensor_quant()
            );
            if x.dtype == DType::Int8 {
                lut8_kernel::<i8>(name, x, y, logistic_lut)
            } else {
                lut8_kernel::<u8>(name, x, y, logistic_lut)
            }
        }
        DType::Int16 => sigmoid_table_kernel(name, x, y, false),
        dt => Err(unsupported(node, dt)),
    }
}

fn tanh(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = same_dtype(node)?;
    let name = kname!("tanh", x.dtype);
    match x.dtype {
        DType::Float32 => Ok(map(name, x.num_elements(), math::tanhf)),
        DType::Int8 => lut8_kernel::<i8>(name, x, y, math::tanhf),
        DType::UInt8 => lut8_kernel::<u8>(name, x, y, math::tanhf),
        DType::Int16 => sigmoid_table_kernel(name, x, y, true),
        dt => Err(unsupported(node, dt)),
    }
}

/// `sigmoid(i / 24)` in Q0.16 for `i` in `0..256`: the table LiteRT's int16 LOGISTIC and TANH
/// interpolate (tanh uses `tanh(x) = 2 * sigmoid(2x) - 1`). These exact values define the
/// kernels' results; they are LiteRT's own entries, which no simple rounding rule reproduces.
#[rustfmt::skip]
const SIGMOID_TABLE: [u16; 256] = [
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

/// int16 LOGISTIC (`tanh == false`) or TANH: the input is rescaled so that 2^9 (logistic) or
/// 2^8 (tanh) steps span 1/24 of the table's argument, then the table is interpolated.
fn sigmoid_table_kernel(
    name: &'static str,
    x: &TensorInfo,
    y: &TensorInfo,
    tanh: bool,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, zi) = quant_of::<i16>(x)?;
    let (so, zo) = quant_of::<i16>(y)?;
    ensure!(
        zi == 0 && zo == 0,
        "int16 LOGISTIC/TANH need zero points of 0"
    );
    let (out_pot, out_log2) = crate::scalar::qmath::checked_log2(so);
    ensure!(
        out_pot && out_log2 == -15,
        "int16 LOGISTIC/TANH need an output scale of 2^-15, got {so}"
    );
    const INPUT_INTEGER_BITS: i32 = 3;
    let (in_pot, in_log2) = crate::scalar::qmath::checked_log2(si);
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
    let round = if left_shift > 0 {
        1i64 << (left_shift - 1)
    } else {
        0
    };
    Ok(map(name, x.num_elements(), move |v: i16| {
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
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarBackend;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{GeluAttrs, LeakyReluAttrs};

    fn run<I: bytemuck::Pod, O: bytemuck::Pod>(
        op: Op<'_>,
        x: TensorInfo,
        v: &[I],
        y: TensorInfo,
    ) -> Vec<O> {
        let out = run_node(
            &ScalarBackend,
            &op,
            &[Some(TestInput::from_slice(x, v))],
            &[y],
        )
        .unwrap();
        bytemuck::cast_slice(&out[0]).to_vec()
    }

    fn q(dt: DType, n: usize, s: f32, z: i64) -> TensorInfo {
        TensorInfo::new("t", dt, vec![n]).with_quant(s, z)
    }

    fn f(n: usize) -> TensorInfo {
        TensorInfo::new("t", DType::Float32, vec![n])
    }

    #[test]
    fn float_activations() {
        let x = [-4.0f32, -1.0, -0.5, 0.0, 0.5, 2.0, 7.0];
        let y: Vec<f32> = run(Op::Relu6, f(7), &x, f(7));
        assert_eq!(y, vec![0.0, 0.0, 0.0, 0.0, 0.5, 2.0, 6.0]);
        let y: Vec<f32> = run(Op::ReluN1To1, f(7), &x, f(7));
        assert_eq!(y, vec![-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0]);
        let y: Vec<f32> = run(Op::HardSwish, f(7), &x, f(7));
        assert_eq!(
            y,
            vec![
                0.0,
                -1.0 / 3.0,
                -0.5 * 2.5 / 6.0,
                0.0,
                0.5 * 3.5 / 6.0,
                2.0 * 5.0 / 6.0,
                7.0
            ]
        );
        let y: Vec<f32> = run(
            Op::LeakyRelu(LeakyReluAttrs { alpha: 0.1 }),
            f(2),
            &[-2.0f32, 3.0],
            f(2),
        );
        assert_eq!(y, vec![-0.2, 3.0]);
        let y: Vec<f32> = run(Op::Logistic, f(3), &[0.0f32, 20.0, -20.0], f(3));
        assert_eq!(y[..2], [0.5, 1.0]);
        assert!((y[2] - (-20.0f32).exp()).abs() < 1e-12);
        let y: Vec<f32> = run(
            Op::Gelu(GeluAttrs { approximate: false }),
            f(3),
            &[0.0f32, 1.0, -1.0],
            f(3),
        );
        assert!(
            (y[1] - 0.841_344_7).abs() < 1e-6 && (y[2] + 0.158_655_3).abs() < 1e-6,
            "{y:?}"
        );
        let y: Vec<f32> = run(
            Op::Gelu(GeluAttrs { approximate: true }),
            f(1),
            &[1.0f32],
            f(1),
        );
        assert!((y[0] - 0.841_192).abs() < 1e-5, "{y:?}");
    }

    #[test]
    fn quantized_relus() {
        // Input 0.1/0, output 0.05/-128: relu6 clamps at 6.0 -> 120 - 128.
        let y: Vec<i8> = run(
            Op::Relu6,
            q(DType::Int8, 4, 0.1, 0),
            &[-5i8, 10, 50, 127],
            q(DType::Int8, 4, 0.05, -128),
        );
        assert_eq!(y, vec![-128, -108, -28, -8]);
        let y: Vec<i8> = run(
            Op::Relu,
            q(DType::Int8, 2, 0.1, 0),
            &[-5i8, 10],
            q(DType::Int8, 2, 0.1, 0),
        );
        assert_eq!(y, vec![0, 10]);
        let y: Vec<i8> = run(
            Op::ReluN1To1,
            q(DType::Int8, 3, 0.1, 0),
            &[-20i8, 5, 20],
            q(DType::Int8, 3, 1.0 / 64.0, 0),
        );
        assert_eq!(y, vec![-64, 32, 64]);
    }

    #[test]
    fn quantized_leaky_and_prelu() {
        let op = Op::LeakyRelu(LeakyReluAttrs { alpha: -0.5 });
        let y: Vec<i8> = run(
            op,
            q(DType::Int8, 3, 0.1, 0),
            &[-10i8, 0, 10],
            q(DType::Int8, 3, 0.1, 0),
        );
        assert_eq!(y, vec![5, 0, 10]);
        let inputs = [
            Some(TestInput::from_slice(
                TensorInfo::new("x", DType::Int8, vec![2, 2]).with_quant(0.1, 0),
                &[-10i8, 10, -20, 20],
            )),
            Some(TestInput::from_slice(
                TensorInfo::new("a", DType::Int8, vec![2]).with_quant(0.01, 0),
                &[50i8, 25],
            )),
        ];
        let out = run_node(
            &ScalarBackend,
            &Op::Prelu,
            &inputs,
            &[TensorInfo::new("y", DType::Int8, vec![2, 2]).with_quant(0.1, 0)],
        )
        .unwrap();
        // -1.0 * 0.5 = -0.5 -> -5; 1.0 -> 10; -2.0 * 0.5 = -1.0 -> -10; 2.0 -> 20.
        assert_eq!(bytemuck::cast_slice::<u8, i8>(&out[0]), &[-5, 10, -10, 20]);
    }

    #[test]
    fn quantized_hard_swish_close_to_float() {
        let (si, zi, so, zo) = (0.04f32, -1i32, 0.021f32, -110i32);
        let xs: Vec<i8> = (-128..=127).map(|v| v as i8).collect();
        let y: Vec<i8> = run(
            Op::HardSwish,
            q(DType::Int8, 256, si, zi.into()),
            &xs,
            q(DType::Int8, 256, so, zo.into()),
        );
        for (&x, &got) in xs.iter().zip(&y) {
            let r = si * (i32::from(x) - zi) as f32;
            let want = (r * (r + 3.0).clamp(0.0, 6.0) / 6.0 / so + zo as f32).clamp(-128.0, 127.0);
            assert!(
                (f32::from(got) - want).abs() <= 1.01,
                "{x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn quantized_logistic_tanh() {
        let y: Vec<i8> = run(
            Op::Logistic,
            q(DType::Int8, 3, 0.1, 0),
            &[0i8, 127, -128],
            q(DType::Int8, 3, 1.0 / 256.0, -128),
        );
        assert_eq!(y, vec![0, 127, -128]);
        let y: Vec<i8> = run(
            Op::Tanh,
            q(DType::Int8, 3, 0.1, 0),
            &[0i8, 5, -127],
            q(DType::Int8, 3, 1.0 / 128.0, 0),
        );
        // tanh(0.5) = 0.4621 -> 59.
        assert_eq!(y, vec![0, 59, -128]);
        // int16: scale 2^-12 in, 2^-15 out.
        let xs = [0i16, 4096, -4096, 32767, -32768];
        let y: Vec<i16> = run(
            Op::Logistic,
            q(DType::Int16, 5, 1.0 / 4096.0, 0),
            &xs,
            q(DType::Int16, 5, 1.0 / 32768.0, 0),
        );
        for (&x, &got) in xs.iter().zip(&y) {
            let want = 32768.0 / (1.0 + (-f64::from(x) / 4096.0).exp());
            assert!(
                (f64::from(got) - want.min(32767.0)).abs() <= 2.0,
                "{x}: {got} vs {want}"
            );
        }
        let y: Vec<i16> = run(
            Op::Tanh,
            q(DType::Int16, 5, 1.0 / 8192.0, 0),
            &xs,
            q(DType::Int16, 5, 1.0 / 32768.0, 0),
        );
        for (&x, &got) in xs.iter().zip(&y) {
            let want = 32768.0 * (f64::from(x) / 8192.0).tanh();
            assert!(
                (f64::from(got) - want.clamp(-32768.0, 32767.0)).abs() <= 3.0,
                "{x}: {got} vs {want}"
            );
        }
    }
}
