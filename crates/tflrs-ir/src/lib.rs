//! The tflrs graph IR.
//!
//! This crate will hold the one graph representation that passes and the interpreter share:
//! tensor types (`DType`, `Shape`, `QuantParams`), `Graph` with typed `Op`s, `Graph::verify()`,
//! shape inference, and lossless import from / export to `.tflite`. Only its import/export
//! module touches the generated FlatBuffers types of `tflrs-schema`.
#![no_std]
