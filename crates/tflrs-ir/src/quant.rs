//! Quantization and sparsity parameters of tensors.

use crate::dtype::DType;
use alloc::vec::Vec;

/// How a tensor's integer values map to real numbers: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, PartialEq)]
pub enum QuantScheme {
    /// One scale and zero point for the whole tensor (the file's `quantized_dimension` is 0).
    PerTensor {
        /// The scale.
        scale: f32,
        /// The zero point.
        zero_point: i64,
    },
    /// One scale and zero point per slice along `axis` (also used for a single scale with a
    /// non-zero `quantized_dimension`, so that the file's axis is kept).
    PerAxis {
        /// The quantized dimension.
        axis: i32,
        /// One scale per slice.
        scales: Vec<f32>,
        /// One zero point per slice.
        zero_points: Vec<i64>,
    },
}

/// The quantization of a tensor: its scheme (if it is quantized), the calibration range the
/// converter recorded, and the schema's extra `details` union, all kept as the file has them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuantParams {
    /// Scales and zero points; `None` when the tensor only carries min/max or details.
    pub scheme: Option<QuantScheme>,
    /// Calibrated minimum per slice (TFLite's `min`); empty when absent.
    pub min: Vec<f32>,
    /// Calibrated maximum per slice (TFLite's `max`); empty when absent.
    pub max: Vec<f32>,
    /// The `details` union.
    pub details: QuantDetails,
}

impl QuantParams {
    /// The first zero point outside the range of `dtype` (int8, uint8, int16, int4), if any.
    ///
    /// Such a zero point makes no sense and would overflow integer kernels' 32-bit arithmetic:
    /// [`Graph::verify`](crate::Graph::verify) and the runtime refuse it.
    pub fn zero_point_outside(&self, dtype: DType) -> Option<i64> {
        let (lo, hi) = match dtype {
            DType::Int8 => (-128, 127),
            DType::UInt8 => (0, 255),
            DType::Int16 => (-32768, 32767),
            DType::Int4 => (-8, 7),
            _ => return None,
        };
        self.zero_points()
            .iter()
            .copied()
            .find(|&z| z < lo || z > hi)
    }

    /// Per-tensor affine quantization.
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        Self {
            scheme: Some(QuantScheme::PerTensor { scale, zero_point }),
            ..Self::default()
        }
    }

    /// Per-axis affine quantization.
    pub fn per_axis(axis: i32, scales: Vec<f32>, zero_points: Vec<i64>) -> Self {
        Self {
            scheme: Some(QuantScheme::PerAxis {
                axis,
                scales,
                zero_points,
            }),
            ..Self::default()
        }
    }

    /// Whether nothing is set (such parameters are not written).
    pub fn is_empty(&self) -> bool {
        self.scheme.is_none()
            && self.min.is_empty()
            && self.max.is_empty()
            && self.details == QuantDetails::None
    }

    /// The scales (one for per-tensor), empty when not quantized.
    pub fn scales(&self) -> &[f32] {
        match &self.scheme {
            Some(QuantScheme::PerTensor { scale, .. }) => core::slice::from_ref(scale),
            Some(QuantScheme::PerAxis { scales, .. }) => scales,
            None => &[],
        }
    }

    /// The zero points (one for per-tensor), empty when not quantized.
    pub fn zero_points(&self) -> &[i64] {
        match &self.scheme {
            Some(QuantScheme::PerTensor { zero_point, .. }) => core::slice::from_ref(zero_point),
            Some(QuantScheme::PerAxis { zero_points, .. }) => zero_points,
            None => &[],
        }
    }

    /// The quantized dimension as the file states it (0 for per-tensor).
    pub fn axis(&self) -> i32 {
        match &self.scheme {
            Some(QuantScheme::PerAxis { axis, .. }) => *axis,
            _ => 0,
        }
    }
}

/// TFLite's `QuantizationDetails` union.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum QuantDetails {
    /// No details.
    #[default]
    None,
    /// `CustomQuantization`: opaque bytes for a custom scheme.
    Custom(Vec<u8>),
    /// `BlockwiseQuantization`: scales and zero points held in other tensors.
    Blockwise {
        /// Index of the tensor holding the scales.
        scales: i32,
        /// Index of the tensor holding the zero points.
        zero_points: i32,
        /// Block size.
        block_size: i32,
    },
    /// `MultiAxisQuantization`.
    MultiAxis {
        /// Index of the tensor holding the scales.
        scales: i32,
        /// Index of the tensor holding the zero points.
        zero_points: i32,
        /// Block size.
        block_size: i32,
        /// The quantized dimensions.
        quantized_dimensions: Option<Vec<i32>>,
    },
}

/// TFLite's sparse tensor encoding (`SparsityParameters`), kept as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sparsity {
    /// Order in which dimensions (including block dimensions) are traversed.
    pub traversal_order: Vec<i32>,
    /// For each block dimension, the dense dimension it blocks.
    pub block_map: Vec<i32>,
    /// How each traversed dimension is stored.
    pub dim_metadata: Vec<DimMetadata>,
}

/// Storage of one dimension of a sparse tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimMetadata {
    /// Dense or compressed (CSR).
    pub format: DimFormat,
    /// Size of a dense dimension.
    pub dense_size: i32,
    /// Segment boundaries of a CSR dimension.
    pub array_segments: Option<IndexVector>,
    /// Indices of a CSR dimension.
    pub array_indices: Option<IndexVector>,
}

/// Storage format of a sparse dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimFormat {
    /// Every index present.
    Dense,
    /// Compressed sparse row.
    SparseCsr,
}

/// An index vector of a sparse dimension, in the width the file uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexVector {
    /// 32-bit indices.
    I32(Vec<i32>),
    /// 16-bit indices.
    U16(Vec<u16>),
    /// 8-bit indices.
    U8(Vec<u8>),
}

impl IndexVector {
    /// Number of indices.
    pub fn len(&self) -> usize {
        match self {
            IndexVector::I32(v) => v.len(),
            IndexVector::U16(v) => v.len(),
            IndexVector::U8(v) => v.len(),
        }
    }

    /// Whether there are no indices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index `i` widened to `i64`.
    pub fn get(&self, i: usize) -> Option<i64> {
        match self {
            IndexVector::I32(v) => v.get(i).map(|&x| i64::from(x)),
            IndexVector::U16(v) => v.get(i).map(|&x| i64::from(x)),
            IndexVector::U8(v) => v.get(i).map(|&x| i64::from(x)),
        }
    }
}
