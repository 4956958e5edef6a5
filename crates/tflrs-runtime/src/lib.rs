//! The tflrs runtime: load a `.tflite` model, plan it once, invoke it many times.
//!
//! A model compiled into the program (zero-copy: constants are read in place from the
//! bytes), run on checked inputs, its quantized output read as real values:
//!
//! ```
//! use tflrs_runtime::{DType, Interpreter, Model};
//!
//! # fn main() -> Result<(), tflrs_runtime::Error> {
//! static MODEL: &[u8] = include_bytes!("../../../testdata/models/mlp_int8/model.tflite");
//! let model = Model::from_bytes(MODEL)?; // verified and imported; borrows MODEL
//! let mut interp = Interpreter::new(&model)?; // plans once: a kernel per node, an arena
//! let input = interp.input_info(0)?;
//! assert_eq!(input.dtype, DType::Int8);
//! let n = input.num_elements();
//! // Setters check the type and the length: a mistake is an `Err`, not a panic.
//! assert!(interp.set_input(0, &[0.5f32; 3]).is_err());
//! interp.set_input_f32(0, &vec![0.5; n])?; // quantized with the input's scale and zero point
//! interp.invoke()?; // allocates nothing
//! let scores: Vec<f32> = interp.output_f32(0)?; // dequantized
//! let raw: &[i8] = interp.output::<i8>(0)?; // or the raw int8 values
//! assert_eq!(scores.len(), raw.len());
//! # Ok(())
//! # }
//! ```
//!
//! Owned forms, for an interpreter kept in a struct or returned from a function:
//! [`Model::from_file`], [`Model::from_vec`] and [`Model::from_arc`] give a `Model<'static>`
//! that owns its bytes (still read in place), and [`Interpreter::new`] (or
//! [`Interpreter::builder`]) given the model itself, or an `Arc<Model<'static>>` shared by
//! several interpreters, gives an `Interpreter<'static>`:
//!
//! ```no_run
//! use tflrs_runtime::{Error, Interpreter, Model};
//!
//! struct Classifier {
//!     interp: Interpreter<'static>,
//! }
//!
//! fn load(path: &str) -> Result<Classifier, Error> {
//!     let interp = Interpreter::builder(Model::from_file(path)?).threads(2).build()?;
//!     Ok(Classifier { interp })
//! }
//! ```
//!
//! By signature names (LiteRT's `get_signature_runner`), see [`SignatureRunner`]:
//! `interp.signature("serving_default")?.set("x", &x)?.invoke()?.output_f32("y")?`.
//! [`Interpreter::input_shape_signature`] tells which dimensions
//! [`Interpreter::resize_input`] may change; [`Interpreter::reset_variables`] restarts a
//! stateful model.
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
mod signature;
mod variables;

pub use element::Element;
pub use error::Error;
pub use eval::ScalarEval;
pub use exec::StepObserver;
/// The `f16` element type of float16 tensors (`interp.output::<f16>(0)`).
pub use half::f16;
pub use interpreter::{
    Interpreter, InterpreterBuilder, Limits, ModelSource, PartitionEntry, PlanEntry, TransferEntry,
};
pub use model::Model;
pub use plan::Direction;
pub use signature::SignatureRunner;
pub use tflrs_ir::{DType, Graph, QuantParams, QuantScheme, Signature, SignatureTensor};
pub use tflrs_kernels::{Backend, CustomOps, Kernel, KernelError, ScalarBackend, TensorInfo};
pub use tflrs_schema::{LoadError, LoadLimits};
