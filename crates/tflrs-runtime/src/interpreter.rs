//! The interpreter: plan once (kernel per node, arena offsets), invoke many times.

use crate::arena;
use crate::exec::{StepObserver, run_subgraph};
use crate::plan::{Direction, Exec, SubgraphPlan};
use crate::variables::State;
use crate::{Error, Model};
use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use tflrs_ir::Graph;
use tflrs_kernels::{Backend, CustomKernelFactory, CustomOps, Device, Parallel, ScalarBackend};

/// Bounds the interpreter enforces before allocating anything, so that a hostile model is
/// refused with [`Error::LimitExceeded`] instead of exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest total of arena, scratch and persistent bytes over all subgraphs.
    pub max_arena_bytes: u64,
    /// Largest number of elements of one tensor.
    pub max_tensor_elements: u64,
    /// Largest number of nodes over all subgraphs.
    pub max_nodes: usize,
    /// Largest number of subgraphs.
    pub max_subgraphs: usize,
    /// Deepest nesting of subgraph calls (control flow) during `invoke`.
    pub max_call_depth: usize,
    /// Most iterations of one `WHILE` loop during one `invoke` (a loop whose condition never
    /// turns false fails with an error instead of hanging).
    pub max_loop_iterations: u64,
    /// Most buffers (tensors and kernel scratch) planned into one subgraph's arena. Arena
    /// planning grows faster than linearly with them on some graphs; the default keeps it
    /// under a second (measured in `arena.rs`).
    pub max_arena_buffers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_arena_bytes: 4 << 30,
            max_tensor_elements: 1 << 31,
            max_nodes: 1 << 20,
            max_subgraphs: 4096,
            max_call_depth: 64,
            max_loop_iterations: 1 << 24,
            max_arena_buffers: 1 << 15,
        }
    }
}

/// The model an interpreter runs: borrowed (`&model`, the interpreter lives no longer than it)
/// or owned (`model`, `Arc<Model>`: an `Interpreter<'static>`, free to be kept in a struct,
/// returned from a function or sent to another thread). [`Interpreter::builder`] and
/// [`Interpreter::new`] take anything that converts into it.
#[derive(Debug, Clone)]
pub struct ModelSource<'m>(Source<'m>);

#[derive(Debug, Clone)]
enum Source<'m> {
    Borrowed(&'m Model<'m>),
    #[cfg(target_has_atomic = "ptr")]
    Shared(alloc::sync::Arc<Model<'static>>),
    #[cfg(not(target_has_atomic = "ptr"))]
    Owned(alloc::rc::Rc<Model<'static>>),
}

impl ModelSource<'_> {
    pub(crate) fn model(&self) -> &Model<'_> {
        match &self.0 {
            Source::Borrowed(m) => m,
            #[cfg(target_has_atomic = "ptr")]
            Source::Shared(m) => m,
            #[cfg(not(target_has_atomic = "ptr"))]
            Source::Owned(m) => m,
        }
    }
}

impl<'m, 'a: 'm> From<&'m Model<'a>> for ModelSource<'m> {
    fn from(model: &'m Model<'a>) -> Self {
        Self(Source::Borrowed(model))
    }
}

#[cfg(target_has_atomic = "ptr")]
impl From<alloc::sync::Arc<Model<'static>>> for ModelSource<'_> {
    fn from(model: alloc::sync::Arc<Model<'static>>) -> Self {
        Self(Source::Shared(model))
    }
}

impl From<Model<'static>> for ModelSource<'_> {
    fn from(model: Model<'static>) -> Self {
        #[cfg(target_has_atomic = "ptr")]
        let source = Source::Shared(alloc::sync::Arc::new(model));
        #[cfg(not(target_has_atomic = "ptr"))]
        let source = Source::Owned(alloc::rc::Rc::new(model));
        Self(source)
    }
}

/// Configures and builds an [`Interpreter`].
pub struct InterpreterBuilder<'m> {
    model: ModelSource<'m>,
    backends: Vec<Box<dyn Backend>>,
    custom: CustomOps,
    limits: Limits,
    preserve_inputs: bool,
    reference: bool,
    threads: usize,
}

