//! CAST, QUANTIZE and DEQUANTIZE (LiteRT's `cast.cc`, `quantize.cc`, `dequantize.cc`).
//!
//! - CAST converts as C++ `static_cast` does between integers (wrapping) and from integers to
//!   floats (round to nearest); floats to integers truncate and saturate, NaN giving the largest
//!   value (LiteRT's `SafeCast`); anything to bool is `!= 0`; float16/bfloat16 go through `f32`.
//! - QUANTIZE from float divides by the scale in `f32`, rounds half away from zero and adds the
//!   zero point (per tensor or per channel); between integer types it requantizes with the
//!   multiplier `s_in / s_out`.
//! - DEQUANTIZE computes `scale * (q - zp)` in `double` per tensor and in `float` per channel, as
//!   LiteRT's reference kernels do; float16 is widened exactly. A constant input is dequantized
//!   once, when the kernel is made.

use crate::kernel::{KernelIo, NodeCtx};
use crate::prep::unary::unary_io;
use crate::scalar::binary::elementwise::{QElem, map, quant_of};
use crate::scalar::binary::kname;
use crate::scalar::qmath::f32_to_i32_x86;
use crate::scalar::qmath::{multiply_by_quantized_multiplier, quantize_multiplier, round_f32};
use crate::{Kernel, KernelError, TensorInfo, ensure};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use half::{bf16, f16};
use tflrs_ir::{DType, Op};

pub(super) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let k = match node.op {
        Op::Cast(_) => cast(node)?,
        Op::Quantize => quantize(node)?,
        Op::Dequantize => dequantize(node)?,
        _ => return Ok(None),
    };
    Ok(Some(k))
}

/// A value on its way through CAST, keeping integers exact until the destination type.
#[derive(Debug, Clone, Copy)]
enum Val {
    I(i64),
    U(u64),
    F(f64),
}

/// float16 bits.
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
struct F16(u16);

/// bfloat16 bits.
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
struct Bf16(u16);

/// A bool byte.
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
struct Bool(u8);

trait CastSrc: bytemuck::Pod + Send + 'static {
    fn val(self) -> Val;
}

trait CastDst: bytemuck::Pod + Send + 'static {
    fn from_val(v: Val) -> Self;
}

macro_rules! int_cast {
    ($($t:ty => $variant:ident, $wide:ty);*) => {$(
        impl CastSrc for $t {
            #[inline]
            fn val(self) -> Val {
                Val::$variant(<$wide>::from(self))
            }
        }
        impl CastDst for $t {
            #[inline]
            fn from_val(v: Val) -> Self {
                match v {
                    Val::I(i) => i as $t,
                    Val::U(u) => u as $t,
                    // Saturating truncation, NaN to the largest value (LiteRT's `SafeCast`).
                    Val::F(f) => if f.is_nan() { <$t>::MAX } else { f as $t },
                }
            }
        }
    )*};
}
int_cast!(i8 => I, i64; i16 => I, i64; i32 => I, i64; i64 => I, i64;
          u8 => U, u64; u16 => U, u64; u32 => U, u64; u64 => U, u64);

/// The value as C++ `static_cast<float>` gives it.
#[inline]
fn to_f32(v: Val) -> f32 {
    match v {
        Val::I(i) => i as f32,
        Val::U(u) => u as f32,
        Val::F(f) => f as f32,
    }
}

impl CastSrc for f32 {
    fn val(self) -> Val {
        Val::F(f64::from(self))
    }
}
impl CastDst for f32 {
    fn from_val(v: Val) -> Self {
        to_f32(v)
    }
}
impl CastSrc for f64 {
    fn val(self) -> Val {
        Val::F(self)
    }
}
impl CastDst for f64 {
    fn from_val(v: Val) -> Self {
        match v {
            Val::I(i) => i as f64,
            Val::U(u) => u as f64,
            Val::F(f) => f,
        }
    }
}
impl CastSrc for F16 {
    fn val(self) -> Val {
        Val::F(f64::from(f16::from_bits(self.0).to_f32()))
    }
}
impl CastDst for F16 {
    fn from_val(v: Val) -> Self {
        F16(f16::from_f32(to_f32(v)).to_bits())
    }
}
impl CastSrc for Bf16 {
    fn val(self) -> Val {
        Val::F(f64::from(bf16::from_bits(self.0).to_f32()))
    }
}
impl CastDst for Bf16 {
    fn from_val(v: Val) -> Self {
        Bf16(bf16::from_f32(to_f32(v)).to_bits())
    }
}
impl CastSrc for Bool {
    fn val(self) -> Val {
        Val::I(i64::from(self.0 != 0))
    }
}
impl CastDst for Bool {
    fn from_val(v: Val) -> Self {
        Bool(u8::from(match v {
            Val::I(i) => i != 0,
            Val::U(u) => u != 0,
            Val::F(f) => f != 0.0,
        }))
    }
}

