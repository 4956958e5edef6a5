//! The scalar reference backend: portable Rust, `no_std` + `alloc`, complete for every
//! operator the IR types, bit-exact with LiteRT's reference kernels for integer types.
//!
//! Kernels are grouped in families; each family module exposes
//! `fn kernel_for(node: &NodeCtx) -> Result<Option<Box<dyn Kernel>>, KernelError>` and
//! answers `Ok(None)` for operators it does not own. [`ScalarBackend`] asks each family in
//! turn. To add an operator: implement it in its family, add its arm to the family's
//! `kernel_for`, add golden tests (see `docs/adding-an-op.md`).

pub mod qmath;

pub(crate) mod binary;
mod control;
mod conv;
mod lstm;
mod mediapipe;
mod pool;
mod reduce;
mod resize;
mod rnn;
pub(crate) mod shape_ops;
mod softmax;
mod svdf;
mod unary;

use crate::kernel::{Backend, NodeCtx};
use crate::{Kernel, KernelError};
use alloc::boxed::Box;

type Factory = fn(&NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError>;

/// The families, in the order they are asked.
const FAMILIES: &[Factory] = &[
    conv::kernel_for,
    pool::kernel_for,
    binary::kernel_for,
    unary::kernel_for,
    softmax::kernel_for,
    reduce::kernel_for,
    shape_ops::kernel_for,
    resize::kernel_for,
    lstm::kernel_for,
    control::kernel_for,
    mediapipe::kernel_for,
    rnn::kernel_for,
    svdf::kernel_for,
];

/// The scalar reference backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScalarBackend;

impl Backend for ScalarBackend {
    fn name(&self) -> &str {
        "scalar"
    }

    fn kernel_for(&self, node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
        for family in FAMILIES {
            if let Some(k) = family(node)? {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }
}
