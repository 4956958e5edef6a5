//! Planning: a kernel (or a device partition) per node, a place for every tensor, arena
//! offsets. `plan_subgraph` runs the steps in order: concrete tensors (`tensors`), backend
//! choice and partitions (`select`), memory (`memory`); `calls` handles control flow between
//! subgraphs.

mod calls;
mod memory;
mod select;
mod tensors;

pub(crate) use calls::{call_shapes, check_calls, share_arenas};

use crate::variables::{State, Variables};
use crate::{Error, Interpreter, Limits};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;
use tflrs_ir::{Graph, RefSite};
use tflrs_kernels::{
    Backend, BufferId, Device, Kernel, KernelError, PartitionKernel, RawTensor, TensorInfo,
    TensorMut,
};

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
    /// Only on a device: made and read inside one partition, never on the host.
    Device,
}

/// How a node runs.
pub(crate) enum Exec {
    /// Its own kernel on host memory.
    Kernel(Box<dyn Kernel>),
    /// Nothing to run: the output shares its input's memory (a reshape).
    Alias,
    /// Inside partition `.0` of the subgraph plan, which runs all its nodes at once.
    Partition(usize),
}

/// Which way a transfer copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Host memory to a device buffer, before the partition runs.
    ToDevice,
    /// A device buffer to host memory, after the partition ran.
    ToHost,
}

/// Consecutive nodes that one device-owning backend runs as one kernel.
pub(crate) struct PartitionPlan {
    pub(crate) range: Range<usize>,
    /// Index of the device among the interpreter's devices.
    pub(crate) device: usize,
    pub(crate) backend: String,
    pub(crate) kernel: Box<dyn PartitionKernel>,
    /// Tensors copied to the device before the partition runs, and their buffers.
    pub(crate) uploads: Vec<(usize, BufferId)>,
    /// Tensors copied back to the host after it ran.
    pub(crate) downloads: Vec<(usize, BufferId)>,
}

pub(crate) struct NodePlan {
    pub(crate) exec: Exec,
    pub(crate) backend: String,
    pub(crate) op: String,
    /// Host views of the inputs and outputs (empty for a node in a partition).
    pub(crate) inputs: Vec<Option<RawTensor>>,
    pub(crate) outputs: Vec<RawTensor>,
    pub(crate) scratch: (usize, usize),
}

pub(crate) struct SubgraphPlan {
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) locs: Vec<Loc>,
    pub(crate) nodes: Vec<NodePlan>,
    pub(crate) partitions: Vec<PartitionPlan>,
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
            Loc::None | Loc::Device => None,
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
            Loc::Const { .. } | Loc::None | Loc::Device => return None,
        };
        Some(TensorMut { info, bytes })
    }

    pub(crate) fn bytes_mut(&mut self, t: usize) -> Option<&mut [u8]> {
        match *self.locs.get(t)? {
            Loc::Arena { offset, len } => self.arena_slice_mut(offset, len),
            Loc::Persistent { index, len } => {
                Some(&mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.persistent[index])[..len])
            }
            Loc::Const { .. } | Loc::None | Loc::Device => None,
        }
    }
}

