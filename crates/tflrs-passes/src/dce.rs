//! [`DeadCodeElimination`].

use crate::manager::{Pass, PassCtx, PassError};
use tflrs_ir::{DType, Graph, Node, Subgraph, UseMap, ValueId};

/// Removes nodes whose outputs nothing reads (no node, subgraph output or signature), then
/// the values nothing refers to any more ([`Graph::compact`]), in every subgraph.
///
/// Nodes with effects beyond their outputs stay: operators with side effects
/// ([`tflrs_ir::Op::has_side_effects`]: resource variables, control flow, opaque operators)
/// and nodes that read or write state (variable tensors, resource and variant values).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadCodeElimination;

impl Pass for DeadCodeElimination {
    fn name(&self) -> &str {
        "dead-code-elimination"
    }

    fn run(&self, graph: &mut Graph<'_>, _: &PassCtx<'_>) -> Result<bool, PassError> {
        let mut changed = false;
        for s in 0..graph.subgraphs.len() {
            let dead = dead_nodes(&graph.subgraphs[s], &UseMap::with_signatures(graph, s));
            if !dead.is_empty() {
                graph.subgraphs[s].remove_nodes(&dead);
                changed = true;
            }
        }
        let removed: usize = graph.compact().iter().map(|r| r.removed()).sum();
        Ok(changed || removed > 0)
    }
}

/// The nodes to remove, found in one backward sweep: nodes come in topological order, so
/// every reader of a node's outputs has been decided when the node is reached.
fn dead_nodes(sg: &Subgraph<'_>, uses: &UseMap) -> Vec<usize> {
    let mut readers: Vec<usize> = sg.value_ids().map(|v| uses.uses(v).len()).collect();
    let mut dead = Vec::new();
    for (n, node) in sg.nodes.iter().enumerate().rev() {
        let read = node
            .outputs
            .iter()
            .any(|o| readers.get(o.index()).is_none_or(|&r| r > 0));
        if read || node.op.has_side_effects() || touches_state(sg, node) {
            continue;
        }
        dead.push(n);
        for v in node.inputs.iter().flatten() {
            if let Some(r) = readers.get_mut(v.index()) {
                *r = r.saturating_sub(1);
            }
        }
    }
    dead
}

/// Whether the node reads or writes state kept across invokes.
fn touches_state(sg: &Subgraph<'_>, node: &Node<'_>) -> bool {
    let stateful = |v: ValueId| {
        sg.value(v)
            .is_none_or(|v| v.is_variable || matches!(v.dtype, DType::Resource | DType::Variant))
    };
    node.inputs.iter().flatten().copied().any(stateful)
        || node.outputs.iter().copied().any(stateful)
}