impl core::fmt::Debug for InterpreterBuilder<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InterpreterBuilder")
            .field(
                "backends",
                &self
                    .backends
                    .iter()
                    .map(|b| b.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .field("custom", &self.custom)
            .field("limits", &self.limits)
            .field("reference_kernels", &self.reference)
            .field("threads", &self.threads)
            .finish()
    }
}

impl<'m> InterpreterBuilder<'m> {
    /// Adds a backend. Backends are asked in the order they are added, then the default SIMD
    /// backend (feature `simd`, unless [`reference_kernels`](Self::reference_kernels)), and the
    /// scalar backend always last.
    pub fn backend(mut self, backend: impl Backend + 'static) -> Self {
        self.backends.push(Box::new(backend));
        self
    }

    /// Adds a boxed backend (see [`backend`](Self::backend)).
    pub fn boxed_backend(mut self, backend: Box<dyn Backend>) -> Self {
        self.backends.push(backend);
        self
    }

    /// Registers a kernel for the custom operator `name` (asked before every backend).
    pub fn custom_op(mut self, name: impl Into<String>, factory: CustomKernelFactory) -> Self {
        self.custom.register(name, factory);
        self
    }

    /// Whether the main subgraph's inputs keep their memory for the whole invoke (default
    /// `true`, as in LiteRT: an input written once can be invoked on again). With `false`,
    /// an input's memory is reused after its last reader, as TensorFlow Lite Micro does, for a
    /// smaller arena; the input must then be written again before every `invoke`.
    pub fn preserve_inputs(mut self, preserve: bool) -> Self {
        self.preserve_inputs = preserve;
        self
    }

    /// With `true`, only the backends added and the scalar reference backend plan the model
    /// (LiteRT's `OpResolverType.BUILTIN_REF`): integer outputs are LiteRT's reference bytes
    /// whatever the host, float outputs the reference kernels' exact bits. With `false` (the
    /// default) the SIMD backend of feature `simd` (on by default) is asked before the scalar
    /// one; its integer kernels give the same bytes, its float kernels agree within the
    /// tolerances `docs/performance.md` states.
    pub fn reference_kernels(mut self, reference: bool) -> Self {
        self.reference = reference;
        self
    }

    /// Threads the kernels may split their work over (default 1). With `n > 1` (and feature
    /// `std`), `build()` starts `n - 1` worker threads, kept for the interpreter's life; the
    /// thread calling `invoke` is the n-th. Kernels that split (the SIMD backend's large
    /// convolutions and matrix products) give each output element to one thread, so outputs do
    /// not depend on `n`; `invoke` still allocates nothing and makes no thread. Without `std`
    /// the interpreter runs on one thread whatever `n`.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Plans the model: a kernel per node, arena offsets, constant data in place.
    pub fn build(self) -> Result<Interpreter<'m>, Error> {
        let mut backends = self.backends;
        backends.insert(0, Box::new(self.custom));
        #[cfg(feature = "simd")]
        if !self.reference {
            backends.push(Box::new(tflrs_simd::SimdBackend::new()));
        }
        backends.push(Box::new(ScalarBackend));
        #[cfg(feature = "std")]
        let pool = crate::pool::Pool::new(self.threads);
        #[cfg(feature = "std")]
        let threads = pool.as_ref().map_or(1, Parallel::threads);
        #[cfg(not(feature = "std"))]
        let threads = 1;
        let shape_inputs = self
            .model
            .model()
            .graph()
            .main()
            .map(crate::shapes::shape_inputs)
            .unwrap_or_default()
            .into_iter()
            .map(|i| (i, None))
            .collect();
        let mut interp = Interpreter {
            #[cfg(feature = "std")]
            pool,
            threads,
            model: self.model,
            backends,
            limits: self.limits,
            preserve_inputs: self.preserve_inputs,
            input_shapes: Vec::new(),
            shape_inputs,
            plans: Vec::new(),
            shared_arenas: Vec::new(),
            state: State::default(),
            devices: Vec::new(),
        };
        interp.plan()?;
        Ok(interp)
    }
}

/// One node's entry in the plan report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    /// Subgraph of the node.
    pub subgraph: usize,
    /// Index of the node.
    pub node: usize,
    /// The operator.
    pub op: String,
    /// The kernel's name.
    pub kernel: String,
    /// The backend that made the kernel.
    pub backend: String,
    /// The device partition the node runs in (its index among its subgraph's partitions in
    /// [`Interpreter::partition_report`]), if any.
    pub partition: Option<usize>,
}

