//! Editing graphs: use lists, typed constants, replacing uses, inserting and removing nodes,
//! dropping values with renumbering, and [`Patch`]es applied in one step.
//!
//! Edits keep the graph's plain data consistent where they can (every reference a removal
//! renumbers is found by [`Graph::value_refs_mut`]) and leave the rest to [`Graph::verify`],
//! which a pass manager runs after each pass: an edit that leaves a value read but no longer
//! defined, or nodes out of order, is reported there.
//!
//! A node an edit changes (new inputs) gets [`Node::version`] `None`, so that export writes
//! the version the node now needs.

use crate::dtype::DType;
use crate::graph::{Graph, Node, Subgraph, Value, ValueId};
use crate::quant::QuantDetails;
use crate::refs::RefSite;
use crate::shape::Shape;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

mod sealed {
    pub trait Sealed: bytemuck::Pod {}
}

/// A plain element type whose constants can be read and written typed: [`Value::constant_as`],
/// [`Subgraph::add_constant`].
pub trait Element: sealed::Sealed {
    /// The tensor element type holding this Rust type.
    const DTYPE: DType;
    /// The value from its little-endian bytes (`bytes` has `size_of::<Self>()` bytes).
    fn from_le(bytes: &[u8]) -> Self;
    /// Appends the value's little-endian bytes.
    fn push_le(self, out: &mut Vec<u8>);
}

macro_rules! elements {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn from_le(bytes: &[u8]) -> Self {
                let mut b = [0u8; core::mem::size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
            fn push_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}

elements!(
    f32 => Float32, f64 => Float64, i8 => Int8, u8 => UInt8, i16 => Int16, u16 => UInt16,
    i32 => Int32, u32 => UInt32, i64 => Int64, u64 => UInt64
);

impl<'a> Value<'a> {
    /// The constant's elements as `T`, when the value is a dense constant of `T`'s element
    /// type with whole elements. Borrows the data when it is suitably aligned (imported
    /// buffers are 16-byte aligned), copies it otherwise.
    pub fn constant_as<T: Element>(&self) -> Option<Cow<'_, [T]>> {
        if self.dtype != T::DTYPE || self.sparsity.is_some() {
            return None;
        }
        let data = self.data.as_deref()?;
        let size = core::mem::size_of::<T>();
        if data.len() % size != 0 {
            return None;
        }
        if cfg!(target_endian = "little")
            && let Ok(s) = bytemuck::try_cast_slice::<u8, T>(data)
        {
            return Some(Cow::Borrowed(s));
        }
        Some(Cow::Owned(
            data.chunks_exact(size).map(T::from_le).collect(),
        ))
    }

    /// A constant of `T`'s element type holding `values` (owned data).
    pub fn constant<T: Element>(
        name: impl Into<String>,
        shape: impl Into<Shape>,
        values: &[T],
    ) -> Self {
        let mut v = Value::new(name, T::DTYPE, shape);
        let mut data = Vec::with_capacity(core::mem::size_of_val(values));
        for &x in values {
            x.push_le(&mut data);
        }
        // TFLite files hold no bytes for constants without elements (see `Value::data`).
        v.data = (!data.is_empty()).then_some(Cow::Owned(data));
        v
    }
}

/// Who reads each value of a subgraph, and which node produces it.
///
/// A snapshot: edits made after [`UseMap::new`] are not reflected, so build a new one after
/// changing the subgraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseMap {
    /// `uses[offsets[v]..offsets[v + 1]]` are the reads of value `v`.
    offsets: Vec<usize>,
    uses: Vec<RefSite>,
    producers: Vec<Option<usize>>,
}

impl UseMap {
    /// The reads of every value of `sg`: node inputs (with their slot) and subgraph outputs.
    /// References to values that do not exist are skipped.
    pub fn new(sg: &Subgraph<'_>) -> Self {
        Self::build(sg.values.len(), sg.value_refs(), &sg.nodes)
    }

    /// [`UseMap::new`] for subgraph `s` of `graph`, with the outputs of signatures that name
    /// `s` as reads too.
    ///
    /// # Panics
    /// If there is no subgraph `s`.
    pub fn with_signatures(graph: &Graph<'_>, s: usize) -> Self {
        let sg = &graph.subgraphs[s];
        let refs = graph
            .value_refs()
            .filter(|&(sub, _, _)| sub == s)
            .map(|(_, site, v)| (site, v));
        Self::build(sg.values.len(), refs, &sg.nodes)
    }

