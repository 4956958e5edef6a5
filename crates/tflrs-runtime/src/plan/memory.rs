//! Where tensors live: reshape aliasing, lifetimes, arena requests, placement, raw views.

use super::select::Claim;
use super::{Exec, Loc, NodePlan, PartitionPlan, SubgraphPlan, tensor_error};
use crate::arena::{self, Request};
use crate::{Error, Limits};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{DType, Subgraph};
use tflrs_kernels::{BufferId, Device, RawTensor, TensorInfo};

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

/// Bytes a tensor takes in the arena: its dense size, and 4 bytes (an int32 id, as in LiteRT)
/// per element of a resource tensor; `None` for types without a fixed size.
pub(crate) fn planned_len(info: &TensorInfo) -> Option<usize> {
    if info.dtype == DType::Resource {
        return info.num_elements().checked_mul(4);
    }
    info.byte_len()
}

/// Zero-copy reshapes: the output of a RESHAPE, SQUEEZE or EXPAND_DIMS whose shape is known
/// at planning shares its input's memory (its root), and the node does not run. Nodes in a
/// partition are left to their device. Returns each value's root and whether each node is such
/// a reshape.
pub(crate) fn aliases(
    sg: &Subgraph<'_>,
    tensors: &[TensorInfo],
    in_partition: &[Option<usize>],
) -> (Vec<Option<usize>>, Vec<bool>) {
    let mut alias_of: Vec<Option<usize>> = vec![None; sg.values.len()];
    let mut aliased_node = vec![false; sg.nodes.len()];
    for (n, node) in sg.nodes.iter().enumerate() {
        if in_partition[n].is_some() {
            continue;
        }
        if let Some(root) = reshape_alias(sg, node, tensors) {
            let root = alias_of[root].unwrap_or(root);
            alias_of[node.outputs[0].index()] = Some(root);
            aliased_node[n] = true;
        }
    }
    (alias_of, aliased_node)
}

/// First and last step each value is alive at.
pub(crate) struct Lifetimes {
    first: Vec<usize>,
    last: Vec<usize>,
}

/// Lifetimes: step i is node i; inputs are alive from step 0 (and, when preserved, until the
/// end), outputs until the end. An aliased value's uses count for its root.
pub(crate) fn lifetimes(
    sg: &Subgraph<'_>,
    alias_of: &[Option<usize>],
    preserve_inputs: bool,
) -> Lifetimes {
    let n_values = sg.values.len();
    let end = sg.nodes.len();
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
    Lifetimes { first, last }
}

/// The tensors that cross each partition's edges, and those that never leave one.
pub(crate) struct Crossing {
    /// Values made and read only inside one partition (which): no host memory.
    pub(crate) internal: Vec<Option<usize>>,
    /// Per partition, the values copied to the device before it runs: what its nodes read
    /// that it does not make (constants excepted).
    pub(crate) uploads: Vec<Vec<usize>>,
    /// Per partition, the values copied to the host after it ran: what it makes that a node
    /// outside it reads, a subgraph output, or a variable.
    pub(crate) downloads: Vec<Vec<usize>>,
}

