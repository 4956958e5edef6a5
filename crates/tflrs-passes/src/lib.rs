//! Optimization passes over the tflrs graph IR.
//!
//! This crate will hold `Pass` and `PassManager` and the backend-agnostic graph rewrites:
//! quantization, pruning and operator fusion. Passes depend on `tflrs-ir` only, never on
//! kernels or the runtime.
