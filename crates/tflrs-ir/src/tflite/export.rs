//! [`Graph`] to `.tflite` bytes.
//!
//! - Constant buffers are deduplicated by content (the sentinel buffer 0 stays empty, and
//!   values without data or with empty data point at it).
//! - Constant data starts at a 16-byte aligned offset of the file, in the FlatBuffer or after it.
//! - Operator codes are deduplicated by (builtin code, custom code, version). A node's version
//!   is [`Node::version`] when set (import keeps the file's version, so an unchanged model keeps
//!   its versions); otherwise the minimal version the node needs ([`super::min_version`]).
//! - When constant data and custom options together exceed
//!   [`ExportOptions::offset_threshold`], they are written after the FlatBuffer and referred to
//!   by `Buffer.offset`/`size` and `Operator.large_custom_options_offset`/`size`, as TensorFlow's
//!   converter does for models over 2 GB: the FlatBuffer format cannot address more than 2 GiB.

use super::raw::{self, Union};
use super::typed::write_typed;
use super::version::min_version;
use crate::error::ExportError;
use crate::graph::*;
use crate::ops::Op;
use crate::quant::*;
use crate::refs::RefSite;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use flatbuffers::{FlatBufferBuilder, Push, UnionWIPOffset, Vector, WIPOffset};
use tflrs_schema::generated as fb;

/// Alignment of constant data in the file.
pub const DATA_ALIGNMENT: usize = 16;

/// The default [`ExportOptions::offset_threshold`]: a little under 2 GB, leaving room for the
/// model's structure within the FlatBuffer's 2 GiB limit.
pub const DEFAULT_OFFSET_THRESHOLD: u64 = 2_000_000_000;

/// Largest FlatBuffer the builder can make.
const FLATBUFFER_MAX: u64 = (1 << 31) - 1;

/// How [`export_with`] writes a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// Constant data plus custom options larger than this many bytes are written after the
    /// FlatBuffer with offsets instead of inside it.
    pub offset_threshold: u64,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            offset_threshold: DEFAULT_OFFSET_THRESHOLD,
        }
    }
}

/// Writes `graph` as `.tflite` bytes with the default [`ExportOptions`].
pub fn export(graph: &Graph<'_>) -> Result<Vec<u8>, ExportError> {
    export_with(graph, &ExportOptions::default())
}

/// Writes `graph` as `.tflite` bytes.
pub fn export_with(graph: &Graph<'_>, options: &ExportOptions) -> Result<Vec<u8>, ExportError> {
    check_references(graph)?;
    let plan = Plan::new(graph)?;
    let payload = plan.payload_bytes();
    let structure = plan.structure_estimate(graph);
    if structure > FLATBUFFER_MAX - FLATBUFFER_MAX / 8 {
        return Err(ExportError::TooLarge { bytes: structure });
    }
    let inline = payload <= options.offset_threshold
        && payload + structure < FLATBUFFER_MAX - FLATBUFFER_MAX / 8;
    if inline {
        return build(graph, &plan, None);
    }
    // Offsets depend on the FlatBuffer's length, which placeholder offsets of the same size
    // give: every offset field is a non-default u64, so the second build has the same layout.
    let placeholder = Offsets {
        buffers: vec![u64::MAX; plan.buffers.len()],
        custom: vec![u64::MAX; plan.custom.len()],
    };
    let first = build(graph, &plan, Some(&placeholder))?;
    let mut cursor = first.len() as u64;
    let mut place = |len: usize| {
        let at = cursor.next_multiple_of(DATA_ALIGNMENT as u64);
        cursor = at + len as u64;
        at
    };
    let offsets = Offsets {
        buffers: plan
            .buffers
            .iter()
            .map(|b| if b.is_empty() { 0 } else { place(b.len()) })
            .collect(),
        custom: plan.custom.iter().map(|c| place(c.len())).collect(),
    };
    let mut out = build(graph, &plan, Some(&offsets))?;
    if out.len() != first.len() {
        return Err(ExportError::Internal(
            "FlatBuffer length changed between placeholder and final offsets",
        ));
    }
    out.reserve(
        usize::try_from(cursor)
            .unwrap_or(0)
            .saturating_sub(out.len()),
    );
    let tails = plan
        .buffers
        .iter()
        .zip(&offsets.buffers)
        .chain(plan.custom.iter().zip(&offsets.custom));
    for (data, &at) in tails {
        if data.is_empty() {
            continue;
        }
        out.resize(at as usize, 0);
        out.extend_from_slice(data);
    }
    Ok(out)
}

