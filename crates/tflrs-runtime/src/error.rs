//! Typed errors of the runtime.

use alloc::string::String;
use tflrs_ir::DType;
use tflrs_kernels::KernelError;

/// Why a model could not be loaded, planned or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not a valid `.tflite` model.
    #[error("invalid model: {0}")]
    Load(#[from] tflrs_schema::LoadError),
    /// The model could not be turned into a graph.
    #[error("cannot import model: {0}")]
    Import(#[from] tflrs_ir::ImportError),
    /// No backend offers a kernel for a node.
    #[error("subgraph {subgraph}, node {node}: no backend supports operator {op}")]
    Unsupported {
        /// Subgraph of the node.
        subgraph: usize,
        /// Index of the node.
        node: usize,
        /// The operator (builtin name or custom code).
        op: String,
    },
    /// A kernel refused a node, or failed while running it.
    #[error("subgraph {subgraph}, node {node} ({op}): {source}")]
    Kernel {
        /// Subgraph of the node.
        subgraph: usize,
        /// Index of the node.
        node: usize,
        /// The operator.
        op: String,
        /// What the kernel said.
        source: KernelError,
    },
    /// A tensor's shape or type cannot be planned (dynamic, unsized or too large).
    #[error("subgraph {subgraph}, tensor {tensor} ('{name}'): {problem}")]
    Tensor {
        /// Subgraph of the tensor.
        subgraph: usize,
        /// Index of the tensor.
        tensor: usize,
        /// Its name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A configured limit was exceeded (checked before allocating).
    #[error("{what} is {value}, over the limit of {limit}")]
    LimitExceeded {
        /// What was measured.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// An input or output index or name does not exist.
    #[error("no {what} {name}")]
    NoSuchTensor {
        /// "input", "output" or "signature".
        what: &'static str,
        /// The index or name asked for.
        name: String,
    },
    /// A typed view was asked with the wrong element type.
    #[error("tensor '{name}' holds {actual}, not {requested}")]
    DTypeMismatch {
        /// The tensor's name.
        name: String,
        /// Its type.
        actual: DType,
        /// The type asked for.
        requested: DType,
    },
    /// A device-owning backend's partition could not be planned (a bad claim, a node that
    /// cannot run on a device, a failed allocation).
    #[error("subgraph {subgraph}, backend {backend}: {problem}")]
    Partition {
        /// Subgraph of the partition.
        subgraph: usize,
        /// The backend (or its device) that claimed it.
        backend: String,
        /// What is wrong.
        problem: String,
    },
    /// Copying a tensor between the host and a device failed during `invoke`.
    #[error("subgraph {subgraph}, tensor {tensor}: transfer to {device} failed: {source}")]
    Transfer {
        /// Subgraph of the tensor.
        subgraph: usize,
        /// Index of the tensor.
        tensor: usize,
        /// The device.
        device: String,
        /// What the device said.
        source: KernelError,
    },
    /// A subgraph that control flow or `invoke` runs is missing or already running.
    #[error("subgraph {subgraph} is missing or already running")]
    NoSubgraph {
        /// The subgraph asked for.
        subgraph: usize,
    },
    /// An input was resized to an invalid shape.
    #[error("cannot resize input {index}: {problem}")]
    BadResize {
        /// The input.
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// A setter was given a number of elements other than the tensor holds.
    #[error("tensor '{name}' holds {expected} elements, {given} given")]
    SizeMismatch {
        /// The tensor's name.
        name: String,
        /// Its number of elements.
        expected: usize,
        /// The number given.
        given: usize,
    },
    /// A model file could not be read.
    #[cfg(feature = "std")]
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
}