    fn build(n: usize, refs: impl Iterator<Item = (RefSite, ValueId)>, nodes: &[Node<'_>]) -> Self {
        let reads: Vec<(RefSite, ValueId)> = refs
            .filter(|&(site, v)| site.is_read() && v.index() < n)
            .collect();
        let mut offsets = vec![0usize; n + 1];
        for &(_, v) in &reads {
            offsets[v.index() + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut uses = vec![RefSite::SubgraphInput(0); offsets[n]];
        for (site, v) in reads {
            uses[fill[v.index()]] = site;
            fill[v.index()] += 1;
        }
        let mut producers = vec![None; n];
        for (k, node) in nodes.iter().enumerate() {
            for &o in &node.outputs {
                if let Some(p) = producers.get_mut(o.index())
                    && p.is_none()
                {
                    *p = Some(k);
                }
            }
        }
        Self {
            offsets,
            uses,
            producers,
        }
    }

    /// The reads of `v`, in [`Subgraph::value_refs`] order (empty for an unknown value).
    pub fn uses(&self, v: ValueId) -> &[RefSite] {
        match (self.offsets.get(v.index()), self.offsets.get(v.index() + 1)) {
            (Some(&a), Some(&b)) => &self.uses[a..b],
            _ => &[],
        }
    }

    /// Whether anything reads `v`.
    pub fn is_used(&self, v: ValueId) -> bool {
        !self.uses(v).is_empty()
    }

    /// The nodes reading `v`, with the input slot, in node order (a node reading `v` twice
    /// appears twice).
    pub fn consumers(&self, v: ValueId) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.uses(v).iter().filter_map(|site| match *site {
            RefSite::NodeInput { node, index } => Some((node, index)),
            _ => None,
        })
    }

    /// The node producing `v` (the first one, if several do), if any.
    pub fn producer(&self, v: ValueId) -> Option<usize> {
        self.producers.get(v.index()).copied().flatten()
    }
}

/// Why an edit could not be made. Edits check only what they need to stay memory-safe and
/// meaningful; the rest is [`Graph::verify`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// There is no such subgraph.
    #[error("there is no subgraph {subgraph} (the graph has {len})")]
    NoSubgraph {
        /// The index asked for.
        subgraph: usize,
        /// Number of subgraphs.
        len: usize,
    },
    /// There is no such node.
    #[error("subgraph {subgraph}: there is no node {node} (it has {len})")]
    NoNode {
        /// Subgraph index.
        subgraph: usize,
        /// The index asked for.
        node: usize,
        /// Number of nodes.
        len: usize,
    },
    /// A value to remove is still referenced.
    #[error("subgraph {subgraph}: value {value} cannot be removed, {site:?} refers to it")]
    StillReferenced {
        /// Subgraph index.
        subgraph: usize,
        /// The value.
        value: ValueId,
        /// One reference to it; `None` when only the blockwise quantization of a kept value
        /// names it.
        site: Option<RefSite>,
    },
    /// A [`Patch`] was made for a subgraph with a different number of values than the one it
    /// is applied to.
    #[error(
        "subgraph {subgraph}: the patch was made for {expected} values, the subgraph has {actual}"
    )]
    StalePatch {
        /// Subgraph index.
        subgraph: usize,
        /// Values when the patch was made.
        expected: usize,
        /// Values now.
        actual: usize,
    },
}

/// Old value ids to new ones, after values were removed ([`Graph::compact`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Remap {
    new: Vec<Option<ValueId>>,
}

impl Remap {
    /// The new id of the value that had id `old`; `None` if it was removed (or never existed).
    pub fn get(&self, old: ValueId) -> Option<ValueId> {
        self.new.get(old.index()).copied().flatten()
    }

    /// Number of values removed.
    pub fn removed(&self) -> usize {
        self.new.iter().filter(|n| n.is_none()).count()
    }
}

impl<'a> Subgraph<'a> {
    /// Appends `value`; returns its id.
    pub fn add_value(&mut self, value: Value<'a>) -> ValueId {
        self.values.push(value);
        ValueId(self.values.len() as u32 - 1)
    }