/// Custom options that go after the FlatBuffer in offset mode (non-empty ones).
fn large_custom_candidate<'g>(op: &'g Op<'_>) -> Option<&'g [u8]> {
    match op {
        Op::Opaque(o) => o.custom_options.as_deref().filter(|c| !c.is_empty()),
        _ => None,
    }
}

/// Offsets of data written after the FlatBuffer.
struct Offsets {
    /// Per unique buffer (0 for empty ones).
    buffers: Vec<u64>,
    /// Per entry of [`Plan::custom`].
    custom: Vec<u64>,
}

/// What export decides before writing: unique buffers, operator codes, custom options.
struct Plan<'g> {
    /// Unique buffers; index 0 is the empty sentinel.
    buffers: Vec<&'g [u8]>,
    /// Buffer index of each value, per subgraph.
    value_buffer: Vec<Vec<u32>>,
    /// Buffer index of each metadata entry.
    metadata_buffer: Vec<u32>,
    /// Buffer index of each deprecated metadata buffer.
    metadata_buffers: Vec<u32>,
    /// Unique operator codes: (builtin, custom code, version).
    codes: Vec<(i32, Option<&'g str>, i32)>,
    /// Operator code index of each node, per subgraph.
    node_code: Vec<Vec<u32>>,
    /// Non-empty custom options, in node order.
    custom: Vec<&'g [u8]>,
}

fn content_hash(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ data.len() as u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

struct BufferDedup<'g> {
    buffers: Vec<&'g [u8]>,
    index: BTreeMap<u64, Vec<u32>>,
}

impl<'g> BufferDedup<'g> {
    fn add(&mut self, data: &'g [u8]) -> Result<u32, ExportError> {
        if data.is_empty() {
            return Ok(0);
        }
        let slot = self.index.entry(content_hash(data)).or_default();
        if let Some(&i) = slot.iter().find(|&&i| self.buffers[i as usize] == data) {
            return Ok(i);
        }
        let i = u32::try_from(self.buffers.len()).map_err(|_| ExportError::TooMany {
            what: "buffers",
            count: self.buffers.len(),
        })?;
        self.buffers.push(data);
        slot.push(i);
        Ok(i)
    }
}

impl<'g> Plan<'g> {
    fn new(graph: &'g Graph<'_>) -> Result<Self, ExportError> {
        let mut dedup = BufferDedup {
            buffers: vec![&[][..]],
            index: BTreeMap::new(),
        };
        let mut value_buffer = Vec::new();
        for sg in &graph.subgraphs {
            let mut v = Vec::with_capacity(sg.values.len());
            for value in &sg.values {
                v.push(match &value.data {
                    Some(d) => dedup.add(d)?,
                    None => 0,
                });
            }
            value_buffer.push(v);
        }
        let metadata_buffer = graph
            .metadata
            .iter()
            .map(|m| dedup.add(&m.data))
            .collect::<Result<_, _>>()?;
        let metadata_buffers = graph
            .metadata_buffers
            .iter()
            .map(|d| dedup.add(d))
            .collect::<Result<_, _>>()?;
        let mut codes = Vec::new();
        let mut code_index = BTreeMap::new();
        let mut node_code = Vec::new();
        let mut custom = Vec::new();
        for sg in &graph.subgraphs {
            let mut nc = Vec::with_capacity(sg.nodes.len());
            for node in &sg.nodes {
                let (builtin, custom_code) = match &node.op {
                    Op::Opaque(o) => (o.builtin_code, o.custom_code.as_deref()),
                    op => (op.builtin_code(), None),
                };
                let version = node.version.unwrap_or_else(|| min_version(node, sg));
                let key = (builtin, custom_code, version);
                let i = *code_index.entry(key).or_insert_with(|| {
                    codes.push(key);
                    codes.len() as u32 - 1
                });
                nc.push(i);
                if let Some(c) = large_custom_candidate(&node.op) {
                    custom.push(c);
                }
            }
            node_code.push(nc);
        }
        Ok(Self {
            buffers: dedup.buffers,
            value_buffer,
            metadata_buffer,
            metadata_buffers,
            codes,
            node_code,
            custom,
        })
    }

