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
//!   (the [`tflite`] module, the only one touching the generated FlatBuffers types): buffers
//!   deduplicated and 16-byte aligned, operator codes with the minimal versions nodes need
//!   ([`tflite::min_version`] says the rule), buffer offsets past 2 GB.
//! - [`Graph::verify`] with typed [`VerifyError`]s, shape inference ([`infer_outputs`],
//!   [`Graph::infer_shapes`]), the stable text form [`Graph::dump`], and [`GraphBuilder`].
//! - Editing for passes: one walker over every value reference ([`Graph::value_refs`],
//!   [`RefSite`]), use lists ([`UseMap`]), [`Subgraph::replace_all_uses`],
//!   [`Subgraph::add_constant`] and [`Value::constant_as`] (typed by [`Element`]),
//!   [`Subgraph::insert_node_before`], [`Subgraph::remove_nodes`], [`Graph::compact`] (drops
//!   unreferenced values and renumbers), and [`Patch`] for several edits in one step; op
//!   properties ([`Op::fused_activation`], [`Op::call_spec`], [`Op::is_reshape_like`],
//!   [`Op::has_side_effects`]); [`ConstEval`] for computing constant nodes outside the IR.
//!
//! Adding a typed operator is one entry in the op table (`src/op_table.rs`), plus its shape
//! rule in `src/infer.rs` and, when it has one, its version rule in `src/tflite/version.rs`.
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

mod builder;
mod dtype;
mod dump;
mod edit;
mod error;
pub mod eval;
pub mod fuzz;
mod graph;
mod infer;
mod op_table;
mod ops;
#[cfg(test)]
mod proptests;
mod quant;
mod refs;
mod shape;
pub mod tflite;
mod verify;
pub mod window;

pub use builder::GraphBuilder;
pub use dtype::DType;
pub use edit::{EditError, Element, Patch, Remap, UseMap};
pub use error::{ExportError, ImportError};
pub use eval::{ConstEval, EvalError};
pub use graph::*;
pub use infer::{OutputType, infer_default_outputs, infer_outputs};
pub use ops::*;
pub use quant::*;
pub use refs::RefSite;
pub use shape::{Dim, Shape};
pub use tflite::{ExportOptions, export, export_with, import};
pub use verify::{ValueUse, VerifyError};

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