fn cast_map<S: CastSrc, D: CastDst>(name: &'static str, n: usize) -> Box<dyn Kernel> {
    map(name, n, |s: S| D::from_val(s.val()))
}

macro_rules! cast_to {
    ($S:ty, $sn:literal, $to:expr, $n:expr) => {
        match $to {
            DType::Float32 => Some(cast_map::<$S, f32>(
                concat!("cast_", $sn, "_f32__scalar"),
                $n,
            )),
            DType::Float64 => Some(cast_map::<$S, f64>(
                concat!("cast_", $sn, "_f64__scalar"),
                $n,
            )),
            DType::Float16 => Some(cast_map::<$S, F16>(
                concat!("cast_", $sn, "_f16__scalar"),
                $n,
            )),
            DType::BFloat16 => Some(cast_map::<$S, Bf16>(
                concat!("cast_", $sn, "_bf16__scalar"),
                $n,
            )),
            DType::Int8 => Some(cast_map::<$S, i8>(concat!("cast_", $sn, "_i8__scalar"), $n)),
            DType::UInt8 => Some(cast_map::<$S, u8>(concat!("cast_", $sn, "_u8__scalar"), $n)),
            DType::Int16 => Some(cast_map::<$S, i16>(
                concat!("cast_", $sn, "_i16__scalar"),
                $n,
            )),
            DType::UInt16 => Some(cast_map::<$S, u16>(
                concat!("cast_", $sn, "_u16__scalar"),
                $n,
            )),
            DType::Int32 => Some(cast_map::<$S, i32>(
                concat!("cast_", $sn, "_i32__scalar"),
                $n,
            )),
            DType::UInt32 => Some(cast_map::<$S, u32>(
                concat!("cast_", $sn, "_u32__scalar"),
                $n,
            )),
            DType::Int64 => Some(cast_map::<$S, i64>(
                concat!("cast_", $sn, "_i64__scalar"),
                $n,
            )),
            DType::UInt64 => Some(cast_map::<$S, u64>(
                concat!("cast_", $sn, "_u64__scalar"),
                $n,
            )),
            DType::Bool => Some(cast_map::<$S, Bool>(
                concat!("cast_", $sn, "_bool__scalar"),
                $n,
            )),
            _ => None,
        }
    };
}

fn cast_kernel(from: DType, to: DType, n: usize) -> Option<Box<dyn Kernel>> {
    match from {
        DType::Float32 => cast_to!(f32, "f32", to, n),
        DType::Float64 => cast_to!(f64, "f64", to, n),
        DType::Float16 => cast_to!(F16, "f16", to, n),
        DType::BFloat16 => cast_to!(Bf16, "bf16", to, n),
        DType::Int8 => cast_to!(i8, "i8", to, n),
        DType::UInt8 => cast_to!(u8, "u8", to, n),
        DType::Int16 => cast_to!(i16, "i16", to, n),
        DType::UInt16 => cast_to!(u16, "u16", to, n),
        DType::Int32 => cast_to!(i32, "i32", to, n),
        DType::UInt32 => cast_to!(u32, "u32", to, n),
        DType::Int64 => cast_to!(i64, "i64", to, n),
        DType::UInt64 => cast_to!(u64, "u64", to, n),
        DType::Bool => cast_to!(Bool, "bool", to, n),
        _ => None,
    }
}

fn cast(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    // LiteRT casts between the tensors' types; the options only repeat them.
    let (x, y) = unary_io(node)?;
    cast_kernel(x.dtype, y.dtype, x.num_elements())
        .ok_or_else(|| KernelError::unsupported(format!("CAST from {} to {}", x.dtype, y.dtype)))
}

