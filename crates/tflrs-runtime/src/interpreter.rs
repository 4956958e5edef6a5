//! The interpreter: plan once (kernel per node, arena offsets), invoke many times.

use crate::arena::{self, Request};
use crate::element::Element;
use crate::variables::{State, Variables};
use crate::{Error, Model};
use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{DType, Graph, Op};
use tflrs_kernels::{
    Backend, CustomKernelFactory, CustomOps, Kernel, KernelError, KernelIo, NodeCtx, RawTensor,
    ScalarBackend, Services, TensorInfo, TensorMut, TensorRef,
};

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

/// Configures and builds an [`Interpreter`].
pub struct InterpreterBuilder<'m> {
    model: &'m Model<'m>,
    backends: Vec<Box<dyn Backend>>,
    custom: CustomOps,
    limits: Limits,
    preserve_inputs: bool,
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
            .finish()
    }
}

impl<'m> InterpreterBuilder<'m> {
    /// Adds a backend. Backends are asked in the order they are added; the scalar backend is
    /// always asked last.
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

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Plans the model: a kernel per node, arena offsets, constant data in place.
    pub fn build(self) -> Result<Interpreter<'m>, Error> {
        let mut backends = self.backends;
        backends.insert(0, Box::new(self.custom));
        backends.push(Box::new(ScalarBackend));
        let mut interp = Interpreter {
            model: self.model,
            backends,
            limits: self.limits,
            preserve_inputs: self.preserve_inputs,
            input_shapes: Vec::new(),
            shape_inputs: self
                .model
                .graph()
                .main()
                .map(crate::shapes::shape_inputs)
                .unwrap_or_default()
                .into_iter()
                .map(|i| (i, None))
                .collect(),
            plans: Vec::new(),
            shared_arenas: Vec::new(),
            state: State::default(),
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
}

/// Runs a model: fill inputs, [`invoke`](Self::invoke), read outputs.
///
/// `invoke` allocates nothing: every tensor lives in an arena planned by
/// [`InterpreterBuilder::build`], constants are read in place from the model.
pub struct Interpreter<'m> {
    model: &'m Model<'m>,
    backends: Vec<Box<dyn Backend>>,
    limits: Limits,
    preserve_inputs: bool,
    /// Shapes the user gave to the main subgraph's inputs with `resize_input`.
    input_shapes: Vec<Option<Vec<usize>>>,
    /// Main inputs whose values decide tensor shapes, with the values the plan was made for.
    shape_inputs: Vec<(usize, Option<Vec<u8>>)>,
    plans: Vec<Option<Box<SubgraphPlan>>>,
    /// Arenas shared by the subgraphs of one call depth (see `share_arenas`); the plans'
    /// views point into them, so they are replaced only together with the plans.
    shared_arenas: Vec<Vec<u8>>,
    /// Variables and `CALL_ONCE` records, kept across invokes and re-planning.
    state: State,
}

impl core::fmt::Debug for Interpreter<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Interpreter")
            .field("subgraphs", &self.plans.len())
            .field("arena_bytes", &self.arena_bytes())
            .finish()
    }
}

/// Where a tensor's bytes are.
#[derive(Debug, Clone, Copy)]
enum Loc {
    /// Not materialized (unused, or without a fixed size).
    None,
    /// In the subgraph's arena.
    Arena { offset: usize, len: usize },
    /// Constant data in the model (or an aligned copy of it).
    Const { ptr: *const u8, len: usize },
    /// A variable's own buffer, kept across invokes.
    Persistent { index: usize, len: usize },
}

struct NodePlan {
    kernel: Box<dyn Kernel>,
    backend: String,
    op: String,
    inputs: Vec<Option<RawTensor>>,
    outputs: Vec<RawTensor>,
    scratch: (usize, usize),
    /// The node's output shares its input's memory (a reshape): nothing to run.
    aliased: bool,
}

struct SubgraphPlan {
    tensors: Vec<TensorInfo>,
    locs: Vec<Loc>,
    nodes: Vec<NodePlan>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// Backing memory of the arena (empty when the plan uses a shared arena of the
    /// interpreter: see `share_arenas`).
    arena: Vec<u8>,
    /// First aligned byte of the arena this plan uses: in `arena`, or in a shared arena.
    base_ptr: *mut u8,
    /// Bytes of arena the plan needs from `base_ptr` on.
    arena_bytes: usize,
    /// Whether the arena is shared with the other subgraphs of the same call depth.
    shared: bool,
    /// Aligned copies of constants whose bytes in the model are misaligned; never read
    /// directly, it owns the memory that their `Loc::Const` pointers point into.
    #[allow(dead_code)]
    const_copies: Vec<Vec<u128>>,
    /// Variables' buffers.
    persistent: Vec<Vec<u128>>,
}

// SAFETY: the raw pointers in `locs` and in the nodes' `RawTensor`s point into heap buffers
// owned by this plan (`arena`, `const_copies`, `persistent`, `tensors`), which move with it,
// into a shared arena owned by the same interpreter (which moves with it too), or into the
// model's bytes, which are immutable and outlive the interpreter. Nothing else aliases them,
// so moving the plan to another thread is sound.
unsafe impl Send for SubgraphPlan {}

impl SubgraphPlan {
    fn arena_ptr(&mut self) -> *mut u8 {
        self.base_ptr
    }

    /// Bytes `[offset, offset + len)` of the arena.
    fn arena_slice(&self, offset: usize, len: usize) -> Option<&[u8]> {
        if offset.checked_add(len)? > self.arena_bytes {
            return None;
        }
        // SAFETY: `base_ptr` points at `arena_bytes` bytes that live as long as the plan (its
        // own `arena`, or the interpreter's shared arena, replaced only with the plans), and
        // the range was checked to lie inside them.
        Some(unsafe { core::slice::from_raw_parts(self.base_ptr.add(offset), len) })
    }

    /// Bytes `[offset, offset + len)` of the arena, for writing.
    fn arena_slice_mut(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        if offset.checked_add(len)? > self.arena_bytes {
            return None;
        }
        // SAFETY: as in `arena_slice`; `&mut self` makes this the only view through the plan.
        Some(unsafe { core::slice::from_raw_parts_mut(self.base_ptr.add(offset), len) })
    }

    /// Moves the plan onto arena memory at `base` (at least `arena_bytes` bytes, aligned):
    /// every node's view of an arena tensor is recomputed from its offset.
    fn rebase(&mut self, sg: &tflrs_ir::Subgraph<'_>, base: *mut u8) {
        let locs = &self.locs;
        let at = |v: Option<tflrs_ir::ValueId>, raw: &mut RawTensor| {
            if let Some(v) = v
                && let Some(Loc::Arena { offset, .. }) = locs.get(v.index())
            {
                // SAFETY: offsets from the layout lie within `arena_bytes`, which `base` holds.
                raw.ptr = unsafe { base.add(*offset) };
            }
        };
        for (np, node) in self.nodes.iter_mut().zip(&sg.nodes) {
            for (raw, v) in np.inputs.iter_mut().zip(&node.inputs) {
                if let Some(raw) = raw {
                    at(*v, raw);
                }
            }
            for (raw, v) in np.outputs.iter_mut().zip(&node.outputs) {
                at(Some(*v), raw);
            }
        }
        self.base_ptr = base;
        self.arena = Vec::new();
        self.shared = true;
    }

