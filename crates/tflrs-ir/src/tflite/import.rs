//! `.tflite` (verified schema view) to [`Graph`].

use super::raw::{self, Union};
use super::typed::read_typed;
use crate::dtype::DType;
use crate::error::ImportError;
use crate::graph::*;
use crate::ops::{Op, OpaqueOp};
use crate::quant::*;
use crate::shape::Shape;
use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use tflrs_schema::Model;
use tflrs_schema::generated as fb;

struct Code {
    builtin: i32,
    custom: Option<String>,
    version: i32,
}

/// Builds the graph of a verified model. Constant data, metadata and custom options borrow
/// the model's bytes.
pub fn import<'a>(model: &Model<'a>) -> Result<Graph<'a>, ImportError> {
    let root = model.root();
    let codes: Vec<Code> = model
        .operator_codes()
        .iter()
        .map(|c| Code {
            builtin: Model::builtin_code(&c).0,
            custom: c.custom_code().map(String::from),
            version: c.version(),
        })
        .collect();
    let mut subgraphs = Vec::new();
    for (s, sg) in model.subgraphs().iter().enumerate() {
        subgraphs.push(import_subgraph(model, s, &sg, &codes)?);
    }
    let signatures = root
        .signature_defs()
        .unwrap_or_default()
        .iter()
        .map(|sig| {
            let map = |v: Option<
                flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<fb::TensorMap<'a>>>,
            >| {
                v.unwrap_or_default()
                    .iter()
                    .map(|m| SignatureTensor {
                        name: m.name().unwrap_or_default().to_string(),
                        value: ValueId(m.tensor_index()),
                    })
                    .collect()
            };
            Signature {
                key: sig.signature_key().unwrap_or_default().to_string(),
                subgraph: sig.subgraph_index() as usize,
                inputs: map(sig.inputs()),
                outputs: map(sig.outputs()),
            }
        })
        .collect();
    let metadata = root
        .metadata()
        .unwrap_or_default()
        .iter()
        .map(|m| Metadata {
            name: m.name().unwrap_or_default().to_string(),
            data: Cow::Borrowed(model.buffer_data(m.buffer())),
        })
        .collect();
    let metadata_buffers = root
        .metadata_buffer()
        .unwrap_or_default()
        .iter()
        .map(|b| Cow::Borrowed(model.buffer_data(u32::try_from(b).unwrap_or(0))))
        .collect();
    let external_buffer_groups = root
        .external_buffer_groups()
        .unwrap_or_default()
        .iter()
        .map(|g| g.name().unwrap_or_default().to_string())
        .collect();
    let external_buffers = root
        .external_buffers()
        .unwrap_or_default()
        .iter()
        .map(|b| ExternalBuffer {
            id: b.id(),
            group: b.group(),
            offset: b.offset(),
            length: b.length(),
            packing: b.packing().unwrap_or_default().to_string(),
        })
        .collect();
    Ok(Graph {
        subgraphs,
        signatures,
        metadata,
        metadata_buffers,
        description: root.description().unwrap_or_default().to_string(),
        external_buffer_groups,
        external_buffers,
    })
}

fn ids(v: Option<flatbuffers::Vector<'_, i32>>) -> Vec<ValueId> {
    // Indices are in range and non-negative in a verified model.
    v.unwrap_or_default()
        .iter()
        .map(|i| ValueId(u32::try_from(i).unwrap_or(u32::MAX)))
        .collect()
}

fn import_subgraph<'a>(
    model: &Model<'a>,
    s: usize,
    sg: &fb::SubGraph<'a>,
    codes: &[Code],
) -> Result<Subgraph<'a>, ImportError> {
    let mut values = Vec::new();
    for (t, tensor) in sg.tensors().unwrap_or_default().iter().enumerate() {
        values.push(import_tensor(model, s, t, &tensor)?);
    }
    let mut nodes = Vec::new();
    for (n, op) in sg.operators().unwrap_or_default().iter().enumerate() {
        let code = codes
            .get(op.opcode_index() as usize)
            .ok_or_else(|| ImportError::Malformed {
                what: "opcode_index",
                at: format!("subgraph {s}, operator {n}"),
            })?;
        nodes.push(Node {
            op: import_op(model, s, n, &op, code)?,
            inputs: op
                .inputs()
                .unwrap_or_default()
                .iter()
                .map(|i| u32::try_from(i).ok().map(ValueId))
                .collect(),
            outputs: ids(op.outputs()),
            intermediates: ids(op.intermediates()),
            version: Some(code.version),
            mutating_variable_inputs: op
                .mutating_variable_inputs()
                .map(|v| v.iter().collect())
                .unwrap_or_default(),
            debug_metadata_index: op.debug_metadata_index(),
        });
    }
    Ok(Subgraph {
        name: sg.name().unwrap_or_default().to_string(),
        values,
        nodes,
        inputs: ids(sg.inputs()),
        outputs: ids(sg.outputs()),
        debug_metadata_index: sg.debug_metadata_index(),
    })
}