    /// Appends a constant of `T`'s element type holding `values` ([`Value::constant`]).
    pub fn add_constant<T: Element>(
        &mut self,
        name: impl Into<String>,
        shape: impl Into<Shape>,
        values: &[T],
    ) -> ValueId {
        self.add_value(Value::constant(name, shape, values))
    }

    /// The use lists of this subgraph ([`UseMap::new`]).
    pub fn use_map(&self) -> UseMap {
        UseMap::new(self)
    }

    /// Makes every node input and subgraph output that reads `old` read `new` instead; the
    /// nodes changed get `version = None`. Returns how many references changed. Signatures
    /// are the graph's: [`Graph::replace_all_uses`] changes them too.
    pub fn replace_all_uses(&mut self, old: ValueId, new: ValueId) -> usize {
        replace_uses_in(self, old, new, usize::MAX)
    }

    /// Inserts `node` before node `index` (at the end when `index` is the number of nodes),
    /// so that it runs before the nodes that read its outputs; returns its index. The nodes
    /// from `index` on move one place up.
    ///
    /// # Panics
    /// If `index` is past the end.
    pub fn insert_node_before(&mut self, index: usize, node: Node<'a>) -> usize {
        self.nodes.insert(index, node);
        index
    }

    /// Removes the nodes at `indices` (in any order, repeats allowed); the others keep their
    /// order. Their outputs stay, no longer defined: remove their readers too, or rewire them,
    /// then [`Graph::compact`].
    pub fn remove_nodes(&mut self, indices: &[usize]) {
        let mut dead = vec![false; self.nodes.len()];
        for &i in indices {
            if let Some(d) = dead.get_mut(i) {
                *d = true;
            }
        }
        let mut k = 0;
        self.nodes.retain(|_| {
            k += 1;
            !dead[k - 1]
        });
    }
}

/// Replaces reads of `old` in the first `limit` nodes and in the subgraph outputs.
fn replace_uses_in(sg: &mut Subgraph<'_>, old: ValueId, new: ValueId, limit: usize) -> usize {
    let mut changed = 0;
    for node in sg.nodes.iter_mut().take(limit) {
        let mut hit = false;
        for v in node.inputs.iter_mut().flatten() {
            if *v == old {
                *v = new;
                hit = true;
                changed += 1;
            }
        }
        if hit {
            node.version = None;
        }
    }
    for v in &mut sg.outputs {
        if *v == old {
            *v = new;
            changed += 1;
        }
    }
    changed
}

fn no_subgraph(graph: &Graph<'_>, s: usize) -> EditError {
    EditError::NoSubgraph {
        subgraph: s,
        len: graph.subgraphs.len(),
    }
}

