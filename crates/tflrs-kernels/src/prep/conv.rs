//! Plans of the conv family (see [the module docs](super)): CONV_2D, DEPTHWISE_CONV_2D,
//! TRANSPOSE_CONV, FULLY_CONNECTED and BATCH_MATMUL.
//!
//! Each op has one function that validates a node and computes what its kernels need before
//! they run: [`conv2d`], [`depthwise`] and [`transpose_conv`] give a [`ConvPlan`] (NHWC
//! geometry and [`ConvQuant`]), [`fully_connected`] an [`FcPlan`], [`batch_matmul`] a
//! [`MatMulPlan`]. Quantized multipliers are computed as LiteRT's reference kernels compute
//! them, so an executor that follows a plan stays bit-exact with the scalar one. A backend
//! calls the same function, declines (`Ok(None)`) the variants it does not implement, and packs
//! its weights from `node.constant(1)` (the filter is input 1 of every op here; TRANSPOSE_CONV's
//! data is input 2). Plan functions fail with the same typed errors as the scalar kernels.
//!
//! ```
//! # use tflrs_kernels::prep::conv::{self, ConvQuant};
//! # use tflrs_kernels::{KernelError, NodeCtx};
//! fn wants(node: &NodeCtx<'_>) -> Result<bool, KernelError> {
//!     let plan = conv::conv2d(node)?;
//!     // An int8 kernel for 3x3 windows only: anything else stays with the next backend.
//!     Ok(matches!(plan.quant, ConvQuant::I8(_)) && plan.geom.k_h == 3 && plan.geom.k_w == 3)
//! }
//! ```

use crate::kernel::NodeCtx;
use crate::scalar::qmath::{self, activation_range_f32, activation_range_quantized};
use crate::{KernelError, TensorInfo, TensorRef};
use alloc::vec::Vec;
use tflrs_ir::{
    Activation, DType, Op, Padding, QuantScheme, TransposeConvAttrs, WeightsFormat, window,
};

/// The geometry of a 2-D window op over NHWC tensors, fixed at preparation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geom {
    /// Batches.
    pub n: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Filter height.
    pub k_h: usize,
    /// Filter width.
    pub k_w: usize,
    /// Filter depth: input channels per group for CONV_2D (`in_c / k_c` groups), 1 for
    /// DEPTHWISE_CONV_2D, the input depth for TRANSPOSE_CONV.
    pub k_c: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dil_h: usize,
    /// Horizontal dilation.
    pub dil_w: usize,
    /// Padding before the first row (of the input; of the output for TRANSPOSE_CONV).
    pub pad_h: i64,
    /// Padding before the first column.
    pub pad_w: i64,
}

impl Geom {
    /// A geometry from its parts: `input` and `output` as `[height, width, channels]`,
    /// `filter` as `[height, width, depth]`, `(vertical, horizontal)` strides, dilations and
    /// leading paddings.
    pub fn new(
        n: usize,
        [in_h, in_w, in_c]: [usize; 3],
        [out_h, out_w, out_c]: [usize; 3],
        [k_h, k_w, k_c]: [usize; 3],
        (stride_h, stride_w): (usize, usize),
        (dil_h, dil_w): (usize, usize),
        (pad_h, pad_w): (i64, i64),
    ) -> Self {
        Self {
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
            dil_h,
            dil_w,
            pad_h,
            pad_w,
        }
    }

    /// Elements of the input.
    pub fn in_len(&self) -> usize {
        self.n * self.in_h * self.in_w * self.in_c
    }

    /// Elements of the output.
    pub fn out_len(&self) -> usize {
        self.n * self.out_h * self.out_w * self.out_c
    }

    /// Elements of one batch of the input.
    pub fn in_batch_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Elements of the filter: `out_c * k_h * k_w * k_c` (OHWI) for CONV_2D and
    /// TRANSPOSE_CONV, `k_h * k_w * out_c` (`[1, H, W, C]`) for DEPTHWISE_CONV_2D.
    pub fn filter_len(&self) -> usize {
        self.k_h * self.k_w * self.k_c * self.out_c
    }

    /// Groups of a CONV_2D (`in_c / k_c`; 1 without groups).
    pub fn groups(&self) -> usize {
        self.in_c / self.k_c
    }
}

/// Requantization of an integer convolution: input and filter offsets (negated zero points),
/// output zero point, one multiplier and shift per output channel, clamp range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntParams {
    /// Added to each input value.
    pub in_offset: i32,
    /// Added to each filter value (0 for symmetric int8 filters).
    pub w_offset: i32,
    /// Added after requantization.
    pub out_zp: i32,
    /// Quantized multiplier per output channel.
    pub mult: Vec<i32>,
    /// Shift per output channel (LiteRT's sign convention: positive shifts left).
    pub shift: Vec<i32>,
    /// Lowest output value (activation included).
    pub lo: i32,
    /// Highest output value (activation included).
    pub hi: i32,
}

/// A hybrid (dynamic-range) kernel: float input quantized to int8 at run time, int8 weights.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridQuant {
    /// One filter scale per output channel (a single scale broadcast), or the right operand's
    /// scales as stored for BATCH_MATMUL.
    pub scales: Vec<f32>,
    /// Whether the per-channel path runs: each output is scaled by its channel's scale; else
    /// [`Self::filter_scale`] folds into each batch's scaling factor.
    pub per_channel: bool,
    /// Whether inputs are quantized asymmetrically (with a zero point per batch or row).
    pub asymmetric: bool,
}

impl HybridQuant {
    /// The scale the per-tensor path uses: the first one (1 for a filter with no channels).
    pub fn filter_scale(&self) -> f32 {
        self.scales.first().copied().unwrap_or(1.0)
    }
}

/// The arithmetic of a kernel of the family, with what it needs prepared. `P` holds the
/// integer requantization: [`IntParams`] for convolutions, [`FcParams`] for FULLY_CONNECTED.
#[derive(Debug, Clone, PartialEq)]
pub enum Quant<P> {
    /// float32 input, filter and output; the output clamp of the fused activation.
    F32 {
        /// Lowest output value.
        lo: f32,
        /// Highest output value.
        hi: f32,
    },
    /// int8 input and output, int8 filter (symmetric, per channel or per tensor), int32 bias.
    I8(P),
    /// uint8 input, filter and output (one multiplier, the filter's zero point honoured).
    U8(P),
    /// int16 input and output, int8 filter; `wide` selects the 64-bit accumulator (for a
    /// 64-bit bias), else int32.
    I16 {
        /// Requantization.
        p: P,
        /// 64-bit accumulation.
        wide: bool,
    },
    /// float32 input and output, int8 filter.
    Hybrid {
        /// Scales and input quantization.
        h: HybridQuant,
        /// Lowest output value.
        lo: f32,
        /// Highest output value.
        hi: f32,
    },
}

/// The quantization of a CONV_2D, DEPTHWISE_CONV_2D or TRANSPOSE_CONV.
pub type ConvQuant = Quant<IntParams>;

