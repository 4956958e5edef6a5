//! The TensorFlow Lite model format for tflrs.
//!
//! - [`schema/schema.fbs`](https://example.invalid) states the format (schema version 3);
//!   [`generated`] holds the Rust bindings that `cargo xtask gen-schema` makes from it with
//!   `flatc`. They are committed, stamped with the hash of the `.fbs`, and never edited by hand.
//! - [`Model::from_bytes`] is the only way tflrs reads a `.tflite`: it runs the FlatBuffers
//!   verifier and then semantic checks, so that everything downstream can index the model
//!   without re-checking ranges.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[allow(
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations,
    unused_imports,
    dead_code,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    deprecated,
    unsafe_op_in_unsafe_fn,
    mismatched_lifetime_syntaxes,
    rust_2018_idioms,
    unused_extern_crates
)]
#[rustfmt::skip]
#[path = "generated/schema_generated.rs"]
mod schema_generated;

/// The generated FlatBuffers bindings (namespace `tflite`).
pub mod generated {
    pub use crate::schema_generated::tflite::*;
}
