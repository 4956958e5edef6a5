//! The preparation layer: what a kernel computes once from its node before it runs (validated
//! geometry, quantized multipliers, biases, lookup tables, broadcast plans), as plain structs
//! with public fields.
//!
//! One function per op family makes a plan from a [`NodeCtx`](crate::NodeCtx); the scalar
//! kernels are executors over these plans, and a SIMD or GPU backend calls the same function
//! and packs from the plan, so that validation and quantized arithmetic exist once and a fast
//! kernel cannot drift from the reference one.

pub mod binary;
pub mod conv;
pub mod pool;
pub mod softmax;
pub mod unary;
