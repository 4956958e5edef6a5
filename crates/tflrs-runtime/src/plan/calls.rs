//! Control-flow calls between subgraphs: the shapes a call passes, its checks, and arenas
//! shared by subgraphs that never run together.

use super::SubgraphPlan;
use crate::Error;
use crate::arena;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use tflrs_ir::{DType, Graph, Op};
use tflrs_kernels::{KernelError, TensorInfo};

/// Lets the subgraphs that control flow runs share arena memory: subgraphs of the same call
/// depth (longest chain of calls from the main subgraph) are never running at the same time
/// (a running subgraph only calls deeper ones), and a caller copies a callee's outputs out
/// before it runs another callee, so one arena as large as the largest of them serves them all.
/// The main subgraph keeps its own arena (its tensors are alive while it calls others).
pub(crate) fn share_arenas(
    graph: &Graph<'_>,
    plans: &mut [Option<Box<SubgraphPlan>>],
) -> Vec<Vec<u8>> {
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

/// The shapes a control-flow `node` of a planned subgraph passes to `callee` (its inputs from
/// input `skip` on), where they differ from the callee's stored input shapes and a resize
/// (`resized`) or a dynamic dimension of the callee explains the difference; `None` keeps the
/// stored shape. Other differences are the model's inconsistency, which `check_calls` reports.
pub(crate) fn call_shapes(
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

/// Checks every control-flow call: the subgraph exists, is not the caller, and takes and
/// returns tensors of the calling node's types and shapes (loops need static shapes), so
/// that `invoke` only copies whole tensors of equal size.
pub(crate) fn check_calls(
    graph: &Graph<'_>,
    plans: &[Option<Box<SubgraphPlan>>],
) -> Result<(), Error> {
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
pub(crate) fn infos<'p>(plan: &'p SubgraphPlan, ts: &[usize]) -> Vec<&'p TensorInfo> {
    ts.iter().map(|&t| &plan.tensors[t]).collect()
}
