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

mod error;
pub mod fuzz;
mod model;
pub mod report;

pub use error::{IndexKind, LoadError, Location, QuantProblem, ShapeSummary};
pub use model::{
    FILE_IDENTIFIER, LoadLimits, Model, SCHEMA_VERSION, builtin_code, for_each_called_subgraph,
    tensor_type_bits,
};

/// The SHA-256 of `schema/schema.fbs` that the committed bindings were generated from, as
/// stamped in their header. A test compares it with the `.fbs` in the tree.
pub const GENERATED_FROM_SHA256: &str = {
    const STAMP: &str = include_str!("generated/schema_generated.rs");
    stamp_hash(STAMP)
};

const fn stamp_hash(text: &'static str) -> &'static str {
    const KEY: &[u8] = b"sha256:";
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + KEY.len() + 64 <= bytes.len() {
        let mut j = 0;
        while j < KEY.len() && bytes[i + j] == KEY[j] {
            j += 1;
        }
        if j == KEY.len() {
            let (_, rest) = bytes.split_at(i + KEY.len());
            let (hash, _) = rest.split_at(64);
            return match core::str::from_utf8(hash) {
                Ok(h) => h,
                Err(_) => "",
            };
        }
        i += 1;
    }
    ""
}
