//! Test support for tflrs: the golden models of `testdata/` and LiteRT's answers for them.
//!
//! `cargo xtask gen-testdata` trains small Keras models and per-operator models, converts them
//! with TensorFlow's converter, runs them with LiteRT (reference kernels and XNNPACK), and commits
//! everything under `testdata/`:
//!
//! ```text
//! testdata/manifest.json                      every case: operators, shapes, dtypes,
//!                                             quantization, tolerance, LiteRT's tensor details
//! testdata/models/<case>/model.tflite
//! testdata/models/<case>/input_<k>.npy
//! testdata/models/<case>/ref_output_<k>.npy      LiteRT, OpResolverType.BUILTIN_REF
//! testdata/models/<case>/xnnpack_output_<k>.npy  LiteRT, default (XNNPACK) path
//! ```
//!
//! This crate reads them without Python: [`Manifest`] is the typed manifest, [`Npy`] a small
//! `.npy` reader, [`Case`] one case with its arrays loaded, and [`compare()`] checks an output
//! against a golden one under the manifest's [`Tolerance`], reporting the worst element.
//! [`conformance`] runs the whole suite through an interpreter the caller builds, per backend,
//! with each backend's known gaps.
//!
//! ```no_run
//! use tflrs_testdata::{Case, Npy};
//!
//! let case = Case::load("mlp_int8").unwrap();
//! let model = case.model_bytes().unwrap();
//! # let run = |_m: &[u8], inputs: &[Npy]| inputs.to_vec();
//! let outputs: Vec<Npy> = run(&model, &case.inputs); // the interpreter under test
//! case.check_ref_outputs(&outputs).unwrap();
//! ```

pub mod compare;
pub mod conformance;
pub mod manifest;
pub use tflrs_npy as npy;

use std::path::{Path, PathBuf};

pub use compare::{Element, Mismatch, Tolerance, compare, unravel_index};
pub use manifest::{
    CaseEntry, Family, InputEntry, LitertDetails, LitertOp, LitertTensor, Manifest, Mode, OpDtype,
    OutputEntry, Quantization, Skip,
};
pub use npy::{DType, Element as NpyElement, Npy, NpyError};

/// Environment variable that overrides where [`testdata_dir`] looks.
pub const TESTDATA_ENV: &str = "TFLRS_TESTDATA";

/// Errors of this crate: which file, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not the JSON this crate expects.
    #[error("parsing {path}: {source}")]
    Json {
        /// The manifest.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The manifest has another format version.
    #[error("{path} has format {found}, this crate reads {expected}", expected = manifest::MANIFEST_FORMAT)]
    Format {
        /// The manifest.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// A `.npy` file is malformed or unsupported.
    #[error("reading {path}: {source}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: NpyError,
    },
    /// No case has this name.
    #[error("no case named {0:?} in the manifest")]
    NoCase(String),
    /// A file does not hold what the manifest says.
    #[error("{path}: the manifest says {manifest}, the file has {file}")]
    Disagrees {
        /// The file.
        path: PathBuf,
        /// What the manifest says (dtype and shape, or size and hash).
        manifest: String,
        /// What the file holds.
        file: String,
    },
}

/// The repository's `testdata/` directory.
///
/// `$TFLRS_TESTDATA` when set; otherwise the first `testdata/` with a `manifest.json` found
/// walking up from this crate's `CARGO_MANIFEST_DIR`; otherwise `<workspace>/testdata`
/// (which may not exist yet).
pub fn testdata_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TESTDATA_ENV) {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("testdata"))
        .find(|t| t.join("manifest.json").is_file())
        .unwrap_or_else(|| here.join("../../testdata"))
}

/// A case with its arrays loaded and checked against the manifest.
#[derive(Debug, Clone)]
pub struct Case {
    /// The manifest entry.
    pub entry: CaseEntry,
    /// The testdata directory the paths are relative to.
    pub root: PathBuf,
    /// Absolute path of `model.tflite`.
    pub model_path: PathBuf,
    /// Inputs in model order.
    pub inputs: Vec<Npy>,
    /// Outputs of LiteRT's reference kernels, in model order.
    pub ref_outputs: Vec<Npy>,
    /// Outputs of LiteRT's default (XNNPACK) path, in model order.
    pub xnnpack_outputs: Vec<Npy>,
}

