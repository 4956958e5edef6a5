//! The one walker over every place a [`ValueId`] is written: [`Subgraph::value_refs`] and
//! [`Graph::value_refs`], with `_mut` counterparts for remapping.
//!
//! Checks (verify, export, the runtime's planner) and edits (renumbering after values are
//! removed) all go through it, so that a new kind of reference is added here once and every
//! user sees it.

use crate::graph::{Graph, Node, Signature, Subgraph, ValueId};

/// Where a [`ValueId`] is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefSite {
    /// Subgraph input `k` ([`Subgraph::inputs`]).
    SubgraphInput(usize),
    /// Subgraph output `k` ([`Subgraph::outputs`]).
    SubgraphOutput(usize),
    /// Input `index` of node `node` (omitted inputs are not references).
    NodeInput {
        /// Node index.
        node: usize,
        /// Input position.
        index: usize,
    },
    /// Output `index` of node `node`.
    NodeOutput {
        /// Node index.
        node: usize,
        /// Output position.
        index: usize,
    },
    /// Intermediate `index` of node `node`.
    Intermediate {
        /// Node index.
        node: usize,
        /// Position in [`Node::intermediates`].
        index: usize,
    },
    /// Input `index` of signature `signature` (index into [`Graph::signatures`]).
    SignatureInput {
        /// Signature index.
        signature: usize,
        /// Position in [`Signature::inputs`].
        index: usize,
    },
    /// Output `index` of signature `signature`.
    SignatureOutput {
        /// Signature index.
        signature: usize,
        /// Position in [`Signature::outputs`].
        index: usize,
    },
}

impl RefSite {
    /// Whether the site reads the value (a node input, a subgraph or signature output), as
    /// opposed to defining it or naming it as an entry point.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            RefSite::NodeInput { .. }
                | RefSite::SubgraphOutput(_)
                | RefSite::SignatureOutput { .. }
        )
    }

    /// The node the site belongs to, if it is on a node.
    pub fn node(self) -> Option<usize> {
        match self {
            RefSite::NodeInput { node, .. }
            | RefSite::NodeOutput { node, .. }
            | RefSite::Intermediate { node, .. } => Some(node),
            _ => None,
        }
    }
}

fn node_refs<'n>(
    n: usize,
    node: &'n Node<'_>,
) -> impl Iterator<Item = (RefSite, ValueId)> + use<'n> {
    let ins = node
        .inputs
        .iter()
        .enumerate()
        .filter_map(move |(index, v)| Some((RefSite::NodeInput { node: n, index }, (*v)?)));
    let outs = node
        .outputs
        .iter()
        .enumerate()
        .map(move |(index, &v)| (RefSite::NodeOutput { node: n, index }, v));
    let mids = node
        .intermediates
        .iter()
        .enumerate()
        .map(move |(index, &v)| (RefSite::Intermediate { node: n, index }, v));
    ins.chain(outs).chain(mids)
}

fn node_refs_mut<'n>(
    n: usize,
    node: &'n mut Node<'_>,
) -> impl Iterator<Item = (RefSite, &'n mut ValueId)> + use<'n> {
    let Node {
        inputs,
        outputs,
        intermediates,
        ..
    } = node;
    let ins = inputs.iter_mut().enumerate().filter_map(move |(index, v)| {
        v.as_mut()
            .map(|v| (RefSite::NodeInput { node: n, index }, v))
    });
    let outs = outputs
        .iter_mut()
        .enumerate()
        .map(move |(index, v)| (RefSite::NodeOutput { node: n, index }, v));
    let mids = intermediates
        .iter_mut()
        .enumerate()
        .map(move |(index, v)| (RefSite::Intermediate { node: n, index }, v));
    ins.chain(outs).chain(mids)
}

fn signature_refs(
    s: usize,
    sig: &Signature,
) -> impl Iterator<Item = (usize, RefSite, ValueId)> + '_ {
    let sub = sig.subgraph;
    let ins = sig.inputs.iter().enumerate().map(move |(index, t)| {
        (
            sub,
            RefSite::SignatureInput {
                signature: s,
                index,
            },
            t.value,
        )
    });
    let outs = sig.outputs.iter().enumerate().map(move |(index, t)| {
        (
            sub,
            RefSite::SignatureOutput {
                signature: s,
                index,
            },
            t.value,
        )
    });
    ins.chain(outs)
}

