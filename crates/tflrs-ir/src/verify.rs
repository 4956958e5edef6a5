//! [`Graph::verify`]: structural and type checks with typed errors.

use crate::dtype::DType;
use crate::graph::{Graph, Subgraph, ValueId};
use crate::infer::{infer_default_outputs, infer_outputs, input_arity, output_count};
use crate::quant::QuantScheme;
use crate::refs::RefSite;
use crate::shape::Dim;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Where a value is referred to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueUse {
    /// A subgraph input.
    SubgraphInput,
    /// A subgraph output.
    SubgraphOutput,
    /// Input `index` of node `node`.
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
    /// An intermediate of node `node`.
    Intermediate {
        /// Node index.
        node: usize,
    },
    /// An input or output of the signature `key`.
    Signature {
        /// The signature's key.
        key: String,
    },
}

impl fmt::Display for ValueUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueUse::SubgraphInput => f.write_str("a subgraph input"),
            ValueUse::SubgraphOutput => f.write_str("a subgraph output"),
            ValueUse::NodeInput { node, index } => write!(f, "input {index} of node {node}"),
            ValueUse::NodeOutput { node, index } => write!(f, "output {index} of node {node}"),
            ValueUse::Intermediate { node } => write!(f, "an intermediate of node {node}"),
            ValueUse::Signature { key } => write!(f, "signature {key:?}"),
        }
    }
}