impl<P> Quant<P> {
    /// The integer parameters of an int8, uint8 or int16 kernel.
    pub fn int_params(&self) -> Option<&P> {
        match self {
            Quant::I8(p) | Quant::U8(p) | Quant::I16 { p, .. } => Some(p),
            Quant::F32 { .. } | Quant::Hybrid { .. } => None,
        }
    }

    /// Whether this is the int8 kernel.
    pub fn is_i8(&self) -> bool {
        matches!(self, Quant::I8(_))
    }
}

/// The type of an optional bias input, as validated by the plan (its length is the number of
/// output channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BiasKind {
    /// No bias.
    None,
    /// float32.
    F32,
    /// int32.
    I32,
    /// int64 (int16 kernels).
    I64,
}

impl BiasKind {
    fn of(bias: Option<&TensorInfo>) -> Self {
        match bias.map(|b| b.dtype) {
            None => BiasKind::None,
            Some(DType::Int32) => BiasKind::I32,
            Some(DType::Int64) => BiasKind::I64,
            Some(_) => BiasKind::F32,
        }
    }
}

/// A validated CONV_2D, DEPTHWISE_CONV_2D or TRANSPOSE_CONV.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvPlan {
    /// Shapes, strides, dilations and padding.
    pub geom: Geom,
    /// Types and requantization.
    pub quant: ConvQuant,
    /// The bias input's type.
    pub bias: BiasKind,
}

/// A bias input as kernels read it at run time.
#[derive(Debug, Clone, Copy)]
pub enum Bias<'a> {
    /// No bias.
    None,
    /// Float bias.
    F32(&'a [f32]),
    /// int32 bias.
    I32(&'a [i32]),
    /// int64 bias.
    I64(&'a [i64]),
}

impl<'a> Bias<'a> {
    /// Views an optional bias input of at least `len` elements (its first `len`).
    pub fn view(t: Option<TensorRef<'a>>, len: usize) -> Result<Self, KernelError> {
        let Some(t) = t else { return Ok(Bias::None) };
        fn first<'s, T>(s: &'s [T], len: usize, info: &TensorInfo) -> Result<&'s [T], KernelError> {
            s.get(..len).ok_or_else(|| {
                KernelError::invalid(alloc::format!(
                    "tensor '{}' has {} elements, the kernel needs {len}",
                    info.name,
                    s.len()
                ))
            })
        }
        let b = match t.info.dtype {
            DType::Float32 => Bias::F32(first(t.as_slice()?, len, t.info)?),
            DType::Int32 => Bias::I32(first(t.as_slice()?, len, t.info)?),
            DType::Int64 => Bias::I64(first(t.as_slice()?, len, t.info)?),
            d => {
                return Err(KernelError::invalid(alloc::format!(
                    "bias '{}' has unsupported type {d}",
                    t.info.name
                )));
            }
        };
        Ok(b)
    }

    /// Element `i` of an integer bias (0 without bias).
    #[inline]
    pub fn int(&self, i: usize) -> i64 {
        match self {
            Bias::I32(b) => i64::from(b[i]),
            Bias::I64(b) => b[i],
            Bias::F32(_) | Bias::None => 0,
        }
    }

    /// The float bias, if any.
    pub fn float(&self) -> Option<&'a [f32]> {
        match self {
            Bias::F32(b) => Some(b),
            _ => None,
        }
    }
}

/// Elements of `info`'s dense data as `N` dimensions, or an error naming it.
fn dims<const N: usize>(info: &TensorInfo, what: &str) -> Result<[usize; N], KernelError> {
    <[usize; N]>::try_from(info.shape.as_slice()).map_err(|_| {
        KernelError::invalid(alloc::format!(
            "{what} '{}' must have rank {N}, has shape {:?}",
            info.name,
            info.shape
        ))
    })
}

/// A positive attribute (stride, dilation) as `usize`.
fn positive(v: i32, what: &str) -> Result<usize, KernelError> {
    if v > 0 {
        Ok(v as usize)
    } else {
        Err(KernelError::invalid(alloc::format!(
            "{what} must be positive, is {v}"
        )))
    }
}

/// The scales of a filter quantized per tensor or per channel along `axis` with `channels`
/// channels, one per channel (a single scale is broadcast, as LiteRT does). Fails for an
/// unquantized filter, scales along another axis, and non-positive or non-finite scales.
pub fn channel_scales(
    filter: &TensorInfo,
    axis: usize,
    channels: usize,
) -> Result<Vec<f32>, KernelError> {
    let q = filter
        .quant
        .as_ref()
        .and_then(|q| q.scheme.as_ref())
        .ok_or_else(|| {
            KernelError::invalid(alloc::format!("filter '{}' is not quantized", filter.name))
        })?;
    let scales = match q {
        QuantScheme::PerTensor { scale, .. } => alloc::vec![*scale; channels],
        QuantScheme::PerAxis {
            axis: a, scales, ..
        } => {
            if scales.len() == 1 {
                alloc::vec![scales[0]; channels]
            } else if scales.len() == channels && *a >= 0 && *a as usize == axis {
                scales.clone()
            } else {
                return Err(KernelError::invalid(alloc::format!(
                    "filter '{}' has {} scales along axis {a}; expected 1, or {channels} along axis {axis}",
                    filter.name,
                    scales.len()
                )));
            }
        }
    };
    if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(KernelError::invalid(alloc::format!(
            "filter '{}' has a non-positive or non-finite scale {s}",
            filter.name
        )));
    }
    Ok(scales)
}

/// Fails unless every zero point of `info` is 0 (LiteRT requires symmetric filters for
/// per-channel kernels).
fn require_zero_points_zero(info: &TensorInfo) -> Result<(), KernelError> {
    if info.zero_points().iter().any(|&z| z != 0) {
        return Err(KernelError::invalid(alloc::format!(
            "tensor '{}' must have zero points of 0",
            info.name
        )));
    }
    Ok(())
}

/// Per-channel quantized multipliers and shifts for `real = in_scale * filter_scale[c] /
/// out_scale`, computed in double as LiteRT's `PopulateConvolutionQuantizationParams` does.
/// `max_shift` bounds the left shift the requantization can apply (30 for 32-bit
/// accumulators, 14 for 64-bit ones).
pub fn channel_multipliers(
    in_scale: f32,
    filter_scales: &[f32],
    out_scale: f32,
    max_shift: i32,
) -> Result<(Vec<i32>, Vec<i32>), KernelError> {
    let mut mult = Vec::with_capacity(filter_scales.len());
    let mut shift = Vec::with_capacity(filter_scales.len());
    for &fs in filter_scales {
        let real = f64::from(in_scale) * f64::from(fs) / f64::from(out_scale);
        let (m, s) = checked_multiplier(real, max_shift)?;
        mult.push(m);
        shift.push(s);
    }
    Ok((mult, shift))
}

/// [`qmath::quantize_multiplier`] with the result's shift checked against what requantization
/// supports (`max_shift`).
pub fn checked_multiplier(real: f64, max_shift: i32) -> Result<(i32, i32), KernelError> {
    if !(real.is_finite() && real >= 0.0) {
        return Err(KernelError::invalid(alloc::format!(
            "invalid requantization scale {real}"
        )));
    }
    let (m, s) = qmath::quantize_multiplier(real)?;
    if s > max_shift {
        return Err(KernelError::invalid(alloc::format!(
            "requantization scale {real} is too large"
        )));
    }
    Ok((m, s))
}

