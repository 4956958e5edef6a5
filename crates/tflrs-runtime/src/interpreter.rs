//! The interpreter: plan once (kernel per node, arena offsets), invoke many times.

use crate::arena::{self, Request};
use crate::element::Element;
use crate::{Error, Model};
use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{Graph, Subgraph};
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_arena_bytes: 4 << 30,
            max_tensor_elements: 1 << 31,
            max_nodes: 1 << 20,
            max_subgraphs: 4096,
            max_call_depth: 64,
        }
    }
}

/// Configures and builds an [`Interpreter`].
pub struct InterpreterBuilder<'m> {
    model: &'m Model<'m>,
    backends: Vec<Box<dyn Backend>>,
    custom: CustomOps,
    limits: Limits,
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
            input_shapes: Vec::new(),
            plans: Vec::new(),
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
    /// Shapes the user gave to the main subgraph's inputs with `resize_input`.
    input_shapes: Vec<Option<Vec<usize>>>,
    plans: Vec<Option<Box<SubgraphPlan>>>,
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
}

struct SubgraphPlan {
    tensors: Vec<TensorInfo>,
    locs: Vec<Loc>,
    nodes: Vec<NodePlan>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// Backing memory of the arena; `base` is its first 64-byte aligned byte.
    arena: Vec<u8>,
    base: usize,
    arena_bytes: usize,
    /// Aligned copies of constants whose bytes in the model are misaligned; never read
    /// directly, it owns the memory that their `Loc::Const` pointers point into.
    #[allow(dead_code)]
    const_copies: Vec<Vec<u128>>,
    /// Variables' buffers.
    persistent: Vec<Vec<u128>>,
}

// SAFETY: the raw pointers in `locs` and in the nodes' `RawTensor`s point into heap buffers
// owned by this plan (`arena`, `const_copies`, `persistent`, `tensors`), which move with it, or
// into the model's bytes, which are immutable and outlive the interpreter. Nothing else
// aliases them, so moving the plan to another thread is sound.
unsafe impl Send for SubgraphPlan {}

impl SubgraphPlan {
    fn arena_ptr(&mut self) -> *mut u8 {
        // SAFETY: `base` is within `arena` (checked when it was computed).
        unsafe { self.arena.as_mut_ptr().add(self.base) }
    }

    fn bytes(&self, t: usize) -> Option<&[u8]> {
        match self.locs.get(t)? {
            Loc::Arena { offset, len } => {
                self.arena.get(self.base + offset..self.base + offset + len)
            }
            // SAFETY: constant pointers were made from live slices of `len` bytes that outlive
            // the plan (model bytes or `const_copies`).
            Loc::Const { ptr, len } => Some(unsafe { core::slice::from_raw_parts(*ptr, *len) }),
            Loc::Persistent { index, len } => {
                Some(&bytemuck::cast_slice::<u128, u8>(&self.persistent[*index])[..*len])
            }
            Loc::None => None,
        }
    }

    fn bytes_mut(&mut self, t: usize) -> Option<&mut [u8]> {
        match *self.locs.get(t)? {
            Loc::Arena { offset, len } => self
                .arena
                .get_mut(self.base + offset..self.base + offset + len),
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
        }
    }

    /// Builds an interpreter with the default backends (scalar only, for now).
    pub fn new(model: &'m Model<'m>) -> Result<Self, Error> {
        Self::builder(model).build()
    }

    fn graph(&self) -> &'m Graph<'m> {
        self.model.graph()
    }

    /// Bytes of arena (all subgraphs, scratch included) plus variables' buffers.
    pub fn arena_bytes(&self) -> usize {
        self.plans
            .iter()
            .flatten()
            .map(|p| p.arena_bytes + p.persistent.iter().map(|v| v.len() * 16).sum::<usize>())
            .sum()
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
                    kernel: node.kernel.name().to_string(),
                    backend: node.backend.clone(),
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
        let mut plans = Vec::with_capacity(graph.subgraphs.len());
        let mut total = 0u64;
        for (s, sg) in graph.subgraphs.iter().enumerate() {
            let overrides: &[Option<Vec<usize>>] = if s == 0 { &self.input_shapes } else { &[] };
            let plan = plan_subgraph(s, sg, overrides, &self.backends, &limits, &mut total)?;
            plans.push(Some(Box::new(plan)));
        }
        self.plans = plans;
        Ok(())
    }

