//! The tflrs runtime.
//!
//! Load a `.tflite` model with [`Model::from_bytes`], which verifies it before anything reads
//! it. The interpreter (planning, arena, kernel choice with fallback, `invoke()`) comes next.

pub use tflrs_schema::{LoadError, LoadLimits, Model};
