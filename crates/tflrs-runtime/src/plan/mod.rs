//! Planning: a kernel per node, a place for every tensor, arena offsets.

mod calls;
mod memory;

pub(crate) use calls::{call_shapes, check_calls, share_arenas};
pub(crate) use memory::reshape_alias;

use crate::arena::{self, Request};
use crate::variables::{State, Variables};
use crate::{Error, Interpreter, Limits};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{DType, Graph, Op};
use tflrs_kernels::{Backend, Kernel, KernelError, NodeCtx, RawTensor, TensorInfo, TensorMut};

/// Where a tensor's bytes are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Loc {
    /// Not materialized (unused, or without a fixed size).
    None,
    /// In the subgraph's arena.
    Arena { offset: usize, len: usize },
    /// Constant data in the model (or an aligned copy of it).
    Const { ptr: *const u8, len: usize },
    /// A variable's own buffer, kept across invokes.
    Persistent { index: usize, len: usize },
}

pub(crate) struct NodePlan {
    pub(crate) kernel: Box<dyn Kernel>,
    pub(crate) backend: String,
    pub(crate) op: String,
    pub(crate) inputs: Vec<Option<RawTensor>>,
    pub(crate) outputs: Vec<RawTensor>,
    pub(crate) scratch: (usize, usize),
    /// The node's output shares its input's memory (a reshape): nothing to run.
    pub(crate) aliased: bool,
}

pub(crate) struct SubgraphPlan {
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) locs: Vec<Loc>,
    pub(crate) nodes: Vec<NodePlan>,
    pub(crate) inputs: Vec<usize>,
    pub(crate) outputs: Vec<usize>,
    /// Backing memory of the arena (empty when the plan uses a shared arena of the
    /// interpreter: see `share_arenas`).
    pub(crate) arena: Vec<u8>,
    /// First aligned byte of the arena this plan uses: in `arena`, or in a shared arena.
    pub(crate) base_ptr: *mut u8,
    /// Bytes of arena the plan needs from `base_ptr` on.
    pub(crate) arena_bytes: usize,
    /// Whether the arena is shared with the other subgraphs of the same call depth.
    pub(crate) shared: bool,
    /// Aligned copies of constants whose bytes in the model are misaligned; never read
    /// directly, it owns the memory that their `Loc::Const` pointers point into.
    #[allow(dead_code)]
    pub(crate) const_copies: Vec<Vec<u128>>,
    /// Variables' buffers.
    pub(crate) persistent: Vec<Vec<u128>>,
}

// SAFETY: the raw pointers in `locs` and in the nodes' `RawTensor`s point into heap buffers
// owned by this plan (`arena`, `const_copies`, `persistent`, `tensors`), which move with it,
// into a shared arena owned by the same interpreter (which moves with it too), or into the
// model's bytes, which are immutable and outlive the interpreter. Nothing else aliases them,
// so moving the plan to another thread is sound.
unsafe impl Send for SubgraphPlan {}

impl SubgraphPlan {
    pub(crate) fn arena_ptr(&mut self) -> *mut u8 {
        self.base_ptr
    }

    /// Bytes `[offset, offset + len)` of the arena.
    pub(crate) fn arena_slice(&self, offset: usize, len: usize) -> Option<&[u8]> {
        if offset.checked_add(len)? > self.arena_bytes {
            return None;
        }
        // SAFETY: `base_ptr` points at `arena_bytes` bytes that live as long as the plan (its
        // own `arena`, or the interpreter's shared arena, replaced only with the plans), and
        // the range was checked to lie inside them.
        Some(unsafe { core::slice::from_raw_parts(self.base_ptr.add(offset), len) })
    }

    /// Bytes `[offset, offset + len)` of the arena, for writing.
    pub(crate) fn arena_slice_mut(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        if offset.checked_add(len)? > self.arena_bytes {
            return None;
        }
        // SAFETY: as in `arena_slice`; `&mut self` makes this the only view through the plan.
        Some(unsafe { core::slice::from_raw_parts_mut(self.base_ptr.add(offset), len) })
    }

    /// Moves the plan onto arena memory at `base` (at least `arena_bytes` bytes, aligned):
    /// every node's view of an arena tensor is recomputed from its offset.
    pub(crate) fn rebase(&mut self, sg: &tflrs_ir::Subgraph<'_>, base: *mut u8) {
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

    pub(crate) fn bytes(&self, t: usize) -> Option<&[u8]> {
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
    pub(crate) fn tensor_mut(&mut self, t: usize) -> Option<TensorMut<'_>> {
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

    pub(crate) fn bytes_mut(&mut self, t: usize) -> Option<&mut [u8]> {
        match *self.locs.get(t)? {
            Loc::Arena { offset, len } => self.arena_slice_mut(offset, len),
            Loc::Persistent { index, len } => {
                Some(&mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.persistent[index])[..len])
            }
            Loc::Const { .. } | Loc::None => None,
        }
    }
}

impl Interpreter<'_> {
    pub(crate) fn plan(&mut self) -> Result<(), Error> {
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
}

pub(crate) fn tensor_error(s: usize, t: usize, name: &str, problem: String) -> Error {
    Error::Tensor {
        subgraph: s,
        tensor: t,
        name: name.to_string(),
        problem,
    }
}

/// What planning a subgraph needs besides the graph.
#[derive(Clone, Copy)]
pub(crate) struct PlanSettings<'a> {
    pub(crate) backends: &'a [Box<dyn Backend>],
    pub(crate) limits: &'a Limits,
    /// Keep the subgraph's inputs alive for the whole run.
    pub(crate) preserve_inputs: bool,
}

pub(crate) fn plan_subgraph(
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

/// Checks that the graph has a main subgraph and that every value a subgraph or node names
/// exists. A file's graph always passes (the loader checked its indices); a graph built in
/// code ([`Model::from_graph`]) may not, and planning indexes by these ids.
pub(crate) fn check_references(graph: &Graph<'_>) -> Result<(), Error> {
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
pub(crate) fn planned_len(info: &TensorInfo) -> Option<usize> {
    if info.dtype == DType::Resource {
        return info.num_elements().checked_mul(4);
    }
    info.byte_len()
}
