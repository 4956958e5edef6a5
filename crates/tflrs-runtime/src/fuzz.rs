//! Fuzz entry point of the interpreter: bytes -> model -> plan -> invoke with seeded inputs.
//!
//! The cargo-fuzz target `build_and_invoke` wraps [`build_and_invoke`]; the test suite replays
//! it on testdata models, structured mutations of them and saved regressions.

use crate::{Interpreter, Limits, Model};

/// Limits small enough that a fuzzing run never spends long or much memory on one input.
pub const FUZZ_LIMITS: Limits = Limits {
    max_arena_bytes: 64 << 20,
    max_tensor_elements: 1 << 22,
    max_nodes: 4096,
    max_subgraphs: 64,
    max_call_depth: 8,
    max_loop_iterations: 10_000,
    max_arena_buffers: 1 << 15,
};

/// Loads `data`, plans it within [`FUZZ_LIMITS`], fills every input with bytes from a simple
/// seeded generator and invokes once. Errors are fine; panics, hangs and out-of-bounds accesses
/// are bugs.
pub fn build_and_invoke(data: &[u8]) {
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    let Ok(mut interp) = Interpreter::builder(&model).limits(FUZZ_LIMITS).build() else {
        return;
    };
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ data.len() as u64;
    for i in 0..interp.num_inputs() {
        if let Ok(bytes) = interp.input_bytes_mut(i) {
            for b in bytes.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
        }
    }
    let _ = interp.invoke();
}
