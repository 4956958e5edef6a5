//! Kernels for tflrs.
//!
//! This crate will hold the `Kernel` and `Backend` traits, the kernel registry, and the scalar
//! reference backend, which covers every operator the IR can represent so that fallback is
//! total. Integer kernels are bit-exact with LiteRT's reference kernels.
#![no_std]
