//! [`GraphBuilder`]: make graphs in code (tests, passes, examples).

use crate::dtype::DType;
use crate::graph::*;
use crate::infer::{infer_default_outputs, infer_outputs, merged_shape};

use crate::ops::Op;
use crate::quant::QuantParams;
use crate::shape::Shape;
use crate::verify::VerifyError;
use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Builds a [`Graph`] node by node, inferring the types and shapes of node outputs.
///
/// ```
/// use tflrs_ir::{AddAttrs, DType, GraphBuilder, Op};
///
/// let mut b = GraphBuilder::new();
/// let x = b.input("x", DType::Float32, [1, 4]);
/// let y = b.constant_f32("y", [4], &[1.0, 2.0, 3.0, 4.0]);
/// let sum = b.op(Op::Add(AddAttrs::default()), &[x, y]).unwrap();
/// let out = b.op(Op::Relu, &[sum]).unwrap();
/// b.output(out);
/// let graph = b.finish().unwrap();
/// assert_eq!(graph.subgraphs[0].values[out.index()].shape.dims, [1, 4]);
/// ```
#[derive(Debug, Clone)]
pub struct GraphBuilder<'a> {
    graph: Graph<'a>,
    current: usize,
}

impl Default for GraphBuilder<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> GraphBuilder<'a> {
    /// A builder with one empty subgraph, `"main"`, selected.
    pub fn new() -> Self {
        Self {
            graph: Graph {
                subgraphs: alloc::vec![Subgraph {
                    name: "main".into(),
                    debug_metadata_index: -1,
                    ..Subgraph::default()
                }],
                ..Graph::default()
            },
            current: 0,
        }
    }

    /// A builder adding to `graph`, with subgraph `current` selected (a graph that has no
    /// subgraph gets an empty `"main"`).
    pub fn from_graph(mut graph: Graph<'a>, current: usize) -> Self {
        if graph.subgraphs.is_empty() {
            graph.subgraphs.push(Subgraph {
                name: "main".into(),
                debug_metadata_index: -1,
                ..Subgraph::default()
            });
        }
        let current = current.min(graph.subgraphs.len() - 1);
        Self { graph, current }
    }

    /// The graph so far.
    pub fn graph(&self) -> &Graph<'a> {
        &self.graph
    }

    /// The graph so far, for changes the builder has no call for.
    pub fn graph_mut(&mut self) -> &mut Graph<'a> {
        &mut self.graph
    }

    /// The selected subgraph.
    pub fn current(&self) -> usize {
        self.current
    }

    fn sg(&mut self) -> &mut Subgraph<'a> {
        &mut self.graph.subgraphs[self.current]
    }

    /// Adds an empty subgraph and selects it; returns its index.
    pub fn subgraph(&mut self, name: impl Into<String>) -> usize {
        self.graph.subgraphs.push(Subgraph {
            name: name.into(),
            debug_metadata_index: -1,
            ..Subgraph::default()
        });
        self.current = self.graph.subgraphs.len() - 1;
        self.current
    }

    /// Selects subgraph `index` for the calls that follow.
    ///
    /// # Panics
    /// If there is no such subgraph (a bug in the caller).
    pub fn select(&mut self, index: usize) {
        assert!(index < self.graph.subgraphs.len(), "no subgraph {index}");
        self.current = index;
    }

    /// Adds a value to the selected subgraph.
    pub fn value(&mut self, value: Value<'a>) -> ValueId {
        let sg = self.sg();
        sg.values.push(value);
        ValueId(sg.values.len() as u32 - 1)
    }

    /// Adds an input of the selected subgraph.
    pub fn input(
        &mut self,
        name: impl Into<String>,
        dtype: DType,
        shape: impl Into<Shape>,
    ) -> ValueId {
        let v = self.value(Value::new(name, dtype, shape));
        self.sg().inputs.push(v);
        v
    }

    /// Adds a constant with raw little-endian `data`. Empty data (a constant without
    /// elements) is stored as no data, as TFLite files store it.
    pub fn constant(
        &mut self,
        name: impl Into<String>,
        dtype: DType,
        shape: impl Into<Shape>,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> ValueId {
        let mut v = Value::new(name, dtype, shape);
        let data = data.into();
        v.data = (!data.is_empty()).then_some(data);
        self.value(v)
    }

    /// Adds a float32 constant.
    pub fn constant_f32(
        &mut self,
        name: impl Into<String>,
        shape: impl Into<Shape>,
        values: &[f32],
    ) -> ValueId {
        let data: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.constant(name, DType::Float32, shape, data)
    }

    /// Adds an int32 constant.
    pub fn constant_i32(
        &mut self,
        name: impl Into<String>,
        shape: impl Into<Shape>,
        values: &[i32],
    ) -> ValueId {
        let data: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.constant(name, DType::Int32, shape, data)
    }

    /// Sets the quantization of value `v` of the selected subgraph.
    pub fn quantize(&mut self, v: ValueId, quant: QuantParams) {
        if let Some(value) = self.sg().value_mut(v) {
            value.quant = Some(quant);
        }
    }

    /// Adds a node with the given outputs, which must exist already. Returns its index.
    pub fn node(&mut self, op: Op<'a>, inputs: &[Option<ValueId>], outputs: &[ValueId]) -> usize {
        let sg = self.sg();
        sg.nodes
            .push(Node::new(op, inputs.to_vec(), outputs.to_vec()));
        sg.nodes.len() - 1
    }

    /// Adds a node with one output whose type and shape are inferred; returns the output.
    pub fn op(&mut self, op: Op<'a>, inputs: &[ValueId]) -> Result<ValueId, VerifyError> {
        let outs = self.op_n(op, inputs, 1)?;
        Ok(outs[0])
    }

    /// Adds a node with `n` outputs whose types and shapes are inferred; returns the outputs.
    /// Fails when inference rejects the node or cannot tell an output's type or rank (then
    /// add the outputs with [`GraphBuilder::value`] and the node with [`GraphBuilder::node`]).
    pub fn op_n(
        &mut self,
        op: Op<'a>,
        inputs: &[ValueId],
        n: usize,
    ) -> Result<Vec<ValueId>, VerifyError> {
        let s = self.current;
        let node_index = self.graph.subgraphs[s].nodes.len();
        let op_name = String::from(op.name());
        let base = self.graph.subgraphs[s].values.len() as u32;
        let mut node = Node::new(
            op,
            inputs.iter().copied().map(Some).collect(),
            (0..n as u32).map(|i| ValueId(base + i)).collect(),
        );
        let inferred = infer_outputs(&self.graph.subgraphs[s], &node).map_err(|problem| {
            VerifyError::Inconsistent {
                subgraph: s,
                node: node_index,
                op: op_name.clone(),
                problem,
            }
        })?;
        let defaults = infer_default_outputs(&self.graph.subgraphs[s], &node).ok();
        let mut values = Vec::with_capacity(n);
        for (i, t) in inferred.iter().enumerate().take(n) {
            let d = defaults.as_ref().and_then(|d| d.get(i));
            let (Some(dtype), Some(shape)) = (t.dtype, merged_shape(t, d, None)) else {
                return Err(VerifyError::Inconsistent {
                    subgraph: s,
                    node: node_index,
                    op: op_name,
                    problem: format!("the type or rank of output {i} cannot be inferred"),
                });
            };
            let name = if n == 1 {
                format!("{}_{node_index}", op_name.to_ascii_lowercase())
            } else {
                format!("{}_{node_index}:{i}", op_name.to_ascii_lowercase())
            };
            values.push(Value::new(name, dtype, shape));
        }
        let sg = &mut self.graph.subgraphs[s];
        sg.values.extend(values);
        node.outputs.truncate(n);
        let outs = node.outputs.clone();
        sg.nodes.push(node);
        Ok(outs)
    }

    /// Marks `v` as an output of the selected subgraph.
    pub fn output(&mut self, v: ValueId) {
        self.sg().outputs.push(v);
    }

    /// Adds a signature running subgraph `subgraph` with named inputs and outputs.
    pub fn signature(
        &mut self,
        key: impl Into<String>,
        subgraph: usize,
        inputs: &[(&str, ValueId)],
        outputs: &[(&str, ValueId)],
    ) {
        let map = |l: &[(&str, ValueId)]| {
            l.iter()
                .map(|&(name, value)| SignatureTensor {
                    name: name.into(),
                    value,
                })
                .collect()
        };
        self.graph.signatures.push(Signature {
            key: key.into(),
            subgraph,
            inputs: map(inputs),
            outputs: map(outputs),
        });
    }

    /// Adds a metadata entry.
    pub fn metadata(&mut self, name: impl Into<String>, data: impl Into<Cow<'a, [u8]>>) {
        self.graph.metadata.push(Metadata {
            name: name.into(),
            data: data.into(),
        });
    }

    /// Sets the model description.
    pub fn description(&mut self, text: impl Into<String>) {
        self.graph.description = text.into();
    }

    /// The graph, after [`Graph::verify`].
    pub fn finish(self) -> Result<Graph<'a>, VerifyError> {
        self.graph.verify()?;
        Ok(self.graph)
    }

    /// The graph, unchecked (for building broken graphs in tests).
    pub fn finish_unchecked(self) -> Graph<'a> {
        self.graph
    }
}