/// Per-channel quantization of a tensor: a scale and zero point per slice along `axis`.
#[derive(Debug, Clone)]
struct PerChannel {
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    /// Elements in one step along the axis.
    inner: usize,
    /// Size of the axis.
    dim: usize,
}

impl PerChannel {
    /// The per-channel parameters of `info`, or `None` when it has a single scale.
    fn of(info: &TensorInfo) -> Result<Option<Self>, KernelError> {
        let q = info.quant.as_ref().ok_or_else(|| {
            KernelError::invalid(format!("tensor '{}' is not quantized", info.name))
        })?;
        let scales = q.scales();
        if scales.len() <= 1 {
            return Ok(None);
        }
        let axis = q.axis();
        let dim = info.dim(axis).ok_or_else(|| {
            KernelError::invalid(format!(
                "tensor '{}' has no quantized dimension {axis}",
                info.name
            ))
        })?;
        ensure!(
            dim == scales.len(),
            "tensor '{}' has {} scales for a dimension of {dim}",
            info.name,
            scales.len()
        );
        let zps = q.zero_points();
        let zero_points: Vec<i32> = match zps.len() {
            0 => vec![0; dim],
            1 => vec![zps[0] as i32; dim],
            n if n == dim => zps.iter().map(|&z| z as i32).collect(),
            n => {
                return Err(KernelError::invalid(format!(
                    "tensor '{}' has {n} zero points for {dim} scales",
                    info.name
                )));
            }
        };
        let axis = if axis < 0 {
            axis + info.rank() as i32
        } else {
            axis
        } as usize;
        let inner = info.shape[axis + 1..].iter().product();
        Ok(Some(Self {
            scales: scales.to_vec(),
            zero_points,
            inner,
            dim,
        }))
    }

    #[inline]
    fn channel(&self, i: usize) -> usize {
        (i / self.inner.max(1)) % self.dim
    }
}

fn quantize(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = unary_io(node)?;
    let n = x.num_elements();
    if x.dtype == DType::Float32 {
        return match y.dtype {
            DType::Int8 => quantize_float::<i8>(kname!("quantize_f32", DType::Int8), y, n),
            DType::UInt8 => quantize_float::<u8>(kname!("quantize_f32", DType::UInt8), y, n),
            DType::Int16 => quantize_float::<i16>(kname!("quantize_f32", DType::Int16), y, n),
            dt => Err(KernelError::unsupported(format!(
                "QUANTIZE from float32 to {dt}"
            ))),
        };
    }
    match (x.dtype, y.dtype) {
        (DType::Int8, DType::Int8) => {
            requantize::<i8, i8>(kname!("quantize_i8", DType::Int8), x, y)
        }
        (DType::Int8, DType::UInt8) => {
            requantize::<i8, u8>(kname!("quantize_i8", DType::UInt8), x, y)
        }
        (DType::Int8, DType::Int16) => {
            requantize::<i8, i16>(kname!("quantize_i8", DType::Int16), x, y)
        }
        (DType::UInt8, DType::Int8) => {
            requantize::<u8, i8>(kname!("quantize_u8", DType::Int8), x, y)
        }
        (DType::UInt8, DType::UInt8) => {
            requantize::<u8, u8>(kname!("quantize_u8", DType::UInt8), x, y)
        }
        (DType::UInt8, DType::Int16) => {
            requantize::<u8, i16>(kname!("quantize_u8", DType::Int16), x, y)
        }
        (DType::Int16, DType::Int8) => {
            requantize::<i16, i8>(kname!("quantize_i16", DType::Int8), x, y)
        }
        (DType::Int16, DType::Int16) => {
            ensure!(
                quant_of::<i16>(x)?.1 == 0 && quant_of::<i16>(y)?.1 == 0,
                "int16 QUANTIZE needs zero points of 0"
            );
            requantize::<i16, i16>(kname!("quantize_i16", DType::Int16), x, y)
        }
        (DType::Int16, DType::Int32) => {
            requantize::<i16, i32>(kname!("quantize_i16", DType::Int32), x, y)
        }
        (DType::Int32, DType::Int8) => {
            requantize::<i32, i8>(kname!("quantize_i32", DType::Int8), x, y)
        }
        (DType::Int32, DType::Int16) => {
            requantize::<i32, i16>(kname!("quantize_i32", DType::Int16), x, y)
        }
        (a, b) => Err(KernelError::unsupported(format!(
            "QUANTIZE from {a} to {b}"
        ))),
    }
}