/// The per-tensor scale and zero point of a quantized tensor, failing unless the scale is
/// finite and positive.
pub fn checked_quant(info: &TensorInfo) -> Result<(f32, i32), KernelError> {
    let (s, z) = info.require_per_tensor_quant()?;
    if !(s.is_finite() && s > 0.0) {
        return Err(KernelError::invalid(alloc::format!(
            "tensor '{}' has an invalid scale {s}",
            info.name
        )));
    }
    Ok((s, z))
}

/// Parameters of an int8/int16 kernel with per-channel (or broadcast per-tensor) filter scales
/// along `axis`, as LiteRT's `PopulateConvolutionQuantizationParams` computes them. The filter
/// is symmetric (its zero point is not used). `(qmin, qmax)` is the output type's range.
#[allow(clippy::too_many_arguments)]
pub fn int_params(
    input: &TensorInfo,
    filter: &TensorInfo,
    output: &TensorInfo,
    act: Activation,
    channels: usize,
    axis: usize,
    (qmin, qmax): (i32, i32),
    max_shift: i32,
) -> Result<IntParams, KernelError> {
    let (in_s, in_zp) = checked_quant(input)?;
    let (out_s, out_zp) = checked_quant(output)?;
    let scales = channel_scales(filter, axis, channels)?;
    let (mult, shift) = channel_multipliers(in_s, &scales, out_s, max_shift)?;
    let (lo, hi) = activation_range_quantized(act, out_s, out_zp, qmin, qmax);
    Ok(IntParams {
        in_offset: -in_zp,
        w_offset: 0,
        out_zp,
        mult,
        shift,
        lo,
        hi,
    })
}

/// Parameters of a uint8 kernel: one multiplier from the float product of the scales (LiteRT's
/// `GetQuantizedConvolutionMultipler`), repeated for `channels`, and the filter's zero point
/// honoured.
pub fn uint8_params(
    input: &TensorInfo,
    filter: &TensorInfo,
    output: &TensorInfo,
    act: Activation,
    channels: usize,
) -> Result<IntParams, KernelError> {
    let (in_s, in_zp) = checked_quant(input)?;
    let (f_s, f_zp) = checked_quant(filter)?;
    let (out_s, out_zp) = checked_quant(output)?;
    let (m, s) = checked_multiplier(f64::from(in_s * f_s) / f64::from(out_s), 30)?;
    let (lo, hi) = activation_range_quantized(act, out_s, out_zp, 0, 255);
    Ok(IntParams {
        in_offset: -in_zp,
        w_offset: -f_zp,
        out_zp,
        mult: alloc::vec![m; channels],
        shift: alloc::vec![s; channels],
        lo,
        hi,
    })
}

/// Whether an int16 kernel accumulates in 64 bits: LiteRT's int16 CONV_2D, TRANSPOSE_CONV and
/// FULLY_CONNECTED do unless the bias is int32 (the `quantized_bias_type` attribute says int32
/// when there is no bias). Requantization then allows left shifts up to 14 instead of 30.
pub fn int16_wide_accumulator(bias: Option<&TensorInfo>, quantized_bias_type: DType) -> bool {
    match bias {
        Some(b) => b.dtype == DType::Int64,
        None => quantized_bias_type != DType::Int32,
    }
}

/// Fails unless a bias description is consistent: `len` elements of one of `dtypes`.
fn check_bias(bias: Option<&TensorInfo>, len: usize, dtypes: &[DType]) -> Result<(), KernelError> {
    if let Some(b) = bias {
        if !dtypes.contains(&b.dtype) {
            return Err(KernelError::invalid(alloc::format!(
                "bias '{}' has type {}, expected one of {:?}",
                b.name,
                b.dtype,
                dtypes.iter().map(|d| d.name()).collect::<Vec<_>>()
            )));
        }
        if b.num_elements() != len {
            return Err(KernelError::invalid(alloc::format!(
                "bias '{}' has {} elements, expected {len}",
                b.name,
                b.num_elements()
            )));
        }
    }
    Ok(())
}

/// Fails unless `info` has type `dtype`.
fn require_dtype(info: &TensorInfo, dtype: DType, what: &str) -> Result<(), KernelError> {
    if info.dtype != dtype {
        return Err(KernelError::invalid(alloc::format!(
            "{what} '{}' has type {}, expected {dtype}",
            info.name,
            info.dtype
        )));
    }
    Ok(())
}

/// Fails unless `info` has shape `shape`.
fn require_shape(info: &TensorInfo, shape: &[usize], what: &str) -> Result<(), KernelError> {
    if info.shape != shape {
        return Err(KernelError::invalid(alloc::format!(
            "{what} '{}' has shape {:?}, expected {shape:?}",
            info.name,
            info.shape
        )));
    }
    Ok(())
}

/// The tensors of a convolution-like node.
struct Tensors<'a> {
    input: &'a TensorInfo,
    filter: &'a TensorInfo,
    bias: Option<&'a TensorInfo>,
    output: &'a TensorInfo,
}

impl<'a> Tensors<'a> {
    /// Checks the arity (`inputs` inputs, the last one an optional bias, one output) and takes
    /// the data input from slot `data` and the filter from slot 1.
    fn of(node: &NodeCtx<'a>, inputs: usize, data: usize) -> Result<Self, KernelError> {
        node.expect_inputs(inputs - 1, inputs)?;
        node.expect_outputs(1)?;
        // Missing inputs are reported in slot order.
        for i in 0..inputs - 1 {
            node.input(i)?;
        }
        Ok(Self {
            input: node.input(data)?,
            filter: node.input(1)?,
            bias: node.optional_input(inputs - 1),
            output: node.output(0)?,
        })
    }
}

/// The rules an op's (input, filter) types follow.
struct Rules {
    op: &'static str,
    /// "filter" or "weights", as the op's error messages say.
    filter_word: &'static str,
    /// The filter's channel axis.
    axis: usize,
    /// Whether int8 and int16 kernels require a filter with zero points of 0.
    symmetric_filter: bool,
    /// `None`: the int16 kernel takes only 64-bit biases; else the attribute that decides the
    /// accumulator without a bias (see [`int16_wide_accumulator`]).
    i16_bias_type: Option<DType>,
}

