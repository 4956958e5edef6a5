//! GPU backend for tflrs on wgpu.
//!
//! This crate will hold WGSL compute kernels and the device-resident partitioning that keeps
//! consecutive GPU nodes' tensors on the device.
