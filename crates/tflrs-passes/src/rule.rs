//! [`Rule`]: a local rewrite that matches at one node and returns a [`Patch`], or `None`;
//! [`RulePass`] applies one rule everywhere until it no longer matches.

use crate::manager::{Pass, PassCtx, PassError};
use tflrs_ir::{Graph, Node, Patch, RefSite, Subgraph, UseMap, Value, ValueId};

/// What a rule sees when it is asked about one node.
#[derive(Clone, Copy)]
pub struct RuleCx<'g, 'a> {
    /// The whole graph (signatures, other subgraphs).
    pub graph: &'g Graph<'a>,
    /// The subgraph index.
    pub subgraph: usize,
    /// Who reads each value of the subgraph (signature outputs included).
    pub uses: &'g UseMap,
    /// The caller's hooks (an evaluator for folding).
    pub ctx: &'g PassCtx<'g>,
}

impl core::fmt::Debug for RuleCx<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RuleCx")
            .field("subgraph", &self.subgraph)
            .finish_non_exhaustive()
    }
}

impl<'g, 'a> RuleCx<'g, 'a> {
    /// The subgraph the rule looks at.
    pub fn sg(&self) -> &'g Subgraph<'a> {
        &self.graph.subgraphs[self.subgraph]
    }

    /// Node `n` of the subgraph.
    pub fn node(&self, n: usize) -> Option<&'g Node<'a>> {
        self.sg().nodes.get(n)
    }

    /// Value `v` of the subgraph.
    pub fn value(&self, v: ValueId) -> Option<&'g Value<'a>> {
        self.sg().value(v)
    }

    /// The constant value `v` (its data is in the file), if it is one.
    pub fn constant(&self, v: ValueId) -> Option<&'g Value<'a>> {
        self.value(v).filter(|v| v.is_constant())
    }

    /// Whether `v` is read by exactly one node input and nothing else (no subgraph or
    /// signature output, no second reader), so that its producer may be rewritten freely.
    pub fn single_use(&self, v: ValueId) -> bool {
        matches!(self.uses.uses(v), [RefSite::NodeInput { .. }])
    }

    /// Whether `v` is an output of the subgraph or of a signature.
    pub fn is_output(&self, v: ValueId) -> bool {
        self.uses
            .uses(v)
            .iter()
            .any(|s| !matches!(s, RefSite::NodeInput { .. }))
    }

    /// Whether `v` is an input of the subgraph.
    pub fn is_input(&self, v: ValueId) -> bool {
        self.sg().inputs.contains(&v)
    }

    /// The node producing `v`.
    pub fn producer(&self, v: ValueId) -> Option<(usize, &'g Node<'a>)> {
        let p = self.uses.producer(v)?;
        Some((p, self.node(p)?))
    }

    /// A new patch for the subgraph.
    pub fn patch(&self) -> Patch<'a> {
        Patch::new(self.sg())
    }
}

/// A local graph rewrite.
///
/// [`rewrite`](Self::rewrite) looks at node `n` (usually as the last node of a pattern) and
/// returns the edit that replaces the pattern, or `Ok(None)` when the pattern is not there or
/// a condition fails. A rule that would change integer outputs must not fire on integer
/// graphs; a rule must never return a patch that leaves the graph invalid (the
/// [`PassManager`](crate::PassManager) verifies after each pass and names the culprit).
pub trait Rule: Send + Sync {
    /// The rule's name, which is also its pass's (`"fuse-activation"`).
    fn name(&self) -> &'static str;

    /// One line on what the rule does, for `--list-passes`.
    fn about(&self) -> &'static str;

    /// The patch that rewrites the pattern ending at node `n`, if it matches.
    fn rewrite<'a>(&self, cx: &RuleCx<'_, 'a>, n: usize) -> Result<Option<Patch<'a>>, PassError>;
}

/// A pass that applies one [`Rule`] at every node of every subgraph, again and again until it
/// no longer matches (at most a bound of rounds, so that two rules undoing each other cannot
/// loop).
#[derive(Debug, Clone, Copy, Default)]
pub struct RulePass<R>(pub R);

impl<R: Rule> Pass for RulePass<R> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn run(&self, graph: &mut Graph<'_>, ctx: &PassCtx<'_>) -> Result<bool, PassError> {
        let mut changed = false;
        for s in 0..graph.subgraphs.len() {
            // Every firing removes or replaces at least one node of the pattern, so a pattern
            // count bound of nodes + 1 rounds of scanning is enough; the bound is a guard.
            let mut budget = 4 * graph.subgraphs[s].nodes.len() + 16;
            'scan: loop {
                let uses = UseMap::with_signatures(graph, s);
                let cx = RuleCx {
                    graph,
                    subgraph: s,
                    uses: &uses,
                    ctx,
                };
                for n in 0..graph.subgraphs[s].nodes.len() {
                    if let Some(patch) = self.0.rewrite(&cx, n)? {
                        patch.apply(graph, s)?;
                        changed = true;
                        budget = budget.saturating_sub(1);
                        if budget == 0 {
                            break 'scan;
                        }
                        continue 'scan;
                    }
                }
                break;
            }
        }
        if changed {
            graph.compact();
        }
        Ok(changed)
    }
}

/// The patch that replaces node `n` by `node` (at the same position).
pub(crate) fn replace_node<'a>(patch: &mut Patch<'a>, n: usize, node: Node<'a>) {
    patch.insert_node(n, node);
    patch.remove_node(n);
}