impl Tensors<'_> {
    /// The plan of a convolution-like op over `geom` (one multiplier per output channel).
    fn plan(&self, rules: &Rules, act: Activation, geom: Geom) -> Result<ConvPlan, KernelError> {
        Ok(ConvPlan {
            geom,
            quant: self.quant(rules, act, geom.out_c)?,
            bias: BiasKind::of(self.bias),
        })
    }

    /// The (input, filter) type match of CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV, with
    /// the output type, bias and quantization checks of each branch. Hybrid kernels come out
    /// per channel with asymmetric input quantization; CONV_2D narrows that afterwards.
    fn quant(
        &self,
        rules: &Rules,
        act: Activation,
        channels: usize,
    ) -> Result<ConvQuant, KernelError> {
        let (input, filter, output, bias) = (self.input, self.filter, self.output, self.bias);
        let q = match (input.dtype, filter.dtype) {
            (DType::Float32, DType::Float32) => {
                require_dtype(output, DType::Float32, "output")?;
                check_bias(bias, channels, &[DType::Float32])?;
                let (lo, hi) = activation_range_f32(act);
                Quant::F32 { lo, hi }
            }
            (DType::Float32, DType::Int8) => {
                require_dtype(output, DType::Float32, "output")?;
                check_bias(bias, channels, &[DType::Float32])?;
                let (lo, hi) = activation_range_f32(act);
                let scales = channel_scales(filter, rules.axis, channels)?;
                let h = HybridQuant {
                    scales,
                    per_channel: true,
                    asymmetric: true,
                };
                Quant::Hybrid { h, lo, hi }
            }
            (DType::Int8, DType::Int8) => {
                require_dtype(output, DType::Int8, "output")?;
                check_bias(bias, channels, &[DType::Int32])?;
                if rules.symmetric_filter {
                    require_zero_points_zero(filter)?;
                }
                let range = (i8::MIN.into(), i8::MAX.into());
                Quant::I8(int_params(
                    input, filter, output, act, channels, rules.axis, range, 30,
                )?)
            }
            (DType::Int16, DType::Int8) => {
                require_dtype(output, DType::Int16, "output")?;
                let wide = match rules.i16_bias_type {
                    None => {
                        check_bias(bias, channels, &[DType::Int64])?;
                        true
                    }
                    Some(attr) => {
                        check_bias(bias, channels, &[DType::Int32, DType::Int64])?;
                        int16_wide_accumulator(bias, attr)
                    }
                };
                if rules.symmetric_filter {
                    require_zero_points_zero(filter)?;
                }
                let range = (i16::MIN.into(), i16::MAX.into());
                let max_shift = if wide { 14 } else { 30 };
                let p = int_params(
                    input, filter, output, act, channels, rules.axis, range, max_shift,
                )?;
                crate::ensure!(
                    p.in_offset == 0 && p.out_zp == 0,
                    "{} int16 needs zero points of 0 on input and output",
                    rules.op
                );
                Quant::I16 { p, wide }
            }
            (DType::UInt8, DType::UInt8) => {
                require_dtype(output, DType::UInt8, "output")?;
                check_bias(bias, channels, &[DType::Int32])?;
                Quant::U8(uint8_params(input, filter, output, act, channels)?)
            }
            (i, f) => {
                return Err(KernelError::unsupported(alloc::format!(
                    "{} with {i} input and {f} {}",
                    rules.op,
                    rules.filter_word
                )));
            }
        };
        Ok(q)
    }
}

/// The attributes of a forward window op.
struct Window {
    padding: Padding,
    /// `(stride_h, stride_w)`.
    strides: (i32, i32),
    /// `(dilation_h_factor, dilation_w_factor)`.
    dilations: (i32, i32),
}

/// The geometry of CONV_2D and DEPTHWISE_CONV_2D: strides and dilations checked, output size
/// and padding as LiteRT computes them (a window that LiteRT's arithmetic sizes negative is
/// refused), and the output tensor's shape checked against them.
fn forward_geom(
    op: &str,
    [n, in_h, in_w, in_c]: [usize; 4],
    (k_h, k_w, k_c): (usize, usize, usize),
    out_c: usize,
    a: &Window,
    output: &TensorInfo,
) -> Result<Geom, KernelError> {
    let stride_h = positive(a.strides.0, "stride_h")?;
    let stride_w = positive(a.strides.1, "stride_w")?;
    let dil_h = positive(a.dilations.0, "dilation_h_factor")?;
    let dil_w = positive(a.dilations.1, "dilation_w_factor")?;
    let (Some((out_h, pad_h)), Some((out_w, pad_w))) = (
        window::conv_axis(a.padding, in_h, k_h, stride_h, dil_h),
        window::conv_axis(a.padding, in_w, k_w, stride_w, dil_w),
    ) else {
        return Err(KernelError::invalid(alloc::format!(
            "{op} window {k_h}x{k_w} (dilation {dil_h}x{dil_w}) does not fit input {in_h}x{in_w}"
        )));
    };
    require_shape(output, &[n, out_h, out_w, out_c], "output")?;
    Ok(Geom::new(
        n,
        [in_h, in_w, in_c],
        [out_h, out_w, out_c],
        [k_h, k_w, k_c],
        (stride_h, stride_w),
        (dil_h, dil_w),
        (pad_h.before as i64, pad_w.before as i64),
    ))
}

fn wrong_op(node: &NodeCtx<'_>, want: &str) -> KernelError {
    KernelError::invalid(alloc::format!("{} is not a {want}", node.op.name()))
}

/// The plan of a CONV_2D node: float32, int8 (per-channel), int16x8 (32- or 64-bit
/// accumulator), uint8, or hybrid (float input, int8 filter; per channel when the filter's
/// scales differ or with groups, as LiteRT chooses).
pub fn conv2d(node: &NodeCtx<'_>) -> Result<ConvPlan, KernelError> {
    let Op::Conv2d(a) = node.op else {
        return Err(wrong_op(node, "CONV_2D"));
    };
    let t = Tensors::of(node, 3, 0)?;
    let in_dims @ [_, in_h, in_w, in_c] = dims::<4>(t.input, "input")?;
    let [out_c, k_h, k_w, k_c] = dims::<4>(t.filter, "filter")?;
    crate::ensure!(
        in_h > 0 && in_w > 0 && in_c > 0 && out_c > 0 && k_h > 0 && k_w > 0 && k_c > 0,
        "CONV_2D needs non-empty input {:?} and filter {:?}",
        t.input.shape,
        t.filter.shape
    );
    crate::ensure!(
        in_c % k_c == 0 && out_c % (in_c / k_c) == 0,
        "CONV_2D filter depth {k_c} and {out_c} filters do not divide input depth {in_c} into groups"
    );
    let w = Window {
        padding: a.padding,
        strides: (a.stride_h, a.stride_w),
        dilations: (a.dilation_h_factor, a.dilation_w_factor),
    };
    let geom = forward_geom("CONV_2D", in_dims, (k_h, k_w, k_c), out_c, &w, t.output)?;
    let rules = Rules {
        op: "CONV_2D",
        filter_word: "filter",
        axis: 0,
        symmetric_filter: true,
        i16_bias_type: Some(a.quantized_bias_type),
    };
    let mut plan = t.plan(&rules, a.fused_activation_function, geom)?;
    if let Quant::Hybrid { h, .. } = &mut plan.quant {
        // LiteRT takes the per-channel path (with asymmetric input quantization) only when the
        // scales differ, or for groups; equal scales run the per-tensor kernel with the first.
        let s = &h.scales;
        h.per_channel =
            geom.groups() != 1 || (t.filter.scales().len() > 1 && s.iter().any(|&v| v != s[0]));
        h.asymmetric = h.per_channel;
    }
    Ok(plan)
}