fn import_op<'a>(
    model: &Model<'a>,
    s: usize,
    n: usize,
    op: &fb::Operator<'a>,
    code: &Code,
) -> Result<Op<'a>, ImportError> {
    let custom_options = model.custom_options(op);
    let plain = code.custom.is_none()
        && op.builtin_options_2_type() == fb::BuiltinOptions2::NONE
        && custom_options.is_none_or(|c| c.is_empty())
        && op.custom_options_format() == fb::CustomOptionsFormat::FLEXBUFFERS;
    if plain && let Some(typed) = read_typed(op, code.builtin) {
        return Ok(typed);
    }
    let at = || format!("subgraph {s}, operator {n}");
    // The option tables are read only under a type other than NONE: the verifier checks a
    // union's table only then, so an offset stored beside a NONE type is never followed.
    let options_table = (op.builtin_options_type() != fb::BuiltinOptions::NONE)
        .then(|| op.builtin_options())
        .flatten();
    let options = match (op.builtin_options_type(), options_table) {
        (fb::BuiltinOptions::NONE, _) | (_, None) => None,
        (t, Some(table)) => Some(raw::read(Union::Builtin, t.0, table).map_err(|e| match e {
            raw::RawError::UnknownType => ImportError::UnknownUnionType {
                what: "BuiltinOptions",
                value: t.0,
                at: at(),
            },
            raw::RawError::OutOfBounds => ImportError::Malformed {
                what: "builtin options",
                at: at(),
            },
        })?),
    };
    let options_2_table = (op.builtin_options_2_type() != fb::BuiltinOptions2::NONE)
        .then(|| op.builtin_options_2())
        .flatten();
    let options_2 = match (op.builtin_options_2_type(), options_2_table) {
        (fb::BuiltinOptions2::NONE, _) | (_, None) => None,
        (t, Some(table)) => Some(raw::read(Union::Builtin2, t.0, table).map_err(|e| match e {
            raw::RawError::UnknownType => ImportError::UnknownUnionType {
                what: "BuiltinOptions2",
                value: t.0,
                at: at(),
            },
            raw::RawError::OutOfBounds => ImportError::Malformed {
                what: "builtin options 2",
                at: at(),
            },
        })?),
    };
    Ok(Op::Opaque(OpaqueOp {
        builtin_code: code.builtin,
        custom_code: code.custom.clone(),
        options,
        options_2,
        custom_options: custom_options.map(Cow::Borrowed),
        custom_options_format: op.custom_options_format().0,
    }))
}

fn import_tensor<'a>(
    model: &Model<'a>,
    s: usize,
    t: usize,
    tensor: &fb::Tensor<'a>,
) -> Result<Value<'a>, ImportError> {
    let dtype = DType::from_tflite(tensor.type_().0).ok_or(ImportError::UnknownDType {
        subgraph: s,
        tensor: t,
        code: tensor.type_().0,
    })?;
    let at = || format!("subgraph {s}, tensor {t}");
    let quant = match tensor.quantization() {
        Some(q) => import_quant(&q, at)?,
        None => None,
    };
    let sparsity = match tensor.sparsity() {
        Some(sp) => Some(import_sparsity(&sp, at)?),
        None => None,
    };
    let variant_subtypes = match tensor.variant_tensors() {
        Some(v) => v
            .iter()
            .map(|vt| {
                Ok(VariantSubType {
                    shape: vt.shape().map(|s| s.iter().collect()),
                    dtype: DType::from_tflite(vt.type_().0).ok_or(ImportError::UnknownDType {
                        subgraph: s,
                        tensor: t,
                        code: vt.type_().0,
                    })?,
                    has_rank: vt.has_rank(),
                })
            })
            .collect::<Result<Vec<_>, ImportError>>()?,
        None => Vec::new(),
    };
    Ok(Value {
        name: tensor.name().unwrap_or_default().to_string(),
        dtype,
        shape: Shape {
            dims: tensor
                .shape()
                .map(|v| v.iter().collect())
                .unwrap_or_default(),
            signature: tensor.shape_signature().map(|v| v.iter().collect()),
            has_rank: tensor.has_rank(),
        },
        quant,
        data: model.tensor_data(tensor).map(Cow::Borrowed),
        is_variable: tensor.is_variable(),
        sparsity,
        variant_subtypes,
        external_buffer: tensor.external_buffer(),
    })
}