/// `round(x / scale) + zp`, clamped, with the division in `f32`.
#[inline]
fn quantize_value<T: QElem>(v: f32, scale: f32, zero_point: i32) -> T {
    let q = f32_to_i32_x86(round_f32(v / scale)).wrapping_add(zero_point);
    T::saturate(q)
}

fn quantize_float<T: QElem>(
    name: &'static str,
    y: &TensorInfo,
    n: usize,
) -> Result<Box<dyn Kernel>, KernelError> {
    if let Some(pc) = PerChannel::of(y)? {
        for (&s, &z) in pc.scales.iter().zip(&pc.zero_points) {
            ensure!(
                s.is_finite() && s > 0.0,
                "tensor '{}' has a scale of {s}",
                y.name
            );
            ensure!(
                (T::MIN..=T::MAX).contains(&z),
                "tensor '{}' has zero point {z}",
                y.name
            );
        }
        return Ok(Box::new(QuantizePerChannel::<T> {
            name,
            n,
            pc,
            _t: core::marker::PhantomData,
        }));
    }
    let (scale, zero_point) = quant_of::<T>(y)?;
    Ok(map(name, n, move |v: f32| {
        quantize_value::<T>(v, scale, zero_point)
    }))
}

struct QuantizePerChannel<T> {
    name: &'static str,
    n: usize,
    pc: PerChannel,
    _t: core::marker::PhantomData<fn() -> T>,
}

impl<T: QElem> Kernel for QuantizePerChannel<T> {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let x = inputs.get(0)?.as_slice::<f32>()?;
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<T>()?;
        if x.len() != self.n || y.len() != self.n {
            return Err(KernelError::invalid(format!(
                "{}: buffer sizes differ from the plan",
                self.name
            )));
        }
        for (i, (o, &v)) in y.iter_mut().zip(x).enumerate() {
            let c = self.pc.channel(i);
            *o = quantize_value::<T>(v, self.pc.scales[c], self.pc.zero_points[c]);
        }
        Ok(())
    }
}

fn requantize<I: QElem, O: QElem>(
    name: &'static str,
    x: &TensorInfo,
    y: &TensorInfo,
) -> Result<Box<dyn Kernel>, KernelError> {
    let (si, zi) = quant_of::<I>(x)?;
    let (so, zo) = quant_of::<O>(y)?;
    let (m, s) = quantize_multiplier(f64::from(si) / f64::from(so))?;
    Ok(map(name, x.num_elements(), move |v: I| {
        let r =
            multiply_by_quantized_multiplier(v.to_i32().wrapping_sub(zi), m, s).wrapping_add(zo);
        O::saturate(r)
    }))
}

/// How DEQUANTIZE reads its input.
#[derive(Debug, Clone)]
enum Dequant {
    PerTensor { scale: f64, zero_point: i32 },
    PerChannel(PerChannel),
    Float16,
}

/// The `i`-th integer of a tensor of `dtype` (int4/uint4 packed two per byte, low nibble first).
#[inline]
fn int_at(dtype: DType, bytes: &[u8], i: usize) -> i32 {
    match dtype {
        DType::Int8 => i32::from(bytes[i] as i8),
        DType::UInt8 => i32::from(bytes[i]),
        DType::Int16 => i32::from(i16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])),
        DType::Int4 | DType::UInt4 => {
            let b = bytes[i / 2];
            let nibble = if i.is_multiple_of(2) {
                b & 0x0f
            } else {
                b >> 4
            };
            if dtype == DType::Int4 && nibble >= 8 {
                i32::from(nibble) - 16
            } else {
                i32::from(nibble)
            }
        }
        _ => 0,
    }
}