/// The plan of a DEPTHWISE_CONV_2D node: float32, int8 (per-channel), int16x8 (64-bit bias
/// only, always the 64-bit accumulator), uint8, or hybrid (per channel, asymmetric input
/// quantization). The output depth comes from the filter's shape, as LiteRT's kernels take it;
/// `depth_multiplier` is informational.
pub fn depthwise(node: &NodeCtx<'_>) -> Result<ConvPlan, KernelError> {
    let Op::DepthwiseConv2d(a) = node.op else {
        return Err(wrong_op(node, "DEPTHWISE_CONV_2D"));
    };
    let t = Tensors::of(node, 3, 0)?;
    let in_dims @ [_, in_h, in_w, in_c] = dims::<4>(t.input, "input")?;
    let [one, k_h, k_w, out_c] = dims::<4>(t.filter, "filter")?;
    crate::ensure!(
        one == 1,
        "DEPTHWISE_CONV_2D filter '{}' must be [1, H, W, C], is {:?}",
        t.filter.name,
        t.filter.shape
    );
    crate::ensure!(
        in_h > 0 && in_w > 0 && in_c > 0 && k_h > 0 && k_w > 0 && out_c > 0,
        "DEPTHWISE_CONV_2D needs non-empty input {:?} and filter {:?}",
        t.input.shape,
        t.filter.shape
    );
    crate::ensure!(
        out_c % in_c == 0,
        "DEPTHWISE_CONV_2D filter channels {out_c} are not a multiple of input channels {in_c}"
    );
    let w = Window {
        padding: a.padding,
        strides: (a.stride_h, a.stride_w),
        dilations: (a.dilation_h_factor, a.dilation_w_factor),
    };
    let geom = forward_geom(
        "DEPTHWISE_CONV_2D",
        in_dims,
        (k_h, k_w, 1),
        out_c,
        &w,
        t.output,
    )?;
    let rules = Rules {
        op: "DEPTHWISE_CONV_2D",
        filter_word: "filter",
        axis: 3,
        symmetric_filter: true,
        // LiteRT's int16 depthwise kernel takes only 64-bit biases.
        i16_bias_type: None,
    };
    t.plan(&rules, a.fused_activation_function, geom)
}

/// The plan of a TRANSPOSE_CONV node (inputs `output_shape`, weights OHWI, input, optional
/// bias): float32, int8, int16x8 (32- or 64-bit accumulator), uint8, or hybrid (per channel,
/// asymmetric input quantization). `geom.pad_*` is the padding of the output, as LiteRT
/// derives it by running the convolution rules from the output back to the input; the
/// `output_shape` operand, when constant, must equal the output tensor's shape.
pub fn transpose_conv(node: &NodeCtx<'_>) -> Result<ConvPlan, KernelError> {
    let Op::TransposeConv(a) = node.op else {
        return Err(wrong_op(node, "TRANSPOSE_CONV"));
    };
    let t = Tensors::of(node, 4, 2)?;
    let (filter, input, output) = (t.filter, t.input, t.output);
    let shape_in = node.input(0)?;
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
    let back_h = window::conv_axis(a.padding, out_h, k_h, stride_h, 1);
    let back_w = window::conv_axis(a.padding, out_w, k_w, stride_w, 1);
    let (Some((bh, pad_h)), Some((bw, pad_w))) = (back_h, back_w) else {
        return Err(not_from_input(a, (out_h, out_w), (k_h, k_w), (in_h, in_w)));
    };
    if (bh, bw) != (in_h, in_w) {
        return Err(not_from_input(a, (out_h, out_w), (k_h, k_w), (in_h, in_w)));
    }
    let geom = Geom::new(
        n,
        [in_h, in_w, in_c],
        [out_h, out_w, out_c],
        [k_h, k_w, k_c],
        (stride_h, stride_w),
        (1, 1),
        (pad_h.before as i64, pad_w.before as i64),
    );
    let rules = Rules {
        op: "TRANSPOSE_CONV",
        filter_word: "weights",
        axis: 0,
        symmetric_filter: false,
        i16_bias_type: Some(a.quantized_bias_type),
    };
    t.plan(&rules, a.fused_activation_function, geom)
}

fn not_from_input(
    a: &TransposeConvAttrs,
    (out_h, out_w): (usize, usize),
    (k_h, k_w): (usize, usize),
    (in_h, in_w): (usize, usize),
) -> KernelError {
    KernelError::invalid(alloc::format!(
        "TRANSPOSE_CONV output {out_h}x{out_w} with a {k_h}x{k_w} window, stride {}x{} and {} padding does not come from input {in_h}x{in_w}",
        a.stride_h,
        a.stride_w,
        a.padding
    ))
}

/// Requantization of an integer FULLY_CONNECTED. LiteRT's reference kernels requantize in
/// double here, not with a fixed-point multiplier: `round(acc * scale[unit])`.
#[derive(Debug, Clone, PartialEq)]
pub struct FcParams {
    /// Added to each input value.
    pub in_offset: i32,
    /// Added to each weight (the negated zero point of per-tensor weights; 0 per channel).
    pub w_offset: i32,
    /// Added after requantization.
    pub out_zp: i32,
    /// `input_scale * filter_scale / output_scale` per output unit, in double.
    pub scale: Vec<f64>,
    /// Lowest output value (activation included).
    pub lo: i32,
    /// Highest output value (activation included).
    pub hi: i32,
}

/// A validated FULLY_CONNECTED: `batches` rows of `depth` inputs times `units` rows of `depth`
/// weights.
#[derive(Debug, Clone, PartialEq)]
pub struct FcPlan {
    /// Input rows.
    pub batches: usize,
    /// Output units (weight rows).
    pub units: usize,
    /// Inputs per row; 0 means LiteRT writes zeros.
    pub depth: usize,
    /// Types and requantization. Hybrid kernels ignore `lo`/`hi` and apply [`Self::act`].
    pub quant: Quant<FcParams>,
    /// The fused activation (hybrid kernels apply every activation, others only clipping
    /// ones, whose range is in the quantization).
    pub act: Activation,
    /// The bias input's type.
    pub bias: BiasKind,
}