    fn bytes(&self, t: usize) -> Option<&[u8]> {
        match self.locs.get(t)? {
            Loc::Arena { offset, len } => self.arena_slice(*offset, *len),
            // SAFETY: constant pointers were made from live slices of `len` bytes that outlive
            // the plan (model bytes or `const_copies`).
            Loc::Const { ptr, len } => Some(unsafe { core::slice::from_raw_parts(*ptr, *len) }),
            Loc::Persistent { index, len } => {
                Some(&bytemuck::cast_slice::<u128, u8>(&self.persistent[*index])[..*len])
            }
            Loc::None => None,
        }
    }

    /// Tensor `t` for writing, with its description (fields borrowed apart, so that the
    /// description and the bytes can be held together).
    fn tensor_mut(&mut self, t: usize) -> Option<TensorMut<'_>> {
        let info = self.tensors.get(t)?;
        let bytes = match *self.locs.get(t)? {
            Loc::Arena { offset, len } => {
                if offset.checked_add(len)? > self.arena_bytes {
                    return None;
                }
                // SAFETY: as in `arena_slice_mut`; `info` borrows `tensors`, a different field.
                unsafe { core::slice::from_raw_parts_mut(self.base_ptr.add(offset), len) }
            }
            Loc::Persistent { index, len } => {
                &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.persistent[index])[..len]
            }
            Loc::Const { .. } | Loc::None => return None,
        };
        Some(TensorMut { info, bytes })
    }

    fn bytes_mut(&mut self, t: usize) -> Option<&mut [u8]> {
        match *self.locs.get(t)? {
            Loc::Arena { offset, len } => self.arena_slice_mut(offset, len),
            Loc::Persistent { index, len } => {
                Some(&mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.persistent[index])[..len])
            }
            Loc::Const { .. } | Loc::None => None,
        }
    }
}

