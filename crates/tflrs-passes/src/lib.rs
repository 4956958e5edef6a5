//! Optimization passes over the tflrs graph IR.
//!
//! A [`Pass`] edits a [`Graph`](tflrs_ir::Graph) in place with the IR's editing API (use
//! lists, [`Patch`](tflrs_ir::Patch), [`Graph::compact`](tflrs_ir::Graph::compact)); a
//! [`PassManager`] runs passes in order and verifies the graph after each, so that a pass that
//! leaves a broken graph is named at once. Passes depend on `tflrs-ir` only, never on kernels
//! or the runtime: what needs computing (folding constants) goes through the
//! [`ConstEval`](tflrs_ir::ConstEval) a caller puts in the [`PassCtx`].
//!
//! Fusion and folding are [`Rule`]s (a rule looks at one node and returns a
//! [`Patch`](tflrs_ir::Patch) or `None`), each run everywhere by a [`RulePass`]; [`passes`]
//! lists them by name and [`fuse_passes`] is the default set of `tflrs optimize --fuse`.
//!
//! ```
//! use tflrs_ir::{AddAttrs, DType, GraphBuilder, Op};
//! use tflrs_passes::{DeadCodeElimination, PassCtx, PassManager};
//!
//! let mut b = GraphBuilder::new();
//! let x = b.input("x", DType::Float32, [4]);
//! let unused = b.op(Op::Tanh, &[x]).unwrap();
//! let y = b.op(Op::Relu, &[x]).unwrap();
//! b.output(y);
//! let mut graph = b.finish().unwrap();
//!
//! let passes = PassManager::new().with(DeadCodeElimination);
//! assert!(passes.run(&mut graph, &PassCtx::new()).unwrap());
//! assert_eq!(graph.subgraphs[0].nodes.len(), 1);
//! # let _ = unused;
//! ```

mod dce;
mod fold;
pub mod fuse;
mod manager;
mod noop;
mod prune;
pub mod quantize;
mod registry;
mod rule;
#[cfg(test)]
mod testutil;

pub use dce::DeadCodeElimination;
pub use fold::FoldConstants;
pub use manager::{ManagerError, Pass, PassCtx, PassError, PassManager, PassReport, Size};
pub use noop::{MergeReshapes, RemoveNoOps};
pub use prune::{LayerReport, Prune, PruneFormat};
pub use registry::{PassInfo, fuse_passes, pass, passes};
pub use rule::{Rule, RuleCx, RulePass};