/// The plan of a FULLY_CONNECTED node (default weights format): float32, int8 (per-tensor or
/// per-channel weights), int16x8, uint8 (per-tensor), or hybrid (symmetric or asymmetric input
/// quantization per row, as `asymmetric_quantize_inputs` says).
pub fn fully_connected(node: &NodeCtx<'_>) -> Result<FcPlan, KernelError> {
    let Op::FullyConnected(a) = node.op else {
        return Err(wrong_op(node, "FULLY_CONNECTED"));
    };
    node.expect_inputs(2, 3)?;
    node.expect_outputs(1)?;
    if a.weights_format != WeightsFormat::Default {
        return Err(KernelError::unsupported(alloc::format!(
            "FULLY_CONNECTED weights format {}",
            a.weights_format
        )));
    }
    let input = node.input(0)?;
    let filter = node.input(1)?;
    let bias = node.optional_input(2);
    let output = node.output(0)?;
    let [units, depth] = dims::<2>(filter, "weights")?;
    let total = input.num_elements();
    let batches = if depth == 0 {
        input
            .shape
            .split_last()
            .map_or(1, |(_, lead)| lead.iter().product())
    } else {
        crate::ensure!(
            total % depth == 0,
            "FULLY_CONNECTED input '{}' of {total} elements is not a whole number of rows of {depth}",
            input.name
        );
        total / depth
    };
    if a.keep_num_dims {
        crate::ensure!(
            input.shape.last() == Some(&depth),
            "FULLY_CONNECTED with keep_num_dims needs the input's last dimension to be {depth}, input is {:?}",
            input.shape
        );
    }
    crate::ensure!(
        output.num_elements() == batches * units
            && (output.shape.last() == Some(&units) || batches * units == 0),
        "FULLY_CONNECTED output '{}' has shape {:?}, expected {batches} rows of {units}",
        output.name,
        output.shape
    );
    let act = a.fused_activation_function;
    let hybrid = input.dtype == DType::Float32 && filter.dtype == DType::Int8;
    if !hybrid {
        crate::ensure!(
            matches!(
                act,
                Activation::None | Activation::Relu | Activation::ReluN1To1 | Activation::Relu6
            ),
            "FULLY_CONNECTED supports only clipping activations, not {act}"
        );
    }
    let fc_params = |range| fc_params(input, filter, output, act, units, range);
    let quant = match (input.dtype, filter.dtype) {
        (DType::Float32, DType::Float32) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, units, &[DType::Float32])?;
            let (lo, hi) = activation_range_f32(act);
            Quant::F32 { lo, hi }
        }
        (DType::Float32, DType::Int8) => {
            require_dtype(output, DType::Float32, "output")?;
            check_bias(bias, units, &[DType::Float32])?;
            let (lo, hi) = activation_range_f32(act);
            let h = HybridQuant {
                scales: channel_scales(filter, 0, units)?,
                per_channel: filter.scales().len() > 1,
                asymmetric: a.asymmetric_quantize_inputs,
            };
            Quant::Hybrid { h, lo, hi }
        }
        (DType::Int8, DType::Int8) => {
            require_dtype(output, DType::Int8, "output")?;
            check_bias(bias, units, &[DType::Int32])?;
            Quant::I8(fc_params((i8::MIN.into(), i8::MAX.into()))?)
        }
        (DType::Int16, DType::Int8) => {
            require_dtype(output, DType::Int16, "output")?;
            check_bias(bias, units, &[DType::Int32, DType::Int64])?;
            let p = fc_params((i16::MIN.into(), i16::MAX.into()))?;
            crate::ensure!(
                p.in_offset == 0 && p.out_zp == 0,
                "FULLY_CONNECTED int16 needs zero points of 0 on input and output"
            );
            let wide = int16_wide_accumulator(bias, a.quantized_bias_type);
            Quant::I16 { p, wide }
        }
        (DType::UInt8, DType::UInt8) => {
            require_dtype(output, DType::UInt8, "output")?;
            check_bias(bias, units, &[DType::Int32])?;
            crate::ensure!(
                filter.scales().len() <= 1,
                "FULLY_CONNECTED uint8 supports only per-tensor weights"
            );
            Quant::U8(fc_params((0, 255))?)
        }
        (i, f) => {
            return Err(KernelError::unsupported(alloc::format!(
                "FULLY_CONNECTED with {i} input and {f} weights"
            )));
        }
    };
    Ok(FcPlan {
        batches,
        units,
        depth,
        quant,
        act,
        bias: BiasKind::of(bias),
    })
}

/// Output range and per-unit double scales. Per-tensor weights keep their zero point (LiteRT
/// subtracts it); per-channel weights are symmetric by specification and theirs is ignored.
fn fc_params(
    input: &TensorInfo,
    filter: &TensorInfo,
    output: &TensorInfo,
    act: Activation,
    units: usize,
    (qmin, qmax): (i32, i32),
) -> Result<FcParams, KernelError> {
    let (in_s, in_zp) = checked_quant(input)?;
    let (out_s, out_zp) = checked_quant(output)?;
    let per_channel = filter.scales().len() > 1;
    let scales = channel_scales(filter, 0, units)?;
    let w_zp = if per_channel {
        0
    } else {
        checked_quant(filter)?.1
    };
    let scale = scales
        .iter()
        .map(|&fs| f64::from(in_s) * f64::from(fs) / f64::from(out_s))
        .collect();
    let (lo, hi) = activation_range_quantized(act, out_s, out_zp, qmin, qmax);
    Ok(FcParams {
        in_offset: -in_zp,
        w_offset: -w_zp,
        out_zp,
        scale,
        lo,
        hi,
    })
}

/// The shapes of one BATCH_MATMUL, fixed at preparation: per batch, `[M, K]` times `[K, N]`
/// (before `adj_x`/`adj_y`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatMulDims {
    /// Rows of each output matrix.
    pub m: usize,
    /// Columns of each output matrix.
    pub n: usize,
    /// The contraction size.
    pub k: usize,
    /// Matrices in the left operand.
    pub lhs_batches: usize,
    /// Matrices in the right operand.
    pub rhs_batches: usize,
    /// For each output matrix, the left and right matrices it multiplies (broadcasting).
    pub pairs: Vec<(usize, usize)>,
    /// The left operand is stored transposed (`[K, M]`).
    pub adj_x: bool,
    /// The right operand is stored transposed (`[N, K]`).
    pub adj_y: bool,
}

impl MatMulDims {
    /// Elements of the left operand.
    pub fn lhs_len(&self) -> usize {
        self.lhs_batches * self.m * self.k
    }

    /// Elements of the right operand.
    pub fn rhs_len(&self) -> usize {
        self.rhs_batches * self.k * self.n
    }

    /// Elements of the output.
    pub fn out_len(&self) -> usize {
        self.pairs.len() * self.m * self.n
    }
}

/// The arithmetic of a BATCH_MATMUL.
#[derive(Debug, Clone, PartialEq)]
pub enum MatMulQuant {
    /// float32 operands and output.
    F32,
    /// int8 x int8 -> int8, requantized with one multiplier, the operands' zero points
    /// honoured.
    I8 {
        /// Zero point of the left operand.
        lhs_zp: i32,
        /// Zero point of the right operand.
        rhs_zp: i32,
        /// Zero point of the output.
        out_zp: i32,
        /// Quantized multiplier.
        mult: i32,
        /// Shift.
        shift: i32,
    },
    /// int8 x int8 -> int32: raw products, as LiteRT's kernel computes them.
    I8ToI32,
    /// int16 x int16 or int16 x int8 -> int16 with 64-bit accumulators, zero points 0.
    I16 {
        /// The right operand is int8.
        rhs_i8: bool,
        /// Quantized multiplier.
        mult: i32,
        /// Shift.
        shift: i32,
    },
    /// float x int8 -> float.
    Hybrid {
        /// The right operand's scales (1, or one per output column) and input quantization.
        h: HybridQuant,
        /// Per output matrix, where LiteRT's hybrid kernel reads that matrix's scaling
        /// factors (and zero points) and the right operand's row sums: `(row of the first
        /// scaling factor, first row sum)`. See the note on LiteRT's indexing in the source.
        bases: Vec<(usize, usize)>,
    },
}

