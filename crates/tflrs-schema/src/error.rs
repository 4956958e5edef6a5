//! Typed errors of model loading.

use alloc::string::String;
use core::fmt;

/// Where in a model something is wrong. Fields that do not apply are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Location {
    /// Index of the subgraph.
    pub subgraph: Option<usize>,
    /// Index of the operator within its subgraph.
    pub operator: Option<usize>,
    /// Index of the tensor within its subgraph.
    pub tensor: Option<usize>,
}

impl Location {
    /// The model as a whole.
    pub const MODEL: Location = Location {
        subgraph: None,
        operator: None,
        tensor: None,
    };

    /// A subgraph.
    pub fn subgraph(subgraph: usize) -> Self {
        Self {
            subgraph: Some(subgraph),
            ..Self::MODEL
        }
    }

    /// An operator of a subgraph.
    pub fn operator(subgraph: usize, operator: usize) -> Self {
        Self {
            subgraph: Some(subgraph),
            operator: Some(operator),
            tensor: None,
        }
    }

    /// A tensor of a subgraph.
    pub fn tensor(subgraph: usize, tensor: usize) -> Self {
        Self {
            subgraph: Some(subgraph),
            operator: None,
            tensor: Some(tensor),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = 0;
        let mut part = |f: &mut fmt::Formatter<'_>, name: &str, v: Option<usize>| {
            if let Some(v) = v {
                let sep = if parts == 0 { "" } else { ", " };
                parts += 1;
                write!(f, "{sep}{name} {v}")
            } else {
                Ok(())
            }
        };
        part(f, "subgraph", self.subgraph)?;
        part(f, "operator", self.operator)?;
        part(f, "tensor", self.tensor)?;
        if parts == 0 {
            f.write_str("model")?;
        }
        Ok(())
    }
}

/// What kind of index an [`LoadError::IndexOutOfRange`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// An index into `Model.buffers`.
    Buffer,
    /// An index into a subgraph's tensors.
    Tensor,
    /// An index into `Model.operator_codes`.
    OperatorCode,
    /// An index into `Model.subgraphs`.
    Subgraph,
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IndexKind::Buffer => "buffer",
            IndexKind::Tensor => "tensor",
            IndexKind::OperatorCode => "operator code",
            IndexKind::Subgraph => "subgraph",
        })
    }
}