    /// Bytes of unique constant data and custom options.
    fn payload_bytes(&self) -> u64 {
        let pad = DATA_ALIGNMENT as u64 + 4;
        self.buffers
            .iter()
            .map(|b| b.len() as u64 + pad)
            .sum::<u64>()
            + self
                .custom
                .iter()
                .map(|c| c.len() as u64 + pad)
                .sum::<u64>()
    }

    /// A generous estimate of the FlatBuffer's size without constant data and custom options.
    fn structure_estimate(&self, graph: &Graph<'_>) -> u64 {
        let mut n: u64 = 1024 + 64 * self.codes.len() as u64 + 32 * self.buffers.len() as u64;
        for sg in &graph.subgraphs {
            n += 64 + sg.name.len() as u64 + 4 * (sg.inputs.len() + sg.outputs.len()) as u64;
            for v in &sg.values {
                n += 160 + v.name.len() as u64 + 8 * v.shape.dims.len() as u64;
                if let Some(q) = &v.quant {
                    n += 64 + 12 * q.scales().len() as u64 + 4 * (q.min.len() + q.max.len()) as u64;
                    if let QuantDetails::Custom(c) = &q.details {
                        n += c.len() as u64 + 32;
                    }
                }
                if let Some(sp) = &v.sparsity {
                    n += 64 + 4 * (sp.traversal_order.len() + sp.block_map.len()) as u64;
                    for d in &sp.dim_metadata {
                        let len = |v: &Option<IndexVector>| v.as_ref().map_or(0, |v| v.len());
                        n += 64 + 4 * (len(&d.array_segments) + len(&d.array_indices)) as u64;
                    }
                }
            }
            for node in &sg.nodes {
                n += 96
                    + 4 * (node.inputs.len() + node.outputs.len() + node.intermediates.len())
                        as u64;
                n += node.mutating_variable_inputs.len() as u64;
                if let Op::Opaque(o) = &node.op {
                    for r in o.options.iter().chain(o.options_2.iter()) {
                        n += 32;
                        for f in &r.fields {
                            n += 16
                                + match &f.value {
                                    crate::ops::RawValue::Scalar { .. } => 8,
                                    crate::ops::RawValue::String(s) => s.len() as u64,
                                    crate::ops::RawValue::Vector { data, .. } => data.len() as u64,
                                };
                        }
                    }
                } else {
                    n += 128;
                }
            }
        }
        for sig in &graph.signatures {
            n += 64 + sig.key.len() as u64;
            for t in sig.inputs.iter().chain(&sig.outputs) {
                n += 32 + t.name.len() as u64;
            }
        }
        for m in &graph.metadata {
            n += 32 + m.name.len() as u64;
        }
        n + graph.description.len() as u64
    }
}

fn check_references(graph: &Graph<'_>) -> Result<(), ExportError> {
    for sg in &graph.subgraphs {
        let len = sg.values.len();
        if u32::try_from(len).is_err() || len > i32::MAX as usize {
            return Err(ExportError::TooMany {
                what: "values of a subgraph",
                count: len,
            });
        }
    }
    for sig in &graph.signatures {
        if sig.subgraph >= graph.subgraphs.len() {
            return Err(ExportError::DanglingSubgraph {
                key: sig.key.clone(),
                subgraph: sig.subgraph,
                len: graph.subgraphs.len(),
            });
        }
    }
    for (s, site, v) in graph.value_refs() {
        let len = graph.subgraphs[s].values.len();
        if v.index() < len {
            continue;
        }
        let what = match site {
            RefSite::SubgraphInput(_) => "a subgraph input".to_string(),
            RefSite::SubgraphOutput(_) => "a subgraph output".to_string(),
            RefSite::NodeInput { node, .. } => format!("node {node}'s input"),
            RefSite::NodeOutput { node, .. } => format!("node {node}'s output"),
            RefSite::Intermediate { node, .. } => format!("node {node}'s intermediate"),
            RefSite::SignatureInput { signature, index } => {
                let sig = &graph.signatures[signature];
                format!(
                    "signature {:?} tensor {:?}",
                    sig.key, sig.inputs[index].name
                )
            }
            RefSite::SignatureOutput { signature, index } => {
                let sig = &graph.signatures[signature];
                format!(
                    "signature {:?} tensor {:?}",
                    sig.key, sig.outputs[index].name
                )
            }
        };
        return Err(ExportError::DanglingValue {
            subgraph: s,
            what,
            value: v.0,
            len,
        });
    }
    Ok(())
}

