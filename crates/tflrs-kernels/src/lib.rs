//! Kernels for tflrs: the extension points and the scalar reference backend.
//!
//! - [`Backend`] offers a [`Kernel`] for a node ([`NodeCtx`]): `Ok(Some(kernel))`, `Ok(None)`
//!   ("not this node, ask the next backend"), or a typed [`KernelError`]. The interpreter asks
//!   its backends in the user's order; [`ScalarBackend`] is always last and covers every
//!   operator, so fallback is total.
//! - A [`Kernel`] is prepared once (pre-packed weights, quantized multipliers, lookup tables)
//!   and run many times through a [`KernelIo`] without allocating. The preparation itself is
//!   public in [`prep`] (one function per op family, plain structs with public fields): the
//!   scalar kernels execute its plans, and a faster backend makes the same plan and packs from
//!   it, so validation and quantized arithmetic exist once.
//! - A backend owning a device (a GPU) returns it from [`Backend::device`], claims runs of
//!   consecutive nodes with [`Backend::claim`] and runs each as one [`PartitionKernel`] on
//!   [`Device`] buffers; the runtime copies tensors only across a partition's edges (see
//!   [`device`]).
//! - A custom backend lives in its own crate, implements [`Backend`], and is passed to the
//!   interpreter builder; [`CustomOps`] registers kernels for custom operators by name.
//!
//! Integer kernels of the scalar backend are bit-exact with LiteRT's reference kernels
//! (`OpResolverType.BUILTIN_REF`); [`scalar::qmath`] holds all of the bit-exact fixed-point
//! arithmetic (gemmlowp's helpers, the int16 LSTM variants, lookup tables), the oracle for
//! SIMD and GPU emulation tests. [`standalone`] runs one kernel outside an interpreter (constant
//! folding, tools); [`testing`] adds the test harness (poison, guard bytes, fast-vs-scalar
//! comparison).
//! Kernel names follow `op_dtype__backend[_variant]` (`conv_2d_i8__scalar`), the same string in
//! the registry, tests, benches and plan reports.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod custom;
pub mod device;
mod error;
mod kernel;
pub mod math;
pub mod parallel;
pub mod prep;
pub mod scalar;
pub mod standalone;
mod tensor;
pub mod testing;

pub use custom::{CustomKernelFactory, CustomOps};
pub use device::{BufferId, Device, PartitionCtx, PartitionError, PartitionKernel};
#[doc(hidden)]
pub use error::__format;
pub use error::KernelError;
pub use kernel::{Backend, Inputs, Kernel, KernelIo, NoServices, NodeCtx, Outputs, Services};
pub use parallel::Parallel;
pub use scalar::ScalarBackend;
pub use tensor::{RawTensor, TensorInfo, TensorMut, TensorRef};
