//! Reductions: MEAN, SUM, REDUCE_MAX, REDUCE_MIN (over the axes of input 1), ARG_MAX and
//! ARG_MIN, and L2_NORMALIZATION (over the last axis).
//!
//! Reductions walk the input in row-major order and fold each element into its output slot,
//! the order LiteRT's reference `Reduce` uses, so float sums match it operation for operation.
//! Quantized MEAN and SUM requantize as LiteRT's `reference_ops::QuantizedMeanOrSum`: an int32
//! sum, the zero point removed once per output, and a quantized multiplier (for MEAN divided
//! by the element count as LiteRT does it, in fixed point).
//!
//! REDUCE_PROD, REDUCE_ANY and REDUCE_ALL are in [`logical`]; LOCAL_RESPONSE_NORMALIZATION in
//! [`lrn`].

mod arg;
mod l2norm;
mod logical;
mod lrn;
mod reducer;

use crate::kernel::NodeCtx;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use tflrs_ir::Op;

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    if let Some(k) = logical::kernel_for(node)? {
        return Ok(Some(k));
    }
    if let Some(k) = lrn::kernel_for(node)? {
        return Ok(Some(k));
    }
    let k = match node.op {
        Op::Mean(a) => reducer::reducer(node, a, reducer::Kind::Mean)?,
        Op::Sum(a) => reducer::reducer(node, a, reducer::Kind::Sum)?,
        Op::ReduceMax(a) => reducer::reducer(node, a, reducer::Kind::Max)?,
        Op::ReduceMin(a) => reducer::reducer(node, a, reducer::Kind::Min)?,
        Op::ArgMax(_) => arg::arg_min_max(node, true)?,
        Op::ArgMin(_) => arg::arg_min_max(node, false)?,
        Op::L2Normalization(a) => l2norm::l2_normalization(node, a)?,
        _ => return Ok(None),
    };
    Ok(Some(k))
}