/// Creates a vector whose first element lies at a multiple of `align` from the end of the
/// buffer, so that it is aligned in the finished file (see [`finish_aligned`]).
fn create_aligned_vector<'f, T: Push + Copy>(
    fbb: &mut FlatBufferBuilder<'f>,
    items: &[T],
    align: usize,
) -> WIPOffset<Vector<'f, T::Output>> {
    let bytes = items.len() * T::size();
    let used = fbb.unfinished_data().len();
    let pad = (align - (used + bytes) % align) % align;
    for _ in 0..pad {
        fbb.push(0u8);
    }
    fbb.create_vector(items)
}

/// Finishes the buffer so that its length is a multiple of [`DATA_ALIGNMENT`]: offsets from the
/// end that are multiples of it are then multiples of it from the start too.
fn finish_aligned<T>(fbb: &mut FlatBufferBuilder<'_>, root: WIPOffset<T>) -> Vec<u8> {
    // `finish` adds the identifier and the root offset (8 bytes), after padding to the
    // builder's largest alignment (at most 8, which divides 16).
    let used = fbb.unfinished_data().len();
    let pad = (DATA_ALIGNMENT - (used + 8) % DATA_ALIGNMENT) % DATA_ALIGNMENT;
    for _ in 0..pad {
        fbb.push(0u8);
    }
    fbb.finish(root, Some("TFL3"));
    fbb.finished_data().to_vec()
}

