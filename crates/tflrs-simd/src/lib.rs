//! SIMD backend for tflrs.
//!
//! [`SimdBackend`] offers kernels compiled once per instruction set through `#[target_feature]`
//! and chosen after run-time detection ([`Isa`]): AVX-512, AVX2+FMA and SSE4.1 on x86-64, and a
//! portable path for every other host (NEON and wasm simd128 come later as more micro-kernels
//! under the same wrappers). It answers `Ok(None)` for every node it has no kernel for, so the
//! scalar backend covers the rest.
//!
//! Each kernel reuses the scalar kernel's preparation (`tflrs_kernels::prep`: shape checks,
//! geometry, clamp ranges, quantized multipliers) and packs from its plan, and is tested
//! against the scalar kernel on random inputs on every level the host has
//! ([`Isa::for_each_available`] prints the levels it skips).
//!
//! ```
//! use tflrs_simd::{Isa, SimdBackend};
//! let backend = SimdBackend::new(); // the best level of this host (or TFLRS_SIMD_ISA's)
//! assert!(backend.isa() <= Isa::detected());
//! ```

mod activations;
mod backend;
mod batch_matmul;
mod conv;
mod conv_small;
mod depthwise;
mod depthwise_i8;
pub mod elementwise;
mod elementwise_i8;
mod fully_connected;
pub mod gemm;
mod gemm_i8;
mod hybrid;
mod int8;
mod isa;
mod level;
mod mean;
mod pool;
mod softmax;
mod split;
#[cfg(test)]
mod testutil;
mod transpose_conv;

pub use backend::{BEST_IMPLEMENTED, SimdBackend};
pub use isa::Isa;
#[cfg(target_arch = "x86_64")]
pub use isa::x86;
