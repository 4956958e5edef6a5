//! The graph: subgraphs of values and nodes, with signatures and metadata.

use crate::dtype::DType;
use crate::ops::Op;
use crate::quant::{QuantParams, Sparsity};
use crate::shape::Shape;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Constant bytes: borrowed from the model's bytes when imported, owned once a pass makes new
/// ones.
pub type Data<'a> = Cow<'a, [u8]>;

/// A value (TFLite tensor) of a subgraph, by its index in [`Subgraph::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The index into [`Subgraph::values`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// A whole model: its subgraphs (index 0 is the main one) and what the file holds besides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph<'a> {
    /// The subgraphs; 0 is the main subgraph, the others are called by control flow.
    pub subgraphs: Vec<Subgraph<'a>>,
    /// Named entry points (`SignatureDef`).
    pub signatures: Vec<Signature>,
    /// Named metadata entries (`Model.metadata`).
    pub metadata: Vec<Metadata<'a>>,
    /// The deprecated `Model.metadata_buffer` list, as the buffers' bytes.
    pub metadata_buffers: Vec<Data<'a>>,
    /// The model description (the converter writes "MLIR Converted.").
    pub description: String,
    /// Names of the groups of external buffers (`Model.external_buffer_groups`).
    pub external_buffer_groups: Vec<String>,
    /// External buffers (`Model.external_buffers`), kept as stored.
    pub external_buffers: Vec<ExternalBuffer>,
}

/// A subgraph: values and the nodes that compute them, in execution order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subgraph<'a> {
    /// The subgraph's name.
    pub name: String,
    /// Its values (TFLite tensors), indexed by [`ValueId`].
    pub values: Vec<Value<'a>>,
    /// Its nodes, in topological (execution) order.
    pub nodes: Vec<Node<'a>>,
    /// Values fed by the caller.
    pub inputs: Vec<ValueId>,
    /// Values returned to the caller.
    pub outputs: Vec<ValueId>,
    /// Index into the model's debug metadata, or -1.
    pub debug_metadata_index: i32,
}

impl<'a> Subgraph<'a> {
    /// The value `id`, if it exists.
    pub fn value(&self, id: ValueId) -> Option<&Value<'a>> {
        self.values.get(id.index())
    }

    /// The value `id` for changing, if it exists.
    pub fn value_mut(&mut self, id: ValueId) -> Option<&mut Value<'a>> {
        self.values.get_mut(id.index())
    }

    /// Ids of every value.
    pub fn value_ids(&self) -> impl Iterator<Item = ValueId> + '_ {
        (0..self.values.len() as u32).map(ValueId)
    }

    /// For each value, the index of the node that produces it (the first one, if several do).
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut p = alloc::vec![None; self.values.len()];
        for (n, node) in self.nodes.iter().enumerate() {
            for &o in &node.outputs {
                if let Some(slot) = p.get_mut(o.index())
                    && slot.is_none()
                {
                    *slot = Some(n);
                }
            }
        }
        p
    }

    /// Values that are variables: TFLite's `is_variable` tensors (state kept across invokes).
    pub fn variables(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.value_ids()
            .filter(|&v| self.values[v.index()].is_variable)
    }

    /// The same subgraph, with borrowed data copied.
    pub fn into_owned(self) -> Subgraph<'static> {
        Subgraph {
            name: self.name,
            values: self.values.into_iter().map(Value::into_owned).collect(),
            nodes: self.nodes.into_iter().map(Node::into_owned).collect(),
            inputs: self.inputs,
            outputs: self.outputs,
            debug_metadata_index: self.debug_metadata_index,
        }
    }
}

/// A value: a TFLite tensor with its type, shape, quantization and, for constants, its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Value<'a> {
    /// The tensor's name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape, with dynamic dimensions.
    pub shape: Shape,
    /// Quantization, if any.
    pub quant: Option<QuantParams>,
    /// Constant data (dense, or in the sparse encoding when `sparsity` is set); `None` for
    /// computed values, inputs and variables without an initial value, and for constants
    /// without elements (TFLite files hold no bytes for them, so export writes empty data as
    /// no data).
    pub data: Option<Data<'a>>,
    /// Whether this is a variable (state kept across invokes, such as LSTM state).
    pub is_variable: bool,
    /// Sparse encoding of `data`.
    pub sparsity: Option<Sparsity>,
    /// Types of the tensors a variant value holds (`Tensor.variant_tensors`).
    pub variant_subtypes: Vec<VariantSubType>,
    /// Index of an external buffer holding the data (0: none).
    pub external_buffer: u32,
}

impl<'a> Value<'a> {
    /// A value with no data, quantization or flags.
    pub fn new(name: impl Into<String>, dtype: DType, shape: impl Into<Shape>) -> Self {
        Self {
            name: name.into(),
            dtype,
            shape: shape.into(),
            quant: None,
            data: None,
            is_variable: false,
            sparsity: None,
            variant_subtypes: Vec::new(),
            external_buffer: 0,
        }
    }