/// Why a graph is not well formed. Every variant names the subgraph and, where it applies, the
/// node (with its operator) and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A reference to a value that does not exist.
    #[error(
        "subgraph {subgraph}: {used_as} refers to value %{value}, but there are only {len} values"
    )]
    DanglingValue {
        /// Subgraph index.
        subgraph: usize,
        /// Where the reference is.
        used_as: ValueUse,
        /// The value index.
        value: u32,
        /// Number of values.
        len: usize,
    },
    /// A value is read but nothing defines it: it is not a subgraph input, a constant, a
    /// variable, or the output of any node.
    #[error("subgraph {subgraph}: value %{value} ({name}) is used as {used_as} but never defined")]
    Undefined {
        /// Subgraph index.
        subgraph: usize,
        /// The value.
        value: u32,
        /// Its name.
        name: String,
        /// Where it is used.
        used_as: ValueUse,
    },
    /// A node reads a value that a later node produces (the nodes are not in topological
    /// order, though they could be).
    #[error(
        "subgraph {subgraph}, node {node} ({op}): input %{value} is produced later, by node {producer}"
    )]
    UseBeforeDef {
        /// Subgraph index.
        subgraph: usize,
        /// The reading node.
        node: usize,
        /// Its operator.
        op: String,
        /// The value.
        value: u32,
        /// The node producing it.
        producer: usize,
    },
    /// Nodes depend on each other in a cycle.
    #[error("subgraph {subgraph}: node {node} ({op}) depends on itself through value %{value}")]
    Cycle {
        /// Subgraph index.
        subgraph: usize,
        /// A node on the cycle.
        node: usize,
        /// Its operator.
        op: String,
        /// A value on the cycle, read by `node`.
        value: u32,
    },
    /// A value is defined twice: by two nodes, or by a node although it is a subgraph input
    /// or a constant.
    #[error("subgraph {subgraph}: value %{value} is defined by node {node} and also {other}")]
    Redefined {
        /// Subgraph index.
        subgraph: usize,
        /// The value.
        value: u32,
        /// The node defining it (again).
        node: usize,
        /// The other definition.
        other: String,
    },
    /// A node has the wrong number of inputs or outputs for its operator.
    #[error("subgraph {subgraph}, node {node} ({op}): {what} {actual}, expected {expected}")]
    Arity {
        /// Subgraph index.
        subgraph: usize,
        /// Node index.
        node: usize,
        /// Its operator.
        op: String,
        /// `"inputs"` or `"outputs"`.
        what: &'static str,
        /// What the operator needs.
        expected: String,
        /// What the node has.
        actual: usize,
    },
    /// An output's element type is not the one the operator produces.
    #[error(
        "subgraph {subgraph}, node {node} ({op}): output %{value} has type {actual}, the operator gives {expected}"
    )]
    DTypeMismatch {
        /// Subgraph index.
        subgraph: usize,
        /// Node index.
        node: usize,
        /// Its operator.
        op: String,
        /// The output value.
        value: u32,
        /// The inferred type.
        expected: DType,
        /// The stated type.
        actual: DType,
    },
    /// An output's shape is not the one the operator produces.
    #[error(
        "subgraph {subgraph}, node {node} ({op}): output %{value} has shape {actual}, the operator gives {expected}"
    )]
    ShapeMismatch {
        /// Subgraph index.
        subgraph: usize,
        /// Node index.
        node: usize,
        /// Its operator.
        op: String,
        /// The output value.
        value: u32,
        /// The inferred dimensions (`?` for dynamic).
        expected: String,
        /// The stated shape.
        actual: String,
    },
    /// A node's inputs or attributes contradict each other.
    #[error("subgraph {subgraph}, node {node} ({op}): {problem}")]
    Inconsistent {
        /// Subgraph index.
        subgraph: usize,
        /// Node index.
        node: usize,
        /// Its operator.
        op: String,
        /// What is wrong.
        problem: String,
    },
    /// A value's own description is inconsistent (shape, quantization, data size).
    #[error("subgraph {subgraph}, value %{value} ({name}): {problem}")]
    BadValue {
        /// Subgraph index.
        subgraph: usize,
        /// The value.
        value: u32,
        /// Its name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A quantized value's zero point lies outside the range of its element type (int4, int8,
    /// uint8, int16), which no kernel can represent and which would overflow their 32-bit
    /// arithmetic.
    #[error(
        "subgraph {subgraph}, value %{value} ({name}): zero point {zero_point} is outside the range of {dtype}"
    )]
    ZeroPointOutOfRange {
        /// Subgraph index.
        subgraph: usize,
        /// The value.
        value: u32,
        /// Its name.
        name: String,
        /// Its element type.
        dtype: DType,
        /// The first zero point out of range.
        zero_point: i64,
    },
    /// A control-flow node or a signature names a subgraph that does not exist.
    #[error("{at}: refers to subgraph {index}, but there are only {len}")]
    DanglingSubgraph {
        /// Where (`"subgraph 0, node 3 (WHILE) cond_subgraph_index"`, `"signature \"x\""`).
        at: String,
        /// The index.
        index: i64,
        /// Number of subgraphs.
        len: usize,
    },
    /// Subgraphs call each other in a cycle.
    #[error("subgraph {subgraph} calls itself through control flow")]
    Recursion {
        /// A subgraph on the cycle.
        subgraph: usize,
    },
    /// The graph has no subgraph.
    #[error("the graph has no subgraph")]
    Empty,
}

fn dims_text(dims: &[Dim]) -> String {
    let mut s = String::from("[");
    for (i, d) in dims.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{d}"));
    }
    s.push(']');
    s
}

impl Graph<'_> {
    /// Checks that the graph is well formed: every reference in range, every value defined
    /// once and before it is read (no cycle), operators with the inputs and outputs they need,
    /// output types and shapes as shape inference gives them, constants as large as their
    /// shape needs, quantization matching shapes with zero points in the element type's
    /// range, control flow naming existing subgraphs
    /// without recursion.
    pub fn verify(&self) -> Result<(), VerifyError> {
        if self.subgraphs.is_empty() {
            return Err(VerifyError::Empty);
        }
        for (s, sg) in self.subgraphs.iter().enumerate() {
            verify_subgraph(s, sg, self.subgraphs.len())?;
        }
        for sig in &self.signatures {
            if sig.subgraph >= self.subgraphs.len() {
                return Err(VerifyError::DanglingSubgraph {
                    at: format!("signature {:?}", sig.key),
                    index: sig.subgraph as i64,
                    len: self.subgraphs.len(),
                });
            }
        }
        // The subgraphs' own references were checked above.
        for (s, site, v) in self.value_refs() {
            let (RefSite::SignatureInput { signature, .. }
            | RefSite::SignatureOutput { signature, .. }) = site
            else {
                continue;
            };
            let len = self.subgraphs[s].values.len();
            if v.index() >= len {
                return Err(VerifyError::DanglingValue {
                    subgraph: s,
                    used_as: ValueUse::Signature {
                        key: self.signatures[signature].key.clone(),
                    },
                    value: v.0,
                    len,
                });
            }
        }
        check_recursion(self)
    }
}