fn build(
    graph: &Graph<'_>,
    plan: &Plan<'_>,
    offsets: Option<&Offsets>,
) -> Result<Vec<u8>, ExportError> {
    let capacity = match offsets {
        Some(_) => 1 << 16,
        None => (plan.payload_bytes() as usize).saturating_add(1 << 16),
    };
    let mut fbb = FlatBufferBuilder::with_capacity(capacity.min(FLATBUFFER_MAX as usize));

    // Buffers first: in the finished file they come last, after the structure.
    let mut buffers = Vec::with_capacity(plan.buffers.len());
    for (i, data) in plan.buffers.iter().enumerate() {
        let args = if data.is_empty() {
            fb::BufferArgs::default()
        } else if let Some(o) = offsets {
            fb::BufferArgs {
                data: None,
                offset: o.buffers[i],
                size: data.len() as u64,
            }
        } else {
            fb::BufferArgs {
                data: Some(create_aligned_vector(&mut fbb, data, DATA_ALIGNMENT)),
                offset: 0,
                size: 0,
            }
        };
        buffers.push(fb::Buffer::create(&mut fbb, &args));
    }
    let buffers = fbb.create_vector(&buffers);

    let mut custom_index = 0usize;
    let mut subgraphs = Vec::with_capacity(graph.subgraphs.len());
    for (s, sg) in graph.subgraphs.iter().enumerate() {
        let mut tensors = Vec::with_capacity(sg.values.len());
        for (v, value) in sg.values.iter().enumerate() {
            tensors.push(write_value(&mut fbb, value, plan.value_buffer[s][v]));
        }
        let tensors = fbb.create_vector(&tensors);
        let mut operators = Vec::with_capacity(sg.nodes.len());
        for (n, node) in sg.nodes.iter().enumerate() {
            let large = match large_custom_candidate(&node.op) {
                Some(c) => {
                    custom_index += 1;
                    offsets.map(|o| (o.custom[custom_index - 1], c.len() as u64))
                }
                None => None,
            };
            operators.push(
                write_node(&mut fbb, node, plan.node_code[s][n], large).map_err(|problem| {
                    ExportError::BadRawOptions {
                        subgraph: s,
                        node: n,
                        problem,
                    }
                })?,
            );
        }
        let operators = fbb.create_vector(&operators);
        let inputs = fbb.create_vector_from_iter(sg.inputs.iter().map(|v| v.0 as i32));
        let outputs = fbb.create_vector_from_iter(sg.outputs.iter().map(|v| v.0 as i32));
        let name = fbb.create_string(&sg.name);
        subgraphs.push(fb::SubGraph::create(
            &mut fbb,
            &fb::SubGraphArgs {
                tensors: Some(tensors),
                inputs: Some(inputs),
                outputs: Some(outputs),
                operators: Some(operators),
                name: Some(name),
                debug_metadata_index: sg.debug_metadata_index,
            },
        ));
    }
    let subgraphs = fbb.create_vector(&subgraphs);

    let mut codes = Vec::with_capacity(plan.codes.len());
    for &(builtin, custom, version) in &plan.codes {
        let custom_code = custom.map(|c| fbb.create_string(c));
        // Readers take the larger of the two fields; 127 marks "see builtin_code".
        let deprecated = if (0..127).contains(&builtin) {
            builtin as i8
        } else {
            127
        };
        codes.push(fb::OperatorCode::create(
            &mut fbb,
            &fb::OperatorCodeArgs {
                deprecated_builtin_code: deprecated,
                custom_code,
                version,
                builtin_code: fb::BuiltinOperator(builtin),
            },
        ));
    }
    let codes = fbb.create_vector(&codes);

    let mut signatures = Vec::with_capacity(graph.signatures.len());
    for sig in &graph.signatures {
        let mut maps = |list: &[SignatureTensor]| {
            let v: Vec<_> = list
                .iter()
                .map(|t| {
                    let name = fbb.create_string(&t.name);
                    fb::TensorMap::create(
                        &mut fbb,
                        &fb::TensorMapArgs {
                            name: Some(name),
                            tensor_index: t.value.0,
                        },
                    )
                })
                .collect();
            fbb.create_vector(&v)
        };
        let inputs = maps(&sig.inputs);
        let outputs = maps(&sig.outputs);
        let key = fbb.create_string(&sig.key);
        signatures.push(fb::SignatureDef::create(
            &mut fbb,
            &fb::SignatureDefArgs {
                inputs: Some(inputs),
                outputs: Some(outputs),
                signature_key: Some(key),
                subgraph_index: sig.subgraph as u32,
            },
        ));
    }
    let signatures = (!graph.signatures.is_empty()).then(|| fbb.create_vector(&signatures));

    let mut metadata = Vec::with_capacity(graph.metadata.len());
    for (m, &buffer) in graph.metadata.iter().zip(&plan.metadata_buffer) {
        let name = fbb.create_string(&m.name);
        metadata.push(fb::Metadata::create(
            &mut fbb,
            &fb::MetadataArgs {
                name: Some(name),
                buffer,
            },
        ));
    }
    let metadata = (!graph.metadata.is_empty()).then(|| fbb.create_vector(&metadata));
    let metadata_buffer = (!plan.metadata_buffers.is_empty())
        .then(|| fbb.create_vector_from_iter(plan.metadata_buffers.iter().map(|&b| b as i32)));

    let groups = (!graph.external_buffer_groups.is_empty()).then(|| {
        let v: Vec<_> = graph
            .external_buffer_groups
            .iter()
            .map(|g| {
                let name = fbb.create_string(g);
                fb::ExternalBufferGroup::create(
                    &mut fbb,
                    &fb::ExternalBufferGroupArgs { name: Some(name) },
                )
            })
            .collect();
        fbb.create_vector(&v)
    });
    let external = (!graph.external_buffers.is_empty()).then(|| {
        let v: Vec<_> = graph
            .external_buffers
            .iter()
            .map(|b| {
                let packing = fbb.create_string(&b.packing);
                fb::ExternalBuffer::create(
                    &mut fbb,
                    &fb::ExternalBufferArgs {
                        id: b.id,
                        group: b.group,
                        offset: b.offset,
                        length: b.length,
                        packing: Some(packing),
                    },
                )
            })
            .collect();
        fbb.create_vector(&v)
    });

    let description = fbb.create_string(&graph.description);
    let model = fb::Model::create(
        &mut fbb,
        &fb::ModelArgs {
            version: tflrs_schema::SCHEMA_VERSION,
            operator_codes: Some(codes),
            subgraphs: Some(subgraphs),
            description: Some(description),
            buffers: Some(buffers),
            metadata_buffer,
            metadata,
            signature_defs: signatures,
            external_buffer_groups: groups,
            external_buffers: external,
        },
    );
    Ok(finish_aligned(&mut fbb, model))
}

