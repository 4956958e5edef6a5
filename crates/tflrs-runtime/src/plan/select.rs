//! Backend choice: partitions claimed by device-owning backends, then a kernel for every other
//! node from the first backend that offers one.

use super::memory::{Crossing, planned_len};
use super::{Exec, NodePlan, PartitionPlan, PlanSettings};
use crate::Error;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;
use tflrs_ir::Subgraph;
use tflrs_kernels::{BufferId, Device, KernelError, NodeCtx, PartitionCtx, TensorInfo};

/// What a backend sees of each node, built once per subgraph plan.
pub(crate) struct Contexts<'t> {
    infos: Vec<Vec<Option<&'t TensorInfo>>>,
    constants: Vec<Vec<Option<&'t [u8]>>>,
    outputs: Vec<Vec<&'t TensorInfo>>,
    intermediates: Vec<Vec<&'t TensorInfo>>,
}

impl<'t> Contexts<'t> {
    pub(crate) fn new(sg: &'t Subgraph<'_>, tensors: &'t [TensorInfo]) -> Self {
        let mut c = Contexts {
            infos: Vec::with_capacity(sg.nodes.len()),
            constants: Vec::with_capacity(sg.nodes.len()),
            outputs: Vec::with_capacity(sg.nodes.len()),
            intermediates: Vec::with_capacity(sg.nodes.len()),
        };
        for node in &sg.nodes {
            c.infos.push(
                node.inputs
                    .iter()
                    .map(|i| i.map(|i| &tensors[i.index()]))
                    .collect(),
            );
            c.constants.push(
                node.inputs
                    .iter()
                    .map(|i| i.and_then(|i| sg.values[i.index()].data.as_deref()))
                    .collect(),
            );
            c.outputs
                .push(node.outputs.iter().map(|o| &tensors[o.index()]).collect());
            c.intermediates.push(
                node.intermediates
                    .iter()
                    .map(|v| &tensors[v.index()])
                    .collect(),
            );
        }
        c
    }

    /// Node `n` of subgraph `s` (whose nodes `sg` holds).
    pub(crate) fn ctx<'a>(&'a self, sg: &'a Subgraph<'_>, s: usize, n: usize) -> NodeCtx<'a> {
        NodeCtx {
            subgraph: s,
            index: n,
            op: &sg.nodes[n].op,
            inputs: &self.infos[n],
            constants: &self.constants[n],
            outputs: &self.outputs[n],
            intermediates: &self.intermediates[n],
        }
    }
}

/// Kernels get shared views of their inputs and exclusive views of their outputs
/// (`KernelIo::new`'s contract): a tensor that is both an input and an output of the node, or
/// two of its outputs, would alias them. LiteRT refuses the same
/// (`CheckInputAndOutputForOverlap`, CVE-2020-15210).
pub(crate) fn check_overlaps(sg: &Subgraph<'_>, s: usize) -> Result<(), Error> {
    for (n, node) in sg.nodes.iter().enumerate() {
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
                op: node.op.name().into_owned(),
                source: KernelError::invalid(format!(
                    "tensor {} ('{name}') is both {also} and output {k} of the node",
                    o.index()
                )),
            });
        }
    }
    Ok(())
}

/// Nodes `range` claimed by backend `backend`.
pub(crate) struct Claim {
    pub(crate) range: Range<usize>,
    pub(crate) backend: usize,
}

/// The partitions device-owning backends claim, in node order. Backends are asked in order;
/// a range overlapping an earlier backend's claim is dropped.
pub(crate) fn claims(
    sg: &Subgraph<'_>,
    s: usize,
    ctxs: &Contexts<'_>,
    tensors: &[TensorInfo],
    settings: PlanSettings<'_>,
) -> Result<Vec<Claim>, Error> {
    let mut out: Vec<Claim> = Vec::new();
    if settings.device_of.iter().all(Option::is_none) {
        return Ok(out);
    }
    let n_nodes = sg.nodes.len();
    let all: Vec<NodeCtx<'_>> = (0..n_nodes).map(|n| ctxs.ctx(sg, s, n)).collect();
    let mut taken = vec![false; n_nodes];
    for (b, backend) in settings.backends.iter().enumerate() {
        if settings.device_of.get(b).copied().flatten().is_none() {
            continue;
        }
        let refuse = |problem: String| Error::Partition {
            subgraph: s,
            backend: backend.name().to_string(),
            problem,
        };
        let ranges = backend
            .claim(&all)
            .map_err(|e| refuse(format!("claim failed: {e}")))?;
        let mut end = 0;
        for r in ranges {
            if r.start >= r.end || r.start < end || r.end > n_nodes {
                return Err(refuse(format!(
                    "claimed nodes {r:?}: ranges must be non-empty, in order, disjoint and \
                     within the subgraph's {n_nodes} nodes"
                )));
            }
            end = r.end;
            if taken[r.clone()].iter().any(|&t| t) {
                continue;
            }
            for n in r.clone() {
                check_claimable(sg, n, tensors).map_err(|p| refuse(format!("node {n}: {p}")))?;
            }
            taken[r.clone()].fill(true);
            out.push(Claim {
                range: r,
                backend: b,
            });
        }
    }
    out.sort_by_key(|c| c.range.start);
    Ok(out)
}

