//! A plain-data description of a verified model, for people (`tflrs inspect`) and scripts
//! (`tflrs inspect --json`).
//!
//! [`ModelReport::new`] reads a [`Model`] once and copies out what a person asks first about a
//! `.tflite` file: its subgraphs, signatures and metadata, every operator and tensor, and a
//! summary (parameters by dtype, an operator histogram, estimated multiply-accumulates). The
//! report holds no generated FlatBuffers types, so code outside this crate can use it without
//! touching the schema.
//!
//! With the `serde` feature every type here is `Serialize`; the JSON field names are the Rust
//! field names below, in declaration order, and maps are sorted by key. That JSON is what
//! `tflrs inspect --json` prints, so renaming a field is a breaking change for scripts.
//!
//! Names follow LiteRT: dtypes are spelled as the schema's `TensorType` (`FLOAT32`, `INT8`),
//! builtin operators as the schema's `BuiltinOperator` (`CONV_2D`), which is also what LiteRT's
//! Python interpreter reports as `op_name`; a custom operator is named by its custom code.
//!
//! # Estimated MACs
//!
//! [`OperatorReport::macs`] estimates the multiply-accumulates (MACs) of one invocation of an
//! operator from the stored shapes of its tensors (a dynamic dimension counts as the value
//! stored in `shape`, usually 1). Products saturate at `u64::MAX`. Layouts are LiteRT's:
//!
//! - `CONV_2D`: input `[N, H, W, C]`, filter `[O, KH, KW, C/groups]`, output `[N, OH, OW, O]`:
//!   `N * OH * OW * O * KH * KW * (C/groups)` (the filter's last dimension, so grouped
//!   convolutions count only the channels each group reads).
//! - `DEPTHWISE_CONV_2D`: filter `[1, KH, KW, O]`, output `[N, OH, OW, O]`:
//!   `N * OH * OW * O * KH * KW` (each output channel reads one input channel).
//! - `CONV_3D`: filter `[KD, KH, KW, C, O]`, output `[N, OD, OH, OW, O]`:
//!   `N * OD * OH * OW * O * KD * KH * KW * C`.
//! - `TRANSPOSE_CONV`: inputs `(output_shape, filter [O, KH, KW, C], input [N, H, W, C])`:
//!   `N * H * W * C * KH * KW * O` (each input element is scattered over a `KH x KW` window of
//!   every output channel).
//! - `FULLY_CONNECTED`: weights `[U, K]`, output `[..., U]`: `elements(output) * K`.
//! - `BATCH_MATMUL`: `A [..., M, K]` (`[..., K, M]` with `adj_x`), output `[..., M, N]`:
//!   `elements(output) * K` (broadcast batch dimensions are counted once per output batch).
//!
//! Any other operator, or tensors whose rank does not fit the layout, gives `None`.

use crate::generated as fb;
use crate::model::{Model, builtin_code, tensor_type_bits};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// A FlatBuffers vector of tables.
type Tables<'a, T> = flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<T>>;
type Tensors<'a> = Tables<'a, fb::Tensor<'a>>;

/// Everything `tflrs inspect` shows about a model.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ModelReport {
    /// Size of the file in bytes.
    pub file_size: u64,
    /// The schema version the file states (always 3 for a verified model).
    pub schema_version: u32,
    /// The model's description string (converters write e.g. `"MLIR Converted."`).
    pub description: Option<String>,
    /// The subgraphs in file order; subgraph 0 is the main one.
    pub subgraphs: Vec<SubgraphReport>,
    /// The signatures (named entry points) in file order.
    pub signatures: Vec<SignatureReport>,
    /// The metadata entries in file order.
    pub metadata: Vec<MetadataReport>,
    /// Totals over the whole model.
    pub summary: Summary,
}

/// One subgraph with its operators and tensors.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SubgraphReport {
    /// Index of the subgraph in the model.
    pub index: usize,
    /// Its name (empty when the file has none).
    pub name: String,
    /// Indices of its input tensors.
    pub inputs: Vec<i32>,
    /// Indices of its output tensors.
    pub outputs: Vec<i32>,
    /// Its operators in execution order.
    pub operators: Vec<OperatorReport>,
    /// Its tensors, indexed as operators refer to them.
    pub tensors: Vec<TensorReport>,
}

/// A signature: a named entry point mapping names to a subgraph's tensors.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SignatureReport {
    /// The signature key (e.g. `serving_default`).
    pub key: String,
    /// The subgraph the signature runs.
    pub subgraph: u32,
    /// Named inputs, in file order.
    pub inputs: Vec<SignatureTensor>,
    /// Named outputs, in file order.
    pub outputs: Vec<SignatureTensor>,
}

/// One named input or output of a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SignatureTensor {
    /// The name callers use.
    pub name: String,
    /// The tensor index within the signature's subgraph.
    pub tensor: u32,
}

/// One metadata entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MetadataReport {
    /// The entry's name (e.g. `min_runtime_version`, `CONVERSION_METADATA`).
    pub name: String,
    /// The buffer holding its data.
    pub buffer: u32,
    /// Length of that data in bytes.
    pub bytes: u64,
    /// The data as text, when it is short (at most [`METADATA_TEXT_MAX`] bytes) printable
    /// UTF-8 once trailing NUL bytes are removed; `None` otherwise.
    pub text: Option<String>,
}

/// Longest metadata value that [`MetadataReport::text`] shows as text.
pub const METADATA_TEXT_MAX: usize = 256;

/// One operator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OperatorReport {
    /// Index of the operator in its subgraph (execution order).
    pub index: usize,
    /// The builtin operator's name as LiteRT spells it (`CONV_2D`), or the custom code of a
    /// custom operator. An unknown builtin code is shown as `BUILTIN_<code>`.
    pub op: String,
    /// Whether the operator is a custom one (`op` is then its custom code).
    pub custom: bool,
    /// The operator code's version.
    pub version: i32,
    /// Input tensor indices; -1 marks an omitted optional input.
    pub inputs: Vec<i32>,
    /// Output tensor indices.
    pub outputs: Vec<i32>,
    /// Intermediate tensor indices (used by quantized LSTMs); usually empty.
    pub intermediates: Vec<i32>,
    /// The fused activation function (`NONE`, `RELU`, `RELU6`, ...) when the operator's
    /// options have one; `None` for operators whose options have no such field.
    pub fused_activation: Option<String>,
    /// Estimated multiply-accumulates of one invocation; `None` for operators without an
    /// estimate or whose tensor shapes do not allow one. The formulas are in the
    /// [module documentation](self).
    pub macs: Option<u64>,
}

