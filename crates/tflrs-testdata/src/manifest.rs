//! The typed form of `testdata/manifest.json`, as `xtask/testdata/common.py` writes it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::compare::Tolerance;
use crate::npy::DType;

/// The manifest format version this crate reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// `testdata/manifest.json`: every case and every recorded skip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_FORMAT`]).
    pub format: u32,
    /// What wrote the files.
    pub generator: Generator,
    /// The cases, sorted by name.
    pub cases: Vec<CaseEntry>,
    /// (operator, dtype) combinations that have no model, with the reason.
    pub skips: Vec<Skip>,
}

/// The generator and the versions of the packages that made the goldens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    /// The command that regenerates the files.
    pub command: String,
    /// Package name to version (`tensorflow-cpu`, `ai-edge-litert`, `numpy`, `keras`).
    pub versions: BTreeMap<String, Option<String>>,
}

/// Whether a case is a whole model or a per-operator model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// A Keras architecture (MLP, CNN, DS-CNN, MobileNetV2, LSTM).
    Arch,
    /// A tiny model around one builtin operator.
    Op,
}

/// How the TFLite converter was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No optimizations.
    Float32,
    /// `Optimize.DEFAULT` without a dataset: int8 weights, float activations (hybrid kernels).
    DynamicRange,
    /// float16 weights, dequantized to float32 at load.
    Float16,
    /// Full integer: int8 weights and activations, int8 input and output.
    Int8,
    /// int16 activations, int8 weights, int16 input and output.
    #[serde(rename = "int16x8")]
    Int16x8,
}

impl Mode {
    /// The manifest's spelling (`"dynamic_range"`).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Float32 => "float32",
            Mode::DynamicRange => "dynamic_range",
            Mode::Float16 => "float16",
            Mode::Int8 => "int8",
            Mode::Int16x8 => "int16x8",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-tensor affine quantization of a model input or output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantization {
    /// `real = scale * (q - zero_point)`.
    pub scale: f64,
    /// The integer that represents real 0.
    pub zero_point: i64,
}

/// One distinct (operator, dtypes) combination of a case, in node order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpDtype {
    /// Builtin operator name (`"CONV_2D"`).
    pub op: String,
    /// The dtype of the operator's first input.
    pub dtype: String,
    /// The dtypes of all its (present) inputs.
    pub inputs: Vec<String>,
    /// The dtypes of its outputs.
    pub outputs: Vec<String>,
}

/// A model input: the file with the data fed to LiteRT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputEntry {
    /// The tensor's name in the model.
    pub name: String,
    /// `.npy` file, relative to the testdata directory.
    pub file: String,
    /// Element type.
    pub dtype: DType,
    /// Shape fed to the model.
    pub shape: Vec<usize>,
    /// Quantization parameters, for quantized inputs.
    pub quantization: Option<Quantization>,
}

/// A model output: LiteRT's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputEntry {
    /// The tensor's name in the model.
    pub name: String,
    /// Output of LiteRT's reference kernels (`OpResolverType.BUILTIN_REF`), relative path.
    pub ref_file: String,
    /// Output of LiteRT's default path (XNNPACK delegate), relative path.
    pub xnnpack_file: String,
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Quantization parameters, for quantized outputs.
    pub quantization: Option<Quantization>,
    /// `max |ref - xnnpack|` over the elements: how far LiteRT's two paths are apart.
    pub xnnpack_max_abs_diff: f64,
}

/// One node as LiteRT reports it (`interpreter._get_ops_details()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LitertOp {
    /// Node index in execution order.
    pub index: usize,
    /// Builtin name (`"FULLY_CONNECTED"`), or the custom op's name.
    pub op_name: String,
    /// Input tensor indices; -1 for an omitted optional input.
    pub inputs: Vec<i64>,
    /// Output tensor indices.
    pub outputs: Vec<i64>,
}