fn infer_subgraph_shapes(sg: &mut Subgraph<'_>, subgraph: usize) -> Result<(), VerifyError> {
    for n in 0..sg.nodes.len() {
        let inferred =
            infer_outputs(sg, &sg.nodes[n]).map_err(|problem| VerifyError::Inconsistent {
                subgraph,
                node: n,
                op: String::from(sg.nodes[n].op.name()),
                problem,
            })?;
        let defaults = infer_default_outputs(sg, &sg.nodes[n]).ok();
        let outputs = sg.nodes[n].outputs.clone();
        for (k, (v, t)) in outputs.into_iter().zip(inferred).enumerate() {
            let Some(value) = sg.values.get_mut(v.index()) else {
                continue;
            };
            if let Some(dt) = t.dtype {
                value.dtype = dt;
            }
            let d = defaults.as_ref().and_then(|d| d.get(k));
            let Some(mut shape) = merged_shape(&t, d, Some(&value.shape)) else {
                continue;
            };
            shape.has_rank = true;
            value.shape = shape;
        }
    }
    Ok(())
}

impl Graph<'_> {
    /// Re-infers the types and shapes of node outputs, in node order, from the inputs,
    /// constants and attributes (after an input was resized, for example). Default sizes
    /// propagate as well as dynamic dimensions; what inference cannot tell is left as stated.
    pub fn infer_shapes(&mut self) -> Result<(), VerifyError> {
        for (s, sg) in self.subgraphs.iter_mut().enumerate() {
            infer_subgraph_shapes(sg, s)?;
        }
        Ok(())
    }

    /// Sets every node's unset version ([`Node::version`] `None`) to the minimal version it
    /// needs, as export would write it.
    pub fn resolve_versions(&mut self) {
        for sg in &mut self.subgraphs {
            for n in 0..sg.nodes.len() {
                if sg.nodes[n].version.is_none() {
                    let v = crate::tflite::min_version(&sg.nodes[n], sg);
                    sg.nodes[n].version = Some(v);
                }
            }
        }
    }
}
