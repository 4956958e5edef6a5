//! The tflrs runtime: load a `.tflite` model, plan it once, invoke it many times.
//!
//! ```no_run
//! # fn main() -> Result<(), tflrs_runtime::Error> {
//! let bytes = std::fs::read("model.tflite").unwrap();
//! let model = tflrs_runtime::Model::from_bytes(&bytes)?;
//! let mut interp = tflrs_runtime::Interpreter::builder(&model).build()?;
//! interp.input_mut::<f32>(0)?.fill(0.5);
//! interp.invoke()?;
//! println!("{:?}", interp.output::<f32>(0)?);
//! # Ok(())
//! # }
//! ```
//!
//! [`Interpreter::builder`] takes backends in preference order, then asks the SIMD backend
//! (feature `simd`, on by default; [`InterpreterBuilder::reference_kernels`] leaves it out for
//! LiteRT's reference kernels only), and the scalar backend always last, so every node gets a
//! kernel; `build()` plans once: a kernel per node, lifetime-based
//! arena offsets (tensors not alive together share memory), constants read in place.
//! `invoke()` allocates nothing (the one exception: a model input whose values decide tensor
//! shapes, see [`Interpreter::shape_inputs`], makes `invoke` plan again when its values
//! change, as [`Interpreter::resize_input`] does).
//!
//! Arena: reshapes share their input's memory; the main subgraph's inputs stay alive for the
//! whole invoke (as in LiteRT) unless [`InterpreterBuilder::preserve_inputs`] is `false`, which
//! plans like TensorFlow Lite Micro for a smaller arena. [`Limits`] bound arena bytes, tensor
//! elements, nodes, subgraphs, call depth and loop iterations before anything is allocated.
//!
//! Devices: a backend that owns a device (`Backend::device`) claims runs of consecutive nodes
//! (`Backend::claim`), each run as one partition kernel on the device's buffers. Tensors made
//! and read inside a partition get no arena space; the planner copies only the tensors that
//! cross a partition's edge (host to device before it, device to host after), which
//! [`Interpreter::partition_report`] and [`Interpreter::transfer_report`] list.
//! [`host_device::HostDeviceBackend`] is the reference device backend, with host memory
//! standing in for the device. [`ScalarEval`] is the [`tflrs_ir::ConstEval`] passes fold
//! constants with.
//!
//! Control flow (`WHILE`, `IF`, `CALL_ONCE`) runs the model's other subgraphs, each planned
//! once like the main one; resource variables (`VAR_HANDLE`, `READ_VARIABLE`,
//! `ASSIGN_VARIABLE`) get their storage at build time and keep their values across invokes
//! (and across re-planning), so stateful streaming models run without allocating.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod arena;
#[cfg(feature = "std")]
pub mod calibrate;
mod element;
mod error;
mod eval;
mod exec;
pub mod fuzz;
pub mod host_device;
mod interpreter;
mod io;
mod model;
mod plan;
#[cfg(feature = "std")]
mod pool;
mod shapes;
mod variables;

pub use element::Element;
pub use error::Error;
pub use eval::ScalarEval;
pub use exec::StepObserver;
pub use interpreter::{
    Interpreter, InterpreterBuilder, Limits, PartitionEntry, PlanEntry, TransferEntry,
};
pub use model::Model;
pub use plan::Direction;
pub use tflrs_kernels::{Backend, CustomOps, Kernel, KernelError, ScalarBackend, TensorInfo};
pub use tflrs_schema::{LoadError, LoadLimits};