/// A validated BATCH_MATMUL.
#[derive(Debug, Clone, PartialEq)]
pub struct MatMulPlan {
    /// Shapes and broadcasting.
    pub dims: MatMulDims,
    /// Types and requantization.
    pub quant: MatMulQuant,
}

/// The plan of a BATCH_MATMUL node: operands of rank 2 to 5 with broadcast batch dimensions;
/// float32, int8 (int8 or int32 output), int16 (int16 or int8 right operand), or hybrid.
pub fn batch_matmul(node: &NodeCtx<'_>) -> Result<MatMulPlan, KernelError> {
    let Op::BatchMatMul(a) = node.op else {
        return Err(wrong_op(node, "BATCH_MATMUL"));
    };
    node.expect_inputs(2, 2)?;
    node.expect_outputs(1)?;
    let lhs = node.input(0)?;
    let rhs = node.input(1)?;
    let out = node.output(0)?;
    let (mut d, out_shape) = layout(&lhs.shape, &rhs.shape, a.adj_x, a.adj_y)?;
    require_shape(out, &out_shape, "output")?;
    let quant = match (lhs.dtype, rhs.dtype, out.dtype) {
        (DType::Float32, DType::Float32, _) => {
            require_dtype(out, DType::Float32, "output")?;
            MatMulQuant::F32
        }
        (DType::Float32, DType::Int8, _) => {
            require_dtype(out, DType::Float32, "output")?;
            let scales = rhs.scales();
            crate::ensure!(
                !scales.is_empty() && scales.iter().all(|s| s.is_finite() && *s > 0.0),
                "BATCH_MATMUL hybrid right operand '{}' needs positive scales",
                rhs.name
            );
            let many = scales.len() > 1;
            crate::ensure!(
                !many || scales.len() == d.n,
                "BATCH_MATMUL hybrid right operand '{}' has {} scales for {} output columns",
                rhs.name,
                scales.len(),
                d.n
            );
            // LiteRT first folds a right operand's unit third-to-last dimension into the left
            // operand's rows (`[.., a, m, k] x [.., 1, k, n]` as `[.., a*m, k] x [.., k, n]`),
            // which changes how its hybrid kernel indexes scaling factors: take the same view.
            let (mut ls, mut rs) = (lhs.shape.clone(), rhs.shape.clone());
            if !a.adj_x && ls.len() > 2 && rs.len() > 2 && rs[rs.len() - 3] == 1 {
                let at = ls.len() - 3;
                let merged = ls[at] * ls[at + 1];
                ls.splice(at..at + 2, [merged]);
                rs.remove(rs.len() - 3);
                d = layout(&ls, &rs, a.adj_x, a.adj_y)?.0;
            }
            let bases = litert_hybrid_bases(&ls, &rs, d.m, d.n);
            let h = HybridQuant {
                scales: scales.to_vec(),
                per_channel: many,
                asymmetric: a.asymmetric_quantize_inputs,
            };
            MatMulQuant::Hybrid { h, bases }
        }
        (DType::Int8, DType::Int8, DType::Int32) => MatMulQuant::I8ToI32,
        (DType::Int8, DType::Int8, _) => {
            require_dtype(out, DType::Int8, "output")?;
            let (ls, lz) = checked_quant(lhs)?;
            let (rs, rz) = checked_quant(rhs)?;
            let (os, oz) = checked_quant(out)?;
            // LiteRT's `GetQuantizedConvolutionMultipler`: the scales' product in float.
            let (mult, shift) = checked_multiplier(f64::from(ls * rs) / f64::from(os), 30)?;
            MatMulQuant::I8 {
                lhs_zp: lz,
                rhs_zp: rz,
                out_zp: oz,
                mult,
                shift,
            }
        }
        (DType::Int16, DType::Int16 | DType::Int8, _) => {
            require_dtype(out, DType::Int16, "output")?;
            let (ls, lz) = checked_quant(lhs)?;
            let (rs, rz) = checked_quant(rhs)?;
            let (os, oz) = checked_quant(out)?;
            crate::ensure!(
                lz == 0 && rz == 0 && oz == 0,
                "BATCH_MATMUL int16 needs zero points of 0"
            );
            let (mult, shift) = checked_multiplier(f64::from(ls * rs) / f64::from(os), 14)?;
            MatMulQuant::I16 {
                rhs_i8: rhs.dtype == DType::Int8,
                mult,
                shift,
            }
        }
        (l, r, _) => {
            return Err(KernelError::unsupported(alloc::format!(
                "BATCH_MATMUL with {l} and {r} operands"
            )));
        }
    };
    Ok(MatMulPlan { dims: d, quant })
}

/// Shapes and broadcasting of operands with shapes `l` and `r`; returns the layout and the
/// output shape.
fn layout(
    l: &[usize],
    r: &[usize],
    adj_x: bool,
    adj_y: bool,
) -> Result<(MatMulDims, Vec<usize>), KernelError> {
    let (lr, rr) = (l.len(), r.len());
    crate::ensure!(
        (2..=5).contains(&lr) && (2..=5).contains(&rr),
        "BATCH_MATMUL operands must have rank 2 to 5, have {l:?} and {r:?}"
    );
    let rank = lr.max(rr);
    let (l, r) = (extend(l, rank), extend(r, rank));
    let (m, lk) = if adj_x {
        (l[rank - 1], l[rank - 2])
    } else {
        (l[rank - 2], l[rank - 1])
    };
    let (rk, n) = if adj_y {
        (r[rank - 1], r[rank - 2])
    } else {
        (r[rank - 2], r[rank - 1])
    };
    crate::ensure!(
        lk == rk,
        "BATCH_MATMUL contraction sizes differ: {lk} and {rk}"
    );
    let batch_rank = rank - 2;
    let mut out_shape = Vec::with_capacity(rank);
    for i in 0..batch_rank {
        let (ld, rd) = (l[i], r[i]);
        crate::ensure!(
            ld == rd || ld == 1 || rd == 1,
            "BATCH_MATMUL batch dimensions of {l:?} and {r:?} do not broadcast"
        );
        out_shape.push(if ld == 1 { rd } else { ld });
    }
    out_shape.push(m);
    out_shape.push(n);
    let (ls, rs) = (
        batch_strides(&l[..batch_rank]),
        batch_strides(&r[..batch_rank]),
    );
    let pairs = for_each_batch(&out_shape[..batch_rank])
        .map(|idx| {
            let li = idx.iter().zip(&ls).map(|(i, s)| i * s).sum();
            let ri = idx.iter().zip(&rs).map(|(i, s)| i * s).sum();
            (li, ri)
        })
        .collect();
    let d = MatMulDims {
        m,
        n,
        k: lk,
        lhs_batches: l[..batch_rank].iter().product(),
        rhs_batches: r[..batch_rank].iter().product(),
        pairs,
        adj_x,
        adj_y,
    };
    Ok((d, out_shape))
}

/// `s` with leading 1s up to `rank` dimensions.
fn extend(s: &[usize], rank: usize) -> Vec<usize> {
    let mut v = alloc::vec![1; rank - s.len()];
    v.extend_from_slice(s);
    v
}