/// One tensor as LiteRT reports it (`interpreter.get_tensor_details()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LitertTensor {
    /// Tensor index in the primary subgraph.
    pub index: usize,
    /// Tensor name.
    pub name: String,
    /// NumPy dtype name (`"float32"`, `"int8"`, ...; `"string"` for string tensors).
    pub dtype: String,
    /// Shape after `allocate_tensors()`.
    pub shape: Vec<i64>,
    /// Shape with -1 for dynamic dimensions.
    pub shape_signature: Vec<i64>,
    /// Quantization scales (one, or one per channel; empty when not quantized).
    pub scales: Vec<f64>,
    /// Quantization zero points, parallel to `scales`.
    pub zero_points: Vec<i64>,
    /// The channel axis of per-channel quantization.
    pub quantized_dimension: i64,
}

/// What LiteRT reports about the model (primary subgraph).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LitertDetails {
    /// Nodes in execution order.
    pub ops: Vec<LitertOp>,
    /// Tensors by index.
    pub tensors: Vec<LitertTensor>,
}

/// One case: a model, its inputs, LiteRT's outputs, and how to compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEntry {
    /// Unique name, `[a-z0-9_]+`; also the folder under `models/`.
    pub name: String,
    /// Whole model or per-operator model.
    pub family: Family,
    /// Conversion mode.
    pub mode: Mode,
    /// Seed of the generated inputs.
    pub seed: u64,
    /// What the model is, and anything unusual about it.
    pub notes: String,
    /// The `.tflite` file, relative to the testdata directory.
    pub model: String,
    /// Its size in bytes.
    pub model_bytes: u64,
    /// Its SHA-256, lowercase hex.
    pub model_sha256: String,
    /// Builtin operator names in node order (primary subgraph).
    pub operators: Vec<String>,
    /// Distinct (operator, dtypes) combinations.
    pub op_dtypes: Vec<OpDtype>,
    /// Model inputs in order.
    pub inputs: Vec<InputEntry>,
    /// Model outputs in order.
    pub outputs: Vec<OutputEntry>,
    /// How outputs are compared with `ref_file` (integer outputs: always exact).
    pub tolerance: Tolerance,
    /// Node names LiteRT reports with its default (XNNPACK) path: `DELEGATE` for delegated
    /// partitions, builtin names for what XNNPACK left to the builtin kernels.
    pub xnnpack_operators: Vec<String>,
    /// LiteRT's view of the model, for `tflrs inspect --json` tests.
    pub litert: LitertDetails,
}

impl CaseEntry {
    /// The tolerance that applies to output `k`: exact for integer and boolean outputs, the
    /// case's tolerance for float outputs.
    pub fn output_tolerance(&self, k: usize) -> Tolerance {
        match self.outputs.get(k) {
            Some(o) if !o.dtype.is_float() => Tolerance::Exact,
            _ => self.tolerance,
        }
    }

    /// Whether operator `op` (builtin name) is one of this case's nodes.
    pub fn uses_op(&self, op: &str) -> bool {
        self.operators.iter().any(|o| o == op)
    }
}

/// An (operator, dtype) combination without a model, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// Unique name (shares the namespace of case names).
    pub name: String,
    /// Builtin operator name.
    pub op: String,
    /// `"float32"`, `"int8"`, `"int16x8"`, ...
    pub dtype: String,
    /// Why there is no model (no LiteRT kernel, the converter cannot emit it, ...).
    pub reason: String,
}

impl Manifest {
    /// Parses a manifest from JSON text.
    pub fn from_json(text: &str) -> Result<Manifest, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads `dir/manifest.json` and checks its format version.
    pub fn load(dir: &Path) -> Result<Manifest, Error> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let manifest = Manifest::from_json(&text).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::Format {
                path,
                found: manifest.format,
            });
        }
        Ok(manifest)
    }

    /// The case called `name`.
    pub fn case(&self, name: &str) -> Option<&CaseEntry> {
        self.cases.iter().find(|c| c.name == name)
    }

    /// Cases of one family, in name order.
    pub fn cases_of(&self, family: Family) -> impl Iterator<Item = &CaseEntry> {
        self.cases.iter().filter(move |c| c.family == family)
    }
}
