//! Tensors as kernels see them: a plan-time description, and run-time byte views.

use crate::KernelError;
use alloc::string::String;
use alloc::vec::Vec;
use tflrs_ir::{DType, QuantParams, QuantScheme, Sparsity};

/// A tensor as planned: element type, concrete shape and quantization.
///
/// Shapes are concrete by the time kernels are made: the planner resolves dynamic dimensions
/// from the inputs' sizes (see `Interpreter::resize_input`).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name in the model.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Concrete dimensions.
    pub shape: Vec<usize>,
    /// Quantization, if the tensor is quantized.
    pub quant: Option<QuantParams>,
    /// For a sparse constant: how its bytes encode the dense tensor of `shape` (DENSIFY reads
    /// it); the bytes are then the compressed values, not `shape`'s dense elements.
    pub sparsity: Option<Sparsity>,
}

impl TensorInfo {
    /// A tensor without quantization.
    pub fn new(name: impl Into<String>, dtype: DType, shape: impl Into<Vec<usize>>) -> Self {
        Self {
            name: name.into(),
            dtype,
            shape: shape.into(),
            quant: None,
            sparsity: None,
        }
    }

    /// The same tensor with per-tensor quantization.
    pub fn with_quant(mut self, scale: f32, zero_point: i64) -> Self {
        self.quant = Some(QuantParams::per_tensor(scale, zero_point));
        self
    }

    /// Number of elements (1 for a scalar). Saturates instead of overflowing; the planner
    /// refuses tensors whose byte size overflows before any kernel sees them.
    pub fn num_elements(&self) -> usize {
        self.shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }

    /// Size in bytes of the dense tensor, if its type has a fixed size.
    pub fn byte_len(&self) -> Option<usize> {
        let bits = self.dtype.bits()? as usize;
        self.num_elements().checked_mul(bits).map(|b| b.div_ceil(8))
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Dimension `axis`, counting from the end when negative (as TFLite's axes do).
    pub fn dim(&self, axis: i32) -> Option<usize> {
        let a = if axis < 0 {
            self.rank().checked_sub(axis.unsigned_abs() as usize)?
        } else {
            axis as usize
        };
        self.shape.get(a).copied()
    }

    /// Per-tensor scale and zero point, if the tensor has exactly one of each.
    pub fn per_tensor_quant(&self) -> Option<(f32, i32)> {
        match self.quant.as_ref()?.scheme.as_ref()? {
            QuantScheme::PerTensor { scale, zero_point } => Some((*scale, *zero_point as i32)),
            QuantScheme::PerAxis {
                scales,
                zero_points,
                ..
            } if scales.len() == 1 && zero_points.len() == 1 => {
                Some((scales[0], zero_points[0] as i32))
            }
            QuantScheme::PerAxis { .. } => None,
        }
    }

    /// Per-tensor scale and zero point, or a typed error naming the tensor.
    pub fn require_per_tensor_quant(&self) -> Result<(f32, i32), KernelError> {
        self.per_tensor_quant().ok_or_else(|| {
            KernelError::invalid(alloc::format!(
                "tensor '{}' needs per-tensor quantization",
                self.name
            ))
        })
    }

    /// Scales of a per-axis (or per-tensor, as one scale) quantized tensor.
    pub fn scales(&self) -> &[f32] {
        self.quant.as_ref().map_or(&[], |q| q.scales())
    }

    /// Zero points of a quantized tensor.
    pub fn zero_points(&self) -> &[i64] {
        self.quant.as_ref().map_or(&[], |q| q.zero_points())
    }
}

/// A read-only view of a tensor during a run.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    /// What the tensor is.
    pub info: &'a TensorInfo,
    /// Its bytes (little-endian elements).
    pub bytes: &'a [u8],
}

impl<'a> TensorRef<'a> {
    /// The elements as a typed slice.
    ///
    /// Fails when `T`'s size does not divide the bytes or the bytes are misaligned for `T`
    /// (the planner aligns arena tensors and constants, so this signals a planner bug or a
    /// kernel asking for the wrong type).
    pub fn as_slice<T: bytemuck::Pod>(&self) -> Result<&'a [T], KernelError> {
        bytemuck::try_cast_slice(self.bytes).map_err(|e| cast_error(self.info, self.bytes.len(), e))
    }