fn check_recursion(graph: &Graph<'_>) -> Result<(), VerifyError> {
    let n = graph.subgraphs.len();
    let callees: Vec<Vec<usize>> = graph
        .subgraphs
        .iter()
        .map(|sg| {
            sg.nodes
                .iter()
                .flat_map(|node| node.op.called_subgraphs())
                .filter_map(|(_, i)| usize::try_from(i).ok())
                .collect()
        })
        .collect();
    // 0 = unseen, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; n];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (s, ref mut next)) = stack.last_mut() {
            if let Some(&c) = callees[s].get(*next) {
                *next += 1;
                match state[c] {
                    0 => {
                        state[c] = 1;
                        stack.push((c, 0));
                    }
                    1 => return Err(VerifyError::Recursion { subgraph: c }),
                    _ => {}
                }
            } else {
                state[s] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}

fn verify_values(s: usize, sg: &Subgraph<'_>) -> Result<(), VerifyError> {
    for (v, value) in sg.values.iter().enumerate() {
        let bad = |problem: String| VerifyError::BadValue {
            subgraph: s,
            value: v as u32,
            name: value.name.clone(),
            problem,
        };
        let shape = &value.shape;
        if let Some(d) = shape.dims.iter().find(|&&d| d < 0) {
            return Err(bad(format!(
                "shape {:?} has the negative size {d}",
                shape.dims
            )));
        }
        if let Some(sig) = &shape.signature {
            if sig.len() != shape.dims.len() {
                return Err(bad(format!(
                    "shape signature {sig:?} and shape {:?} differ in rank",
                    shape.dims
                )));
            }
            if let Some((i, _)) = sig
                .iter()
                .zip(&shape.dims)
                .enumerate()
                .find(|(_, (s, d))| **s >= 0 && s != d)
            {
                return Err(bad(format!(
                    "shape signature {sig:?} and shape {:?} differ in dimension {i}",
                    shape.dims
                )));
            }
        }
        if let Some(QuantScheme::PerAxis {
            axis,
            scales,
            zero_points,
        }) = value.quant.as_ref().and_then(|q| q.scheme.as_ref())
        {
            if scales.len() != zero_points.len() {
                return Err(bad(format!(
                    "{} scales but {} zero points",
                    scales.len(),
                    zero_points.len()
                )));
            }
            let a = usize::try_from(*axis)
                .ok()
                .filter(|&a| a < shape.rank() || shape.rank() == 0);
            let Some(a) = a else {
                return Err(bad(format!(
                    "quantized dimension {axis} is not an axis of {:?}",
                    shape.dims
                )));
            };
            if let Some(&n) = shape.dims.get(a)
                && scales.len() != 1
                && scales.len() != n as usize
            {
                return Err(bad(format!(
                    "{} scales for quantized dimension {axis} of size {n}",
                    scales.len()
                )));
            }
        }
        if let Some(zp) = value
            .quant
            .as_ref()
            .and_then(|q| q.zero_point_outside(value.dtype))
        {
            return Err(VerifyError::ZeroPointOutOfRange {
                subgraph: s,
                value: v as u32,
                name: value.name.clone(),
                dtype: value.dtype,
                zero_point: zp,
            });
        }
        if let (Some(data), None) = (&value.data, &value.sparsity)
            && let Some(need) = shape.num_elements().and_then(|n| value.dtype.bytes_for(n))
            && (data.len() as u64) < need
        {
            return Err(bad(format!(
                "constant holds {} bytes, its shape and type need {need}",
                data.len()
            )));
        }
    }
    Ok(())
}

fn verify_subgraph(s: usize, sg: &Subgraph<'_>, n_subgraphs: usize) -> Result<(), VerifyError> {
    let len = sg.values.len();
    let dangling = |used_as: ValueUse, v: ValueId| VerifyError::DanglingValue {
        subgraph: s,
        used_as,
        value: v.0,
        len,
    };
    let op_name = |n: usize| String::from(sg.nodes[n].op.name());

    // References.
    for (site, v) in sg.value_refs() {
        if v.index() >= len {
            let used_as = match site {
                RefSite::SubgraphInput(_) => ValueUse::SubgraphInput,
                RefSite::SubgraphOutput(_) => ValueUse::SubgraphOutput,
                RefSite::NodeInput { node, index } => ValueUse::NodeInput { node, index },
                RefSite::NodeOutput { node, index } => ValueUse::NodeOutput { node, index },
                RefSite::Intermediate { node, .. } => ValueUse::Intermediate { node },
                // Signatures are the graph's; `Subgraph::value_refs` has none.
                RefSite::SignatureInput { .. } | RefSite::SignatureOutput { .. } => continue,
            };
            return Err(dangling(used_as, v));
        }
    }
    for (n, node) in sg.nodes.iter().enumerate() {
        for (attr, idx) in node.op.called_subgraphs() {
            if usize::try_from(idx).map_or(true, |i| i >= n_subgraphs) {
                return Err(VerifyError::DanglingSubgraph {
                    at: format!("subgraph {s}, node {n} ({}) {attr}", op_name(n)),
                    index: i64::from(idx),
                    len: n_subgraphs,
                });
            }
        }
    }
    verify_values(s, sg)?;

    // Definitions: inputs, constants, variables and empty tensors exist before any node runs.
    let mut is_input = vec![false; len];
    for &v in &sg.inputs {
        is_input[v.index()] = true;
    }
    let predefined: Vec<bool> = sg
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            is_input[i]
                || v.data.is_some()
                || v.is_variable
                || (v.shape.is_static() && v.shape.num_elements() == Some(0))
        })
        .collect();
    let mut producer: Vec<Option<usize>> = vec![None; len];
    for (n, node) in sg.nodes.iter().enumerate() {
        for &v in &node.outputs {
            let i = v.index();
            let other = if let Some(p) = producer[i] {
                Some(format!("by node {p}"))
            } else if is_input[i] {
                Some("as a subgraph input".into())
            } else if sg.values[i].data.is_some() {
                Some("as a constant".into())
            } else {
                None
            };
            if let Some(other) = other {
                return Err(VerifyError::Redefined {
                    subgraph: s,
                    value: v.0,
                    node: n,
                    other,
                });
            }
            producer[i] = Some(n);
        }
    }
    // Order: every input is defined by the time its node runs.
    for (n, node) in sg.nodes.iter().enumerate() {
        for (i, v) in node.inputs.iter().enumerate() {
            let Some(v) = *v else { continue };
            if predefined[v.index()] {
                continue;
            }
            match producer[v.index()] {
                Some(p) if p < n => {}
                Some(p) => {
                    if let Some(err) = find_cycle(s, sg, &producer) {
                        return Err(err);
                    }
                    return Err(VerifyError::UseBeforeDef {
                        subgraph: s,
                        node: n,
                        op: op_name(n),
                        value: v.0,
                        producer: p,
                    });
                }
                None => {
                    return Err(VerifyError::Undefined {
                        subgraph: s,
                        value: v.0,
                        name: sg.values[v.index()].name.clone(),
                        used_as: ValueUse::NodeInput { node: n, index: i },
                    });
                }
            }
        }
    }
    for &v in &sg.outputs {
        if !predefined[v.index()] && producer[v.index()].is_none() {
            return Err(VerifyError::Undefined {
                subgraph: s,
                value: v.0,
                name: sg.values[v.index()].name.clone(),
                used_as: ValueUse::SubgraphOutput,
            });
        }
    }

    // Operators: arity, then inferred types and shapes against the stated ones.
    for (n, node) in sg.nodes.iter().enumerate() {
        if let Some((lo, hi)) = input_arity(&node.op)
            && !(lo..=hi).contains(&node.inputs.len())
        {
            let expected = match (lo, hi) {
                (lo, hi) if lo == hi => format!("{lo}"),
                (lo, usize::MAX) => format!("at least {lo}"),
                (lo, hi) => format!("{lo} to {hi}"),
            };
            return Err(VerifyError::Arity {
                subgraph: s,
                node: n,
                op: op_name(n),
                what: "inputs",
                expected,
                actual: node.inputs.len(),
            });
        }
        if let Some(count) = output_count(&node.op, node.inputs.len())
            && count != node.outputs.len()
        {
            return Err(VerifyError::Arity {
                subgraph: s,
                node: n,
                op: op_name(n),
                what: "outputs",
                expected: format!("{count}"),
                actual: node.outputs.len(),
            });
        }
        let inferred = infer_outputs(sg, node).map_err(|problem| VerifyError::Inconsistent {
            subgraph: s,
            node: n,
            op: op_name(n),
            problem,
        })?;
        // Default sizes propagate too: the stated sizes are those LiteRT allocates before any
        // resize. (Where reading the defaults fails, the dynamic check above stands alone.)
        let defaults = infer_default_outputs(sg, node).ok();
        for (k, (&v, t)) in node.outputs.iter().zip(&inferred).enumerate() {
            let value = &sg.values[v.index()];
            if let Some(dt) = t.dtype
                && dt != value.dtype
            {
                return Err(VerifyError::DTypeMismatch {
                    subgraph: s,
                    node: n,
                    op: op_name(n),
                    value: v.0,
                    expected: dt,
                    actual: value.dtype,
                });
            }
            let default_dims = defaults
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(|d| d.dims.as_ref());
            let Some(dims) = default_dims.or(t.dims.as_ref()) else {
                continue;
            };
            let stated: Vec<Dim> = if default_dims.is_some() {
                // A dimension the signature marks dynamic (-1) holds a placeholder under a
                // dynamic batch (the converter stores 1 there): any size agrees with it.
                let signature = value.shape.signature.as_deref().unwrap_or(&[]);
                value
                    .shape
                    .dims
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| match signature.get(i) {
                        Some(&-1) => Dim::Dynamic,
                        _ => Dim::Static(u32::try_from(d).unwrap_or(0)),
                    })
                    .collect()
            } else {
                value.shape.dims_with_dynamic()
            };
            let unranked = !value.shape.has_rank && value.shape.dims.is_empty();
            let agrees = unranked
                || (stated.len() == dims.len()
                    && dims.iter().zip(&stated).all(|(d, s)| match (d, s) {
                        (Dim::Static(a), Dim::Static(b)) => a == b,
                        // A dynamic inferred size may be stated either way; a static one may
                        // be stated as dynamic.
                        _ => true,
                    }));
            if !agrees {
                return Err(VerifyError::ShapeMismatch {
                    subgraph: s,
                    node: n,
                    op: op_name(n),
                    value: v.0,
                    expected: dims_text(dims),
                    actual: format!("{}", value.shape),
                });
            }
        }
    }
    Ok(())
}

/// Finds a cycle among the nodes of `sg` (edges from producer to reader), if there is one.
fn find_cycle(s: usize, sg: &Subgraph<'_>, producer: &[Option<usize>]) -> Option<VerifyError> {
    let n = sg.nodes.len();
    // 0 = unseen, 1 = on the stack, 2 = done; walk from each node to the producers of its inputs.
    let mut state = vec![0u8; n];
    let preds = |node: usize| -> Vec<(usize, u32)> {
        sg.nodes[node]
            .inputs
            .iter()
            .flatten()
            .filter_map(|v| producer.get(v.index()).copied().flatten().map(|p| (p, v.0)))
            .collect()
    };
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, preds(root), 0usize)];
        state[root] = 1;
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            if let Some(&(p, value)) = top.1.get(top.2) {
                top.2 += 1;
                match state[p] {
                    0 => {
                        state[p] = 1;
                        let next = preds(p);
                        stack.push((p, next, 0));
                    }
                    1 => {
                        return Some(VerifyError::Cycle {
                            subgraph: s,
                            node,
                            op: String::from(sg.nodes[node].op.name()),
                            value,
                        });
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    None
}