/// A partition in the plan report: consecutive nodes a device-owning backend runs as one
/// kernel on its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionEntry {
    /// Subgraph of the nodes.
    pub subgraph: usize,
    /// Index of the partition among its subgraph's.
    pub index: usize,
    /// The nodes (indices in the subgraph's execution order).
    pub nodes: core::ops::Range<usize>,
    /// The backend that claimed them.
    pub backend: String,
    /// Its device's name.
    pub device: String,
    /// The partition kernel's name.
    pub kernel: String,
}

/// A copy between host memory and a device, made at every run of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferEntry {
    /// Subgraph of the tensor.
    pub subgraph: usize,
    /// The partition at whose edge it crosses.
    pub partition: usize,
    /// Index of the tensor.
    pub tensor: usize,
    /// Its name.
    pub name: String,
    /// Which way it goes: before the partition runs (to the device) or after (to the host).
    pub direction: Direction,
    /// Bytes copied.
    pub bytes: usize,
}

/// Runs a model: fill inputs, [`invoke`](Self::invoke), read outputs.
///
/// `invoke` allocates nothing: every tensor lives in an arena planned by
/// [`InterpreterBuilder::build`], constants are read in place from the model.
///
/// `'m` is the model's borrow: `Interpreter::new(&model)` lives no longer than `model`, while
/// `Interpreter::new(model)` (an owned [`Model`], from [`Model::from_file`] or
/// [`Model::from_vec`]) or `Interpreter::new(arc_model)` gives an `Interpreter<'static>`,
/// which owns what it runs: keep it in a struct, return it, send it to another thread.
///
/// Inputs: [`set_input`](Self::set_input) (checked type and length),
/// [`set_input_f32`](Self::set_input_f32) (quantizes), [`input_mut`](Self::input_mut) (a typed
/// view). Outputs: [`output`](Self::output), [`output_f32`](Self::output_f32) (dequantizes).
/// By name: [`input_index`](Self::input_index), [`signature`](Self::signature).
pub struct Interpreter<'m> {
    pub(crate) backends: Vec<Box<dyn Backend>>,
    pub(crate) limits: Limits,
    pub(crate) preserve_inputs: bool,
    /// Shapes the user gave to the main subgraph's inputs with `resize_input`.
    pub(crate) input_shapes: Vec<Option<Vec<usize>>>,
    /// Main inputs whose values decide tensor shapes, with the values the plan was made for.
    pub(crate) shape_inputs: Vec<(usize, Option<Vec<u8>>)>,
    pub(crate) plans: Vec<Option<Box<SubgraphPlan>>>,
    /// Arenas shared by the subgraphs of one call depth (see `share_arenas`); the plans'
    /// views point into them, so they are replaced only together with the plans.
    pub(crate) shared_arenas: Vec<Vec<u8>>,
    /// Variables and `CALL_ONCE` records, kept across invokes and re-planning.
    pub(crate) state: State,
    /// The device-owning backends' devices for this plan (partitions name them by index).
    pub(crate) devices: Vec<Box<dyn Device>>,
    /// The worker pool of [`InterpreterBuilder::threads`] (none for one thread).
    #[cfg(feature = "std")]
    pub(crate) pool: Option<crate::pool::Pool>,
    /// Threads kernels run on (the pool's, or 1).
    pub(crate) threads: usize,
    /// The model. The plans, kernels and devices point into its constants: declared last,
    /// it is dropped after them.
    pub(crate) model: ModelSource<'m>,
}

impl core::fmt::Debug for Interpreter<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Interpreter")
            .field("subgraphs", &self.plans.len())
            .field("arena_bytes", &self.arena_bytes())
            .finish()
    }
}

impl<'m> Interpreter<'m> {
    /// Starts configuring an interpreter for `model`: `&model` to borrow it, `model` or an
    /// `Arc<Model<'static>>` for an interpreter that owns (or shares) it.
    pub fn builder(model: impl Into<ModelSource<'m>>) -> InterpreterBuilder<'m> {
        InterpreterBuilder {
            model: model.into(),
            backends: Vec::new(),
            custom: CustomOps::new(),
            limits: Limits::default(),
            preserve_inputs: true,
            reference: false,
            threads: 1,
        }
    }

    /// Builds an interpreter with the default backends (the SIMD backend with feature `simd`,
    /// then the scalar one).
    pub fn new(model: impl Into<ModelSource<'m>>) -> Result<Self, Error> {
        Self::builder(model).build()
    }

    /// The model this interpreter runs.
    pub fn model(&self) -> &Model<'_> {
        self.model.model()
    }

