//! Tensor shapes with dynamic dimensions.

use alloc::vec::Vec;
use core::fmt;

/// One dimension of a shape as shape inference sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A size known before running the model.
    Static(u32),
    /// A size known only at run time (`-1` in a TFLite shape signature).
    Dynamic,
}

impl Dim {
    /// The static size, if known.
    pub fn get(self) -> Option<u32> {
        match self {
            Dim::Static(n) => Some(n),
            Dim::Dynamic => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Static(n) => write!(f, "{n}"),
            Dim::Dynamic => f.write_str("?"),
        }
    }
}

/// The shape of a tensor, as TFLite stores it.
///
/// `dims` are the sizes the tensor has before any resize (TFLite's `Tensor.shape`); for a
/// dynamic dimension they hold the default size the converter chose (usually 1).
/// `signature`, when present, has the same rank and marks dynamic dimensions with `-1`
/// (TFLite's `Tensor.shape_signature`). `has_rank` is TFLite's flag that an empty `dims`
/// means a scalar rather than an unknown rank.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    /// Sizes of each dimension (non-negative).
    pub dims: Vec<i32>,
    /// Dimensions with `-1` where the size is dynamic; `None` when the file has no signature.
    pub signature: Option<Vec<i32>>,
    /// Whether the rank is known (TFLite's `Tensor.has_rank`).
    pub has_rank: bool,
}

impl Shape {
    /// A static, ranked shape.
    pub fn new(dims: impl Into<Vec<i32>>) -> Self {
        Self {
            dims: dims.into(),
            signature: None,
            has_rank: true,
        }
    }

    /// A ranked shape with a signature: `signature[i] == -1` marks dimension `i` dynamic, with
    /// `dims[i]` as its default size.
    pub fn with_signature(dims: impl Into<Vec<i32>>, signature: impl Into<Vec<i32>>) -> Self {
        Self {
            dims: dims.into(),
            signature: Some(signature.into()),
            has_rank: true,
        }
    }

    /// A scalar (rank 0).
    pub fn scalar() -> Self {
        Self::new(Vec::new())
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Dimension `axis`, dynamic where the signature says so; `None` when `axis` is not a
    /// dimension.
    pub fn dim(&self, axis: usize) -> Option<Dim> {
        let d = *self.dims.get(axis)?;
        if self
            .signature
            .as_ref()
            .and_then(|s| s.get(axis))
            .is_some_and(|&s| s < 0)
        {
            return Some(Dim::Dynamic);
        }
        Some(Dim::Static(u32::try_from(d).unwrap_or(0)))
    }

    /// All dimensions, dynamic where the signature says so.
    pub fn dims_with_dynamic(&self) -> Vec<Dim> {
        (0..self.rank()).filter_map(|a| self.dim(a)).collect()
    }

    /// Whether every dimension is static.
    pub fn is_static(&self) -> bool {
        self.signature
            .as_ref()
            .is_none_or(|s| s.iter().all(|&d| d >= 0))
    }

    /// Number of elements of `dims` (the default sizes), or `None` on a negative size or
    /// overflow.
    pub fn num_elements(&self) -> Option<u64> {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
    }
}

impl From<Vec<i32>> for Shape {
    fn from(dims: Vec<i32>) -> Self {
        Shape::new(dims)
    }
}

impl From<&[i32]> for Shape {
    fn from(dims: &[i32]) -> Self {
        Shape::new(dims.to_vec())
    }
}

impl<const N: usize> From<[i32; N]> for Shape {
    fn from(dims: [i32; N]) -> Self {
        Shape::new(dims.to_vec())
    }
}

impl fmt::Display for Shape {
    /// `[?=1, 28, 3]` style: `?=d` marks a dynamic dimension with default size `d`;
    /// `<unranked>` an unknown rank.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.has_rank && self.dims.is_empty() && self.signature.is_none() {
            return f.write_str("<unranked>");
        }
        f.write_str("[")?;
        for (i, &d) in self.dims.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match self.signature.as_ref().and_then(|s| s.get(i)) {
                Some(&s) if s < 0 => write!(f, "?={d}")?,
                Some(&s) if s != d => write!(f, "{d}(sig {s})")?,
                _ => write!(f, "{d}")?,
            }
        }
        f.write_str("]")?;
        if let Some(sig) = &self.signature
            && sig.len() != self.dims.len()
        {
            write!(f, " sig{sig:?}")?;
        }
        if !self.has_rank {
            f.write_str(" (has_rank=false)")?;
        }
        Ok(())
    }
}