fn import_quant(
    q: &fb::QuantizationParameters<'_>,
    at: impl Fn() -> String,
) -> Result<Option<QuantParams>, ImportError> {
    let scales: Vec<f32> = q.scale().map(|v| v.iter().collect()).unwrap_or_default();
    let zero_points: Vec<i64> = q
        .zero_point()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let axis = q.quantized_dimension();
    let scheme = if scales.is_empty() {
        None
    } else if scales.len() != zero_points.len() {
        return Err(ImportError::Malformed {
            what: "quantization (scale and zero_point lengths differ)",
            at: at(),
        });
    } else if scales.len() == 1 && axis == 0 {
        Some(QuantScheme::PerTensor {
            scale: scales[0],
            zero_point: zero_points[0],
        })
    } else {
        Some(QuantScheme::PerAxis {
            axis,
            scales,
            zero_points,
        })
    };
    let details = match q.details_type() {
        fb::QuantizationDetails::NONE => QuantDetails::None,
        fb::QuantizationDetails::CustomQuantization => QuantDetails::Custom(
            q.details_as_custom_quantization()
                .and_then(|c| c.custom())
                .map(|c| c.bytes().to_vec())
                .unwrap_or_default(),
        ),
        fb::QuantizationDetails::BlockwiseQuantization => {
            let b =
                q.details_as_blockwise_quantization()
                    .ok_or_else(|| ImportError::Malformed {
                        what: "BlockwiseQuantization",
                        at: at(),
                    })?;
            QuantDetails::Blockwise {
                scales: b.scales(),
                zero_points: b.zero_points(),
                block_size: b.block_size(),
            }
        }
        fb::QuantizationDetails::MultiAxisQuantization => {
            let b =
                q.details_as_multi_axis_quantization()
                    .ok_or_else(|| ImportError::Malformed {
                        what: "MultiAxisQuantization",
                        at: at(),
                    })?;
            QuantDetails::MultiAxis {
                scales: b.scales(),
                zero_points: b.zero_points(),
                block_size: b.block_size(),
                quantized_dimensions: b.quantized_dimensions().map(|v| v.iter().collect()),
            }
        }
        other => {
            return Err(ImportError::UnknownUnionType {
                what: "QuantizationDetails",
                value: other.0,
                at: at(),
            });
        }
    };
    let p = QuantParams {
        scheme,
        min: q.min().map(|v| v.iter().collect()).unwrap_or_default(),
        max: q.max().map(|v| v.iter().collect()).unwrap_or_default(),
        details,
    };
    Ok((!p.is_empty()).then_some(p))
}

fn import_index_vector(
    ty: fb::SparseIndexVector,
    dm: &fb::DimensionMetadata<'_>,
    segments: bool,
    at: &impl Fn() -> String,
) -> Result<Option<IndexVector>, ImportError> {
    let v = match ty {
        fb::SparseIndexVector::NONE => return Ok(None),
        fb::SparseIndexVector::Int32Vector => {
            let v = if segments {
                dm.array_segments_as_int_32_vector()
            } else {
                dm.array_indices_as_int_32_vector()
            };
            IndexVector::I32(
                v.and_then(|v| v.values())
                    .map(|v| v.iter().collect())
                    .unwrap_or_default(),
            )
        }
        fb::SparseIndexVector::Uint16Vector => {
            let v = if segments {
                dm.array_segments_as_uint_16_vector()
            } else {
                dm.array_indices_as_uint_16_vector()
            };
            IndexVector::U16(
                v.and_then(|v| v.values())
                    .map(|v| v.iter().collect())
                    .unwrap_or_default(),
            )
        }
        fb::SparseIndexVector::Uint8Vector => {
            let v = if segments {
                dm.array_segments_as_uint_8_vector()
            } else {
                dm.array_indices_as_uint_8_vector()
            };
            IndexVector::U8(
                v.and_then(|v| v.values())
                    .map(|v| v.bytes().to_vec())
                    .unwrap_or_default(),
            )
        }
        other => {
            return Err(ImportError::UnknownUnionType {
                what: "SparseIndexVector",
                value: other.0,
                at: at(),
            });
        }
    };
    Ok(Some(v))
}

fn import_sparsity(
    sp: &fb::SparsityParameters<'_>,
    at: impl Fn() -> String,
) -> Result<Sparsity, ImportError> {
    let mut dim_metadata = Vec::new();
    for dm in sp.dim_metadata().unwrap_or_default().iter() {
        let format = match dm.format() {
            fb::DimensionType::DENSE => DimFormat::Dense,
            fb::DimensionType::SPARSE_CSR => DimFormat::SparseCsr,
            _ => {
                return Err(ImportError::Malformed {
                    what: "sparsity dimension format",
                    at: at(),
                });
            }
        };
        dim_metadata.push(DimMetadata {
            format,
            dense_size: dm.dense_size(),
            array_segments: import_index_vector(dm.array_segments_type(), &dm, true, &at)?,
            array_indices: import_index_vector(dm.array_indices_type(), &dm, false, &at)?,
        });
    }
    Ok(Sparsity {
        traversal_order: sp
            .traversal_order()
            .map(|v| v.iter().collect())
            .unwrap_or_default(),
        block_map: sp
            .block_map()
            .map(|v| v.iter().collect())
            .unwrap_or_default(),
        dim_metadata,
    })
}