    pub(crate) fn graph(&self) -> &Graph<'_> {
        self.model.model().graph()
    }

    /// Bytes of arena (all subgraphs, scratch included) plus variables' buffers (variable
    /// tensors and resource variables).
    pub fn arena_bytes(&self) -> usize {
        let own: usize = self
            .plans
            .iter()
            .flatten()
            .map(|p| {
                let arena = if p.shared { 0 } else { p.arena_bytes };
                arena + p.persistent.iter().map(|v| v.len() * 16).sum::<usize>()
            })
            .sum();
        let shared: usize = self
            .shared_arenas
            .iter()
            .map(|a| a.len().saturating_sub(arena::ALIGN))
            .sum();
        own + shared + self.state.vars.bytes()
    }

    /// Threads the kernels run on ([`InterpreterBuilder::threads`]; 1 without `std`).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The kernel and backend chosen for every node. A node in a device partition names its
    /// partition's kernel and its index in [`partition_report`](Self::partition_report).
    pub fn plan_report(&self) -> Vec<PlanEntry> {
        let mut out = Vec::new();
        for (s, plan) in self.plans.iter().enumerate() {
            let Some(plan) = plan else { continue };
            for (n, node) in plan.nodes.iter().enumerate() {
                let (kernel, backend, partition) = match &node.exec {
                    Exec::Alias => ("alias__runtime".to_string(), "runtime".to_string(), None),
                    Exec::Kernel(k) => (k.name().to_string(), node.backend.clone(), None),
                    Exec::Partition(p) => (
                        plan.partitions[*p].kernel.name().to_string(),
                        node.backend.clone(),
                        Some(*p),
                    ),
                };
                out.push(PlanEntry {
                    subgraph: s,
                    node: n,
                    op: node.op.clone(),
                    kernel,
                    backend,
                    partition,
                });
            }
        }
        out
    }

    /// The partitions device-owning backends claimed, in subgraph and node order.
    pub fn partition_report(&self) -> Vec<PartitionEntry> {
        let mut out = Vec::new();
        for (s, plan) in self.plans.iter().enumerate() {
            let Some(plan) = plan else { continue };
            for (p, part) in plan.partitions.iter().enumerate() {
                out.push(PartitionEntry {
                    subgraph: s,
                    index: p,
                    nodes: part.range.clone(),
                    backend: part.backend.clone(),
                    device: self
                        .devices
                        .get(part.device)
                        .map_or_else(String::new, |d| d.name().to_string()),
                    kernel: part.kernel.name().to_string(),
                });
            }
        }
        out
    }

    /// The copies between host and devices that every run of the partitions makes: the
    /// tensors that cross a partition's edges, and only those.
    pub fn transfer_report(&self) -> Vec<TransferEntry> {
        let mut out = Vec::new();
        for (s, plan) in self.plans.iter().enumerate() {
            let Some(plan) = plan else { continue };
            for (p, part) in plan.partitions.iter().enumerate() {
                let moves = part
                    .uploads
                    .iter()
                    .map(|&(t, _)| (t, Direction::ToDevice))
                    .chain(part.downloads.iter().map(|&(t, _)| (t, Direction::ToHost)));
                for (t, direction) in moves {
                    let info = &plan.tensors[t];
                    out.push(TransferEntry {
                        subgraph: s,
                        partition: p,
                        tensor: t,
                        name: info.name.clone(),
                        direction,
                        bytes: crate::plan::planned_len(info).unwrap_or(0),
                    });
                }
            }
        }
        out
    }

    /// Runs the main subgraph.
    ///
    /// Allocates nothing, except in one case: when an input whose values decide tensor shapes
    /// ([`shape_inputs`](Self::shape_inputs)) holds values other than those the plan was made
    /// for, the interpreter plans again first, as after [`resize_input`](Self::resize_input)
    /// (inputs keep their contents).
    pub fn invoke(&mut self) -> Result<(), Error> {
        self.invoke_with(None)
    }

    /// Like [`invoke`](Self::invoke), telling `observer` before and after each step of the main
    /// subgraph (a node's kernel, or a device partition), for profiling.
    pub fn invoke_observed(&mut self, observer: &mut dyn StepObserver) -> Result<(), Error> {
        self.invoke_with(Some(observer))
    }

    fn invoke_with(&mut self, observer: Option<&mut dyn StepObserver>) -> Result<(), Error> {
        if self.shape_values_changed() {
            self.replan_for_shape_values()?;
        }
        #[cfg(feature = "std")]
        let parallel = self.pool.as_ref().map(|p| p as &dyn Parallel);
        #[cfg(not(feature = "std"))]
        let parallel: Option<&dyn Parallel> = None;
        run_subgraph(
            &mut self.plans,
            &mut self.state,
            &mut self.devices,
            0,
            0,
            &self.limits,
            parallel,
            observer,
        )
    }

    /// Puts the model's state back as `build()` left it (LiteRT's `reset_all_variables`, and
    /// more): variable tensors (an LSTM's state) to zero (int8 ones to their zero point),
    /// resource variables (`VAR_HANDLE`) back to unassigned, and `CALL_ONCE` initializers
    /// to run again at the next [`invoke`](Self::invoke). Inputs and outputs keep their
    /// contents. Allocates nothing. A variable tensor that a device backend keeps inside one
    /// of its partitions (never on the host) is the device's to reset, and is not reset here.
    pub fn reset_variables(&mut self) {
        for plan in self.plans.iter_mut().flatten() {
            let plan = &mut **plan;
            for (t, loc) in plan.locs.iter().enumerate() {
                if let crate::plan::Loc::Persistent { index, .. } = *loc
                    && let (Some(buf), Some(info)) =
                        (plan.persistent.get_mut(index), plan.tensors.get(t))
                {
                    buf.fill(crate::plan::variable_reset_value(info));
                }
            }
        }
        self.state.vars.clear();
        self.state.initialized.fill(false);
    }

    /// The main inputs whose values decide tensor shapes (a `FILL`'s dims or a `RESHAPE`'s
    /// target given as a model input): new values there make the next
    /// [`invoke`](Self::invoke) plan again.
    pub fn shape_inputs(&self) -> Vec<usize> {
        self.shape_inputs.iter().map(|(i, _)| *i).collect()
    }

    fn shape_values_changed(&self) -> bool {
        self.shape_inputs
            .iter()
            .any(|(i, planned)| planned.as_deref() != self.output_or_input_bytes(*i))
    }

    pub(crate) fn output_or_input_bytes(&self, i: usize) -> Option<&[u8]> {
        let plan = self.main();
        plan.bytes(*plan.inputs.get(i)?)
    }

    fn replan_for_shape_values(&mut self) -> Result<(), Error> {
        let saved: Vec<Vec<u8>> = (0..self.num_inputs())
            .map(|i| self.output_or_input_bytes(i).unwrap_or(&[]).to_vec())
            .collect();
        let previous: Vec<Option<Vec<u8>>> =
            self.shape_inputs.iter().map(|(_, v)| v.clone()).collect();
        for k in 0..self.shape_inputs.len() {
            let i = self.shape_inputs[k].0;
            self.shape_inputs[k].1 = Some(saved[i].clone());
        }
        if let Err(e) = self.plan() {
            for (slot, old) in self.shape_inputs.iter_mut().zip(previous) {
                slot.1 = old;
            }
            return Err(e);
        }
        // The inputs' shapes did not change, only the arena they live in: refill them.
        for (i, bytes) in saved.iter().enumerate() {
            if let Ok(dst) = self.input_bytes_mut(i)
                && dst.len() == bytes.len()
            {
                dst.copy_from_slice(bytes);
            }
        }
        Ok(())
    }

    pub(crate) fn main(&self) -> &SubgraphPlan {
        self.plans[0]
            .as_deref()
            .expect("main plan is present outside invoke")
    }

    pub(crate) fn main_mut(&mut self) -> &mut SubgraphPlan {
        self.plans[0]
            .as_deref_mut()
            .expect("main plan is present outside invoke")
    }
}
