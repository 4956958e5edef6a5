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
//! [`Interpreter::builder`] takes backends in preference order (the scalar backend is always
//! last, so every node gets a kernel); `build()` plans once: a kernel per node, lifetime-based
//! arena offsets (tensors not alive together share memory), constants read in place.
//! `invoke()` allocates nothing.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod arena;
mod element;
mod error;
pub mod fuzz;
mod interpreter;
mod model;
mod shapes;
mod variables;

pub use element::Element;
pub use error::Error;
pub use interpreter::{Interpreter, InterpreterBuilder, Limits, PlanEntry};
pub use model::Model;
pub use tflrs_kernels::{Backend, CustomOps, Kernel, KernelError, ScalarBackend, TensorInfo};
pub use tflrs_schema::{LoadError, LoadLimits};