fn dequantize_into(dtype: DType, how: &Dequant, bytes: &[u8], out: &mut [f32]) {
    match how {
        Dequant::Float16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
            }
        }
        Dequant::PerTensor { scale, zero_point } => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = (scale * f64::from(int_at(dtype, bytes, i).wrapping_sub(*zero_point))) as f32;
            }
        }
        Dequant::PerChannel(pc) => {
            for (i, o) in out.iter_mut().enumerate() {
                let c = pc.channel(i);
                *o = pc.scales[c] * int_at(dtype, bytes, i).wrapping_sub(pc.zero_points[c]) as f32;
            }
        }
    }
}

struct Dequantize {
    name: &'static str,
    dtype: DType,
    how: Dequant,
    in_bytes: usize,
    n: usize,
    /// The output, when the input is a constant.
    precomputed: Option<Vec<f32>>,
}

impl Kernel for Dequantize {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, io: &mut KernelIo<'_>) -> Result<(), KernelError> {
        let (inputs, mut outputs, _, _) = io.split();
        let mut out = outputs.get(0)?;
        let y = out.as_slice_mut::<f32>()?;
        if y.len() != self.n {
            return Err(KernelError::invalid(format!(
                "{}: output size differs from the plan",
                self.name
            )));
        }
        if let Some(p) = &self.precomputed {
            y.copy_from_slice(p);
            return Ok(());
        }
        let x = inputs.get(0)?;
        if x.bytes.len() != self.in_bytes {
            return Err(KernelError::invalid(format!(
                "{}: input size differs from the plan",
                self.name
            )));
        }
        dequantize_into(self.dtype, &self.how, x.bytes, y);
        Ok(())
    }
}

fn dequantize(node: &NodeCtx<'_>) -> Result<Box<dyn Kernel>, KernelError> {
    let (x, y) = unary_io(node)?;
    ensure!(
        y.dtype == DType::Float32,
        "DEQUANTIZE output type {} is not float32",
        y.dtype
    );
    let name = kname!("dequantize", x.dtype);
    let how = match x.dtype {
        DType::Float16 => Dequant::Float16,
        DType::Int8 | DType::UInt8 | DType::Int16 | DType::Int4 | DType::UInt4 => {
            match PerChannel::of(x)? {
                Some(pc) => Dequant::PerChannel(pc),
                None => {
                    let (scale, zero_point) = x.require_per_tensor_quant()?;
                    if x.dtype == DType::Int16 {
                        ensure!(zero_point == 0, "int16 DEQUANTIZE needs a zero point of 0");
                    }
                    Dequant::PerTensor {
                        scale: f64::from(scale),
                        zero_point,
                    }
                }
            }
        }
        dt => return Err(KernelError::unsupported(format!("DEQUANTIZE from {dt}"))),
    };
    let in_bytes = x
        .byte_len()
        .ok_or_else(|| KernelError::invalid(format!("tensor '{}' has no fixed size", x.name)))?;
    let n = x.num_elements();
    let precomputed = match node.constant(0) {
        Some(bytes) => {
            ensure!(
                bytes.len() == in_bytes,
                "constant '{}' has {} bytes, expected {in_bytes}",
                x.name,
                bytes.len()
            );
            let mut out = vec![0f32; n];
            dequantize_into(x.dtype, &how, bytes, &mut out);
            Some(out)
        }
        None => None,
    };
    Ok(Box::new(Dequantize {
        name,
        dtype: x.dtype,
        how,
        in_bytes,
        n,
        precomputed,
    }))
}

#[cfg(test)]
mod tests {
    use crate::ScalarBackend;
    use crate::TensorInfo;
    use crate::testing::{TestInput, run_node};
    use alloc::vec;
    use alloc::vec::Vec;
    use tflrs_ir::{CastAttrs, DType, Op, QuantParams};

    fn t(dt: DType, shape: &[usize]) -> TensorInfo {
        TensorInfo::new("t", dt, shape.to_vec())
    }

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