impl Interpreter<'_> {
    pub(crate) fn plan(&mut self) -> Result<(), Error> {
        // A handle of our own (a reference or an `Arc`), so that the graph stays borrowed
        // while the plans are replaced.
        let model = self.model.clone();
        let graph = model.model().graph();
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
        // A fresh device for each device-owning backend: the old plan keeps its own until
        // this one replaces it.
        let mut devices: Vec<Box<dyn Device>> = Vec::new();
        let device_of: Vec<Option<usize>> = self
            .backends
            .iter()
            .map(|b| {
                let d = b.device()?;
                devices.push(d);
                Some(devices.len() - 1)
            })
            .collect();
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
                device_of: &device_of,
                limits: &limits,
                preserve_inputs: preserve,
                threads: self.threads,
            };
            let plan = plan_subgraph(graph, s, given, &known, settings, &mut devices, &mut total)?;
            for (node_index, node) in sg.nodes.iter().enumerate() {
                let Some(spec) = node.op.call_spec() else {
                    continue;
                };
                let skip = spec.arg_offset;
                for (_, c) in spec.callees {
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
        self.devices = devices;
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
    /// Index among the plan's devices of each backend's device.
    pub(crate) device_of: &'a [Option<usize>],
    pub(crate) limits: &'a Limits,
    /// Keep the subgraph's inputs alive for the whole run.
    pub(crate) preserve_inputs: bool,
    /// Threads kernels run on (per-thread scratch is this many times a kernel's).
    pub(crate) threads: usize,
}

/// Plans subgraph `s`: concrete tensors, partitions and kernels, then memory.
pub(crate) fn plan_subgraph(
    graph: &Graph<'_>,
    s: usize,
    input_shapes: &[Option<Vec<usize>>],
    known: &[(usize, &[u8])],
    settings: PlanSettings<'_>,
    devices: &mut [Box<dyn Device>],
    total: &mut u64,
) -> Result<SubgraphPlan, Error> {
    let sg = &graph.subgraphs[s];
    let limits = settings.limits;
    let tensors = tensors::concrete(graph, s, input_shapes, known, limits)?;
    select::check_overlaps(sg, s)?;
    let ctxs = select::Contexts::new(sg, &tensors);
    let claims = select::claims(sg, s, &ctxs, &tensors, settings)?;
    let mut in_partition: Vec<Option<usize>> = vec![None; sg.nodes.len()];
    for (p, c) in claims.iter().enumerate() {
        in_partition[c.range.clone()].fill(Some(p));
    }
    let (alias_of, aliased_node) = memory::aliases(sg, &tensors, &in_partition);
    let lifetimes = memory::lifetimes(sg, &alias_of, settings.preserve_inputs);
    let crossing = memory::crossings(sg, &claims, &in_partition);
    let mut place = memory::place(
        sg,
        &tensors,
        &lifetimes,
        &alias_of,
        &crossing.internal,
        limits,
        total,
    )?;
    let mut nodes = select::kernels(sg, s, &ctxs, settings.backends, &claims, &in_partition)?;
    for (np, &aliased) in nodes.iter_mut().zip(&aliased_node) {
        if aliased {
            np.exec = Exec::Alias;
        }
    }
    let scratch = memory::request_scratch(&nodes, &mut place, limits, settings.threads, total)?;
    let buffers = memory::device_buffers(sg, s, &tensors, &claims, settings.device_of, devices)?;
    let partitions = select::partition_kernels(
        sg, s, &ctxs, settings, &claims, &crossing, &buffers, devices,
    )?;
    memory::finish(
        sg,
        s,
        tensors,
        nodes,
        partitions,
        place,
        &scratch,
        &alias_of,
        &crossing.internal,
        limits,
    )
}

pub(crate) use memory::{planned_len, variable_reset_value};

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
        let Some((site, v)) = sg.value_refs().find(|(_, v)| v.index() >= n_values) else {
            continue;
        };
        let (node, what, k) = match site {
            RefSite::NodeInput { node, index } => (node, "input", index),
            RefSite::NodeOutput { node, index } => (node, "output", index),
            RefSite::Intermediate { node, index } => (node, "intermediate", index),
            RefSite::SubgraphInput(k) | RefSite::SubgraphOutput(k) => {
                let what = if matches!(site, RefSite::SubgraphInput(_)) {
                    "input"
                } else {
                    "output"
                };
                return Err(Error::Tensor {
                    subgraph: s,
                    tensor: v.index(),
                    name: String::new(),
                    problem: format!(
                        "subgraph {what} {k} refers to it, but the subgraph has {n_values} values"
                    ),
                });
            }
            // Subgraph::value_refs yields no signature sites.
            _ => continue,
        };
        return Err(Error::Kernel {
            subgraph: s,
            node,
            op: sg.nodes[node].op.name().into_owned(),
            source: KernelError::invalid(format!(
                "{what} {k} refers to value {}, but the subgraph has {n_values}",
                v.index()
            )),
        });
    }
    Ok(())
}
