//! Evaluating nodes whose inputs are all constant, for passes that fold constants.
//!
//! The IR cannot compute an operator: that needs kernels, and passes depend on the IR only
//! (DESIGN, "Passes"). A [`ConstEval`] is what a runtime offers instead: `tflrs-runtime`
//! implements it with its scalar kernels, and the runtime's own plan-time folding goes through
//! the same trait.

use crate::graph::{Node, Subgraph};
use alloc::string::String;
use alloc::vec::Vec;

/// Why a node could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate {op}: {reason}")]
pub struct EvalError {
    /// The operator's name.
    pub op: String,
    /// What went wrong.
    pub reason: String,
}

/// Computes a node's outputs from constant inputs.
pub trait ConstEval {
    /// Evaluates `node` of `subgraph`. Every input present is a constant (its value's `data` is
    /// set) with a static shape, and every output value carries its static shape.
    ///
    /// Returns the outputs' dense little-endian bytes, one `Vec` per output; `Ok(None)` when
    /// this evaluator does not compute such a node (an operator it lacks, a result over its size
    /// limit), so that the caller leaves the node in place; an error when the node is invalid.
    fn eval(
        &self,
        subgraph: &Subgraph<'_>,
        node: &Node<'_>,
    ) -> Result<Option<Vec<Vec<u8>>>, EvalError>;
}