/// One tensor.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TensorReport {
    /// Index of the tensor in its subgraph.
    pub index: usize,
    /// Its name (empty when the file has none).
    pub name: String,
    /// Element type as LiteRT spells it (`FLOAT32`, `INT8`, ...); `UNKNOWN_<code>` for a code
    /// this schema does not know.
    pub dtype: String,
    /// The shape stored in the file; dynamic dimensions are stored as 1 here.
    pub shape: Vec<i32>,
    /// The shape signature, where -1 marks a dynamic dimension; `None` when the file has none.
    pub shape_signature: Option<Vec<i32>>,
    /// The file's `has_rank` flag: with an empty `shape`, `false` means the rank is unknown
    /// (decided when the model runs) rather than a scalar.
    pub has_rank: bool,
    /// Quantization parameters; `None` when the tensor has none (or only empty ones).
    pub quantization: Option<QuantReport>,
    /// Bytes of the tensor's data from its shape and dtype (bits rounded up to whole bytes);
    /// `None` for dtypes without a fixed size (strings, resources, variants).
    pub bytes: Option<u64>,
    /// Index of the tensor's buffer (0 = no data).
    pub buffer: u32,
    /// Whether the tensor is a constant: it has data in the file and is not a variable.
    pub constant: bool,
    /// Bytes of data the file holds for the tensor (0 when none). Differs from `bytes` for
    /// sparse tensors and variable-size dtypes.
    pub data_bytes: u64,
    /// Whether the tensor is a variable (state kept across invocations).
    pub variable: bool,
    /// Whether the tensor is stored sparse.
    pub sparse: bool,
}

/// Quantization parameters of a tensor, as stored.
///
/// Per-tensor quantization has one scale and one zero point; per-channel (per-axis)
/// quantization has one of each per slice of `quantized_dimension`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct QuantReport {
    /// Scales; one per channel when per-channel.
    pub scales: Vec<f32>,
    /// Zero points, as many as scales.
    pub zero_points: Vec<i64>,
    /// The axis of per-channel quantization (0 and meaningless when per-tensor).
    pub quantized_dimension: i32,
    /// Recorded minimum values (calibration ranges); usually empty.
    pub min: Vec<f32>,
    /// Recorded maximum values; usually empty.
    pub max: Vec<f32>,
    /// The name of custom quantization details (e.g. `CustomQuantization`), if any.
    pub details: Option<String>,
}

impl QuantReport {
    /// Whether there is more than one scale (per-channel quantization).
    pub fn is_per_channel(&self) -> bool {
        self.scales.len() > 1
    }
}

/// Totals over every subgraph of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Summary {
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Number of subgraphs.
    pub subgraphs: usize,
    /// Number of operators over all subgraphs.
    pub operators: usize,
    /// Number of tensors over all subgraphs.
    pub tensors: usize,
    /// Number of parameters: elements of constant tensors, counting each buffer once (tensors
    /// that share a buffer share their parameters).
    pub parameters: u64,
    /// Bytes of constant data, counting each buffer once.
    pub parameter_bytes: u64,
    /// `parameters` and `parameter_bytes` split by dtype, sorted by dtype name.
    pub parameters_by_dtype: BTreeMap<String, DtypeParams>,
    /// Number of operators of each kind, sorted by operator name.
    pub op_histogram: BTreeMap<String, u64>,
    /// Estimated multiply-accumulates of one invocation of every subgraph once (saturating),
    /// summed over the operators that have an estimate.
    pub macs: u64,
    /// `macs` split by operator name, for operators with an estimate.
    pub macs_by_op: BTreeMap<String, u64>,
}

/// Parameters of one dtype.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DtypeParams {
    /// Number of elements.
    pub count: u64,
    /// Bytes of data.
    pub bytes: u64,
}

impl ModelReport {
    /// Describes a verified model. Never panics: a verified model has every index in range,
    /// and arithmetic on shapes saturates.
    pub fn new(model: &Model<'_>) -> Self {
        let root = model.root();
        let codes = model.operator_codes();
        let subgraphs: Vec<SubgraphReport> = model
            .subgraphs()
            .iter()
            .enumerate()
            .map(|(index, sg)| subgraph_report(model, &codes, index, &sg))
            .collect();
        let signatures = root
            .signature_defs()
            .unwrap_or_default()
            .iter()
            .map(|sig| SignatureReport {
                key: sig.signature_key().unwrap_or_default().to_string(),
                subgraph: sig.subgraph_index(),
                inputs: signature_tensors(sig.inputs()),
                outputs: signature_tensors(sig.outputs()),
            })
            .collect();
        let metadata = root
            .metadata()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let data = model.buffer_data(m.buffer());
                MetadataReport {
                    name: m.name().unwrap_or_default().to_string(),
                    buffer: m.buffer(),
                    bytes: data.len() as u64,
                    text: metadata_text(data),
                }
            })
            .collect();
        let summary = summarize(model, &subgraphs);
        Self {
            file_size: model.bytes().len() as u64,
            schema_version: root.version(),
            description: root.description().map(ToString::to_string),
            subgraphs,
            signatures,
            metadata,
            summary,
        }
    }
}

fn signature_tensors(maps: Option<Tables<'_, fb::TensorMap<'_>>>) -> Vec<SignatureTensor> {
    maps.unwrap_or_default()
        .iter()
        .map(|m| SignatureTensor {
            name: m.name().unwrap_or_default().to_string(),
            tensor: m.tensor_index(),
        })
        .collect()
}

