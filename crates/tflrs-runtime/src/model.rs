//! A verified, imported model that many interpreters can share.

use crate::Error;
use tflrs_ir::Graph;

/// A `.tflite` model, verified and imported into the graph IR once. Constant data stays in the
/// bytes it was loaded from. `Model` is `Sync`: many interpreters on many threads may share it.
#[derive(Debug)]
pub struct Model<'a> {
    graph: Graph<'a>,
}

impl<'a> Model<'a> {
    /// Verifies `bytes` as a `.tflite` model and imports it.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        let model = tflrs_schema::Model::from_bytes(bytes)?;
        Ok(Self {
            graph: tflrs_ir::tflite::import(&model)?,
        })
    }

    /// Wraps a graph built or transformed in code.
    pub fn from_graph(graph: Graph<'a>) -> Self {
        Self { graph }
    }

    /// The model's graph.
    pub fn graph(&self) -> &Graph<'a> {
        &self.graph
    }
}