fn write_value<'f>(
    fbb: &mut FlatBufferBuilder<'f>,
    value: &Value<'_>,
    buffer: u32,
) -> WIPOffset<fb::Tensor<'f>> {
    let shape = fbb.create_vector(&value.shape.dims);
    let signature = value.shape.signature.as_ref().map(|s| fbb.create_vector(s));
    let name = fbb.create_string(&value.name);
    let quantization = value.quant.as_ref().map(|q| write_quant(fbb, q));
    let sparsity = value.sparsity.as_ref().map(|s| write_sparsity(fbb, s));
    let variant_tensors = (!value.variant_subtypes.is_empty()).then(|| {
        let v: Vec<_> = value
            .variant_subtypes
            .iter()
            .map(|t| {
                let shape = t.shape.as_ref().map(|s| fbb.create_vector(s));
                fb::VariantSubType::create(
                    fbb,
                    &fb::VariantSubTypeArgs {
                        shape,
                        type_: fb::TensorType(t.dtype.tflite_code()),
                        has_rank: t.has_rank,
                    },
                )
            })
            .collect();
        fbb.create_vector(&v)
    });
    fb::Tensor::create(
        fbb,
        &fb::TensorArgs {
            shape: Some(shape),
            type_: fb::TensorType(value.dtype.tflite_code()),
            buffer,
            name: Some(name),
            quantization,
            is_variable: value.is_variable,
            sparsity,
            shape_signature: signature,
            has_rank: value.shape.has_rank,
            variant_tensors,
            external_buffer: value.external_buffer,
        },
    )
}

fn write_quant<'f>(
    fbb: &mut FlatBufferBuilder<'f>,
    q: &QuantParams,
) -> WIPOffset<fb::QuantizationParameters<'f>> {
    let min = (!q.min.is_empty()).then(|| fbb.create_vector(&q.min));
    let max = (!q.max.is_empty()).then(|| fbb.create_vector(&q.max));
    let scale = q.scheme.as_ref().map(|_| fbb.create_vector(q.scales()));
    let zero_point = q
        .scheme
        .as_ref()
        .map(|_| fbb.create_vector(q.zero_points()));
    let (details_type, details) = match &q.details {
        QuantDetails::None => (fb::QuantizationDetails::NONE, None),
        QuantDetails::Custom(bytes) => {
            let custom = create_aligned_vector(fbb, bytes, DATA_ALIGNMENT);
            let t = fb::CustomQuantization::create(
                fbb,
                &fb::CustomQuantizationArgs {
                    custom: Some(custom),
                },
            );
            (
                fb::QuantizationDetails::CustomQuantization,
                Some(t.as_union_value()),
            )
        }
        QuantDetails::Blockwise {
            scales,
            zero_points,
            block_size,
        } => {
            let t = fb::BlockwiseQuantization::create(
                fbb,
                &fb::BlockwiseQuantizationArgs {
                    scales: *scales,
                    zero_points: *zero_points,
                    block_size: *block_size,
                },
            );
            (
                fb::QuantizationDetails::BlockwiseQuantization,
                Some(t.as_union_value()),
            )
        }
        QuantDetails::MultiAxis {
            scales,
            zero_points,
            block_size,
            quantized_dimensions,
        } => {
            let dims = quantized_dimensions.as_ref().map(|d| fbb.create_vector(d));
            let t = fb::MultiAxisQuantization::create(
                fbb,
                &fb::MultiAxisQuantizationArgs {
                    scales: *scales,
                    zero_points: *zero_points,
                    block_size: *block_size,
                    quantized_dimensions: dims,
                },
            );
            (
                fb::QuantizationDetails::MultiAxisQuantization,
                Some(t.as_union_value()),
            )
        }
    };
    fb::QuantizationParameters::create(
        fbb,
        &fb::QuantizationParametersArgs {
            min,
            max,
            scale,
            zero_point,
            details_type,
            details,
            quantized_dimension: q.axis(),
        },
    )
}

fn write_index_vector(
    fbb: &mut FlatBufferBuilder<'_>,
    v: &Option<IndexVector>,
) -> (fb::SparseIndexVector, Option<WIPOffset<UnionWIPOffset>>) {
    match v {
        None => (fb::SparseIndexVector::NONE, None),
        Some(IndexVector::I32(v)) => {
            let values = fbb.create_vector(v);
            let t = fb::Int32Vector::create(
                fbb,
                &fb::Int32VectorArgs {
                    values: Some(values),
                },
            );
            (fb::SparseIndexVector::Int32Vector, Some(t.as_union_value()))
        }
        Some(IndexVector::U16(v)) => {
            let values = create_aligned_vector(fbb, v, 4);
            let t = fb::Uint16Vector::create(
                fbb,
                &fb::Uint16VectorArgs {
                    values: Some(values),
                },
            );
            (
                fb::SparseIndexVector::Uint16Vector,
                Some(t.as_union_value()),
            )
        }
        Some(IndexVector::U8(v)) => {
            let values = create_aligned_vector(fbb, v, 4);
            let t = fb::Uint8Vector::create(
                fbb,
                &fb::Uint8VectorArgs {
                    values: Some(values),
                },
            );
            (fb::SparseIndexVector::Uint8Vector, Some(t.as_union_value()))
        }
    }
}