/// Row-major strides of batch dimensions; broadcast (size 1) dimensions step by 0.
fn batch_strides(d: &[usize]) -> Vec<usize> {
    let mut s = alloc::vec![0; d.len()];
    let mut acc = 1;
    for i in (0..d.len()).rev() {
        s[i] = if d[i] == 1 { 0 } else { acc };
        acc *= d[i];
    }
    s
}

/// Every index of a row-major array of shape `dims`, in order.
fn for_each_batch(dims: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let total: usize = dims.iter().product();
    let mut idx = alloc::vec![0usize; dims.len()];
    (0..total).map(move |t| {
        if t > 0 {
            for d in (0..dims.len()).rev() {
                idx[d] += 1;
                if idx[d] < dims[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        idx.clone()
    })
}

/// Where LiteRT's hybrid kernel looks up each output matrix's per-row scaling factors (and
/// zero points) and the right operand's row sums: `(row of the first scaling factor, first row
/// sum)`.
///
/// LiteRT's reference `BatchMatMul` (hybrid) steps these with one extent per 5-D batch
/// dimension (`rows` when the dimension is not broadcast, else 0) instead of the product of the
/// inner dimensions. That is exact for one non-broadcast batch dimension; with several it
/// reads other rows' scaling factors. LiteRT's answer is the reference here, so the same rows
/// are read. Both lookups stay inside their arrays (a sum of `dim - 1` never exceeds a product
/// of `dim`).
fn litert_hybrid_bases(l: &[usize], r: &[usize], m: usize, n: usize) -> Vec<(usize, usize)> {
    let lb = extend(&l[..l.len() - 2], 3);
    let rb = extend(&r[..r.len() - 2], 3);
    let out: Vec<usize> = lb
        .iter()
        .zip(&rb)
        .map(|(&a, &b)| if a == 1 { b } else { a })
        .collect();
    for_each_batch(&out)
        .map(|idx| {
            let sf = idx
                .iter()
                .zip(&lb)
                .filter(|(_, d)| **d != 1)
                .map(|(i, _)| i * m)
                .sum();
            let rs = idx
                .iter()
                .zip(&rb)
                .filter(|(_, d)| **d != 1)
                .map(|(i, _)| i * n)
                .sum();
            (sf, rs)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tflrs_ir::{Conv2dAttrs, QuantParams};

    /// A NodeCtx over `op`, `inputs` and `outputs` (as `testing::make_kernel` assembles one),
    /// handed to `f`.
    fn with_node<R>(
        op: &Op<'_>,
        inputs: &[&TensorInfo],
        outputs: &[&TensorInfo],
        f: impl FnOnce(&NodeCtx<'_>) -> R,
    ) -> R {
        let ins: Vec<Option<&TensorInfo>> = inputs.iter().map(|i| Some(*i)).collect();
        let constants = alloc::vec![None; ins.len()];
        let node = NodeCtx {
            subgraph: 0,
            index: 0,
            op,
            inputs: &ins,
            constants: &constants,
            outputs,
            intermediates: &[],
        };
        f(&node)
    }

    fn int8_conv(stride: i32, padding: Padding) -> (Op<'static>, [TensorInfo; 3]) {
        let op = Op::Conv2d(Conv2dAttrs {
            padding,
            stride_h: stride,
            stride_w: stride,
            dilation_h_factor: 1,
            dilation_w_factor: 1,
            fused_activation_function: Activation::Relu,
            ..Default::default()
        });
        let x = TensorInfo::new("x", DType::Int8, [1, 7, 8, 2]).with_quant(0.5, -3);
        let mut w = TensorInfo::new("w", DType::Int8, [2, 3, 3, 2]);
        w.quant = Some(QuantParams::per_axis(
            0,
            alloc::vec![0.25, 0.125],
            alloc::vec![0, 0],
        ));
        let b = TensorInfo::new("b", DType::Int32, [2]);
        (op, [x, w, b])
    }

    #[test]
    fn conv2d_int8_plan_exposes_geometry_and_channel_multipliers() {
        let (op, [x, w, b]) = int8_conv(2, Padding::Same);
        let y = TensorInfo::new("y", DType::Int8, [1, 4, 4, 2]).with_quant(0.25, 5);
        let plan = with_node(&op, &[&x, &w, &b], &[&y], conv2d).unwrap();
        let g = plan.geom;
        assert_eq!((g.n, g.in_h, g.in_w, g.in_c), (1, 7, 8, 2));
        assert_eq!((g.out_h, g.out_w, g.out_c), (4, 4, 2));
        assert_eq!((g.k_h, g.k_w, g.k_c, g.groups()), (3, 3, 2, 1));
        // SAME, stride 2: height 7 pads 2 (1 before), width 8 pads 1 (0 before).
        assert_eq!((g.pad_h, g.pad_w), (1, 0));
        assert_eq!(g.filter_len(), w.num_elements());
        assert_eq!(plan.bias, BiasKind::I32);
        let ConvQuant::I8(p) = &plan.quant else {
            panic!("not the int8 kernel: {:?}", plan.quant);
        };
        // real = 0.5 * {0.25, 0.125} / 0.25 = {0.5, 0.25}: 2^30 shifted right by 0 and 1.
        assert_eq!(p.mult, [1 << 30, 1 << 30]);
        assert_eq!(p.shift, [0, -1]);
        assert_eq!((p.in_offset, p.w_offset, p.out_zp), (3, 0, 5));
        // RELU clamps at the output zero point.
        assert_eq!((p.lo, p.hi), (5, 127));
        for (c, &s) in [0.25f32, 0.125].iter().enumerate() {
            let real = 0.5 * f64::from(s) / 0.25;
            assert_eq!(
                qmath::quantize_multiplier(real).unwrap(),
                (p.mult[c], p.shift[c])
            );
        }
    }

    #[test]
    fn conv2d_plan_errors_are_typed() {
        let (op, [x, w, b]) = int8_conv(2, Padding::Valid);
        // VALID, stride 2 over 7x8 with 3x3 gives 3x3, not 4x4.
        let y = TensorInfo::new("y", DType::Int8, [1, 4, 4, 2]).with_quant(0.25, 5);
        let e = with_node(&op, &[&x, &w, &b], &[&y], conv2d).unwrap_err();
        assert!(
            matches!(&e, KernelError::Invalid(m) if m.contains("shape")),
            "{e:?}"
        );
        // Another op is refused, not planned.
        let e = with_node(&op, &[&x, &w, &b], &[&y], depthwise).unwrap_err();
        assert!(matches!(&e, KernelError::Invalid(m) if m.contains("DEPTHWISE_CONV_2D")));
        // A float input with an int16 filter is unsupported.
        let x16 = TensorInfo::new("x", DType::Float32, [1, 7, 8, 2]);
        let w16 = TensorInfo::new("w", DType::Int16, [2, 3, 3, 2]);
        let y = TensorInfo::new("y", DType::Float32, [1, 3, 3, 2]);
        let e = with_node(&op, &[&x16, &w16], &[&y], conv2d).unwrap_err();
        assert!(matches!(e, KernelError::Unsupported(_)), "{e:?}");
    }
}