/// Why node `n` cannot run in a partition, if it cannot: partitions get no services (control
/// flow, resource variables) and only tensors of a fixed size live on devices.
fn check_claimable(sg: &Subgraph<'_>, n: usize, tensors: &[TensorInfo]) -> Result<(), String> {
    let node = &sg.nodes[n];
    if !node.op.called_subgraphs().is_empty() {
        return Err("control flow cannot run in a partition".into());
    }
    for t in node.inputs.iter().flatten().chain(&node.outputs) {
        let t = t.index();
        if tensors[t].dtype == tflrs_ir::DType::Resource || planned_len(&tensors[t]).is_none() {
            return Err(format!(
                "tensor {t} ('{}') has no fixed size, or is a resource",
                tensors[t].name
            ));
        }
    }
    if node
        .outputs
        .iter()
        .any(|o| sg.values[o.index()].data.is_some())
    {
        return Err("a node writes a constant".into());
    }
    Ok(())
}

/// A plan for every node: a kernel from the first backend that offers one, or its partition.
pub(crate) fn kernels(
    sg: &Subgraph<'_>,
    s: usize,
    ctxs: &Contexts<'_>,
    backends: &[Box<dyn tflrs_kernels::Backend>],
    claims: &[Claim],
    in_partition: &[Option<usize>],
) -> Result<Vec<NodePlan>, Error> {
    let mut nodes = Vec::with_capacity(sg.nodes.len());
    for (n, node) in sg.nodes.iter().enumerate() {
        let op = node.op.name().into_owned();
        if let Some(p) = in_partition[n] {
            nodes.push(NodePlan {
                exec: Exec::Partition(p),
                backend: backends[claims[p].backend].name().to_string(),
                op,
                inputs: Vec::new(),
                outputs: Vec::new(),
                scratch: (0, 0),
            });
            continue;
        }
        let ctx = ctxs.ctx(sg, s, n);
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
                        op,
                        source: e,
                    });
                }
            }
        }
        let (kernel, backend) = chosen.ok_or_else(|| Error::Unsupported {
            subgraph: s,
            node: n,
            op: op.clone(),
        })?;
        nodes.push(NodePlan {
            exec: Exec::Kernel(kernel),
            backend,
            op,
            inputs: Vec::new(),
            outputs: Vec::new(),
            scratch: (0, 0),
        });
    }
    Ok(nodes)
}

/// Each claimed partition's kernel, made by its backend on its device, with the transfers at
/// its edges.
#[allow(clippy::too_many_arguments)]
pub(crate) fn partition_kernels(
    sg: &Subgraph<'_>,
    s: usize,
    ctxs: &Contexts<'_>,
    settings: PlanSettings<'_>,
    claims: &[Claim],
    crossing: &Crossing,
    buffers: &[Vec<Option<BufferId>>],
    devices: &mut [Box<dyn Device>],
) -> Result<Vec<PartitionPlan>, Error> {
    let mut out = Vec::with_capacity(claims.len());
    for (p, claim) in claims.iter().enumerate() {
        let backend = &settings.backends[claim.backend];
        let d = settings.device_of[claim.backend].expect("claims come from device backends");
        let buf = &buffers[d];
        let nodes: Vec<NodeCtx<'_>> = claim.range.clone().map(|n| ctxs.ctx(sg, s, n)).collect();
        let inputs: Vec<Vec<Option<BufferId>>> = claim
            .range
            .clone()
            .map(|n| {
                sg.nodes[n]
                    .inputs
                    .iter()
                    .map(|i| i.and_then(|i| buf[i.index()]))
                    .collect()
            })
            .collect();
        let outputs: Vec<Vec<BufferId>> = claim
            .range
            .clone()
            .map(|n| {
                sg.nodes[n]
                    .outputs
                    .iter()
                    .map(|o| buf[o.index()].expect("every output of a partition has a buffer"))
                    .collect()
            })
            .collect();
        let writable: Vec<Vec<bool>> = claim
            .range
            .clone()
            .map(|n| {
                let node = &sg.nodes[n];
                node.inputs
                    .iter()
                    .map(|i| i.is_some_and(|i| super::memory::lent(sg, node, i)))
                    .collect()
            })
            .collect();
        let writable_refs: Vec<&[bool]> = writable.iter().map(Vec::as_slice).collect();
        let input_refs: Vec<&[Option<BufferId>]> = inputs.iter().map(Vec::as_slice).collect();
        let output_refs: Vec<&[BufferId]> = outputs.iter().map(Vec::as_slice).collect();
        let ctx = PartitionCtx {
            subgraph: s,
            range: claim.range.clone(),
            nodes: &nodes,
            inputs: &input_refs,
            outputs: &output_refs,
            writable: &writable_refs,
        };
        let kernel = backend
            .partition_kernel(&mut *devices[d], &ctx)
            .map_err(|e| Error::Partition {
                subgraph: s,
                backend: backend.name().to_string(),
                problem: format!("nodes {:?}: {e}", claim.range),
            })?;
        let with_buffer = |ts: &[usize]| -> Vec<(usize, BufferId)> {
            ts.iter()
                .map(|&t| (t, buf[t].expect("every crossing tensor has a buffer")))
                .collect()
        };
        out.push(PartitionPlan {
            range: claim.range.clone(),
            device: d,
            backend: backend.name().to_string(),
            kernel,
            uploads: with_buffer(&crossing.uploads[p]),
            downloads: with_buffer(&crossing.downloads[p]),
        });
    }
    Ok(out)
}
