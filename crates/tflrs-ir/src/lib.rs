//! The tflrs graph IR.
//!
//! One graph representation that passes and the interpreter share, holding everything a
//! `.tflite` holds, so that a model read and written again is the same model:
//!
//! - [`DType`], [`Shape`] (with dynamic dimensions), [`QuantParams`] (per-tensor, per-axis).
//! - [`Graph`] of [`Subgraph`]s of [`Value`]s and [`Node`]s; each node's [`Op`] is a typed
//!   variant with typed attributes for the operators tflrs runs, or [`Op::Opaque`], which keeps
//!   any other operator exactly as the file has it. Constant data borrows the model's bytes
//!   until a pass replaces it.
//! - [`import`] from a verified [`tflrs_schema::Model`] and [`export`] back to `.tflite` bytes
//!   (the [`tflite`] module, the only one touching the generated FlatBuffers types).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = std::fs::read("model.tflite")?;
//! let graph = tflrs_ir::Graph::from_tflite(&bytes)?;
//! let written = graph.to_tflite()?;
//! assert_eq!(tflrs_ir::Graph::from_tflite(&written)?, graph);
//! # Ok(()) }
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod dtype;
mod error;
mod graph;
mod op_table;
mod ops;
mod quant;
mod shape;
pub mod tflite;

pub use dtype::DType;
pub use error::{ExportError, ImportError};
pub use graph::*;
pub use ops::*;
pub use quant::*;
pub use shape::{Dim, Shape};
pub use tflite::{ExportOptions, export, export_with, import};

impl<'a> Graph<'a> {
    /// Verifies `bytes` as a `.tflite` model and imports it; constant data borrows `bytes`.
    pub fn from_tflite(bytes: &'a [u8]) -> Result<Self, ImportError> {
        let model = tflrs_schema::Model::from_bytes(bytes)?;
        import(&model)
    }

    /// Writes the graph as `.tflite` bytes (see [`export`]).
    pub fn to_tflite(&self) -> Result<alloc::vec::Vec<u8>, ExportError> {
        export(self)
    }
}