fn subgraph_report(
    model: &Model<'_>,
    codes: &Tables<'_, fb::OperatorCode<'_>>,
    index: usize,
    sg: &fb::SubGraph<'_>,
) -> SubgraphReport {
    let tensors = sg.tensors().unwrap_or_default();
    let operators = sg
        .operators()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let code = op.opcode_index() as usize;
            let code = (code < codes.len()).then(|| codes.get(code));
            let builtin = code
                .as_ref()
                .map_or(fb::BuiltinOperator::CUSTOM, builtin_code);
            let custom = builtin == fb::BuiltinOperator::CUSTOM;
            let name = match (custom, code.as_ref().and_then(|c| c.custom_code())) {
                (true, Some(custom_code)) => custom_code.to_string(),
                _ => builtin_name(builtin),
            };
            OperatorReport {
                index: i,
                op: name,
                custom,
                version: code.map_or(1, |c| c.version()),
                inputs: op.inputs().unwrap_or_default().iter().collect(),
                outputs: op.outputs().unwrap_or_default().iter().collect(),
                intermediates: op.intermediates().unwrap_or_default().iter().collect(),
                fused_activation: fused_activation(&op).map(activation_name),
                macs: estimate_macs(builtin, &op, &tensors),
            }
        })
        .collect();
    let tensors = tensors
        .iter()
        .enumerate()
        .map(|(i, t)| tensor_report(model, i, &t))
        .collect();
    SubgraphReport {
        index,
        name: sg.name().unwrap_or_default().to_string(),
        inputs: sg.inputs().unwrap_or_default().iter().collect(),
        outputs: sg.outputs().unwrap_or_default().iter().collect(),
        operators,
        tensors,
    }
}

fn tensor_report(model: &Model<'_>, index: usize, t: &fb::Tensor<'_>) -> TensorReport {
    let shape: Vec<i32> = t.shape().unwrap_or_default().iter().collect();
    let data_bytes = model.buffer_data(t.buffer()).len() as u64;
    let bytes = tensor_type_bits(t.type_()).map(|bits| {
        element_count(&shape)
            .saturating_mul(u64::from(bits))
            .div_ceil(8)
    });
    TensorReport {
        index,
        name: t.name().unwrap_or_default().to_string(),
        dtype: dtype_name(t.type_()),
        shape,
        shape_signature: t.shape_signature().map(|s| s.iter().collect()),
        has_rank: t.has_rank(),
        quantization: t.quantization().and_then(|q| quant_report(&q)),
        bytes,
        buffer: t.buffer(),
        constant: data_bytes > 0 && !t.is_variable(),
        data_bytes,
        variable: t.is_variable(),
        sparse: t.sparsity().is_some(),
    }
}

fn quant_report(q: &fb::QuantizationParameters<'_>) -> Option<QuantReport> {
    let scales: Vec<f32> = q.scale().unwrap_or_default().iter().collect();
    let min: Vec<f32> = q.min().unwrap_or_default().iter().collect();
    let max: Vec<f32> = q.max().unwrap_or_default().iter().collect();
    let details = (q.details_type() != fb::QuantizationDetails::NONE).then(|| {
        q.details_type()
            .variant_name()
            .map_or_else(|| format!("UNKNOWN_{}", q.details_type().0), String::from)
    });
    if scales.is_empty() && min.is_empty() && max.is_empty() && details.is_none() {
        return None;
    }
    Some(QuantReport {
        zero_points: if scales.is_empty() {
            Vec::new()
        } else {
            q.zero_point().unwrap_or_default().iter().collect()
        },
        scales,
        quantized_dimension: q.quantized_dimension(),
        min,
        max,
        details,
    })
}

fn metadata_text(data: &[u8]) -> Option<String> {
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let trimmed = data.get(..end)?;
    if trimmed.is_empty() || trimmed.len() > METADATA_TEXT_MAX {
        return None;
    }
    let text = core::str::from_utf8(trimmed).ok()?;
    (!text.chars().any(char::is_control)).then(|| text.to_string())
}

fn summarize(model: &Model<'_>, subgraphs: &[SubgraphReport]) -> Summary {
    let mut summary = Summary {
        file_size: model.bytes().len() as u64,
        subgraphs: subgraphs.len(),
        operators: 0,
        tensors: 0,
        parameters: 0,
        parameter_bytes: 0,
        parameters_by_dtype: BTreeMap::new(),
        op_histogram: BTreeMap::new(),
        macs: 0,
        macs_by_op: BTreeMap::new(),
    };
    let mut seen_buffers = BTreeSet::new();
    for sg in subgraphs {
        summary.operators += sg.operators.len();
        summary.tensors += sg.tensors.len();
        for op in &sg.operators {
            *summary.op_histogram.entry(op.op.clone()).or_default() += 1;
            if let Some(macs) = op.macs {
                summary.macs = summary.macs.saturating_add(macs);
                let by_op = summary.macs_by_op.entry(op.op.clone()).or_default();
                *by_op = by_op.saturating_add(macs);
            }
        }
        for t in &sg.tensors {
            if !t.constant || !seen_buffers.insert(t.buffer) {
                continue;
            }
            let count = element_count(&t.shape);
            summary.parameters = summary.parameters.saturating_add(count);
            summary.parameter_bytes = summary.parameter_bytes.saturating_add(t.data_bytes);
            let by_dtype = summary
                .parameters_by_dtype
                .entry(t.dtype.clone())
                .or_default();
            by_dtype.count = by_dtype.count.saturating_add(count);
            by_dtype.bytes = by_dtype.bytes.saturating_add(t.data_bytes);
        }
    }
    summary
}

/// The name LiteRT gives a builtin operator (`CONV_2D`), or `BUILTIN_<code>` for a code this
/// schema does not know.
fn builtin_name(op: fb::BuiltinOperator) -> String {
    op.variant_name()
        .map_or_else(|| format!("BUILTIN_{}", op.0), String::from)
}

/// The name LiteRT gives a tensor type (`FLOAT32`), or `UNKNOWN_<code>`.
fn dtype_name(t: fb::TensorType) -> String {
    t.variant_name()
        .map_or_else(|| format!("UNKNOWN_{}", t.0), String::from)
}

fn activation_name(a: fb::ActivationFunctionType) -> String {
    a.variant_name()
        .map_or_else(|| format!("UNKNOWN_{}", a.0), String::from)
}