/// An output of a case that does not match LiteRT's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseMismatch {
    /// A different number of outputs.
    #[error("case {case}: {got} outputs, LiteRT gives {expected}")]
    Count {
        /// The case.
        case: String,
        /// LiteRT's number of outputs.
        expected: usize,
        /// The number compared.
        got: usize,
    },
    /// Output `index` differs.
    #[error("case {case}, output {index} ({name}): {mismatch}")]
    Output {
        /// The case.
        case: String,
        /// The output's position.
        index: usize,
        /// The output tensor's name.
        name: String,
        /// How it differs.
        mismatch: Box<Mismatch>,
    },
}

impl Case {
    /// Loads case `name` from [`testdata_dir`].
    pub fn load(name: &str) -> Result<Case, Error> {
        let root = testdata_dir();
        let manifest = Manifest::load(&root)?;
        let entry = manifest
            .case(name)
            .ok_or_else(|| Error::NoCase(name.to_owned()))?;
        Case::from_entry(&root, entry)
    }

    /// Loads the arrays of `entry`, with paths relative to `root`, checking that each file holds
    /// the dtype and shape the manifest says.
    pub fn from_entry(root: &Path, entry: &CaseEntry) -> Result<Case, Error> {
        let load = |file: &str, dtype: DType, shape: &[usize]| -> Result<Npy, Error> {
            let path = root.join(file);
            let array = Npy::read(&path).map_err(|source| Error::Npy {
                path: path.clone(),
                source,
            })?;
            if array.dtype != dtype || array.shape != shape {
                return Err(Error::Disagrees {
                    path,
                    manifest: format!("{dtype} {shape:?}"),
                    file: format!("{} {:?}", array.dtype, array.shape),
                });
            }
            Ok(array)
        };
        let inputs = entry
            .inputs
            .iter()
            .map(|i| load(&i.file, i.dtype, &i.shape))
            .collect::<Result<_, _>>()?;
        let ref_outputs = entry
            .outputs
            .iter()
            .map(|o| load(&o.ref_file, o.dtype, &o.shape))
            .collect::<Result<_, _>>()?;
        let xnnpack_outputs = entry
            .outputs
            .iter()
            .map(|o| load(&o.xnnpack_file, o.dtype, &o.shape))
            .collect::<Result<_, _>>()?;
        let model_path = root.join(&entry.model);
        let meta = std::fs::metadata(&model_path).map_err(|source| Error::Io {
            path: model_path.clone(),
            source,
        })?;
        if meta.len() != entry.model_bytes {
            return Err(Error::Disagrees {
                path: model_path,
                manifest: format!("{} bytes", entry.model_bytes),
                file: format!("{} bytes", meta.len()),
            });
        }
        Ok(Case {
            entry: entry.clone(),
            root: root.to_owned(),
            model_path,
            inputs,
            ref_outputs,
            xnnpack_outputs,
        })
    }

    /// The case's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The `.tflite` bytes.
    pub fn model_bytes(&self) -> Result<Vec<u8>, Error> {
        std::fs::read(&self.model_path).map_err(|source| Error::Io {
            path: self.model_path.clone(),
            source,
        })
    }

    /// Compares `got` with LiteRT's reference outputs under the manifest's tolerance (exact for
    /// integer outputs).
    pub fn check_ref_outputs(&self, got: &[Npy]) -> Result<(), CaseMismatch> {
        self.check_outputs(&self.ref_outputs, got, |k| self.entry.output_tolerance(k))
    }

    /// Compares `got` with LiteRT's XNNPACK outputs under `tolerance`.
    pub fn check_xnnpack_outputs(
        &self,
        got: &[Npy],
        tolerance: Tolerance,
    ) -> Result<(), CaseMismatch> {
        self.check_outputs(&self.xnnpack_outputs, got, |_| tolerance)
    }

    fn check_outputs(
        &self,
        expected: &[Npy],
        got: &[Npy],
        tolerance: impl Fn(usize) -> Tolerance,
    ) -> Result<(), CaseMismatch> {
        if expected.len() != got.len() {
            return Err(CaseMismatch::Count {
                case: self.entry.name.clone(),
                expected: expected.len(),
                got: got.len(),
            });
        }
        for (k, (e, g)) in expected.iter().zip(got).enumerate() {
            compare(e, g, tolerance(k)).map_err(|mismatch| CaseMismatch::Output {
                case: self.entry.name.clone(),
                index: k,
                name: self.entry.outputs[k].name.clone(),
                mismatch: Box::new(mismatch),
            })?;
        }
        Ok(())
    }
}

/// Loads the manifest of [`testdata_dir`].
pub fn manifest() -> Result<Manifest, Error> {
    Manifest::load(&testdata_dir())
}
