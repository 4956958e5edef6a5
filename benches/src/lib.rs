//! Benchmarks for tflrs.
//!
//! - `cargo bench -p tflrs-benches`: criterion benches of whole testdata models on the scalar
//!   and SIMD backends, the SIMD one on 1 and 2 threads (`benches/models.rs`).
//! - `cargo xtask bench`: tflrs beside LiteRT (reference kernels, and XNNPACK on 1 and 2
//!   threads) on the same models and inputs, as a table of medians and ratios. Its tflrs side is
//!   the `time-models` binary of this crate.
//!
//! Speed goals live here, never in timed tests.

use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::Case;

/// The models benchmarked by default: the whole-model cases of `testdata/`.
pub const MODELS: &[&str] = &[
    "mlp_float32",
    "mlp_int8",
    "kws_dscnn_float32",
    "kws_dscnn_int8",
    "cnn_small_float32",
    "cnn_small_int8",
    "mobilenet_v2_035_96_float32",
    "mobilenet_v2_035_96_int8",
];

/// The backends a bench can run, by name: `scalar` (the reference kernels only) or `simd` (the
/// default: `tflrs_simd::SimdBackend` at the host's level, then the scalar backend).
pub const BACKENDS: &[&str] = &["scalar", "simd"];

/// A loaded case: an interpreter that owns the case's model (`Model::from_vec`), with the
/// case's inputs filled in, on the scalar backend.
pub fn interpreter_for(case: &Case) -> Result<Interpreter<'static>, String> {
    interpreter_with(case, "scalar")
}

/// Like [`interpreter_for`], with the backend named `backend` (one of [`BACKENDS`]) asked
/// before the scalar one.
pub fn interpreter_with(case: &Case, backend: &str) -> Result<Interpreter<'static>, String> {
    interpreter_threads(case, backend, 1)
}

/// Like [`interpreter_with`], on `threads` threads (`InterpreterBuilder::threads`).
pub fn interpreter_threads(
    case: &Case,
    backend: &str,
    threads: usize,
) -> Result<Interpreter<'static>, String> {
    let bytes = case.model_bytes().map_err(|e| e.to_string())?;
    let model = Model::from_vec(bytes).map_err(|e| e.to_string())?;
    let builder = Interpreter::builder(model).threads(threads);
    let builder = match backend {
        "scalar" => builder.reference_kernels(true),
        // The default builder asks the SIMD backend before the scalar one.
        "simd" => builder,
        other => {
            return Err(format!(
                "unknown backend {other:?} (available: {BACKENDS:?})"
            ));
        }
    };
    let mut interp = builder.build().map_err(|e| e.to_string())?;
    for (i, input) in case.inputs.iter().enumerate() {
        let dst = interp.input_bytes_mut(i).map_err(|e| e.to_string())?;
        if dst.len() != input.data.len() {
            return Err(format!(
                "input {i}: {} bytes, case has {}",
                dst.len(),
                input.data.len()
            ));
        }
        dst.copy_from_slice(&input.data);
    }
    Ok(interp)
}
