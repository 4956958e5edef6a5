//! Post-training quantization: the converter's float16 and dynamic-range modes, from a float32
//! graph, as passes.
//!
//! - [`Float16`]: every float32 constant an operator reads becomes float16 behind a
//!   DEQUANTIZE (the converter's `target_spec.supported_types = [tf.float16]`).
//! - [`DynamicRange`]: the weights of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and
//!   BATCH_MATMUL with at least 1024 elements become symmetric int8 (per channel where the
//!   kernel takes it) read by the float operator itself, a hybrid operator that quantizes its
//!   input at run time; TRANSPOSE_CONV, GATHER and EMBEDDING_LOOKUP weights become int8 behind a
//!   DEQUANTIZE (`Optimize.DEFAULT` without a representative dataset).
//!
//! - [`FullInteger`]: full-integer int8 from calibrated [`Ranges`] (a representative dataset
//!   run through the float model: `tflrs_runtime::calibrate`), with the converter's formulas.

mod dynamic;
mod float16;
mod int8;

pub use dynamic::DynamicRange;
pub use float16::Float16;
pub use int8::{FullInteger, IoType, Ranges, activation_params, quantize_weights, weight_scales};

use tflrs_ir::{Node, Op, Subgraph, ValueId};

/// Where every reader of value `v` is: `(node, input slot)`, in node order.
pub(crate) fn readers(sg: &Subgraph<'_>, v: ValueId) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (n, node) in sg.nodes.iter().enumerate() {
        for (k, i) in node.inputs.iter().enumerate() {
            if *i == Some(v) {
                out.push((n, k));
            }
        }
    }
    out
}

/// A DEQUANTIZE node from `from` to `to`.
pub(crate) fn dequantize<'a>(from: ValueId, to: ValueId) -> Node<'a> {
    Node::new(Op::Dequantize, vec![Some(from)], vec![to])
}