impl<'m> Interpreter<'m> {
    /// Starts configuring an interpreter for `model`.
    pub fn builder(model: &'m Model<'m>) -> InterpreterBuilder<'m> {
        InterpreterBuilder {
            model,
            backends: Vec::new(),
            custom: CustomOps::new(),
            limits: Limits::default(),
            preserve_inputs: true,
        }
    }

    /// Builds an interpreter with the default backends (scalar only, for now).
    pub fn new(model: &'m Model<'m>) -> Result<Self, Error> {
        Self::builder(model).build()
    }

    fn graph(&self) -> &'m Graph<'m> {
        self.model.graph()
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

    /// The kernel and backend chosen for every node.
    pub fn plan_report(&self) -> Vec<PlanEntry> {
        let mut out = Vec::new();
        for (s, plan) in self.plans.iter().enumerate() {
            let Some(plan) = plan else { continue };
            for (n, node) in plan.nodes.iter().enumerate() {
                out.push(PlanEntry {
                    subgraph: s,
                    node: n,
                    op: node.op.clone(),
                    kernel: if node.aliased {
                        "alias__runtime".to_string()
                    } else {
                        node.kernel.name().to_string()
                    },
                    backend: if node.aliased {
                        "runtime".to_string()
                    } else {
                        node.backend.clone()
                    },
                });
            }
        }
        out
    }

    fn plan(&mut self) -> Result<(), Error> {
        let graph = self.graph();
        let limits = self.limits;
        if graph.subgraphs.len() > limits.max_subgraphs {
            return Err(Error::LimitExceeded {
                what: "number of subgraphs",
                value: graph.subgraphs.len() as u64,
                limit: limits.max_subgraphs as u64,
            });
        }
        let nodes: usize = graph.subgraphs.iter().map(|s| s.nodes.len()).sum();
        if nodes > limits.max_nodes {
            return Err(Error::LimitExceeded {
                what: "number of nodes",
                value: nodes as u64,
                limit: limits.max_nodes as u64,
            });
        }
        check_references(graph)?;
        let n = graph.subgraphs.len();
        // Input shapes of each subgraph: the user's for the main one; for a subgraph that
        // control flow runs, its caller's arguments' shapes where they differ from the stored
        // ones (so that a resized batch flows into loop bodies and branches).
        let mut overrides: Vec<Option<Vec<Option<Vec<usize>>>>> = vec![None; n];
        let mut plans: Vec<Option<Box<SubgraphPlan>>> = (0..n).map(|_| None).collect();
        let mut total = 0u64;
        // Callers before callees: subgraph 0, then what it calls, and so on; then the rest.
        let mut order: Vec<usize> = Vec::with_capacity(n);
        let mut queued = vec![false; n];
        if n > 0 {
            overrides[0] = Some(self.input_shapes.clone());
            order.push(0);
            queued[0] = true;
        }
        let resized = self.input_shapes.iter().any(Option::is_some);
        let mut next = 0;
        loop {
            if next == order.len() {
                match queued.iter().position(|q| !q) {
                    Some(s) => {
                        order.push(s);
                        queued[s] = true;
                    }
                    None => break,
                }
            }
            let s = order[next];
            next += 1;
            let sg = &graph.subgraphs[s];
            let given = overrides[s].as_deref().unwrap_or(&[]);
            let known: Vec<(usize, &[u8])> = if s == 0 {
                self.shape_inputs
                    .iter()
                    .filter_map(|(i, v)| Some((sg.inputs.get(*i)?.index(), v.as_deref()?)))
                    .collect()
            } else {
                Vec::new()
            };
            let preserve = self.preserve_inputs || s != 0;
            let settings = PlanSettings {
                backends: &self.backends,
                limits: &limits,
                preserve_inputs: preserve,
            };
            let plan = plan_subgraph(graph, s, given, &known, settings, &mut total)?;
            for (node_index, node) in sg.nodes.iter().enumerate() {
                let (callees, skip) = match &node.op {
                    Op::While(a) => ([a.cond_subgraph_index, a.body_subgraph_index], 0),
                    Op::If(a) => ([a.then_subgraph_index, a.else_subgraph_index], 1),
                    _ => continue,
                };
                for c in callees {
                    let Some(c) = usize::try_from(c).ok().filter(|&c| c < n) else {
                        continue; // reported by check_calls
                    };
                    let shapes = call_shapes(&plan, node, skip, &graph.subgraphs[c], resized);
                    match &overrides[c] {
                        None if !queued[c] => {
                            overrides[c] = Some(shapes);
                            order.push(c);
                            queued[c] = true;
                        }
                        have => {
                            let have: &[Option<Vec<usize>>] = have.as_deref().unwrap_or(&[]);
                            let at =
                                |l: &[Option<Vec<usize>>], k: usize| l.get(k).cloned().flatten();
                            let n_args = have.len().max(shapes.len());
                            if (0..n_args).any(|k| at(have, k) != at(&shapes, k)) {
                                return Err(Error::Kernel {
                                    subgraph: s,
                                    node: node_index,
                                    op: node.op.name().into_owned(),
                                    source: KernelError::unsupported(format!(
                                        "subgraph {c} is called with other shapes elsewhere"
                                    )),
                                });
                            }
                        }
                    }
                }
            }
            plans[s] = Some(Box::new(plan));
        }
        check_calls(graph, &plans)?;
        let tensors: Vec<&[TensorInfo]> = plans
            .iter()
            .map(|p| p.as_deref().map_or(&[][..], |p| p.tensors.as_slice()))
            .collect();
        let mut vars = Variables::plan(graph, &tensors, &limits, &mut total)?;
        // Variables keep their values across re-planning (as LiteRT keeps them across
        // `ResizeInputTensor`), unless their type or shape changed: then the state starts
        // afresh and `CALL_ONCE` initializes again.
        let old = core::mem::take(&mut self.state);
        let kept = vars.keep_values(old.vars);
        let initialized = if kept && old.initialized.len() == n {
            old.initialized
        } else {
            vec![false; n]
        };
        self.state = State { vars, initialized };
        self.shared_arenas = share_arenas(graph, &mut plans);
        self.plans = plans;
        Ok(())
    }

    /// Runs the main subgraph.
    ///
    /// Allocates nothing, except in one case: when an input whose values decide tensor shapes
    /// ([`shape_inputs`](Self::shape_inputs)) holds values other than those the plan was made
    /// for, the interpreter plans again first, as after [`resize_input`](Self::resize_input)
    /// (inputs keep their contents).
    pub fn invoke(&mut self) -> Result<(), Error> {
        if self.shape_values_changed() {
            self.replan_for_shape_values()?;
        }
        run_subgraph(&mut self.plans, &mut self.state, 0, 0, &self.limits)
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

    fn output_or_input_bytes(&self, i: usize) -> Option<&[u8]> {
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

    fn main(&self) -> &SubgraphPlan {
        self.plans[0]
            .as_deref()
            .expect("main plan is present outside invoke")
    }

    fn main_mut(&mut self) -> &mut SubgraphPlan {
        self.plans[0]
            .as_deref_mut()
            .expect("main plan is present outside invoke")
    }

    /// Number of inputs of the main subgraph.
    pub fn num_inputs(&self) -> usize {
        self.main().inputs.len()
    }

    /// Number of outputs of the main subgraph.
    pub fn num_outputs(&self) -> usize {
        self.main().outputs.len()
    }

    /// Description of input `i`.
    pub fn input_info(&self, i: usize) -> Result<&TensorInfo, Error> {
        let plan = self.main();
        let t = *plan.inputs.get(i).ok_or_else(|| no_such("input", i))?;
        Ok(&plan.tensors[t])
    }

    /// Description of output `i`.
    pub fn output_info(&self, i: usize) -> Result<&TensorInfo, Error> {
        let plan = self.main();
        let t = *plan.outputs.get(i).ok_or_else(|| no_such("output", i))?;
        Ok(&plan.tensors[t])
    }

    /// The model's signatures (TFLite `SignatureDef`s): a key (`"serving_default"`), the
    /// subgraph it runs, and the names callers use for its inputs and outputs.
    pub fn signatures(&self) -> &'m [tflrs_ir::Signature] {
        &self.graph().signatures
    }

    /// Position among the main subgraph's inputs (or outputs) of the tensor that signature
    /// `key` names `name`.
    fn signature_position(&self, key: &str, name: &str, input: bool) -> Result<usize, Error> {
        let sig = self
            .signatures()
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| no_such("signature", key))?;
        if sig.subgraph != 0 {
            return Err(Error::NoSuchTensor {
                what: "signature on the main subgraph",
                name: format!(
                    "{key} (it runs subgraph {}; only the main subgraph is an entry point for now)",
                    sig.subgraph
                ),
            });
        }
        let (named, ours) = if input {
            (&sig.inputs, &self.main().inputs)
        } else {
            (&sig.outputs, &self.main().outputs)
        };
        let what = if input {
            "signature input"
        } else {
            "signature output"
        };
        let value = named
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| no_such(what, format!("{key}/{name}")))?
            .value
            .index();
        ours.iter()
            .position(|&t| t == value)
            .ok_or_else(|| no_such(what, format!("{key}/{name}")))
    }

    /// Index of the input that signature `key` calls `name` (LiteRT's
    /// `get_signature_runner(key)` input names).
    pub fn signature_input_index(&self, key: &str, name: &str) -> Result<usize, Error> {
        self.signature_position(key, name, true)
    }

    /// Index of the output that signature `key` calls `name`.
    pub fn signature_output_index(&self, key: &str, name: &str) -> Result<usize, Error> {
        self.signature_position(key, name, false)
    }

    /// Index of the input named `name`.
    pub fn input_index(&self, name: &str) -> Result<usize, Error> {
        let plan = self.main();
        plan.inputs
            .iter()
            .position(|&t| plan.tensors[t].name == name)
            .ok_or_else(|| no_such("input", name))
    }

    /// Index of the output named `name`.
    pub fn output_index(&self, name: &str) -> Result<usize, Error> {
        let plan = self.main();
        plan.outputs
            .iter()
            .position(|&t| plan.tensors[t].name == name)
            .ok_or_else(|| no_such("output", name))
    }

    /// Input `i`'s bytes, for writing.
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        let plan = self.main_mut();
        let t = *plan.inputs.get(i).ok_or_else(|| no_such("input", i))?;
        plan.bytes_mut(t)
            .ok_or_else(|| no_such("writable input", i))
    }

    /// Output `i`'s bytes.
    pub fn output_bytes(&self, i: usize) -> Result<&[u8], Error> {
        let plan = self.main();
        let t = *plan.outputs.get(i).ok_or_else(|| no_such("output", i))?;
        plan.bytes(t)
            .ok_or_else(|| no_such("materialized output", i))
    }

    /// Input `i` as a typed slice, for writing; fails unless `T` is the input's type.
    pub fn input_mut<T: Element>(&mut self, i: usize) -> Result<&mut [T], Error> {
        check_dtype::<T>(self.input_info(i)?)?;
        let bytes = self.input_bytes_mut(i)?;
        Ok(bytemuck::cast_slice_mut(bytes))
    }

    /// Output `i` as a typed slice; fails unless `T` is the output's type.
    pub fn output<T: Element>(&self, i: usize) -> Result<&[T], Error> {
        check_dtype::<T>(self.output_info(i)?)?;
        Ok(bytemuck::cast_slice(self.output_bytes(i)?))
    }

    /// The input named `name` as a typed slice, for writing.
    pub fn input_by_name_mut<T: Element>(&mut self, name: &str) -> Result<&mut [T], Error> {
        let i = self.input_index(name)?;
        self.input_mut(i)
    }

    /// The output named `name` as a typed slice.
    pub fn output_by_name<T: Element>(&self, name: &str) -> Result<&[T], Error> {
        self.output(self.output_index(name)?)
    }

    /// Gives input `i` a new shape (dynamic dimensions, batch size) and plans again. Inputs'
    /// contents are lost.
    pub fn resize_input(&mut self, i: usize, shape: &[usize]) -> Result<(), Error> {
        let sg = &self.graph().subgraphs[0];
        let v = *sg.inputs.get(i).ok_or_else(|| no_such("input", i))?;
        let value = &sg.values[v.index()];
        if shape.len() != value.shape.dims.len() {
            return Err(Error::BadResize {
                index: i,
                problem: format!(
                    "rank {} given, the input has rank {}",
                    shape.len(),
                    value.shape.dims.len()
                ),
            });
        }
        if let Some(sig) = &value.shape.signature {
            for (axis, (&want, &s)) in shape.iter().zip(sig).enumerate() {
                if s >= 0 && want as i64 != i64::from(s) {
                    return Err(Error::BadResize {
                        index: i,
                        problem: format!("dimension {axis} is fixed at {s}, {want} given"),
                    });
                }
            }
        }
        if self.input_shapes.len() < sg.inputs.len() {
            self.input_shapes.resize(sg.inputs.len(), None);
        }
        let previous = self.input_shapes[i].replace(shape.to_vec());
        let planned = self.plan();
        if planned.is_err() {
            // Keep the interpreter as it was: the old plan is still in place.
            self.input_shapes[i] = previous;
        }
        planned
    }
}