    /// Runs the main subgraph.
    pub fn invoke(&mut self) -> Result<(), Error> {
        run_subgraph(&mut self.plans, 0, 0, self.limits.max_call_depth)
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
        self.input_shapes[i] = Some(shape.to_vec());
        self.plan()
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

fn plan_subgraph(
    s: usize,
    sg: &Subgraph<'_>,
    input_shapes: &[Option<Vec<usize>>],
    backends: &[Box<dyn Backend>],
    limits: &Limits,
    total: &mut u64,
) -> Result<SubgraphPlan, Error> {
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
        tensors.push(TensorInfo {
            name: v.name.clone(),
            dtype: v.dtype,
            shape,
            quant: v.quant.clone(),
            sparsity: v.sparsity.clone(),
        });
    }
    // Propagate shapes through nodes whose inputs were resized.
    if input_shapes.iter().any(Option::is_some) {
        crate::shapes::propagate(sg, &mut tensors).map_err(|(node, e)| Error::Kernel {
            subgraph: s,
            node,
            op: sg.nodes[node].op.name().into_owned(),
            source: e,
        })?;
    }

    // Lifetimes: step i is node i; inputs are alive from step 0, outputs until the end.
    let n_nodes = sg.nodes.len();
    let end = n_nodes;
    let mut first = vec![usize::MAX; n_values];
    let mut last = vec![0usize; n_values];
    let mut touch = |t: usize, step: usize| {
        first[t] = first[t].min(step);
        last[t] = last[t].max(step);
    };
    for &i in &sg.inputs {
        touch(i.index(), 0);
        touch(i.index(), end);
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
            if (bytes.as_ptr() as usize) % 16 == 0 {
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
        if first[t] == usize::MAX {
            continue; // never used
        }
        let Some(len) = tensors[t].byte_len() else {
            continue; // strings, resources: not planned in the arena
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
            persistent.push(vec![0u128; len.div_ceil(16)]);
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
        let ctx = NodeCtx {
            subgraph: s,
            index: n,
            op: &node.op,
            inputs: &infos,
            constants: &constants,
            outputs: &outs,
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
    let arena = vec![0u8; layout.size + arena::ALIGN];
    let base = arena.as_ptr().align_offset(arena::ALIGN).min(arena::ALIGN);
    let mut plan = SubgraphPlan {
        tensors,
        locs,
        nodes: Vec::new(),
        inputs: sg.inputs.iter().map(|v| v.index()).collect(),
        outputs: sg.outputs.iter().map(|v| v.index()).collect(),
        arena,
        base,
        arena_bytes: layout.size,
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
        np.inputs = node
            .inputs
            .iter()
            .map(|i| i.and_then(|i| raw(&mut plan, i.index(), false)))
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

/// Runs subgraph `index` of `plans`, taking its plan out of its slot for the duration so that
/// kernels may run other subgraphs (control flow) through [`Services`].
fn run_subgraph(
    plans: &mut [Option<Box<SubgraphPlan>>],
    index: usize,
    depth: usize,
    max_depth: usize,
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
    let result = run_nodes(&mut plan, plans, index, depth, max_depth);
    plans[index] = Some(plan);
    result
}

fn run_nodes(
    plan: &mut SubgraphPlan,
    plans: &mut [Option<Box<SubgraphPlan>>],
    index: usize,
    depth: usize,
    max_depth: usize,
) -> Result<(), Error> {
    let arena_ptr = plan.arena_ptr();
    for (n, node) in plan.nodes.iter_mut().enumerate() {
        let (offset, len) = node.scratch;
        // SAFETY: the scratch range was placed inside the arena by the layout, alive only during
        // this node's step, so no tensor this node reads or writes overlaps it.
        let scratch = unsafe { core::slice::from_raw_parts_mut(arena_ptr.add(offset), len) };
        let mut services = Calls {
            plans: &mut *plans,
            depth,
            max_depth,
        };
        // SAFETY: the planner gave every tensor alive at this step its own arena range
        // (lifetimes of a node's inputs and outputs intersect at this step, so they do not
        // overlap); constants are never written; `tensors` outlives the call.
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

/// [`Services`] of a running subgraph: the other subgraphs' plans.
struct Calls<'p> {
    plans: &'p mut [Option<Box<SubgraphPlan>>],
    depth: usize,
    max_depth: usize,
}

impl Services for Calls<'_> {
    fn run_subgraph(
        &mut self,
        index: usize,
        inputs: &[TensorRef<'_>],
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), KernelError> {
        if self.depth + 1 > self.max_depth {
            return Err(KernelError::invalid(format!(
                "subgraph calls nest deeper than {}",
                self.max_depth
            )));
        }
        let plan = self
            .plans
            .get_mut(index)
            .and_then(|p| p.as_deref_mut())
            .ok_or_else(|| {
                KernelError::invalid(format!("subgraph {index} is missing or already running"))
            })?;
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
            let t = plan.inputs[k];
            let dst = plan.bytes_mut(t).ok_or_else(|| {
                KernelError::invalid(format!("subgraph {index} input {k} is not writable"))
            })?;
            if dst.len() != src.bytes.len() {
                return Err(KernelError::invalid(format!(
                    "subgraph {index} input {k} holds {} bytes, given {}",
                    dst.len(),
                    src.bytes.len()
                )));
            }
            dst.copy_from_slice(src.bytes);
        }
        run_subgraph(self.plans, index, self.depth + 1, self.max_depth)
            .map_err(|e| KernelError::invalid(format!("in subgraph {index}: {e}")))?;
        let plan = self.plans[index].as_deref().expect("plan was put back");
        for (k, dst) in outputs.iter_mut().enumerate() {
            let t = plan.outputs[k];
            let src = plan.bytes(t).ok_or_else(|| {
                KernelError::invalid(format!("subgraph {index} output {k} has no data"))
            })?;
            if dst.bytes.len() != src.len() {
                return Err(KernelError::invalid(format!(
                    "subgraph {index} output {k} holds {} bytes, expected {}",
                    src.len(),
                    dst.bytes.len()
                )));
            }
            dst.bytes.copy_from_slice(src);
        }
        Ok(())
    }

    fn variable(&mut self, _id: i32) -> Result<Option<TensorMut<'_>>, KernelError> {
        Ok(None)
    }

    fn assign_variable(&mut self, id: i32, _value: TensorRef<'_>) -> Result<(), KernelError> {
        Err(KernelError::unsupported(format!(
            "resource variable {id}: variables are not supported yet"
        )))
    }
}