impl<'a> Subgraph<'a> {
    /// Every reference to a value in this subgraph, in a fixed order: subgraph inputs, subgraph
    /// outputs, then node by node its inputs, outputs and intermediates. Signatures live in the
    /// [`Graph`]; [`Graph::value_refs`] adds them.
    pub fn value_refs(&self) -> impl Iterator<Item = (RefSite, ValueId)> + '_ {
        let ins = self
            .inputs
            .iter()
            .enumerate()
            .map(|(k, &v)| (RefSite::SubgraphInput(k), v));
        let outs = self
            .outputs
            .iter()
            .enumerate()
            .map(|(k, &v)| (RefSite::SubgraphOutput(k), v));
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(n, node)| node_refs(n, node));
        ins.chain(outs).chain(nodes)
    }

    /// [`Subgraph::value_refs`] for changing the ids in place (renumbering, replacing).
    pub fn value_refs_mut(&mut self) -> impl Iterator<Item = (RefSite, &mut ValueId)> + '_ {
        let Subgraph {
            inputs,
            outputs,
            nodes,
            ..
        } = self;
        let ins = inputs
            .iter_mut()
            .enumerate()
            .map(|(k, v)| (RefSite::SubgraphInput(k), v));
        let outs = outputs
            .iter_mut()
            .enumerate()
            .map(|(k, v)| (RefSite::SubgraphOutput(k), v));
        let nodes = nodes
            .iter_mut()
            .enumerate()
            .flat_map(|(n, node)| node_refs_mut(n, node));
        ins.chain(outs).chain(nodes)
    }
}

impl<'a> Graph<'a> {
    /// Every reference to a value in the graph, as `(subgraph, site, value)`: each subgraph's
    /// [`Subgraph::value_refs`] in subgraph order, then the signatures' inputs and outputs.
    /// A signature's references carry the subgraph the signature names, which may not exist
    /// (verify reports that).
    pub fn value_refs(&self) -> impl Iterator<Item = (usize, RefSite, ValueId)> + '_ {
        let subgraphs = self
            .subgraphs
            .iter()
            .enumerate()
            .flat_map(|(s, sg)| sg.value_refs().map(move |(site, v)| (s, site, v)));
        let signatures = self
            .signatures
            .iter()
            .enumerate()
            .flat_map(|(k, sig)| signature_refs(k, sig));
        subgraphs.chain(signatures)
    }

    /// [`Graph::value_refs`] for changing the ids in place.
    pub fn value_refs_mut(&mut self) -> impl Iterator<Item = (usize, RefSite, &mut ValueId)> + '_ {
        let Graph {
            subgraphs,
            signatures,
            ..
        } = self;
        let subgraphs = subgraphs
            .iter_mut()
            .enumerate()
            .flat_map(|(s, sg)| sg.value_refs_mut().map(move |(site, v)| (s, site, v)));
        let signatures = signatures.iter_mut().enumerate().flat_map(|(k, sig)| {
            let sub = sig.subgraph;
            let ins = sig.inputs.iter_mut().enumerate().map(move |(index, t)| {
                (
                    sub,
                    RefSite::SignatureInput {
                        signature: k,
                        index,
                    },
                    &mut t.value,
                )
            });
            let outs = sig.outputs.iter_mut().enumerate().map(move |(index, t)| {
                (
                    sub,
                    RefSite::SignatureOutput {
                        signature: k,
                        index,
                    },
                    &mut t.value,
                )
            });
            ins.chain(outs)
        });
        subgraphs.chain(signatures)
    }
}