pub(crate) fn crossings(
    sg: &Subgraph<'_>,
    claims: &[Claim],
    in_partition: &[Option<usize>],
) -> Crossing {
    let n_values = sg.values.len();
    let mut made_in: Vec<Option<usize>> = vec![None; n_values];
    for (n, node) in sg.nodes.iter().enumerate() {
        if let Some(p) = in_partition[n] {
            for o in &node.outputs {
                made_in[o.index()] = Some(p);
            }
        }
    }
    let mut leaves = vec![false; n_values];
    for &o in &sg.outputs {
        leaves[o.index()] = true;
    }
    for (t, v) in sg.values.iter().enumerate() {
        leaves[t] |= v.is_variable;
    }
    let mut uploads = vec![Vec::new(); claims.len()];
    // The partition a value was last listed for, so that each is listed once per partition.
    let mut listed: Vec<Option<usize>> = vec![None; n_values];
    for (n, node) in sg.nodes.iter().enumerate() {
        for t in node.inputs.iter().flatten() {
            let t = t.index();
            if made_in[t].is_some() && made_in[t] != in_partition[n] {
                leaves[t] = true;
            }
            if let Some(p) = in_partition[n]
                && made_in[t] != Some(p)
                && sg.values[t].data.is_none()
                && listed[t] != Some(p)
            {
                listed[t] = Some(p);
                uploads[p].push(t);
            }
        }
    }
    let mut downloads = vec![Vec::new(); claims.len()];
    let mut internal = vec![None; n_values];
    let mut returned: Vec<Option<usize>> = vec![None; n_values];
    for (n, node) in sg.nodes.iter().enumerate() {
        let Some(p) = in_partition[n] else { continue };
        // A variable the node updates in place comes back to the host, which keeps its value
        // across invokes.
        for i in node.inputs.iter().flatten() {
            if lent(sg, node, *i) && returned[i.index()] != Some(p) {
                returned[i.index()] = Some(p);
                downloads[p].push(i.index());
            }
        }
        for o in &node.outputs {
            let t = o.index();
            if leaves[t] {
                downloads[p].push(t);
            } else {
                internal[t] = Some(p);
            }
        }
    }
    Crossing {
        internal,
        uploads,
        downloads,
    }
}

/// Whether `node` gets input `i` for writing: a variable (in its own persistent buffer) that
/// no other input slot or output of the node names, which the node may update in place.
pub(crate) fn lent(sg: &Subgraph<'_>, node: &tflrs_ir::Node<'_>, i: tflrs_ir::ValueId) -> bool {
    let v = &sg.values[i.index()];
    v.is_variable
        && v.data.is_none()
        && node.inputs.iter().filter(|j| **j == Some(i)).count() == 1
        && !node.outputs.contains(&i)
}

/// Where tensors live before the layout: constants in place, variables in their own buffers,
/// the rest as arena requests.
pub(crate) struct Placement {
    locs: Vec<Loc>,
    const_copies: Vec<Vec<u128>>,
    persistent: Vec<Vec<u128>>,
    requests: Vec<Request>,
    request_of: Vec<Option<usize>>,
}

fn charge(total: &mut u64, bytes: usize, limits: &Limits) -> Result<(), Error> {
    *total = total.saturating_add(bytes as u64);
    if *total > limits.max_arena_bytes {
        return Err(Error::LimitExceeded {
            what: "memory for tensors",
            value: *total,
            limit: limits.max_arena_bytes,
        });
    }
    Ok(())
}

pub(crate) fn place(
    sg: &Subgraph<'_>,
    tensors: &[TensorInfo],
    lifetimes: &Lifetimes,
    alias_of: &[Option<usize>],
    internal: &[Option<usize>],
    limits: &Limits,
    total: &mut u64,
) -> Result<Placement, Error> {
    let n_values = sg.values.len();
    let Lifetimes { first, last } = lifetimes;
    let mut p = Placement {
        locs: vec![Loc::None; n_values],
        const_copies: Vec::new(),
        persistent: Vec::new(),
        requests: Vec::new(),
        request_of: vec![None; n_values],
    };
    for (t, v) in sg.values.iter().enumerate() {
        if let Some(data) = &v.data {
            let bytes: &[u8] = data;
            if (bytes.as_ptr() as usize).is_multiple_of(16) {
                p.locs[t] = Loc::Const {
                    ptr: bytes.as_ptr(),
                    len: bytes.len(),
                };
            } else {
                let mut copy = vec![0u128; bytes.len().div_ceil(16)];
                bytemuck::cast_slice_mut::<u128, u8>(&mut copy)[..bytes.len()]
                    .copy_from_slice(bytes);
                p.locs[t] = Loc::Const {
                    ptr: copy.as_ptr().cast(),
                    len: bytes.len(),
                };
                p.const_copies.push(copy);
            }
            continue;
        }
        if first[t] == usize::MAX || alias_of[t].is_some() || internal[t].is_some() {
            continue; // never used, placed with its alias root, or only on a device
        }
        let Some(len) = planned_len(&tensors[t]) else {
            continue; // strings, variants: not planned in the arena
        };
        charge(total, len, limits)?;
        if v.is_variable {
            p.locs[t] = Loc::Persistent {
                index: p.persistent.len(),
                len,
            };
            p.persistent
                .push(vec![variable_reset_value(&tensors[t]); len.div_ceil(16)]);
            continue;
        }
        p.request_of[t] = Some(p.requests.len());
        p.requests.push(Request {
            size: len,
            first: first[t],
            last: last[t],
        });
    }
    Ok(p)
}

