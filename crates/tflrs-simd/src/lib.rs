//! SIMD backend for tflrs.
//!
//! This crate will hold kernels compiled once per ISA (AVX2+FMA, SSE4.1, NEON, wasm simd128)
//! through `#[target_feature]` functions and selected after run-time detection. Every kernel
//! here is tested against the scalar kernel of `tflrs-kernels`.