impl<'a> Graph<'a> {
    /// [`Subgraph::replace_all_uses`] in subgraph `s`, and in the outputs of the signatures
    /// that name `s`. Returns how many references changed.
    pub fn replace_all_uses(
        &mut self,
        s: usize,
        old: ValueId,
        new: ValueId,
    ) -> Result<usize, EditError> {
        let len = self.subgraphs.len();
        let sg = self
            .subgraphs
            .get_mut(s)
            .ok_or(EditError::NoSubgraph { subgraph: s, len })?;
        let mut changed = sg.replace_all_uses(old, new);
        for sig in self.signatures.iter_mut().filter(|g| g.subgraph == s) {
            for t in &mut sig.outputs {
                if t.value == old {
                    t.value = new;
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }

    /// [`Graph::compact_subgraph`] for every subgraph; returns the renumbering of each.
    pub fn compact(&mut self) -> Vec<Remap> {
        (0..self.subgraphs.len())
            .map(|s| {
                let keep = self.referenced(s).unwrap_or_default();
                self.retain_values(s, &keep)
            })
            .collect()
    }

    /// Removes the values of subgraph `s` that nothing refers to (no node, subgraph input or
    /// output, signature, or blockwise quantization of a kept value) and renumbers every
    /// reference to the others, keeping their order. Returns the renumbering.
    pub fn compact_subgraph(&mut self, s: usize) -> Result<Remap, EditError> {
        let keep = self.referenced(s)?;
        Ok(self.retain_values(s, &keep))
    }

    /// Removes the values `ids` of subgraph `s` and renumbers every reference to the others,
    /// keeping their order. Fails, changing nothing, when one of them is still referenced.
    pub fn remove_values(&mut self, s: usize, ids: &[ValueId]) -> Result<Remap, EditError> {
        let referenced = self.referenced(s)?;
        let mut keep = vec![true; referenced.len()];
        for &v in ids {
            let Some(k) = keep.get_mut(v.index()) else {
                continue;
            };
            if referenced[v.index()] {
                let site = self
                    .value_refs()
                    .find(|&(sub, _, r)| sub == s && r == v)
                    .map(|(_, site, _)| site);
                return Err(EditError::StillReferenced {
                    subgraph: s,
                    value: v,
                    site,
                });
            }
            *k = false;
        }
        Ok(self.retain_values(s, &keep))
    }

    /// Which values of subgraph `s` something refers to.
    fn referenced(&self, s: usize) -> Result<Vec<bool>, EditError> {
        let sg = self.subgraphs.get(s).ok_or_else(|| no_subgraph(self, s))?;
        let n = sg.values.len();
        let mut used = vec![false; n];
        for (sub, _, v) in self.value_refs() {
            if sub == s
                && let Some(u) = used.get_mut(v.index())
            {
                *u = true;
            }
        }
        // Blockwise quantization names the tensors holding its scales and zero points; those
        // live as long as the value that names them. One level is all the format has.
        for (i, value) in sg.values.iter().enumerate() {
            if !used[i] {
                continue;
            }
            for t in quant_tensors(value) {
                if let Some(u) = usize::try_from(t).ok().and_then(|t| used.get_mut(t)) {
                    *u = true;
                }
            }
        }
        Ok(used)
    }

    /// Keeps the values of subgraph `s` where `keep` is true and renumbers every reference.
    /// References to removed values are left as they were (dangling, which verify reports).
    fn retain_values(&mut self, s: usize, keep: &[bool]) -> Remap {
        let mut new = Vec::with_capacity(keep.len());
        let mut next = 0u32;
        for &k in keep {
            new.push(k.then(|| {
                next += 1;
                ValueId(next - 1)
            }));
        }
        let remap = Remap { new };
        for (sub, _, v) in self.value_refs_mut() {
            if sub == s
                && let Some(n) = remap.get(*v)
            {
                *v = n;
            }
        }
        let sg = &mut self.subgraphs[s];
        let mut k = 0;
        sg.values.retain(|_| {
            k += 1;
            keep.get(k - 1).copied().unwrap_or(true)
        });
        for value in &mut sg.values {
            remap_quant_tensors(value, &remap);
        }
        remap
    }
}

fn quant_tensors(value: &Value<'_>) -> Vec<i32> {
    match value.quant.as_ref().map(|q| &q.details) {
        Some(QuantDetails::Blockwise {
            scales,
            zero_points,
            ..
        })
        | Some(QuantDetails::MultiAxis {
            scales,
            zero_points,
            ..
        }) => vec![*scales, *zero_points],
        _ => Vec::new(),
    }
}

fn remap_quant_tensors(value: &mut Value<'_>, remap: &Remap) {
    let Some(q) = value.quant.as_mut() else {
        return;
    };
    let (QuantDetails::Blockwise {
        scales,
        zero_points,
        ..
    }
    | QuantDetails::MultiAxis {
        scales,
        zero_points,
        ..
    }) = &mut q.details
    else {
        return;
    };
    for t in [scales, zero_points] {
        if let Some(n) = u32::try_from(*t)
            .ok()
            .and_then(|i| remap.get(ValueId(i)))
            .and_then(|n| i32::try_from(n.0).ok())
        {
            *t = n;
        }
    }
}

/// A set of edits to one subgraph, applied in one step by [`Patch::apply`]: new values, nodes
/// inserted at positions of the subgraph as it was, uses redirected, nodes removed.
///
/// Positions and node indices refer to the subgraph when the patch was made, so edits do not
/// shift each other. Redirected uses apply to the subgraph's own nodes (and its outputs and
/// signature outputs), never to nodes the patch inserts: a patch can put a node after `x`
/// that reads `x` and send every other reader of `x` to that node's output.
///
/// ```
/// use tflrs_ir::{DType, GraphBuilder, Node, Op, Patch, Value};
///
/// let mut b = GraphBuilder::new();
/// let x = b.input("x", DType::Float32, [4]);
/// let y = b.op(Op::Relu, &[x]).unwrap();
/// b.output(y);
/// let mut graph = b.finish().unwrap();
///
/// // Put a TANH between the input and the RELU.
/// let mut p = Patch::new(&graph.subgraphs[0]);
/// let t = p.add_value(Value::new("t", DType::Float32, [4]));
/// p.insert_node(0, Node::new(Op::Tanh, vec![Some(x)], vec![t]));
/// p.replace_all_uses(x, t);
/// p.apply(&mut graph, 0).unwrap();
/// graph.verify().unwrap();
/// assert_eq!(graph.subgraphs[0].nodes[1].inputs, [Some(t)]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Patch<'a> {
    base: usize,
    values: Vec<Value<'a>>,
    inserts: Vec<(usize, Node<'a>)>,
    replaces: Vec<(ValueId, ValueId)>,
    removes: Vec<usize>,
}

impl<'a> Patch<'a> {
    /// An empty patch for `sg` as it is now.
    pub fn new(sg: &Subgraph<'_>) -> Self {
        Self {
            base: sg.values.len(),
            ..Self::default()
        }
    }

    /// Adds a value; returns the id it will have.
    pub fn add_value(&mut self, value: Value<'a>) -> ValueId {
        self.values.push(value);
        ValueId((self.base + self.values.len() - 1) as u32)
    }

    /// Adds a constant of `T`'s element type ([`Value::constant`]); returns its id.
    pub fn add_constant<T: Element>(
        &mut self,
        name: impl Into<String>,
        shape: impl Into<Shape>,
        values: &[T],
    ) -> ValueId {
        self.add_value(Value::constant(name, shape, values))
    }

    /// Inserts `node` before node `before` of the subgraph as it was (its node count for the
    /// end). Nodes inserted at the same position keep the order they were added in.
    pub fn insert_node(&mut self, before: usize, node: Node<'a>) {
        self.inserts.push((before, node));
    }

    /// Makes the subgraph's readers of `old` read `new` (see the type's documentation).
    pub fn replace_all_uses(&mut self, old: ValueId, new: ValueId) {
        self.replaces.push((old, new));
    }

    /// Removes node `index` of the subgraph as it was.
    pub fn remove_node(&mut self, index: usize) {
        self.removes.push(index);
    }

    /// Applies the patch to subgraph `s` of `graph`. Checks only that the patch fits
    /// (subgraph, value count, node positions); run [`Graph::verify`] afterwards.
    pub fn apply(self, graph: &mut Graph<'a>, s: usize) -> Result<(), EditError> {
        let n_sub = graph.subgraphs.len();
        let sg = graph.subgraphs.get_mut(s).ok_or(EditError::NoSubgraph {
            subgraph: s,
            len: n_sub,
        })?;
        if sg.values.len() != self.base {
            return Err(EditError::StalePatch {
                subgraph: s,
                expected: self.base,
                actual: sg.values.len(),
            });
        }
        let len = sg.nodes.len();
        if let Some(&node) = self
            .inserts
            .iter()
            .map(|(i, _)| i)
            .find(|&&i| i > len)
            .or_else(|| self.removes.iter().find(|&&i| i >= len))
        {
            return Err(EditError::NoNode {
                subgraph: s,
                node,
                len,
            });
        }
        sg.values.extend(self.values);
        for &(old, new) in &self.replaces {
            replace_uses_in(sg, old, new, usize::MAX);
        }
        let mut dead = vec![false; len];
        for &i in &self.removes {
            dead[i] = true;
        }
        let mut inserts: Vec<Vec<Node<'a>>> = (0..=len).map(|_| Vec::new()).collect();
        for (i, node) in self.inserts {
            inserts[i].push(node);
        }
        let old = core::mem::take(&mut sg.nodes);
        let mut nodes = Vec::with_capacity(old.len() + inserts.iter().map(Vec::len).sum::<usize>());
        let mut inserts = inserts.into_iter();
        for (i, node) in old.into_iter().enumerate() {
            nodes.extend(inserts.next().into_iter().flatten());
            if !dead[i] {
                nodes.push(node);
            }
        }
        nodes.extend(inserts.flatten());
        sg.nodes = nodes;
        for sig in graph.signatures.iter_mut().filter(|g| g.subgraph == s) {
            for t in &mut sig.outputs {
                for &(old, new) in &self.replaces {
                    if t.value == old {
                        t.value = new;
                    }
                }
            }
        }
        Ok(())
    }
}
