//! The minimal operator version a node needs.
//!
//! The rule: an imported node keeps the version its file states ([`Node::version`] is `Some`),
//! so an unchanged model keeps every version. A node made or changed by tflrs has
//! `version: None`, and export writes the version TensorFlow's converter gives such a node:
//! the table below mirrors LiteRT's `tools/versioning/op_version.cc` as the converter applies
//! it, and a test checks it against every converter-made model in `testdata/`. Versions are
//! per node here; the converter writes one operator code per operator, with the largest
//! version any of its nodes needs, and import keeps that. Versions only gate which runtimes
//! accept a model: LiteRT registers each kernel for a range of versions, so a lower version
//! never changes results. Opaque operators without a version get 1.

use crate::dtype::DType;
use crate::graph::{Node, Subgraph};
use crate::ops::{Op, WeightsFormat};
use crate::quant::QuantScheme;

/// The minimal version of `node` in subgraph `sg` (see the module documentation).
pub fn min_version(node: &Node<'_>, sg: &Subgraph<'_>) -> i32 {
    let input = |i: usize| node.input(i).and_then(|v| sg.value(v));
    let in_t = |i: usize| input(i).map(|v| v.dtype);
    let out_t = |i: usize| {
        node.outputs
            .get(i)
            .and_then(|&v| sg.value(v))
            .map(|v| v.dtype)
    };
    let rank = |i: usize| input(i).map_or(0, |v| v.shape.rank());
    let per_channel = |i: usize| {
        input(i)
            .and_then(|v| v.quant.as_ref())
            .and_then(|q| q.scheme.as_ref())
            .is_some_and(|s| matches!(s, QuantScheme::PerAxis { scales, .. } if scales.len() > 1))
    };
    let (i0, i1) = (in_t(0), in_t(1));
    let is = |t: Option<DType>, d: DType| t == Some(d);
    let quantized = |t: Option<DType>| is(t, DType::Int8) || is(t, DType::Int16);
    let hybrid = is(i0, DType::Float32) && is(i1, DType::Int8);
    // Most operators gained int8 (and with it int16) kernels in version 2.
    let ladder = |t: Option<DType>| if quantized(t) { 2 } else { 1 };
    match &node.op {
        Op::Conv2d(_) => {
            let in_channels = input(0).and_then(|v| v.shape.dims.last().copied());
            let filter_channels = input(1).and_then(|v| v.shape.dims.last().copied());
            if in_channels.is_some() && filter_channels.is_some() && in_channels != filter_channels
            {
                6
            } else if is(i1, DType::Int4) {
                7
            } else if hybrid {
                if per_channel(1) { 5 } else { 2 }
            } else if quantized(i0) {
                3
            } else {
                1
            }
        }
        Op::DepthwiseConv2d(a) => {
            if is(i1, DType::Int4) {
                7
            } else if hybrid {
                if per_channel(1) { 6 } else { 4 }
            } else if quantized(i0) {
                3
            } else if a.dilation_w_factor != 1 || a.dilation_h_factor != 1 {
                2
            } else {
                1
            }
        }
        Op::FullyConnected(a) => {
            if node.inputs.len() == 2 {
                6
            } else if a.keep_num_dims {
                5
            } else if quantized(i0) {
                4
            } else if hybrid {
                if per_channel(1) {
                    12
                } else if a.asymmetric_quantize_inputs {
                    9
                } else {
                    3
                }
            } else if a.weights_format != WeightsFormat::Default {
                2
            } else {
                1
            }
        }
        Op::TransposeConv(a) => {
            if a.fused_activation_function != crate::Activation::None {
                4
            } else if node.input(3).is_some() {
                3
            } else if quantized(i1) {
                2
            } else {
                1
            }
        }
        Op::BatchMatMul(_) => {
            if hybrid {
                4
            } else {
                ladder(i0)
            }
        }
        Op::Sub(_) => {
            if rank(0) > 4 || rank(1) > 4 {
                3
            } else {
                ladder(i0)
            }
        }
        Op::Transpose => {
            if rank(0) > 4 {
                4
            } else {
                ladder(i0)
            }
        }
        Op::Gather(a) => {
            if a.batch_dims != 0 {
                5
            } else {
                ladder(i0)
            }
        }
        Op::ResizeBilinear(a) => {
            if a.half_pixel_centers {
                3
            } else {
                ladder(i0)
            }
        }
        Op::ResizeNearestNeighbor(a) => {
            if a.half_pixel_centers || a.align_corners {
                3
            } else {
                ladder(i0)
            }
        }
        Op::Fill => {
            if quantized(i1) {
                3
            } else if is(i1, DType::Bool) {
                2
            } else {
                1
            }
        }
        Op::Cast(_) => {
            let either = |d: DType| is(i0, d) || is(out_t(0), d);
            if either(DType::BFloat16) {
                7
            } else if is(i0, DType::Int4) {
                6
            } else if either(DType::Float64) || either(DType::Float16) {
                5
            } else if either(DType::UInt16) {
                4
            } else if either(DType::Int8) {
                3
            } else if either(DType::UInt32) {
                2
            } else {
                1
            }
        }
        Op::Dequantize => {
            if is(i0, DType::Float16) {
                3
            } else {
                ladder(i0)
            }
        }
        Op::Quantize => {
            if per_channel(0) {
                3
            } else if is(i0, DType::Int16) {
                2
            } else {
                1
            }
        }
        Op::Svdf(_) if is(i0, DType::Int8) => 3,
        Op::Svdf(a) if is(i0, DType::Float32) && is(in_t(1), DType::Int8) => {
            if a.asymmetric_quantize_inputs { 4 } else { 2 }
        }
        Op::Rnn(crate::ops::RnnAttrs {
            asymmetric_quantize_inputs: asym,
            ..
        })
        | Op::UnidirectionalSequenceRnn(crate::ops::SequenceRnnAttrs {
            asymmetric_quantize_inputs: asym,
            ..
        }) if is(i0, DType::Float32) && is(in_t(1), DType::Int8) => {
            if *asym {
                3
            } else {
                2
            }
        }
        Op::UnidirectionalSequenceLstm(a) => {
            let i2 = in_t(2);
            if is(i0, DType::Int16) && is(i2, DType::Int8) && is(out_t(0), DType::Int16) {
                5
            } else if a.diagonal_recurrent_tensors {
                4
            } else if is(i0, DType::Float32) && is(i2, DType::Int8) {
                if a.asymmetric_quantize_inputs { 3 } else { 2 }
            } else {
                1
            }
        }
        // int8/uint8 MUL whose rescale `s_in0 * s_in1 / s_out` is at least 1.
        Op::Mul(_)
            if (is(i0, DType::Int8) || is(i0, DType::UInt8))
                && {
                    let scale = |v: Option<&crate::Value<'_>>| {
                        v.and_then(|v| v.quant.as_ref())
                            .and_then(|q| q.scales().first().copied())
                    };
                    let out = node.outputs.first().and_then(|&o| sg.value(o));
                    matches!((scale(input(0)), scale(input(1)), scale(out)),
                (Some(a), Some(b), Some(o)) if o > 0.0 && f64::from(a) * f64::from(b) / f64::from(o) >= 1.0)
                } =>
        {
            3
        }
        Op::StridedSlice(a) => {
            if a.offset {
                8
            } else if is(i0, DType::UInt32) {
                7
            } else if a.ellipsis_mask != 0 {
                6
            } else if is(i0, DType::String) {
                5
            } else if rank(0) > 4 {
                4
            } else if is(i0, DType::Bool) {
                3
            } else {
                ladder(i0)
            }
        }
        Op::LeakyRelu(_) if is(i0, DType::Int16) => 2,
        Op::Unpack(_) if is(i0, DType::Int8) => 2,
        Op::Split(_) => ladder(i1),
        Op::Add(_)
        | Op::Mul(_)
        | Op::MaxPool2d(_)
        | Op::AveragePool2d(_)
        | Op::Softmax(_)
        | Op::LogSoftmax
        | Op::Logistic
        | Op::Tanh
        | Op::Concatenation(_)
        | Op::Mean(_)
        | Op::Sum(_)
        | Op::ReduceMax(_)
        | Op::ReduceMin(_)
        | Op::ArgMax(_)
        | Op::ArgMin(_)
        | Op::Pad
        | Op::PadV2
        | Op::MirrorPad(_)
        | Op::Relu
        | Op::Relu6
        | Op::L2Normalization(_)
        | Op::Maximum
        | Op::Minimum
        | Op::Slice
        | Op::SplitV(_)
        | Op::Pack(_)
        | Op::DepthToSpace(_)
        | Op::SpaceToDepth(_)
        | Op::Equal
        | Op::NotEqual
        | Op::Less
        | Op::LessEqual
        | Op::Greater
        | Op::GreaterEqual
        | Op::SquaredDifference
        | Op::Abs
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Rsqrt
        | Op::Gelu(_) => ladder(i0),
        Op::FloorDiv if quantized(i0) => 3,
        Op::FloorDiv if is(i0, DType::Float32) => 2,
        Op::ReduceProd(_) => ladder(i0),
        Op::Sign if is(i0, DType::Int32) => 2,
        Op::SpaceToBatchNd | Op::BatchToSpaceNd => {
            if rank(0) != 4 {
                3
            } else {
                ladder(i0)
            }
        }
        Op::BroadcastTo => {
            if quantized(i0) {
                3
            } else {
                2
            }
        }
        Op::GatherNd => {
            if is(i0, DType::Bool) {
                5
            } else if is(i1, DType::Int16) {
                4
            } else if is(i0, DType::Int16) {
                3
            } else {
                1
            }
        }
        Op::ReverseV2 => {
            if quantized(i0) {
                3
            } else if is(i0, DType::Bool) {
                2
            } else {
                1
            }
        }
        Op::TopkV2 => {
            if is(i0, DType::Int16) {
                3
            } else {
                ladder(i0)
            }
        }
        Op::Where => {
            if is(i0, DType::Bool) {
                1
            } else {
                2
            }
        }
        _ => 1,
    }
}