    /// Whether the value is a constant (has data).
    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }

    /// The same value, with its data copied.
    pub fn into_owned(self) -> Value<'static> {
        Value {
            name: self.name,
            dtype: self.dtype,
            shape: self.shape,
            quant: self.quant,
            data: self.data.map(|d| Cow::Owned(d.into_owned())),
            is_variable: self.is_variable,
            sparsity: self.sparsity,
            variant_subtypes: self.variant_subtypes,
            external_buffer: self.external_buffer,
        }
    }
}

/// The type of one tensor held by a variant value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantSubType {
    /// Its shape, if known.
    pub shape: Option<Vec<i32>>,
    /// Its element type.
    pub dtype: DType,
    /// Whether its rank is known.
    pub has_rank: bool,
}

/// A node: an operator applied to values.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    /// The operator and its attributes.
    pub op: Op<'a>,
    /// Inputs; `None` marks an omitted optional input (`-1` in TFLite).
    pub inputs: Vec<Option<ValueId>>,
    /// Outputs.
    pub outputs: Vec<ValueId>,
    /// Intermediate values (quantization statistics of LSTMs).
    pub intermediates: Vec<ValueId>,
    /// The operator version to write. `Some` keeps the version the file had; `None` lets export
    /// choose the minimal version this node needs. A pass that changes a node so that its
    /// version may no longer fit sets this to `None`.
    pub version: Option<i32>,
    /// TFLite's `mutating_variable_inputs` (deprecated, kept as stored).
    pub mutating_variable_inputs: Vec<bool>,
    /// Index into the model's debug metadata, or -1.
    pub debug_metadata_index: i32,
}

impl<'a> Node<'a> {
    /// A node with the given operator, inputs and outputs.
    pub fn new(op: Op<'a>, inputs: Vec<Option<ValueId>>, outputs: Vec<ValueId>) -> Self {
        Self {
            op,
            inputs,
            outputs,
            intermediates: Vec::new(),
            version: None,
            mutating_variable_inputs: Vec::new(),
            debug_metadata_index: -1,
        }
    }

    /// Input `i`, if present and not omitted.
    pub fn input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }

    /// The same node, with borrowed data copied.
    pub fn into_owned(self) -> Node<'static> {
        Node {
            op: self.op.into_owned(),
            inputs: self.inputs,
            outputs: self.outputs,
            intermediates: self.intermediates,
            version: self.version,
            mutating_variable_inputs: self.mutating_variable_inputs,
            debug_metadata_index: self.debug_metadata_index,
        }
    }
}

/// A named entry point (TFLite `SignatureDef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The signature's key (`"serving_default"`).
    pub key: String,
    /// The subgraph it runs.
    pub subgraph: usize,
    /// Named inputs.
    pub inputs: Vec<SignatureTensor>,
    /// Named outputs.
    pub outputs: Vec<SignatureTensor>,
}

/// A named input or output of a [`Signature`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTensor {
    /// The name callers use.
    pub name: String,
    /// The value in the signature's subgraph.
    pub value: ValueId,
}

/// A named metadata entry (`Model.metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata<'a> {
    /// Its name (`"min_runtime_version"`, `"CONVERSION_METADATA"`, ...).
    pub name: String,
    /// Its bytes.
    pub data: Data<'a>,
}

/// An external buffer (`Model.external_buffers`), kept as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalBuffer {
    /// Its id.
    pub id: u32,
    /// Its group (index into [`Graph::external_buffer_groups`]).
    pub group: u32,
    /// Byte offset in the group's file.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// Packing description.
    pub packing: String,
}

impl<'a> Graph<'a> {
    /// The main subgraph (index 0), if there is one.
    pub fn main(&self) -> Option<&Subgraph<'a>> {
        self.subgraphs.first()
    }

    /// The same graph, with every borrowed byte copied, so that it outlives the model's bytes.
    pub fn into_owned(self) -> Graph<'static> {
        Graph {
            subgraphs: self
                .subgraphs
                .into_iter()
                .map(Subgraph::into_owned)
                .collect(),
            signatures: self.signatures,
            metadata: self
                .metadata
                .into_iter()
                .map(|m| Metadata {
                    name: m.name,
                    data: Cow::Owned(m.data.into_owned()),
                })
                .collect(),
            metadata_buffers: self
                .metadata_buffers
                .into_iter()
                .map(|d| Cow::Owned(d.into_owned()))
                .collect(),
            description: self.description,
            external_buffer_groups: self.external_buffer_groups,
            external_buffers: self.external_buffers,
        }
    }

    /// Total bytes of constant data in every subgraph (each value counted once, before
    /// deduplication).
    pub fn constant_bytes(&self) -> u64 {
        self.subgraphs
            .iter()
            .flat_map(|s| s.values.iter())
            .filter_map(|v| v.data.as_ref())
            .map(|d| d.len() as u64)
            .sum()
    }
}