/// Why a `.tflite` file was refused. Every variant names what is wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file is too short to hold a FlatBuffer header.
    #[error("file is {len} bytes, too short to be a .tflite model")]
    TooShort {
        /// Length of the file.
        len: usize,
    },
    /// The file is larger than the configured limit.
    #[error("file is {len} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Length of the file.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The FlatBuffer file identifier is not `TFL3`.
    #[error(
        "file identifier is {:?}, expected \"TFL3\" (not a TensorFlow Lite model)",
        String::from_utf8_lossy(found)
    )]
    BadIdentifier {
        /// The four bytes found at offset 4, lossily decoded.
        found: [u8; 4],
    },
    /// The FlatBuffers verifier rejected the file.
    #[error("malformed FlatBuffer: {0}")]
    Flatbuffer(flatbuffers::InvalidFlatbuffer),
    /// The model's schema version is not 3.
    #[error("schema version {version} is not supported (expected 3)")]
    UnsupportedVersion {
        /// The version the model states.
        version: u32,
    },
    /// A field the format requires is absent.
    #[error("{at}: missing {what}")]
    Missing {
        /// What is missing.
        what: &'static str,
        /// Where.
        at: Location,
    },
    /// An index points outside its table.
    #[error("{at}: {what} refers to {kind} {index}, but there are only {len}")]
    IndexOutOfRange {
        /// The field holding the index.
        what: &'static str,
        /// What the index selects.
        kind: IndexKind,
        /// The index as stored (may be negative).
        index: i64,
        /// The number of entries it may select from.
        len: usize,
        /// Where.
        at: Location,
    },
    /// An operator code names a negative builtin operator.
    #[error("operator code {index}: builtin code {code} is negative")]
    BadBuiltinCode {
        /// Index in `Model.operator_codes`.
        index: usize,
        /// The code (the larger of `builtin_code` and `deprecated_builtin_code`).
        code: i32,
    },
    /// A union field names a member this schema does not have, so its table cannot be
    /// verified (the FlatBuffers verifier skips unknown union members).
    #[error("{at}: {what} has unknown union type {value}")]
    UnknownUnionType {
        /// The union field.
        what: &'static str,
        /// The stored type tag.
        value: u8,
        /// Where.
        at: Location,
    },
    /// A tensor dimension is negative.
    #[error("{at}: dimension {axis} of the shape is {dim}")]
    NegativeDimension {
        /// Axis of the bad dimension.
        axis: usize,
        /// Its value.
        dim: i32,
        /// Where.
        at: Location,
    },
    /// The number of elements or bytes of a tensor overflows.
    #[error("{at}: shape {shape:?} has more elements or bytes than can be addressed")]
    ShapeOverflow {
        /// The shape, truncated to its first 8 dimensions.
        shape: ShapeSummary,
        /// Where.
        at: Location,
    },
    /// A constant tensor's buffer holds a different number of bytes than its shape and type need.
    #[error(
        "{at}: tensor needs {expected} bytes for its shape and type, but buffer {buffer} holds {actual}"
    )]
    BufferSizeMismatch {
        /// The buffer index.
        buffer: u32,
        /// Bytes required by shape and dtype.
        expected: u64,
        /// Bytes the buffer holds.
        actual: u64,
        /// Where.
        at: Location,
    },
    /// A buffer placed after the FlatBuffer (offset/size) reaches outside the file.
    #[error(
        "buffer {buffer}: data at offset {offset} with size {size} lies outside the {file_len}-byte file"
    )]
    BufferOutsideFile {
        /// The buffer index.
        buffer: usize,
        /// Its offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// Length of the file.
        file_len: usize,
    },
    /// A buffer has both inline data and an offset.
    #[error("buffer {buffer}: has both inline data and an external offset")]
    BufferAmbiguous {
        /// The buffer index.
        buffer: usize,
    },
    /// Custom options stored after the FlatBuffer reach outside the file.
    #[error(
        "{at}: custom options at offset {offset} with size {size} lie outside the {file_len}-byte file"
    )]
    CustomOptionsOutsideFile {
        /// Their offset.
        offset: u64,
        /// Their size.
        size: u64,
        /// Length of the file.
        file_len: usize,
        /// Where.
        at: Location,
    },
    /// A tensor's quantization parameters are inconsistent.
    #[error("{at}: bad quantization: {problem}")]
    BadQuantization {
        /// What is inconsistent.
        problem: QuantProblem,
        /// Where.
        at: Location,
    },
    /// A tensor's sparsity parameters are inconsistent.
    #[error("{at}: bad sparsity parameters: {problem}")]
    BadSparsity {
        /// What is inconsistent.
        problem: &'static str,
        /// Where.
        at: Location,
    },
    /// A subgraph calls itself, directly or through others (IF, WHILE, CALL_ONCE, ...).
    #[error(
        "subgraph {subgraph} is reachable from itself through control-flow operators (recursion is not allowed)"
    )]
    SubgraphCycle {
        /// A subgraph on the cycle.
        subgraph: usize,
    },
    /// A model-wide count exceeds the configured limit.
    #[error("{what} is {count}, over the limit of {limit}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The count.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// What is wrong with a tensor's quantization parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantProblem {
    /// `scale` is set but `zero_point` is not.
    MissingZeroPoint,
    /// `scale` and `zero_point` have different lengths.
    LengthMismatch {
        /// Number of scales.
        scales: usize,
        /// Number of zero points.
        zero_points: usize,
    },
    /// `quantized_dimension` is not an axis of the tensor.
    AxisOutOfRange {
        /// The stated axis.
        axis: i32,
        /// The tensor's rank.
        rank: usize,
    },
    /// Per-axis parameters do not match the size of the quantized axis.
    ChannelCountMismatch {
        /// Number of scales.
        scales: usize,
        /// Size of the quantized axis.
        channels: i64,
    },
}

impl fmt::Display for QuantProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QuantProblem::MissingZeroPoint => f.write_str("scale is set but zero_point is not"),
            QuantProblem::LengthMismatch {
                scales,
                zero_points,
            } => write!(f, "{scales} scales but {zero_points} zero points"),
            QuantProblem::AxisOutOfRange { axis, rank } => {
                write!(
                    f,
                    "quantized_dimension {axis} is not an axis of a rank-{rank} tensor"
                )
            }
            QuantProblem::ChannelCountMismatch { scales, channels } => write!(
                f,
                "{scales} per-channel scales for a quantized axis of size {channels}"
            ),
        }
    }
}

/// The leading dimensions of a shape, kept inline so that errors never allocate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShapeSummary {
    dims: [i32; 8],
    rank: usize,
}

impl ShapeSummary {
    /// Summarizes a shape (dimensions past the eighth are elided in the output).
    pub fn new(dims: impl IntoIterator<Item = i32>) -> Self {
        let mut out = [0; 8];
        let mut rank = 0;
        for d in dims {
            if rank < out.len() {
                out[rank] = d;
            }
            rank += 1;
        }
        Self { dims: out, rank }
    }
}

impl fmt::Debug for ShapeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims.iter().take(self.rank.min(8)).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.rank > 8 {
            write!(f, ", ... ({} dims)", self.rank)?;
        }
        f.write_str("]")
    }
}

impl From<flatbuffers::InvalidFlatbuffer> for LoadError {
    // Not `#[from]`: that would also make the verifier's error the `source()`, and error
    // reporters that print causes would show it twice.
    fn from(e: flatbuffers::InvalidFlatbuffer) -> Self {
        LoadError::Flatbuffer(e)
    }
}