/// Arena requests for the host kernels' scratch, alive during their step only: `(node,
/// request)` pairs.
pub(crate) fn request_scratch(
    nodes: &[NodePlan],
    place: &mut Placement,
    limits: &Limits,
    threads: usize,
    total: &mut u64,
) -> Result<Vec<(usize, usize)>, Error> {
    let mut out = Vec::new();
    for (n, np) in nodes.iter().enumerate() {
        let Exec::Kernel(kernel) = &np.exec else {
            continue;
        };
        let copies = if kernel.scratch_per_thread() {
            threads.max(1)
        } else {
            1
        };
        let scratch = kernel
            .scratch_bytes()
            .checked_mul(copies)
            .ok_or(Error::LimitExceeded {
                what: "memory for tensors",
                value: u64::MAX,
                limit: limits.max_arena_bytes,
            })?;
        if scratch > 0 {
            charge(total, scratch, limits)?;
            out.push((n, place.requests.len()));
            place.requests.push(Request {
                size: scratch,
                first: n,
                last: n,
            });
        }
    }
    Ok(out)
}

/// A buffer on its partition's device for every non-constant tensor a claimed node reads or
/// writes: `buffers[device][value]`.
pub(crate) fn device_buffers(
    sg: &Subgraph<'_>,
    s: usize,
    tensors: &[TensorInfo],
    claims: &[Claim],
    device_of: &[Option<usize>],
    devices: &mut [Box<dyn Device>],
) -> Result<Vec<Vec<Option<BufferId>>>, Error> {
    let mut buffers: Vec<Vec<Option<BufferId>>> = vec![Vec::new(); devices.len()];
    for claim in claims {
        let d = device_of[claim.backend].expect("claims come from device backends");
        let buf = &mut buffers[d];
        if buf.is_empty() {
            buf.resize(sg.values.len(), None);
        }
        for n in claim.range.clone() {
            let node = &sg.nodes[n];
            for t in node.inputs.iter().flatten().chain(&node.outputs) {
                let t = t.index();
                if buf[t].is_some() || sg.values[t].data.is_some() {
                    continue;
                }
                // `claims` checked that every tensor of a claimed node has a fixed size.
                let len = planned_len(&tensors[t]).unwrap_or(0);
                let id = devices[d].allocate(len).map_err(|e| Error::Partition {
                    subgraph: s,
                    backend: devices[d].name().to_string(),
                    problem: format!("allocating {len} bytes for tensor {t}: {e}"),
                })?;
                buf[t] = Some(id);
            }
        }
    }
    Ok(buffers)
}