/// The fused activation function of an operator whose options table has one.
fn fused_activation(op: &fb::Operator<'_>) -> Option<fb::ActivationFunctionType> {
    macro_rules! first_of {
        ($($getter:ident),* $(,)?) => {
            $(if let Some(o) = op.$getter() {
                return Some(o.fused_activation_function());
            })*
        };
    }
    first_of!(
        builtin_options_as_conv_2_doptions,
        builtin_options_as_conv_3_doptions,
        builtin_options_as_depthwise_conv_2_doptions,
        builtin_options_as_pool_2_doptions,
        builtin_options_as_fully_connected_options,
        builtin_options_as_transpose_conv_options,
        builtin_options_as_add_options,
        builtin_options_as_sub_options,
        builtin_options_as_mul_options,
        builtin_options_as_div_options,
        builtin_options_as_concatenation_options,
        builtin_options_as_l2_norm_options,
        builtin_options_as_svdfoptions,
        builtin_options_as_rnnoptions,
        builtin_options_as_sequence_rnnoptions,
        builtin_options_as_bidirectional_sequence_rnnoptions,
        builtin_options_as_lstmoptions,
        builtin_options_as_unidirectional_sequence_lstmoptions,
        builtin_options_as_bidirectional_sequence_lstmoptions,
    );
    None
}

/// Number of elements of a shape (1 for a scalar), saturating; negative dimensions count as 0.
fn element_count(shape: &[i32]) -> u64 {
    shape.iter().fold(1u64, |n, &d| {
        n.saturating_mul(u64::try_from(d).unwrap_or(0))
    })
}

/// The stored shape of operand `index` (an operator's input or output tensor index) as
/// unsigned dimensions; `None` when the operand is omitted (-1) or out of range.
fn operand_dims(tensors: &Tensors<'_>, index: Option<i32>) -> Option<Vec<u64>> {
    let index = usize::try_from(index?).ok()?;
    if index >= tensors.len() {
        return None;
    }
    tensors
        .get(index)
        .shape()
        .unwrap_or_default()
        .iter()
        .map(|d| u64::try_from(d).ok())
        .collect()
}

fn product(dims: &[u64]) -> u64 {
    dims.iter().fold(1u64, |n, &d| n.saturating_mul(d))
}

