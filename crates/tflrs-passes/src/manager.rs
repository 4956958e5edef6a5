//! [`Pass`], [`PassCtx`] and [`PassManager`].

use core::fmt;
use tflrs_ir::{ConstEval, EditError, EvalError, Graph, VerifyError};

/// What a pass may use besides the graph: hooks for work the IR cannot do itself.
///
/// Built with [`PassCtx::new`] and the `with_` methods, so that hooks added later (a
/// calibrator for quantization) do not break callers.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct PassCtx<'e> {
    /// Computes nodes whose inputs are all constant (the runtime's scalar kernels); `None`
    /// when the caller offers none, and folding passes then leave such nodes alone.
    pub eval: Option<&'e dyn ConstEval>,
}

impl<'e> PassCtx<'e> {
    /// A context without hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context with `eval` for constant folding.
    pub fn with_eval(mut self, eval: &'e dyn ConstEval) -> Self {
        self.eval = Some(eval);
        self
    }
}

impl fmt::Debug for PassCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassCtx")
            .field("eval", &self.eval.map(|_| "dyn ConstEval"))
            .finish()
    }
}

/// Why a pass failed (as opposed to leaving a graph that does not verify, which the
/// [`PassManager`] reports as [`ManagerError::Verify`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PassError {
    /// An edit was refused.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The evaluator rejected a node.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A check the pass ran on the graph (shape inference, verify) failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// A graph-to-graph transformation.
pub trait Pass {
    /// The pass's name, for errors and reports (`"dead-code-elimination"`).
    fn name(&self) -> &str;

    /// Runs the pass on `graph`; returns whether it changed anything. Nodes the pass makes or
    /// changes get `version = None` (the IR's edits do that), so that export writes the
    /// versions they need.
    fn run(&self, graph: &mut Graph<'_>, ctx: &PassCtx<'_>) -> Result<bool, PassError>;
}

/// Why [`PassManager::run`] stopped. The graph is left as the failing pass left it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The graph did not verify before the first pass ran.
    #[error("the graph does not verify before any pass runs: {0}")]
    Input(#[source] VerifyError),
    /// A pass failed.
    #[error("pass {pass:?} failed: {source}")]
    Pass {
        /// The pass's name.
        pass: String,
        /// Why.
        #[source]
        source: PassError,
    },
    /// A pass left a graph that does not verify.
    #[error("pass {pass:?} left an invalid graph: {source}")]
    Verify {
        /// The pass's name.
        pass: String,
        /// What verify found.
        #[source]
        source: VerifyError,
    },
}

/// Runs passes in order, verifying the graph before the first and after each.
#[derive(Default)]
pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
}

impl fmt::Debug for PassManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl PassManager {
    /// A manager without passes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `pass`.
    pub fn add(&mut self, pass: impl Pass + 'static) -> &mut Self {
        self.passes.push(Box::new(pass));
        self
    }

    /// Appends a boxed pass (from [`crate::pass`]).
    pub fn add_boxed(&mut self, pass: Box<dyn Pass>) -> &mut Self {
        self.passes.push(pass);
        self
    }

    /// The manager with a boxed pass appended.
    pub fn with_boxed(mut self, pass: Box<dyn Pass>) -> Self {
        self.passes.push(pass);
        self
    }

    /// The manager with `pass` appended.
    pub fn with(mut self, pass: impl Pass + 'static) -> Self {
        self.add(pass);
        self
    }

    /// The passes' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.passes.iter().map(|p| p.name())
    }

    /// Verifies `graph`, then runs each pass and verifies again after it. Returns whether any
    /// pass changed the graph.
    pub fn run(&self, graph: &mut Graph<'_>, ctx: &PassCtx<'_>) -> Result<bool, ManagerError> {
        Ok(self.run_report(graph, ctx)?.iter().any(|r| r.changed))
    }

    /// [`run`](Self::run), reporting what each pass changed: nodes and constant bytes before
    /// and after it.
    pub fn run_report(
        &self,
        graph: &mut Graph<'_>,
        ctx: &PassCtx<'_>,
    ) -> Result<Vec<PassReport>, ManagerError> {
        graph.verify().map_err(ManagerError::Input)?;
        let mut reports = Vec::with_capacity(self.passes.len());
        for pass in &self.passes {
            let before = Size::of(graph);
            let changed = pass.run(graph, ctx).map_err(|source| ManagerError::Pass {
                pass: pass.name().into(),
                source,
            })?;
            graph.verify().map_err(|source| ManagerError::Verify {
                pass: pass.name().into(),
                source,
            })?;
            reports.push(PassReport {
                pass: pass.name().into(),
                changed,
                before,
                after: Size::of(graph),
            });
        }
        Ok(reports)
    }
}

/// The size of a graph, as [`PassReport`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    /// Nodes in all subgraphs.
    pub nodes: usize,
    /// Bytes of constant data ([`Graph::constant_bytes`]).
    pub constant_bytes: u64,
}

impl Size {
    /// The size of `graph`.
    pub fn of(graph: &Graph<'_>) -> Self {
        Self {
            nodes: graph.subgraphs.iter().map(|s| s.nodes.len()).sum(),
            constant_bytes: graph.constant_bytes(),
        }
    }
}

/// What one pass of [`PassManager::run_report`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// The pass's name.
    pub pass: String,
    /// Whether it changed the graph.
    pub changed: bool,
    /// The graph before it ran.
    pub before: Size,
    /// The graph after it ran.
    pub after: Size,
}
