//! Typed errors of import and export.

use alloc::string::String;

/// Why a verified `.tflite` model could not be turned into a [`Graph`](crate::Graph).
///
/// A model that [`tflrs_schema::Model::from_bytes`] accepts imports unless it uses a type or a
/// union member newer than the schema tflrs was built with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The bytes are not a valid model.
    #[error(transparent)]
    Load(#[from] tflrs_schema::LoadError),
    /// A tensor's element type is not one the schema knows.
    #[error("subgraph {subgraph}, tensor {tensor}: unknown tensor type {code}")]
    UnknownDType {
        /// Subgraph index.
        subgraph: usize,
        /// Tensor index.
        tensor: usize,
        /// The type code.
        code: i8,
    },
    /// A union holds a member the schema does not know.
    #[error("{at}: unknown {what} type {value}")]
    UnknownUnionType {
        /// Which union.
        what: &'static str,
        /// Its discriminant.
        value: u8,
        /// Where.
        at: String,
    },
    /// A table could not be read field by field (never happens for a verified model).
    #[error("{at}: malformed {what}")]
    Malformed {
        /// What could not be read.
        what: &'static str,
        /// Where.
        at: String,
    },
}

/// Why a [`Graph`](crate::Graph) could not be written as a `.tflite` model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A node or signature refers to a value the subgraph does not have.
    #[error("subgraph {subgraph}: {what} refers to value {value}, but there are only {len}")]
    DanglingValue {
        /// Subgraph index.
        subgraph: usize,
        /// Which reference.
        what: String,
        /// The value index.
        value: u32,
        /// Number of values.
        len: usize,
    },
    /// A signature refers to a subgraph that does not exist.
    #[error("signature {key:?} refers to subgraph {subgraph}, but there are only {len}")]
    DanglingSubgraph {
        /// The signature key.
        key: String,
        /// The subgraph index.
        subgraph: usize,
        /// Number of subgraphs.
        len: usize,
    },
    /// An opaque operator's raw options do not match the schema.
    #[error("subgraph {subgraph}, node {node}: raw options do not match the schema: {problem}")]
    BadRawOptions {
        /// Subgraph index.
        subgraph: usize,
        /// Node index.
        node: usize,
        /// What is wrong.
        problem: String,
    },
    /// The model's structure (without constant data) does not fit a FlatBuffer (2 GiB).
    #[error("the model's structure needs about {bytes} bytes, more than a FlatBuffer can hold")]
    TooLarge {
        /// Estimated bytes.
        bytes: u64,
    },
    /// A count does not fit the format's 32-bit fields.
    #[error("{what} has {count} entries, more than the format can index")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The count.
        count: usize,
    },
    /// An internal invariant of the writer failed (a bug in tflrs).
    #[error("internal error while writing the model: {0}")]
    Internal(&'static str),
}