    fn cast_op(a: DType, b: DType) -> Op<'static> {
        Op::Cast(Some(CastAttrs {
            in_data_type: a,
            out_data_type: b,
        }))
    }

    #[test]
    fn casts() {
        let op = cast_op(DType::Float32, DType::Int32);
        let y: Vec<i32> = run(
            &op,
            t(DType::Float32, &[5]),
            &[1.9f32, -1.9, 3e9, f32::NAN, -3e9],
            t(DType::Int32, &[5]),
        );
        assert_eq!(y, vec![1, -1, i32::MAX, i32::MAX, i32::MIN]);
        let op = cast_op(DType::Int32, DType::Int8);
        let y: Vec<i8> = run(
            &op,
            t(DType::Int32, &[2]),
            &[300i32, -129],
            t(DType::Int8, &[2]),
        );
        assert_eq!(y, vec![44, 127]);
        let op = cast_op(DType::Float32, DType::Bool);
        let y: Vec<u8> = run(
            &op,
            t(DType::Float32, &[3]),
            &[0.0f32, -0.5, f32::NAN],
            t(DType::Bool, &[3]),
        );
        assert_eq!(y, vec![0, 1, 1]);
        let op = cast_op(DType::Bool, DType::Float32);
        let y: Vec<f32> = run(
            &op,
            t(DType::Bool, &[2]),
            &[1u8, 0],
            t(DType::Float32, &[2]),
        );
        assert_eq!(y, vec![1.0, 0.0]);
        let op = cast_op(DType::Int64, DType::Float32);
        let y: Vec<f32> = run(
            &op,
            t(DType::Int64, &[1]),
            &[(1i64 << 40) + 1],
            t(DType::Float32, &[1]),
        );
        assert_eq!(y, vec![(1u64 << 40) as f32]);
        let op = cast_op(DType::Float32, DType::Float16);
        let y: Vec<u16> = run(
            &op,
            t(DType::Float32, &[1]),
            &[1.5f32],
            t(DType::Float16, &[1]),
        );
        assert_eq!(y, vec![0x3E00]);
    }

    #[test]
    fn quantize_and_requantize() {
        let y: Vec<i8> = run(
            &Op::Quantize,
            t(DType::Float32, &[4]),
            &[0.25f32, -0.25, 100.0, 0.05],
            t(DType::Int8, &[4]).with_quant(0.1, 3),
        );
        // 2.5 rounds away from zero to 3 (+3); -2.5 -> -3 (+3); saturates; 0.5 -> 1 (+3).
        assert_eq!(y, vec![6, 0, 127, 4]);
        let y: Vec<u8> = run(
            &Op::Quantize,
            t(DType::Int8, &[3]).with_quant(0.5, -1),
            &[-1i8, 9, -128],
            t(DType::UInt8, &[3]).with_quant(0.25, 128),
        );
        assert_eq!(y, vec![128, 148, 0]);
        let mut y_info = t(DType::Int8, &[2, 2]);
        y_info.quant = Some(QuantParams::per_axis(1, vec![0.5, 0.25], vec![0, 1]));
        let y: Vec<i8> = run(
            &Op::Quantize,
            t(DType::Float32, &[2, 2]),
            &[1.0f32, 1.0, -1.0, 0.5],
            y_info,
        );
        assert_eq!(y, vec![2, 5, -2, 3]);
    }

    #[test]
    fn dequantize_per_tensor_channel_f16_and_constant() {
        let y: Vec<f32> = run(
            &Op::Dequantize,
            t(DType::Int8, &[3]).with_quant(0.5, -1),
            &[-1i8, 1, 127],
            t(DType::Float32, &[3]),
        );
        assert_eq!(y, vec![0.0, 1.0, 64.0]);
        let mut x = t(DType::Int8, &[2, 2]);
        x.quant = Some(QuantParams::per_axis(0, vec![0.5, 2.0], vec![0]));
        let y: Vec<f32> = run(
            &Op::Dequantize,
            x,
            &[2i8, -2, 3, 1],
            t(DType::Float32, &[2, 2]),
        );
        assert_eq!(y, vec![1.0, -1.0, 6.0, 2.0]);
        let y: Vec<f32> = run(
            &Op::Dequantize,
            t(DType::Float16, &[2]),
            &[0x3E00u16, 0xC000],
            t(DType::Float32, &[2]),
        );
        assert_eq!(y, vec![1.5, -2.0]);
        let inputs = [Some(TestInput::const_from_slice(
            t(DType::Int16, &[2]).with_quant(0.25, 0),
            &[4i16, -8],
        ))];
        let out = run_node(
            &ScalarBackend,
            &Op::Dequantize,
            &inputs,
            &[t(DType::Float32, &[2])],
        )
        .unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, f32>(&out[0]), &[1.0, -2.0]);
    }
}