fn no_such(what: &'static str, name: impl ToString) -> Error {
    Error::NoSuchTensor {
        what,
        name: name.to_string(),
    }
}

fn check_dtype<T: Element>(info: &TensorInfo) -> Result<(), Error> {
    if info.dtype != T::DTYPE {
        return Err(Error::DTypeMismatch {
            name: info.name.clone(),
            actual: info.dtype,
            requested: T::DTYPE,
        });
    }
    Ok(())
}

fn tensor_error(s: usize, t: usize, name: &str, problem: String) -> Error {
    Error::Tensor {
        subgraph: s,
        tensor: t,
        name: name.to_string(),
        problem,
    }
}

/// Lets the subgraphs that control flow runs share arena memory: subgraphs of the same call
/// depth (longest chain of calls from the main subgraph) are never running at the same time
/// (a running subgraph only calls deeper ones), and a caller copies a callee's outputs out
/// before it runs another callee, so one arena as large as the largest of them serves them all.
/// The main subgraph keeps its own arena (its tensors are alive while it calls others).
fn share_arenas(graph: &Graph<'_>, plans: &mut [Option<Box<SubgraphPlan>>]) -> Vec<Vec<u8>> {
    let n = plans.len();
    let mut depth: Vec<Option<usize>> = vec![None; n];
    if n > 0 {
        depth[0] = Some(0);
    }
    // Longest-path depths; the call graph is acyclic (recursion is refused at load and plan).
    for _ in 0..n {
        let mut changed = false;
        for (s, sg) in graph.subgraphs.iter().enumerate() {
            let Some(d) = depth[s] else { continue };
            for node in &sg.nodes {
                for (_, c) in node.op.called_subgraphs() {
                    let Some(c) = usize::try_from(c).ok().filter(|&c| c < n && c != s) else {
                        continue;
                    };
                    if depth[c].is_none_or(|dc| dc < d + 1) {
                        depth[c] = Some(d + 1);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let max_depth = depth.iter().flatten().copied().max().unwrap_or(0);
    let mut arenas = Vec::new();
    for d in 1..=max_depth {
        let members: Vec<usize> = (0..n).filter(|&s| depth[s] == Some(d)).collect();
        if members.len() < 2 {
            continue;
        }
        let size = members
            .iter()
            .filter_map(|&s| plans[s].as_ref().map(|p| p.arena_bytes))
            .max()
            .unwrap_or(0);
        let mut arena: Vec<u8> = vec![0u8; size + arena::ALIGN];
        let base = arena.as_ptr().align_offset(arena::ALIGN).min(arena::ALIGN);
        // SAFETY: `base < ALIGN`, and the buffer has `size + ALIGN` bytes.
        let base_ptr = unsafe { arena.as_mut_ptr().add(base) };
        for &s in &members {
            if let Some(plan) = plans[s].as_deref_mut() {
                plan.rebase(&graph.subgraphs[s], base_ptr);
            }
        }
        arenas.push(arena);
    }
    arenas
}

/// What planning a subgraph needs besides the graph.
#[derive(Clone, Copy)]
struct PlanSettings<'a> {
    backends: &'a [Box<dyn Backend>],
    limits: &'a Limits,
    /// Keep the subgraph's inputs alive for the whole run.
    preserve_inputs: bool,
}

fn plan_subgraph(
    graph: &Graph<'_>,
    s: usize,
    input_shapes: &[Option<Vec<usize>>],
    known: &[(usize, &[u8])],
    settings: PlanSettings<'_>,
    total: &mut u64,
) -> Result<SubgraphPlan, Error> {
    let PlanSettings {
        backends,
        limits,
        preserve_inputs,
    } = settings;
    let sg = &graph.subgraphs[s];
    let n_values = sg.values.len();
    // Concrete shapes: the stored ones, with the user's input shapes applied.
    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(n_values);
    for (t, v) in sg.values.iter().enumerate() {
        let mut shape: Vec<usize> = v.shape.dims.iter().map(|&d| d.max(0) as usize).collect();
        if let Some(pos) = sg.inputs.iter().position(|i| i.index() == t)
            && let Some(Some(given)) = input_shapes.get(pos)
        {
            shape.clone_from(given);
        }
        let elements = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .filter(|&n| n <= limits.max_tensor_elements)
            .ok_or_else(|| Error::LimitExceeded {
                what: "elements of one tensor",
                value: shape.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64)),
                limit: limits.max_tensor_elements,
            })?;
        let _ = elements;
        // Zero points outside the element type's range make no sense and would overflow the
        // kernels' 32-bit arithmetic; refuse them before any kernel sees them.
        if let Some(q) = &v.quant {
            let range = match v.dtype {
                DType::Int8 => Some((-128, 127)),
                DType::UInt8 => Some((0, 255)),
                DType::Int16 => Some((-32768, 32767)),
                DType::Int4 => Some((-8, 7)),
                _ => None,
            };
            if let Some((lo, hi)) = range
                && let Some(&zp) = q.zero_points().iter().find(|&&z| z < lo || z > hi)
            {
                return Err(tensor_error(
                    s,
                    t,
                    &v.name,
                    format!("zero point {zp} is outside the range of {}", v.dtype.name()),
                ));
            }
        }
        tensors.push(TensorInfo {
            name: v.name.clone(),
            dtype: v.dtype,
            shape,
            quant: v.quant.clone(),
            sparsity: v.sparsity.clone(),
        });
    }
    // Propagate shapes through nodes whose inputs were resized.
    if input_shapes.iter().any(Option::is_some) || !known.is_empty() {
        crate::shapes::propagate(graph, s, &mut tensors, known, limits.max_call_depth).map_err(
            |(node, e)| Error::Kernel {
                subgraph: s,
                node,
                op: sg.nodes[node].op.name().into_owned(),
                source: e,
            },
        )?;
    }

    // Zero-copy reshapes: the output of a RESHAPE, SQUEEZE or EXPAND_DIMS whose shape is known
    // at planning shares its input's memory (root), and the node does not run.
    let mut alias_of: Vec<Option<usize>> = vec![None; n_values];
    let mut aliased_node = vec![false; sg.nodes.len()];
    for (n, node) in sg.nodes.iter().enumerate() {
        if let Some(root) = reshape_alias(sg, node, &tensors) {
            let root = alias_of[root].unwrap_or(root);
            alias_of[node.outputs[0].index()] = Some(root);
            aliased_node[n] = true;
        }
    }

    // Lifetimes: step i is node i; inputs are alive from step 0 (and, when preserved, until
    // the end), outputs until the end. An aliased value's uses count for its root.
    let n_nodes = sg.nodes.len();
    let end = n_nodes;
    let mut first = vec![usize::MAX; n_values];
    let mut last = vec![0usize; n_values];
    let mut touch = |t: usize, step: usize| {
        let t = alias_of[t].unwrap_or(t);
        first[t] = first[t].min(step);
        last[t] = last[t].max(step);
    };
    for &i in &sg.inputs {
        touch(i.index(), 0);
        if preserve_inputs {
            touch(i.index(), end);
        }
    }
    for &o in &sg.outputs {
        touch(o.index(), end);
    }
    for (n, node) in sg.nodes.iter().enumerate() {
        for i in node.inputs.iter().flatten() {
            touch(i.index(), n);
        }
        for o in &node.outputs {
            touch(o.index(), n);
        }
    }

    // Where each tensor lives.
    let mut locs = vec![Loc::None; n_values];
    let mut const_copies: Vec<Vec<u128>> = Vec::new();
    let mut persistent: Vec<Vec<u128>> = Vec::new();
    let mut requests: Vec<Request> = Vec::new();
    let mut request_of: Vec<Option<usize>> = vec![None; n_values];
    for (t, v) in sg.values.iter().enumerate() {
        if let Some(data) = &v.data {
            let bytes: &[u8] = data;
            if (bytes.as_ptr() as usize).is_multiple_of(16) {
                locs[t] = Loc::Const {
                    ptr: bytes.as_ptr(),
                    len: bytes.len(),
                };
            } else {
                let mut copy = vec![0u128; bytes.len().div_ceil(16)];
                bytemuck::cast_slice_mut::<u128, u8>(&mut copy)[..bytes.len()]
                    .copy_from_slice(bytes);
                locs[t] = Loc::Const {
                    ptr: copy.as_ptr().cast(),
                    len: bytes.len(),
                };
                const_copies.push(copy);
            }
            continue;
        }
        if first[t] == usize::MAX || alias_of[t].is_some() {
            continue; // never used, or placed with its alias root below
        }
        let Some(len) = planned_len(&tensors[t]) else {
            continue; // strings, variants: not planned in the arena
        };
        *total = total.saturating_add(len as u64);
        if *total > limits.max_arena_bytes {
            return Err(Error::LimitExceeded {
                what: "memory for tensors",
                value: *total,
                limit: limits.max_arena_bytes,
            });
        }
        if v.is_variable {
            locs[t] = Loc::Persistent {
                index: persistent.len(),
                len,
            };
            // LiteRT resets variable tensors to zero, which for int8 is the zero point byte.
            let mut buf = vec![0u128; len.div_ceil(16)];
            if tensors[t].dtype == DType::Int8
                && let Some((_, zp)) = tensors[t].per_tensor_quant()
            {
                buf.fill(u128::from_ne_bytes([zp as u8; 16]));
            }
            persistent.push(buf);
            continue;
        }
        request_of[t] = Some(requests.len());
        requests.push(Request {
            size: len,
            first: first[t],
            last: last[t],
        });
    }

    // Kernels, in node order; each may ask for scratch alive during its step only.
    let mut nodes: Vec<NodePlan> = Vec::with_capacity(n_nodes);
    let mut scratch_requests: Vec<(usize, usize)> = Vec::new();
    for (n, node) in sg.nodes.iter().enumerate() {
        let op_name = node.op.name().into_owned();
        // Kernels get shared views of their inputs and exclusive views of their outputs
        // (`KernelIo::new`'s contract): a tensor that is both an input and an output of the
        // node, or two of its outputs, would alias them. LiteRT refuses the same
        // (`CheckInputAndOutputForOverlap`, CVE-2020-15210).
        for (k, o) in node.outputs.iter().enumerate() {
            let also = if let Some(j) = node.outputs[..k].iter().position(|p| p == o) {
                format!("output {j}")
            } else if let Some(i) = node.inputs.iter().position(|i| *i == Some(*o)) {
                format!("input {i}")
            } else {
                continue;
            };
            let name = sg.values.get(o.index()).map_or("", |v| v.name.as_str());
            return Err(Error::Kernel {
                subgraph: s,
                node: n,
                op: op_name,
                source: KernelError::invalid(format!(
                    "tensor {} ('{name}') is both {also} and output {k} of the node",
                    o.index()
                )),
            });
        }
        let infos: Vec<Option<&TensorInfo>> = node
            .inputs
            .iter()
            .map(|i| i.map(|i| &tensors[i.index()]))
            .collect();
        let constants: Vec<Option<&[u8]>> = node
            .inputs
            .iter()
            .map(|i| i.and_then(|i| sg.values[i.index()].data.as_deref()))
            .collect();
        let outs: Vec<&TensorInfo> = node.outputs.iter().map(|o| &tensors[o.index()]).collect();
        let intermediates: Vec<&TensorInfo> = node
            .intermediates
            .iter()
            .map(|v| &tensors[v.index()])
            .collect();
        let ctx = NodeCtx {
            subgraph: s,
            index: n,
            op: &node.op,
            inputs: &infos,
            constants: &constants,
            outputs: &outs,
            intermediates: &intermediates,
        };
        let mut chosen = None;
        for b in backends {
            match b.kernel_for(&ctx) {
                Ok(Some(k)) => {
                    chosen = Some((k, b.name().to_string()));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(Error::Kernel {
                        subgraph: s,
                        node: n,
                        op: op_name,
                        source: e,
                    });
                }
            }
        }
        let (kernel, backend) = chosen.ok_or_else(|| Error::Unsupported {
            subgraph: s,
            node: n,
            op: op_name.clone(),
        })?;
        let scratch = kernel.scratch_bytes();
        if scratch > 0 {
            *total = total.saturating_add(scratch as u64);
            if *total > limits.max_arena_bytes {
                return Err(Error::LimitExceeded {
                    what: "memory for tensors",
                    value: *total,
                    limit: limits.max_arena_bytes,
                });
            }
            scratch_requests.push((n, requests.len()));
            requests.push(Request {
                size: scratch,
                first: n,
                last: n,
            });
        }
        nodes.push(NodePlan {
            kernel,
            backend,
            op: op_name,
            inputs: Vec::new(),
            outputs: Vec::new(),
            scratch: (0, scratch),
            aliased: false,
        });
    }

    if requests.len() > limits.max_arena_buffers {
        return Err(Error::LimitExceeded {
            what: "buffers in one subgraph's arena",
            value: requests.len() as u64,
            limit: limits.max_arena_buffers as u64,
        });
    }
    let layout = arena::plan(&requests).ok_or(Error::LimitExceeded {
        what: "arena bytes",
        value: u64::MAX,
        limit: limits.max_arena_bytes,
    })?;
    for (t, r) in request_of.iter().enumerate() {
        if let Some(r) = *r {
            locs[t] = Loc::Arena {
                offset: layout.offsets[r],
                len: requests[r].size,
            };
        }
    }
    for &(n, r) in &scratch_requests {
        nodes[n].scratch.0 = layout.offsets[r];
    }
    for t in 0..n_values {
        if let Some(root) = alias_of[t] {
            locs[t] = locs[root];
        }
    }
    for (n, np) in nodes.iter_mut().enumerate() {
        np.aliased = aliased_node[n];
    }
    let mut arena = vec![0u8; layout.size + arena::ALIGN];
    let base = arena.as_ptr().align_offset(arena::ALIGN).min(arena::ALIGN);
    // SAFETY: `base < ALIGN`, and the buffer has `layout.size + ALIGN` bytes.
    let base_ptr = unsafe { arena.as_mut_ptr().add(base) };
    let mut plan = SubgraphPlan {
        tensors,
        locs,
        nodes: Vec::new(),
        inputs: sg.inputs.iter().map(|v| v.index()).collect(),
        outputs: sg.outputs.iter().map(|v| v.index()).collect(),
        arena,
        base_ptr,
        arena_bytes: layout.size,
        shared: false,
        const_copies,
        persistent,
    };
    // Raw views for every node, now that every tensor has a place.
    let arena_ptr = plan.arena_ptr();
    let raw = |plan: &mut SubgraphPlan, t: usize, writable: bool| -> Option<RawTensor> {
        let info: *const TensorInfo = &plan.tensors[t];
        let (ptr, len) = match plan.locs[t] {
            // SAFETY: offsets from the layout lie within the arena's `layout.size` bytes.
            Loc::Arena { offset, len } => (unsafe { arena_ptr.add(offset) }, len),
            Loc::Const { ptr, len } => (ptr.cast_mut(), len),
            Loc::Persistent { index, len } => {
                (plan.persistent[index].as_mut_ptr().cast::<u8>(), len)
            }
            Loc::None => return None,
        };
        let writable = writable && !matches!(plan.locs[t], Loc::Const { .. });
        Some(RawTensor {
            info,
            ptr,
            len,
            writable,
        })
    };
    for (n, mut np) in nodes.into_iter().enumerate() {
        let node = &sg.nodes[n];
        // A variable input is lent to the kernel for writing (in-place state, as LSTM's) when
        // no other input slot or output of the node is the same tensor.
        np.inputs = node
            .inputs
            .iter()
            .map(|i| {
                i.and_then(|i| {
                    let t = i.index();
                    let lend = matches!(plan.locs[t], Loc::Persistent { .. })
                        && node.inputs.iter().filter(|j| **j == Some(i)).count() == 1
                        && !node.outputs.contains(&i);
                    raw(&mut plan, t, lend)
                })
            })
            .collect();
        let mut outputs = Vec::with_capacity(node.outputs.len());
        for o in &node.outputs {
            let t = o.index();
            let r = raw(&mut plan, t, true).ok_or_else(|| {
                tensor_error(
                    s,
                    t,
                    &plan.tensors[t].name,
                    "output has no fixed size".into(),
                )
            })?;
            if !r.writable {
                return Err(tensor_error(
                    s,
                    t,
                    &plan.tensors[t].name,
                    "a node writes a constant".into(),
                ));
            }
            outputs.push(r);
        }
        np.outputs = outputs;
        plan.nodes.push(np);
    }
    Ok(plan)
}

/// The shapes a control-flow `node` of a planned subgraph passes to `callee` (its inputs from
/// input `skip` on), where they differ from the callee's stored input shapes and a resize
/// (`resized`) or a dynamic dimension of the callee explains the difference; `None` keeps the
/// stored shape. Other differences are the model's inconsistency, which `check_calls` reports.
fn call_shapes(
    plan: &SubgraphPlan,
    node: &tflrs_ir::Node<'_>,
    skip: usize,
    callee: &tflrs_ir::Subgraph<'_>,
    resized: bool,
) -> Vec<Option<Vec<usize>>> {
    node.inputs
        .iter()
        .skip(skip)
        .zip(&callee.inputs)
        .map(|(arg, param)| {
            let arg = &plan.tensors[(*arg)?.index()].shape;
            let stored = &callee.values[param.index()].shape;
            let same = arg.len() == stored.dims.len()
                && arg
                    .iter()
                    .zip(&stored.dims)
                    .all(|(&a, &d)| a as i64 == i64::from(d));
            let dynamic = stored
                .signature
                .as_ref()
                .is_some_and(|sig| sig.iter().any(|&d| d < 0));
            (!same && (resized || dynamic)).then(|| arg.clone())
        })
        .collect()
}

/// The value whose memory a reshape-like node's output can share, if it can: RESHAPE,
/// SQUEEZE and EXPAND_DIMS keep the bytes and only relabel the shape. Not for variables, not
/// for graph inputs written by the caller, and only when the node's shape operand (if any) is a
/// constant, so that the output shape cannot change without a new plan.
fn reshape_alias(
    sg: &tflrs_ir::Subgraph<'_>,
    node: &tflrs_ir::Node<'_>,
    tensors: &[TensorInfo],
) -> Option<usize> {
    use tflrs_ir::Op;
    if !matches!(node.op, Op::Reshape(_) | Op::Squeeze(_) | Op::ExpandDims)
        || node.outputs.len() != 1
    {
        return None;
    }
    let x = node.input(0)?.index();
    let y = node.outputs[0].index();
    if let Some(shape) = node.input(1)
        && sg.values[shape.index()].data.is_none()
    {
        return None;
    }
    let (vx, vy) = (&sg.values[x], &sg.values[y]);
    let plain = |v: &tflrs_ir::Value<'_>| !v.is_variable && v.sparsity.is_none();
    let same_bytes = tensors[x].dtype == tensors[y].dtype
        && planned_len(&tensors[x]).is_some()
        && planned_len(&tensors[x]) == planned_len(&tensors[y]);
    let y_is_input = sg.inputs.iter().any(|i| i.index() == y);
    (plain(vx) && plain(vy) && vy.data.is_none() && same_bytes && !y_is_input).then_some(x)
}

/// Checks that the graph has a main subgraph and that every value a subgraph or node names
/// exists. A file's graph always passes (the loader checked its indices); a graph built in
/// code ([`Model::from_graph`]) may not, and planning indexes by these ids.
fn check_references(graph: &Graph<'_>) -> Result<(), Error> {
    if graph.subgraphs.is_empty() {
        return Err(Error::Load(tflrs_schema::LoadError::Missing {
            what: "a main subgraph",
            at: tflrs_schema::Location::MODEL,
        }));
    }
    for (s, sg) in graph.subgraphs.iter().enumerate() {
        let n_values = sg.values.len();
        let dangling = |what: String, v: tflrs_ir::ValueId| Error::Tensor {
            subgraph: s,
            tensor: v.index(),
            name: String::new(),
            problem: format!("{what} refers to it, but the subgraph has {n_values} values"),
        };
        for (k, &v) in sg.inputs.iter().enumerate() {
            if v.index() >= n_values {
                return Err(dangling(format!("subgraph input {k}"), v));
            }
        }
        for (k, &v) in sg.outputs.iter().enumerate() {
            if v.index() >= n_values {
                return Err(dangling(format!("subgraph output {k}"), v));
            }
        }
        for (n, node) in sg.nodes.iter().enumerate() {
            let named = node
                .inputs
                .iter()
                .enumerate()
                .filter_map(|(k, v)| Some(("input", k, (*v)?)))
                .chain(
                    node.outputs
                        .iter()
                        .enumerate()
                        .map(|(k, &v)| ("output", k, v)),
                )
                .chain(
                    node.intermediates
                        .iter()
                        .enumerate()
                        .map(|(k, &v)| ("intermediate", k, v)),
                );
            for (what, k, v) in named {
                if v.index() >= n_values {
                    return Err(Error::Kernel {
                        subgraph: s,
                        node: n,
                        op: node.op.name().into_owned(),
                        source: KernelError::invalid(format!(
                            "{what} {k} refers to value {}, but the subgraph has {n_values}",
                            v.index()
                        )),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Bytes a tensor takes in the arena: its dense size, and 4 bytes (an int32 id, as in LiteRT)
/// per element of a resource tensor; `None` for types without a fixed size.
fn planned_len(info: &TensorInfo) -> Option<usize> {
    if info.dtype == DType::Resource {
        return info.num_elements().checked_mul(4);
    }
    info.byte_len()
}

/// Checks every control-flow call: the subgraph exists, is not the caller, and takes and
/// returns tensors of the calling node's types and shapes (loops need static shapes), so
/// that `invoke` only copies whole tensors of equal size.
fn check_calls(graph: &Graph<'_>, plans: &[Option<Box<SubgraphPlan>>]) -> Result<(), Error> {
    let n = plans.len();
    for (s, sg) in graph.subgraphs.iter().enumerate() {
        let Some(caller) = plans[s].as_deref() else {
            continue;
        };
        for (node_index, node) in sg.nodes.iter().enumerate() {
            let fail = |msg: String| Error::Kernel {
                subgraph: s,
                node: node_index,
                op: node.op.name().into_owned(),
                source: KernelError::invalid(msg),
            };
            let callee = |index: i32, what: &str| -> Result<(usize, &SubgraphPlan), Error> {
                let c = usize::try_from(index)
                    .ok()
                    .filter(|&c| c < n)
                    .ok_or_else(|| fail(format!("{what} subgraph {index} does not exist")))?;
                if c == s {
                    return Err(fail(format!("{what} subgraph {c} is the caller itself")));
                }
                let plan = plans[c]
                    .as_deref()
                    .ok_or_else(|| fail(format!("{what} subgraph {c} is not planned")))?;
                Ok((c, plan))
            };
            // Checks that the caller's tensors `args` match the callee's `params`.
            let same = |what: &str,
                        c: usize,
                        args: &[Option<&TensorInfo>],
                        params: &[&TensorInfo]|
             -> Result<(), Error> {
                if args.len() != params.len() {
                    return Err(fail(format!(
                        "subgraph {c} has {} {what}, the node {}",
                        params.len(),
                        args.len()
                    )));
                }
                for (k, (arg, p)) in args.iter().zip(params).enumerate() {
                    let a = arg.ok_or_else(|| fail(format!("{what} {k} is omitted")))?;
                    if a.dtype != p.dtype || a.shape != p.shape {
                        return Err(fail(format!(
                            "{what} {k} of subgraph {c} is {} {:?}, the node's is {} {:?} \
                             (control flow needs static shapes)",
                            p.dtype, p.shape, a.dtype, a.shape
                        )));
                    }
                }
                Ok(())
            };
            let inputs: Vec<Option<&TensorInfo>> = node
                .inputs
                .iter()
                .map(|i| i.map(|i| &caller.tensors[i.index()]))
                .collect();
            let outputs: Vec<Option<&TensorInfo>> = node
                .outputs
                .iter()
                .map(|o| Some(&caller.tensors[o.index()]))
                .collect();
            match &node.op {
                Op::While(a) => {
                    let (c, cond) = callee(a.cond_subgraph_index, "cond")?;
                    same("inputs", c, &inputs, &infos(cond, &cond.inputs))?;
                    let out = match cond.outputs.as_slice() {
                        [o] => &cond.tensors[*o],
                        _ => {
                            return Err(fail(format!(
                                "cond subgraph {c} has {} outputs, not 1",
                                cond.outputs.len()
                            )));
                        }
                    };
                    if out.num_elements() != 1
                        || !(out.dtype == DType::Bool || out.dtype.is_integer())
                    {
                        return Err(fail(format!(
                            "cond subgraph {c} returns {} {:?}, not one bool",
                            out.dtype, out.shape
                        )));
                    }
                    let (b, body) = callee(a.body_subgraph_index, "body")?;
                    same("inputs", b, &inputs, &infos(body, &body.inputs))?;
                    // The body's results are the next iteration's values.
                    same("outputs", b, &outputs, &infos(body, &body.outputs))?;
                }
                Op::If(a) => {
                    for (index, what) in [
                        (a.then_subgraph_index, "then"),
                        (a.else_subgraph_index, "else"),
                    ] {
                        let (c, branch) = callee(index, what)?;
                        let args = inputs.get(1..).unwrap_or(&[]);
                        same("inputs", c, args, &infos(branch, &branch.inputs))?;
                        same("outputs", c, &outputs, &infos(branch, &branch.outputs))?;
                    }
                }
                Op::CallOnce(a) => {
                    let (c, init) = callee(a.init_subgraph_index, "init")?;
                    if !init.inputs.is_empty() || !init.outputs.is_empty() {
                        return Err(fail(format!(
                            "init subgraph {c} has inputs or outputs ({} and {})",
                            init.inputs.len(),
                            init.outputs.len()
                        )));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The descriptions of `plan`'s tensors `ts`.
fn infos<'p>(plan: &'p SubgraphPlan, ts: &[usize]) -> Vec<&'p TensorInfo> {
    ts.iter().map(|&t| &plan.tensors[t]).collect()
}

/// Runs subgraph `index` of `plans`, taking its plan out of its slot for the duration so that
/// kernels may run other subgraphs (control flow) through [`Services`].
fn run_subgraph(
    plans: &mut [Option<Box<SubgraphPlan>>],
    state: &mut State,
    index: usize,
    depth: usize,
    limits: &Limits,
) -> Result<(), Error> {
    let mut plan = plans
        .get_mut(index)
        .and_then(Option::take)
        .ok_or_else(|| Error::Kernel {
            subgraph: index,
            node: 0,
            op: String::new(),
            source: KernelError::invalid(format!("subgraph {index} is missing or already running")),
        })?;
    let result = run_nodes(&mut plan, plans, state, index, depth, limits);
    plans[index] = Some(plan);
    result
}

fn run_nodes(
    plan: &mut SubgraphPlan,
    plans: &mut [Option<Box<SubgraphPlan>>],
    state: &mut State,
    index: usize,
    depth: usize,
    limits: &Limits,
) -> Result<(), Error> {
    let arena_ptr = plan.arena_ptr();
    for (n, node) in plan.nodes.iter_mut().enumerate() {
        if node.aliased {
            continue;
        }
        let (offset, len) = node.scratch;
        // SAFETY: the scratch range was placed inside the arena by the layout, alive only during
        // this node's step, so no tensor this node reads or writes overlaps it.
        let scratch = unsafe { core::slice::from_raw_parts_mut(arena_ptr.add(offset), len) };
        let mut services = Calls {
            plans: &mut *plans,
            state: &mut *state,
            depth,
            limits,
        };
        // SAFETY: the planner gave every tensor alive at this step its own arena range
        // (lifetimes of a node's inputs and outputs intersect at this step, so they do not
        // overlap); constants are never written; an input marked writable is a variable in its
        // own persistent buffer that no other input slot or output of the node names; `tensors`
        // outlives the call.
        let mut io = unsafe { KernelIo::new(&node.inputs, &node.outputs, scratch, &mut services) };
        node.kernel.run(&mut io).map_err(|e| Error::Kernel {
            subgraph: index,
            node: n,
            op: node.op.clone(),
            source: e,
        })?;
    }
    Ok(())
}

/// [`Services`] of a running subgraph: the other subgraphs' plans, the variables.
struct Calls<'p> {
    plans: &'p mut [Option<Box<SubgraphPlan>>],
    state: &'p mut State,
    depth: usize,
    limits: &'p Limits,
}

impl Calls<'_> {
    fn plan(&mut self, index: usize) -> Result<&mut SubgraphPlan, KernelError> {
        self.plans
            .get_mut(index)
            .and_then(|p| p.as_deref_mut())
            .ok_or_else(|| {
                KernelError::invalid(format!("subgraph {index} is missing or already running"))
            })
    }
}

impl Services for Calls<'_> {
    fn run_subgraph(
        &mut self,
        index: usize,
        inputs: &[TensorRef<'_>],
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), KernelError> {
        let plan = self.plan(index)?;
        if inputs.len() != plan.inputs.len() || outputs.len() != plan.outputs.len() {
            return Err(KernelError::invalid(format!(
                "subgraph {index} takes {} inputs and {} outputs, called with {} and {}",
                plan.inputs.len(),
                plan.outputs.len(),
                inputs.len(),
                outputs.len()
            )));
        }
        for (k, src) in inputs.iter().enumerate() {
            let dst = self.subgraph_input(index, k)?;
            if dst.bytes.len() != src.bytes.len() {
                return Err(KernelError::invalid(format!(
                    "subgraph {index} input {k} holds {} bytes, given {}",
                    dst.bytes.len(),
                    src.bytes.len()
                )));
            }
            dst.bytes.copy_from_slice(src.bytes);
        }
        self.invoke_subgraph(index)?;
        for (k, dst) in outputs.iter_mut().enumerate() {
            let src = self.subgraph_output(index, k)?;
            if dst.bytes.len() != src.bytes.len() {
                return Err(KernelError::invalid(format!(
                    "subgraph {index} output {k} holds {} bytes, expected {}",
                    src.bytes.len(),
                    dst.bytes.len()
                )));
            }
            dst.bytes.copy_from_slice(src.bytes);
        }
        Ok(())
    }

    fn subgraph_input(&mut self, index: usize, k: usize) -> Result<TensorMut<'_>, KernelError> {
        let plan = self.plan(index)?;
        let t = *plan
            .inputs
            .get(k)
            .ok_or_else(|| KernelError::invalid(format!("subgraph {index} has no input {k}")))?;
        plan.tensor_mut(t).ok_or_else(|| {
            KernelError::invalid(format!("subgraph {index} input {k} is not writable"))
        })
    }

    fn invoke_subgraph(&mut self, index: usize) -> Result<(), KernelError> {
        if self.depth + 1 > self.limits.max_call_depth {
            return Err(KernelError::invalid(format!(
                "subgraph calls nest deeper than {}",
                self.limits.max_call_depth
            )));
        }
        run_subgraph(self.plans, self.state, index, self.depth + 1, self.limits)
            .map_err(|e| KernelError::invalid(format!("in subgraph {index}: {e}")))
    }

    fn subgraph_output(&mut self, index: usize, k: usize) -> Result<TensorRef<'_>, KernelError> {
        let plan: &SubgraphPlan = self.plan(index)?;
        let t = *plan
            .outputs
            .get(k)
            .ok_or_else(|| KernelError::invalid(format!("subgraph {index} has no output {k}")))?;
        let bytes = plan.bytes(t).ok_or_else(|| {
            KernelError::invalid(format!("subgraph {index} output {k} has no data"))
        })?;
        Ok(TensorRef {
            info: &plan.tensors[t],
            bytes,
        })
    }

    fn variable_id(&mut self, container: &str, shared_name: &str) -> Result<i32, KernelError> {
        self.state.vars.id(container, shared_name)
    }

    fn variable(&mut self, id: i32) -> Result<Option<TensorRef<'_>>, KernelError> {
        self.state.vars.get(id)
    }

    fn assign_variable(&mut self, id: i32, value: TensorRef<'_>) -> Result<(), KernelError> {
        self.state.vars.assign(id, value)
    }

    fn initialized(&self, index: usize) -> bool {
        self.state.initialized.get(index).copied().unwrap_or(false)
    }

    fn set_initialized(&mut self, index: usize) {
        if let Some(done) = self.state.initialized.get_mut(index) {
            *done = true;
        }
    }

    fn max_loop_iterations(&self) -> u64 {
        self.limits.max_loop_iterations
    }
}