/// Estimated MACs of an operator; the formulas are in the module documentation.
fn estimate_macs(
    builtin: fb::BuiltinOperator,
    op: &fb::Operator<'_>,
    tensors: &Tensors<'_>,
) -> Option<u64> {
    use fb::BuiltinOperator as B;
    let inputs = op.inputs().unwrap_or_default();
    let outputs = op.outputs().unwrap_or_default();
    let input = |i: usize| operand_dims(tensors, (i < inputs.len()).then(|| inputs.get(i)));
    let output = || operand_dims(tensors, (!outputs.is_empty()).then(|| outputs.get(0)));
    match builtin {
        B::CONV_2D => {
            let (filter, out) = (input(1)?, output()?);
            let [_, kh, kw, c] = filter[..] else {
                return None;
            };
            (out.len() == 4).then(|| product(&out).saturating_mul(product(&[kh, kw, c])))
        }
        B::DEPTHWISE_CONV_2D => {
            let (filter, out) = (input(1)?, output()?);
            let [_, kh, kw, _] = filter[..] else {
                return None;
            };
            (out.len() == 4).then(|| product(&out).saturating_mul(product(&[kh, kw])))
        }
        B::CONV_3D => {
            let (filter, out) = (input(1)?, output()?);
            let [kd, kh, kw, c, _] = filter[..] else {
                return None;
            };
            (out.len() == 5).then(|| product(&out).saturating_mul(product(&[kd, kh, kw, c])))
        }
        B::TRANSPOSE_CONV => {
            let (filter, inp) = (input(1)?, input(2)?);
            let [o, kh, kw, _] = filter[..] else {
                return None;
            };
            (inp.len() == 4).then(|| product(&inp).saturating_mul(product(&[kh, kw, o])))
        }
        B::FULLY_CONNECTED => {
            let (weights, out) = (input(1)?, output()?);
            let [_, k] = weights[..] else {
                return None;
            };
            (!out.is_empty()).then(|| product(&out).saturating_mul(k))
        }
        B::BATCH_MATMUL => {
            let (a, out) = (input(0)?, output()?);
            let adj_x = op
                .builtin_options_as_batch_mat_mul_options()
                .is_some_and(|o| o.adj_x());
            let rank = a.len();
            if rank < 2 || out.len() < 2 {
                return None;
            }
            let k = if adj_x { a[rank - 2] } else { a[rank - 1] };
            Some(product(&out).saturating_mul(k))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use fb::{ActivationFunctionType as Act, BuiltinOperator as B, TensorType as T};
    use flatbuffers::{FlatBufferBuilder, WIPOffset};

    /// A tensor of a test model.
    struct Spec {
        name: &'static str,
        dtype: T,
        shape: Vec<i32>,
        signature: Option<Vec<i32>>,
        /// Constant data; tensors sharing a `Some(key)` share one buffer.
        data: Option<Vec<u8>>,
        share: Option<u32>,
        /// (scales, zero points, axis).
        quant: Option<(Vec<f32>, Vec<i64>, i32)>,
        variable: bool,
    }

    fn tensor(name: &'static str, dtype: T, shape: &[i32]) -> Spec {
        Spec {
            name,
            dtype,
            shape: shape.to_vec(),
            signature: None,
            data: None,
            share: None,
            quant: None,
            variable: false,
        }
    }

    /// A constant tensor filled with zeros of the right length.
    fn constant(name: &'static str, dtype: T, shape: &[i32]) -> Spec {
        let elements: usize = shape.iter().map(|&d| d as usize).product();
        let bits = tensor_type_bits(dtype).unwrap() as usize;
        Spec {
            data: Some(vec![0; (elements * bits).div_ceil(8)]),
            ..tensor(name, dtype, shape)
        }
    }

    enum Options {
        None,
        Conv(Act),
        Depthwise(Act),
        FullyConnected(Act),
        TransposeConv(Act),
        BatchMatMul { adj_x: bool },
        Add(Act),
    }

    struct OpSpec {
        code: B,
        custom: Option<&'static str>,
        version: i32,
        inputs: Vec<i32>,
        outputs: Vec<i32>,
        options: Options,
    }

    fn op(code: B, inputs: &[i32], outputs: &[i32], options: Options) -> OpSpec {
        OpSpec {
            code,
            custom: None,
            version: 1,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            options,
        }
    }

    /// Builds a one-subgraph model with a `serving_default` signature and metadata.
    fn build(specs: &[Spec], ops: &[OpSpec], inputs: &[i32], outputs: &[i32]) -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        // Buffer 0 is the empty sentinel; shared tensors reuse the first buffer of their key.
        let mut buffers = vec![fb::Buffer::create(&mut b, &fb::BufferArgs::default())];
        let mut shared: BTreeMap<u32, u32> = BTreeMap::new();
        let mut buffer_of = Vec::new();
        for s in specs {
            let idx = match (&s.data, s.share) {
                (None, _) => 0,
                (Some(_), Some(key)) if shared.contains_key(&key) => shared[&key],
                (Some(data), key) => {
                    let data = b.create_vector(data);
                    let args = fb::BufferArgs {
                        data: Some(data),
                        ..Default::default()
                    };
                    buffers.push(fb::Buffer::create(&mut b, &args));
                    let idx = (buffers.len() - 1) as u32;
                    if let Some(key) = key {
                        shared.insert(key, idx);
                    }
                    idx
                }
            };
            buffer_of.push(idx);
        }
        let mut tensors = Vec::new();
        for (s, &buffer) in specs.iter().zip(&buffer_of) {
            let name = b.create_string(s.name);
            let shape = b.create_vector(&s.shape);
            let signature = s.signature.as_ref().map(|sig| b.create_vector(sig));
            let quantization = s.quant.as_ref().map(|(scales, zps, axis)| {
                let scale = b.create_vector(scales);
                let zero_point = b.create_vector(zps);
                fb::QuantizationParameters::create(
                    &mut b,
                    &fb::QuantizationParametersArgs {
                        scale: Some(scale),
                        zero_point: Some(zero_point),
                        quantized_dimension: *axis,
                        ..Default::default()
                    },
                )
            });
            let args = fb::TensorArgs {
                shape: Some(shape),
                type_: s.dtype,
                buffer,
                name: Some(name),
                quantization,
                is_variable: s.variable,
                shape_signature: signature,
                ..Default::default()
            };
            tensors.push(fb::Tensor::create(&mut b, &args));
        }
        let mut codes: Vec<(B, Option<&str>, i32)> = Vec::new();
        let mut operators = Vec::new();
        for o in ops {
            let key = (o.code, o.custom, o.version);
            let opcode_index = match codes.iter().position(|c| *c == key) {
                Some(i) => i,
                None => {
                    codes.push(key);
                    codes.len() - 1
                }
            } as u32;
            let (options_type, options) = options(&mut b, &o.options);
            let inputs = b.create_vector(&o.inputs);
            let outputs = b.create_vector(&o.outputs);
            let args = fb::OperatorArgs {
                opcode_index,
                inputs: Some(inputs),
                outputs: Some(outputs),
                builtin_options_type: options_type,
                builtin_options: options,
                ..Default::default()
            };
            operators.push(fb::Operator::create(&mut b, &args));
        }
        let codes: Vec<_> = codes
            .iter()
            .map(|&(code, custom, version)| {
                let custom_code = custom.map(|c| b.create_string(c));
                fb::OperatorCode::create(
                    &mut b,
                    &fb::OperatorCodeArgs {
                        deprecated_builtin_code: code.0.min(127) as i8,
                        custom_code,
                        version,
                        builtin_code: code,
                    },
                )
            })
            .collect();
        let tensors = b.create_vector(&tensors);
        let operators = b.create_vector(&operators);
        let sg_inputs = b.create_vector(inputs);
        let sg_outputs = b.create_vector(outputs);
        let sg_name = b.create_string("main");
        let subgraph = fb::SubGraph::create(
            &mut b,
            &fb::SubGraphArgs {
                tensors: Some(tensors),
                inputs: Some(sg_inputs),
                outputs: Some(sg_outputs),
                operators: Some(operators),
                name: Some(sg_name),
                ..Default::default()
            },
        );
        let sig_in = vec![tensor_map(&mut b, "x", inputs[0] as u32)];
        let sig_out = vec![tensor_map(&mut b, "y", outputs[0] as u32)];
        let sig_in = b.create_vector(&sig_in);
        let sig_out = b.create_vector(&sig_out);
        let key = b.create_string("serving_default");
        let signature = fb::SignatureDef::create(
            &mut b,
            &fb::SignatureDefArgs {
                inputs: Some(sig_in),
                outputs: Some(sig_out),
                signature_key: Some(key),
                subgraph_index: 0,
            },
        );
        let version_data = b.create_vector(b"1.14.0\0\0\0\0\0\0\0\0\0\0");
        buffers.push(fb::Buffer::create(
            &mut b,
            &fb::BufferArgs {
                data: Some(version_data),
                ..Default::default()
            },
        ));
        let meta_name = b.create_string("min_runtime_version");
        let metadata = fb::Metadata::create(
            &mut b,
            &fb::MetadataArgs {
                name: Some(meta_name),
                buffer: (buffers.len() - 1) as u32,
            },
        );
        let codes = b.create_vector(&codes);
        let subgraphs = b.create_vector(&[subgraph]);
        let buffers = b.create_vector(&buffers);
        let signatures = b.create_vector(&[signature]);
        let metadata = b.create_vector(&[metadata]);
        let description = b.create_string("test model");
        let model = fb::Model::create(
            &mut b,
            &fb::ModelArgs {
                version: 3,
                operator_codes: Some(codes),
                subgraphs: Some(subgraphs),
                description: Some(description),
                buffers: Some(buffers),
                metadata: Some(metadata),
                signature_defs: Some(signatures),
                ..Default::default()
            },
        );
        fb::finish_model_buffer(&mut b, model);
        b.finished_data().to_vec()
    }

    fn tensor_map<'b>(
        b: &mut FlatBufferBuilder<'b>,
        name: &str,
        tensor_index: u32,
    ) -> WIPOffset<fb::TensorMap<'b>> {
        let name = b.create_string(name);
        let args = fb::TensorMapArgs {
            name: Some(name),
            tensor_index,
        };
        fb::TensorMap::create(b, &args)
    }

    fn options(
        b: &mut FlatBufferBuilder<'_>,
        options: &Options,
    ) -> (
        fb::BuiltinOptions,
        Option<WIPOffset<flatbuffers::UnionWIPOffset>>,
    ) {
        use fb::BuiltinOptions as O;
        match *options {
            Options::None => (O::NONE, None),
            Options::Conv(act) => {
                let args = fb::Conv2DOptionsArgs {
                    fused_activation_function: act,
                    stride_w: 1,
                    stride_h: 1,
                    ..Default::default()
                };
                let o = fb::Conv2DOptions::create(b, &args);
                (O::Conv2DOptions, Some(o.as_union_value()))
            }
            Options::Depthwise(act) => {
                let args = fb::DepthwiseConv2DOptionsArgs {
                    fused_activation_function: act,
                    depth_multiplier: 1,
                    ..Default::default()
                };
                let o = fb::DepthwiseConv2DOptions::create(b, &args);
                (O::DepthwiseConv2DOptions, Some(o.as_union_value()))
            }
            Options::FullyConnected(act) => {
                let args = fb::FullyConnectedOptionsArgs {
                    fused_activation_function: act,
                    ..Default::default()
                };
                let o = fb::FullyConnectedOptions::create(b, &args);
                (O::FullyConnectedOptions, Some(o.as_union_value()))
            }
            Options::TransposeConv(act) => {
                let args = fb::TransposeConvOptionsArgs {
                    fused_activation_function: act,
                    ..Default::default()
                };
                let o = fb::TransposeConvOptions::create(b, &args);
                (O::TransposeConvOptions, Some(o.as_union_value()))
            }
            Options::BatchMatMul { adj_x } => {
                let args = fb::BatchMatMulOptionsArgs {
                    adj_x,
                    ..Default::default()
                };
                let o = fb::BatchMatMulOptions::create(b, &args);
                (O::BatchMatMulOptions, Some(o.as_union_value()))
            }
            Options::Add(act) => {
                let args = fb::AddOptionsArgs {
                    fused_activation_function: act,
                    ..Default::default()
                };
                let o = fb::AddOptions::create(b, &args);
                (O::AddOptions, Some(o.as_union_value()))
            }
        }
    }

    /// A small CNN: conv -> depthwise -> reshape -> fully connected (int8 per-channel weights,
    /// no bias) -> custom op, with a shared constant buffer and a dynamic batch dimension.
    fn cnn() -> Vec<u8> {
        let mut specs = vec![
            Spec {
                signature: Some(vec![-1, 8, 8, 3]),
                ..tensor("input", T::FLOAT32, &[1, 8, 8, 3])
            }, // 0
            constant("conv/filter", T::FLOAT32, &[16, 3, 3, 3]), // 1
            constant("conv/bias", T::FLOAT32, &[16]),            // 2
            tensor("conv/out", T::FLOAT32, &[1, 6, 6, 16]),      // 3
            constant("dw/filter", T::FLOAT32, &[1, 3, 3, 16]),   // 4
            constant("dw/bias", T::FLOAT32, &[16]),              // 5
            tensor("dw/out", T::FLOAT32, &[1, 4, 4, 16]),        // 6
            constant("reshape/shape", T::INT32, &[2]),           // 7
            tensor("flat", T::FLOAT32, &[1, 256]),               // 8
            Spec {
                quant: Some(((1..=10).map(|i| i as f32 * 0.01).collect(), vec![0; 10], 0)),
                ..constant("fc/weights", T::INT8, &[10, 256])
            }, // 9
            tensor("fc/out", T::FLOAT32, &[1, 10]),              // 10
            tensor("logits", T::FLOAT32, &[1, 10]),              // 11
            Spec {
                variable: true,
                ..tensor("state", T::FLOAT32, &[1, 10])
            }, // 12
            Spec {
                quant: Some((vec![0.5], vec![-3], 0)),
                ..tensor("q", T::INT8, &[1, 10])
            }, // 13
        ];
        // Both biases share one buffer: their parameters count once.
        specs[2].share = Some(1);
        specs[5].share = Some(1);
        let ops = vec![
            op(B::CONV_2D, &[0, 1, 2], &[3], Options::Conv(Act::RELU6)),
            op(
                B::DEPTHWISE_CONV_2D,
                &[3, 4, 5],
                &[6],
                Options::Depthwise(Act::RELU),
            ),
            op(B::RESHAPE, &[6, 7], &[8], Options::None),
            OpSpec {
                version: 9,
                ..op(
                    B::FULLY_CONNECTED,
                    &[8, 9, -1],
                    &[10],
                    Options::FullyConnected(Act::NONE),
                )
            },
            OpSpec {
                custom: Some("MyCustomOp"),
                ..op(B::CUSTOM, &[10, 12], &[11], Options::None)
            },
            op(B::ADD, &[11, 11], &[13], Options::Add(Act::TANH)),
        ];
        build(&specs, &ops, &[0], &[13])
    }

    fn report_of(bytes: &[u8]) -> ModelReport {
        ModelReport::new(&Model::from_bytes(bytes).expect("test model verifies"))
    }

    #[test]
    fn reports_structure_signatures_and_metadata() {
        let bytes = cnn();
        let r = report_of(&bytes);
        assert_eq!(r.file_size, bytes.len() as u64);
        assert_eq!(r.schema_version, 3);
        assert_eq!(r.description.as_deref(), Some("test model"));
        assert_eq!(r.subgraphs.len(), 1);
        let sg = &r.subgraphs[0];
        assert_eq!(
            (sg.name.as_str(), &sg.inputs[..], &sg.outputs[..]),
            ("main", &[0][..], &[13][..])
        );
        assert_eq!(
            r.signatures,
            vec![SignatureReport {
                key: "serving_default".into(),
                subgraph: 0,
                inputs: vec![SignatureTensor {
                    name: "x".into(),
                    tensor: 0
                }],
                outputs: vec![SignatureTensor {
                    name: "y".into(),
                    tensor: 13
                }],
            }]
        );
        assert_eq!(r.metadata.len(), 1);
        assert_eq!(r.metadata[0].name, "min_runtime_version");
        assert_eq!(r.metadata[0].bytes, 16);
        assert_eq!(r.metadata[0].text.as_deref(), Some("1.14.0"));
    }

    #[test]
    fn reports_operators() {
        let r = report_of(&cnn());
        let ops = &r.subgraphs[0].operators;
        let names: Vec<&str> = ops.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(
            names,
            [
                "CONV_2D",
                "DEPTHWISE_CONV_2D",
                "RESHAPE",
                "FULLY_CONNECTED",
                "MyCustomOp",
                "ADD"
            ]
        );
        assert_eq!(
            ops.iter().map(|o| o.custom).collect::<Vec<_>>(),
            [false, false, false, false, true, false]
        );
        assert_eq!(ops[3].version, 9);
        assert_eq!(ops[3].inputs, [8, 9, -1]);
        assert_eq!(ops[3].outputs, [10]);
        let acts: Vec<Option<&str>> = ops.iter().map(|o| o.fused_activation.as_deref()).collect();
        assert_eq!(
            acts,
            [
                Some("RELU6"),
                Some("RELU"),
                None,
                Some("NONE"),
                None,
                Some("TANH")
            ]
        );
        assert_eq!(
            ops.iter().map(|o| o.index).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn macs_by_hand() {
        let r = report_of(&cnn());
        let macs: Vec<Option<u64>> = r.subgraphs[0].operators.iter().map(|o| o.macs).collect();
        // CONV_2D: output 1*6*6*16 = 576 elements, each 3*3*3 = 27 MACs.
        let conv = 576 * 27;
        // DEPTHWISE_CONV_2D: output 1*4*4*16 = 256 elements, each 3*3 = 9 MACs.
        let dw = 256 * 9;
        // FULLY_CONNECTED: 10 outputs, each 256 MACs.
        let fc = 10 * 256;
        assert_eq!(macs, [Some(conv), Some(dw), None, Some(fc), None, None]);
        assert_eq!((conv, dw, fc), (15_552, 2_304, 2_560));
        let s = &r.summary;
        assert_eq!(s.macs, 15_552 + 2_304 + 2_560);
        assert_eq!(s.macs_by_op["CONV_2D"], 15_552);
        assert_eq!(s.macs_by_op["DEPTHWISE_CONV_2D"], 2_304);
        assert_eq!(s.macs_by_op["FULLY_CONNECTED"], 2_560);
        assert_eq!(s.macs_by_op.len(), 3);
    }

    #[test]
    fn batch_matmul_and_transpose_conv_macs() {
        let specs = vec![
            tensor("a", T::FLOAT32, &[2, 3, 4]),                  // 0
            tensor("b", T::FLOAT32, &[2, 4, 5]),                  // 1
            tensor("ab", T::FLOAT32, &[2, 3, 5]),                 // 2
            tensor("a_t", T::FLOAT32, &[2, 7, 3]),                // 3
            tensor("b7", T::FLOAT32, &[2, 7, 5]),                 // 4
            tensor("atb", T::FLOAT32, &[2, 3, 5]),                // 5
            constant("out_shape", T::INT32, &[4]),                // 6
            constant("tconv/filter", T::FLOAT32, &[8, 3, 3, 16]), // 7
            tensor("tconv/in", T::FLOAT32, &[1, 4, 4, 16]),       // 8
            tensor("tconv/out", T::FLOAT32, &[1, 8, 8, 8]),       // 9
            // A fully connected layer whose output keeps its dimensions.
            constant("fc3/weights", T::FLOAT32, &[6, 5]), // 10
            tensor("fc3/out", T::FLOAT32, &[2, 3, 6]),    // 11
        ];
        let ops = vec![
            op(
                B::BATCH_MATMUL,
                &[0, 1],
                &[2],
                Options::BatchMatMul { adj_x: false },
            ),
            op(
                B::BATCH_MATMUL,
                &[3, 4],
                &[5],
                Options::BatchMatMul { adj_x: true },
            ),
            op(
                B::TRANSPOSE_CONV,
                &[6, 7, 8],
                &[9],
                Options::TransposeConv(Act::NONE),
            ),
            op(
                B::FULLY_CONNECTED,
                &[2, 10],
                &[11],
                Options::FullyConnected(Act::RELU),
            ),
        ];
        let r = report_of(&build(&specs, &ops, &[0, 1, 3, 4, 8], &[2, 5, 9, 11]));
        let macs: Vec<Option<u64>> = r.subgraphs[0].operators.iter().map(|o| o.macs).collect();
        // [2,3,4] x [2,4,5]: 2*3*5 = 30 outputs, K = 4.
        // adj_x [2,7,3]^T x [2,7,5]: 30 outputs, K = 7 (not 3).
        // TRANSPOSE_CONV: 1*4*4*16 = 256 input elements, each scattered to 3*3*8 = 72.
        // FULLY_CONNECTED with kept dims: 2*3*6 = 36 outputs, K = 5.
        assert_eq!(macs, [Some(120), Some(210), Some(18_432), Some(180)]);
        assert_eq!(r.summary.macs, 120 + 210 + 18_432 + 180);
        assert_eq!(r.summary.macs_by_op["BATCH_MATMUL"], 330);
        assert_eq!(
            r.subgraphs[0].operators[2].fused_activation.as_deref(),
            Some("NONE")
        );
    }

    #[test]
    fn macs_need_fitting_shapes() {
        // A conv whose filter has rank 2 and a fully connected whose output is a scalar.
        let specs = vec![
            tensor("x", T::FLOAT32, &[1, 4, 4, 2]),
            constant("bad_filter", T::FLOAT32, &[3, 3]),
            tensor("y", T::FLOAT32, &[1, 4, 4, 3]),
            constant("w", T::FLOAT32, &[1, 32]),
            tensor("z", T::FLOAT32, &[]),
        ];
        let ops = vec![
            op(B::CONV_2D, &[0, 1], &[2], Options::Conv(Act::NONE)),
            op(
                B::FULLY_CONNECTED,
                &[0, 3],
                &[4],
                Options::FullyConnected(Act::NONE),
            ),
            // An omitted filter.
            op(B::CONV_2D, &[0, -1], &[2], Options::Conv(Act::NONE)),
        ];
        let r = report_of(&build(&specs, &ops, &[0], &[4]));
        assert!(r.subgraphs[0].operators.iter().all(|o| o.macs.is_none()));
        assert_eq!(r.summary.macs, 0);
        assert!(r.summary.macs_by_op.is_empty());
    }

    #[test]
    fn reports_tensors() {
        let r = report_of(&cnn());
        let t = &r.subgraphs[0].tensors;
        assert_eq!(t.len(), 14);
        assert_eq!(t[0].name, "input");
        assert_eq!(t[0].dtype, "FLOAT32");
        assert_eq!(t[0].shape, [1, 8, 8, 3]);
        assert_eq!(t[0].shape_signature.as_deref(), Some(&[-1, 8, 8, 3][..]));
        assert_eq!(t[0].bytes, Some(8 * 8 * 3 * 4));
        assert!(!t[0].constant && t[0].data_bytes == 0 && t[0].buffer == 0);
        assert_eq!(t[3].shape_signature, None);

        assert!(t[1].constant);
        assert_eq!((t[1].bytes, t[1].data_bytes), (Some(432 * 4), 432 * 4));
        assert_eq!(t[2].buffer, t[5].buffer);
        assert_eq!(t[7].dtype, "INT32");

        let w = &t[9];
        assert_eq!(w.dtype, "INT8");
        let q = w.quantization.as_ref().unwrap();
        assert!(q.is_per_channel());
        assert_eq!(q.scales.len(), 10);
        assert_eq!(q.scales[2], 0.03);
        assert_eq!(q.zero_points, [0; 10]);
        assert_eq!(q.quantized_dimension, 0);

        let q = t[13].quantization.as_ref().unwrap();
        assert!(!q.is_per_channel());
        assert_eq!(
            (&q.scales[..], &q.zero_points[..]),
            (&[0.5f32][..], &[-3i64][..])
        );
        assert_eq!(t[0].quantization, None);

        assert!(t[12].variable && !t[12].constant);
    }

    #[test]
    fn summary_counts_each_buffer_once() {
        let r = report_of(&cnn());
        let s = &r.summary;
        assert_eq!((s.subgraphs, s.operators, s.tensors), (1, 6, 14));
        // FLOAT32: conv filter 432 + one shared bias 16 + dw filter 144.
        // INT32: reshape shape 2. INT8: fc weights 2560.
        let f32s = DtypeParams {
            count: 432 + 16 + 144,
            bytes: (432 + 16 + 144) * 4,
        };
        assert_eq!(s.parameters_by_dtype["FLOAT32"], f32s);
        assert_eq!(
            s.parameters_by_dtype["INT32"],
            DtypeParams { count: 2, bytes: 8 }
        );
        assert_eq!(
            s.parameters_by_dtype["INT8"],
            DtypeParams {
                count: 2560,
                bytes: 2560
            }
        );
        assert_eq!(s.parameters_by_dtype.len(), 3);
        assert_eq!(s.parameters, 592 + 2 + 2560);
        assert_eq!(s.parameter_bytes, 592 * 4 + 8 + 2560);
        let hist: Vec<(&str, u64)> = s
            .op_histogram
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            hist,
            [
                ("ADD", 1),
                ("CONV_2D", 1),
                ("DEPTHWISE_CONV_2D", 1),
                ("FULLY_CONNECTED", 1),
                ("MyCustomOp", 1),
                ("RESHAPE", 1)
            ]
        );
    }

    #[test]
    fn huge_shapes_saturate_instead_of_overflowing() {
        // Element counts the verifier accepts (2^60 one-byte elements) whose MAC products
        // overflow u64.
        let big = 1 << 20;
        let specs = vec![
            tensor("x", T::INT8, &[big, big, 1, 1]),
            tensor("filter", T::INT8, &[big, big, big, 1]),
            tensor("y", T::INT8, &[big, big, big, 1]),
        ];
        let ops = vec![
            op(B::CONV_2D, &[0, 1], &[2], Options::Conv(Act::NONE)),
            op(B::CONV_2D, &[0, 1], &[2], Options::Conv(Act::NONE)),
        ];
        let r = report_of(&build(&specs, &ops, &[0], &[2]));
        assert_eq!(r.subgraphs[0].operators[0].macs, Some(u64::MAX));
        assert_eq!(r.summary.macs, u64::MAX);
    }

    #[test]
    fn empty_and_unusual_tensors_do_not_panic() {
        let specs = vec![
            tensor("scalar", T::FLOAT32, &[]),
            tensor("empty", T::INT8, &[0, 4]),
            tensor("text", T::STRING, &[2]),
            tensor("int4", T::INT4, &[3]),
            tensor("", T(100), &[1]),
        ];
        let ops = vec![op(B(9999), &[0, 1, 2, 3], &[4], Options::None)];
        let r = report_of(&build(&specs, &ops, &[0], &[4]));
        let t = &r.subgraphs[0].tensors;
        assert_eq!(t[0].bytes, Some(4));
        assert_eq!(t[1].bytes, Some(0));
        assert_eq!(t[2].bytes, None);
        assert_eq!(t[3].bytes, Some(2));
        assert_eq!(t[4].dtype, "UNKNOWN_100");
        assert_eq!(r.subgraphs[0].operators[0].op, "BUILTIN_9999");
    }

    /// Mutated models that still verify are reported without panicking.
    #[test]
    fn mutated_models_that_verify_never_panic() {
        let original = cnn();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*: deterministic, no dependency.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut verified = 0;
        for _ in 0..3000 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            if let Ok(model) = Model::from_bytes(&bytes) {
                let r = ModelReport::new(&model);
                assert_eq!(r.summary.file_size, bytes.len() as u64);
                verified += 1;
            }
        }
        assert!(verified > 100, "only {verified} mutants verified");
    }

    #[test]
    fn metadata_text_only_for_short_printable_values() {
        assert_eq!(metadata_text(b"1.5.0\0\0"), Some("1.5.0".into()));
        assert_eq!(metadata_text(b"\0\0"), None);
        assert_eq!(metadata_text(b""), None);
        assert_eq!(metadata_text(b"\x0c\0\0\0binary"), None);
        assert_eq!(metadata_text(&[0xff, 0xfe]), None);
        assert_eq!(metadata_text(&[b'a'; METADATA_TEXT_MAX + 1]), None);
    }
}
