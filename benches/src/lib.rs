//! Benchmarks for tflrs live under `benches/` of this crate (criterion), so that `cargo bench`
//! at the workspace root runs them. Whole-model benches arrive with the interpreter.