/// Lays out the arena and makes the plan: every tensor's place, then the host kernels' raw
/// views.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    sg: &Subgraph<'_>,
    s: usize,
    tensors: Vec<TensorInfo>,
    nodes: Vec<NodePlan>,
    partitions: Vec<PartitionPlan>,
    place: Placement,
    scratch: &[(usize, usize)],
    alias_of: &[Option<usize>],
    internal: &[Option<usize>],
    limits: &Limits,
) -> Result<SubgraphPlan, Error> {
    let Placement {
        mut locs,
        const_copies,
        persistent,
        requests,
        request_of,
    } = place;
    let mut nodes = nodes;
    if requests.len() > limits.max_arena_buffers {
        return Err(Error::LimitExceeded {
            what: "buffers in one subgraph's arena",
            value: requests.len() as u64,
            limit: limits.max_arena_buffers as u64,
        });
    }
    let mut layout = arena::plan(&requests).ok_or(Error::LimitExceeded {
        what: "arena bytes",
        value: u64::MAX,
        limit: limits.max_arena_bytes,
    })?;
    // Inputs whose memory may be reused once read: the layout with them kept to the end is
    // valid too, and the greedy placement can come out smaller that way; reuse must never cost
    // memory, so the smaller layout wins.
    let end = sg.nodes.len();
    let mut kept = requests.clone();
    let mut shortened = false;
    for &i in &sg.inputs {
        let root = alias_of
            .get(i.index())
            .copied()
            .flatten()
            .unwrap_or(i.index());
        if let Some(&Some(r)) = request_of.get(root)
            && kept[r].last < end
        {
            kept[r].last = end;
            shortened = true;
        }
    }
    if shortened
        && let Some(alt) = arena::plan(&kept)
        && alt.size < layout.size
    {
        layout = alt;
    }
    for (t, r) in request_of.iter().enumerate() {
        if let Some(r) = *r {
            locs[t] = Loc::Arena {
                offset: layout.offsets[r],
                len: requests[r].size,
            };
        }
    }
    for &(n, r) in scratch {
        nodes[n].scratch = (layout.offsets[r], requests[r].size);
    }
    for t in 0..locs.len() {
        if let Some(root) = alias_of[t] {
            locs[t] = locs[root];
        }
        if internal[t].is_some() {
            locs[t] = Loc::Device;
        }
    }
    let mut arena = vec![0u8; layout.size + arena::ALIGN];
    let base = arena.as_ptr().align_offset(arena::ALIGN).min(arena::ALIGN);
    // SAFETY: `base < ALIGN`, and the buffer has `layout.size + ALIGN` bytes.
    let base_ptr = unsafe { arena.as_mut_ptr().add(base) };
    let mut plan = SubgraphPlan {
        tensors,
        locs,
        nodes: Vec::new(),
        partitions,
        inputs: sg.inputs.iter().map(|v| v.index()).collect(),
        outputs: sg.outputs.iter().map(|v| v.index()).collect(),
        arena,
        base_ptr,
        arena_bytes: layout.size,
        shared: false,
        const_copies,
        persistent,
    };
    raw_views(sg, s, &mut plan, nodes)?;
    Ok(plan)
}

/// Raw views for every host node, now that every tensor has a place.
fn raw_views(
    sg: &Subgraph<'_>,
    s: usize,
    plan: &mut SubgraphPlan,
    nodes: Vec<NodePlan>,
) -> Result<(), Error> {
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
            Loc::None | Loc::Device => return None,
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
        if matches!(np.exec, Exec::Partition(_)) {
            plan.nodes.push(np);
            continue;
        }
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
                    raw(plan, t, lend)
                })
            })
            .collect();
        let mut outputs = Vec::with_capacity(node.outputs.len());
        for o in &node.outputs {
            let t = o.index();
            let r = raw(plan, t, true).ok_or_else(|| {
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
    Ok(())
}

/// What a variable tensor's buffer is filled with at build time and by `reset_variables`:
/// LiteRT resets variable tensors to zero, which for int8 is the zero point byte.
pub(crate) fn variable_reset_value(info: &TensorInfo) -> u128 {
    if info.dtype == DType::Int8
        && let Some((_, zp)) = info.per_tensor_quant()
    {
        return u128::from_ne_bytes([zp as u8; 16]);
    }
    0
}