fn write_sparsity<'f>(
    fbb: &mut FlatBufferBuilder<'f>,
    sp: &Sparsity,
) -> WIPOffset<fb::SparsityParameters<'f>> {
    let traversal_order = fbb.create_vector(&sp.traversal_order);
    let block_map = fbb.create_vector(&sp.block_map);
    let mut dims = Vec::with_capacity(sp.dim_metadata.len());
    for d in &sp.dim_metadata {
        let (array_segments_type, array_segments) = write_index_vector(fbb, &d.array_segments);
        let (array_indices_type, array_indices) = write_index_vector(fbb, &d.array_indices);
        dims.push(fb::DimensionMetadata::create(
            fbb,
            &fb::DimensionMetadataArgs {
                format: match d.format {
                    DimFormat::Dense => fb::DimensionType::DENSE,
                    DimFormat::SparseCsr => fb::DimensionType::SPARSE_CSR,
                },
                dense_size: d.dense_size,
                array_segments_type,
                array_segments,
                array_indices_type,
                array_indices,
            },
        ));
    }
    let dim_metadata = fbb.create_vector(&dims);
    fb::SparsityParameters::create(
        fbb,
        &fb::SparsityParametersArgs {
            traversal_order: Some(traversal_order),
            block_map: Some(block_map),
            dim_metadata: Some(dim_metadata),
        },
    )
}

type Vec32<'f> = WIPOffset<Vector<'f, i32>>;

fn write_node<'f>(
    fbb: &mut FlatBufferBuilder<'f>,
    node: &Node<'_>,
    opcode_index: u32,
    large_custom: Option<(u64, u64)>,
) -> Result<WIPOffset<fb::Operator<'f>>, alloc::string::String> {
    let inputs: Vec32<'f> =
        fbb.create_vector_from_iter(node.inputs.iter().map(|i| i.map_or(-1, |v| v.0 as i32)));
    let outputs: Vec32<'f> = fbb.create_vector_from_iter(node.outputs.iter().map(|v| v.0 as i32));
    let intermediates = (!node.intermediates.is_empty())
        .then(|| fbb.create_vector_from_iter(node.intermediates.iter().map(|v| v.0 as i32)));
    let mutating = (!node.mutating_variable_inputs.is_empty())
        .then(|| fbb.create_vector(&node.mutating_variable_inputs));
    let mut args = fb::OperatorArgs {
        opcode_index,
        inputs: Some(inputs),
        outputs: Some(outputs),
        intermediates,
        mutating_variable_inputs: mutating,
        debug_metadata_index: node.debug_metadata_index,
        ..Default::default()
    };
    match &node.op {
        Op::Opaque(o) => {
            if let Some(r) = &o.options {
                args.builtin_options_type = fb::BuiltinOptions(r.union_type);
                args.builtin_options = Some(
                    raw::write(fbb, Union::Builtin, r)
                        .map_err(|e| format!("builtin_options: {e:?}"))?,
                );
            }
            if let Some(r) = &o.options_2 {
                args.builtin_options_2_type = fb::BuiltinOptions2(r.union_type);
                args.builtin_options_2 = Some(
                    raw::write(fbb, Union::Builtin2, r)
                        .map_err(|e| format!("builtin_options_2: {e:?}"))?,
                );
            }
            if let Some(c) = &o.custom_options {
                match large_custom {
                    Some((offset, size)) => {
                        args.large_custom_options_offset = offset;
                        args.large_custom_options_size = size;
                    }
                    None => args.custom_options = Some(fbb.create_vector(&c[..])),
                }
            }
            args.custom_options_format = fb::CustomOptionsFormat(o.custom_options_format);
        }
        op => {
            if let Some((t, o)) = write_typed(op, fbb) {
                args.builtin_options_type = t;
                args.builtin_options = o;
            }
        }
    }
    Ok(fb::Operator::create(fbb, &args))
}