    /// Dimensions.
    pub fn shape(&self) -> &'a [usize] {
        &self.info.shape
    }
}

/// A writable view of a tensor during a run.
#[derive(Debug)]
pub struct TensorMut<'a> {
    /// What the tensor is.
    pub info: &'a TensorInfo,
    /// Its bytes (little-endian elements).
    pub bytes: &'a mut [u8],
}

impl<'a> TensorMut<'a> {
    /// The elements as a typed mutable slice (see [`TensorRef::as_slice`]).
    pub fn as_slice_mut<T: bytemuck::Pod>(&mut self) -> Result<&mut [T], KernelError> {
        let (info, len) = (self.info, self.bytes.len());
        bytemuck::try_cast_slice_mut(self.bytes).map_err(|e| cast_error(info, len, e))
    }

    /// Dimensions.
    pub fn shape(&self) -> &'a [usize] {
        &self.info.shape
    }

    /// A read-only view of the same tensor.
    pub fn as_ref(&self) -> TensorRef<'_> {
        TensorRef {
            info: self.info,
            bytes: self.bytes,
        }
    }
}

/// The error of viewing `len` bytes of `info`'s tensor as a slice of another type.
fn cast_error(info: &TensorInfo, len: usize, e: bytemuck::PodCastError) -> KernelError {
    let expected = match info.byte_len() {
        Some(n) if n != len => alloc::format!(", {n} expected"),
        _ => String::new(),
    };
    KernelError::invalid(alloc::format!(
        "tensor '{}' ({len} bytes{expected}) cannot be viewed as the requested type: {e:?}",
        info.name,
    ))
}

/// Where a tensor's bytes are during a run, as the runtime hands them to kernels.
///
/// Built by the runtime from its plan (arena offsets and constant data); kernels reach it only
/// through [`KernelIo`](crate::KernelIo)'s safe accessors.
#[derive(Debug, Clone, Copy)]
pub struct RawTensor {
    /// The tensor's description.
    pub info: *const TensorInfo,
    /// First byte.
    pub ptr: *mut u8,
    /// Length in bytes.
    pub len: usize,
    /// Whether kernels may write it (constants may not be written).
    pub writable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_errors_give_the_real_byte_count() {
        // Seven bytes cannot be viewed as i32 (the size does not divide them); the message
        // names the bytes there are, and the bytes the shape calls for.
        let info = TensorInfo::new("x", DType::Int32, [2]);
        let bytes = [0u8; 7];
        let err = TensorRef {
            info: &info,
            bytes: &bytes,
        }
        .as_slice::<i32>()
        .unwrap_err();
        let msg = alloc::string::ToString::to_string(&err);
        assert!(msg.contains("(7 bytes, 8 expected)"), "{msg}");

        let mut bytes = [0u8; 5];
        let err = TensorMut {
            info: &info,
            bytes: &mut bytes,
        }
        .as_slice_mut::<i32>()
        .unwrap_err();
        let msg = alloc::string::ToString::to_string(&err);
        assert!(msg.contains("(5 bytes, 8 expected)"), "{msg}");
    }

    #[test]
    fn cast_errors_omit_the_expected_count_when_it_matches() {
        // Eight bytes for two i32 that are only misaligned: the length is right.
        let info = TensorInfo::new("y", DType::Int32, [2]);
        let storage = [0u32; 3];
        let bytes: &[u8] = bytemuck::cast_slice(&storage);
        let err = TensorRef {
            info: &info,
            bytes: &bytes[1..9],
        }
        .as_slice::<i32>()
        .unwrap_err();
        let msg = alloc::string::ToString::to_string(&err);
        assert!(msg.contains("'y' (8 bytes)"), "{msg}");
    }
}
