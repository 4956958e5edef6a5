//! Data-movement operators: RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE, CONCATENATION, PACK,
//! UNPACK, SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, GATHER, PAD, PADV2, MIRROR_PAD, TILE, FILL,
//! SHAPE, DEPTH_TO_SPACE, SPACE_TO_DEPTH, DENSIFY, and the index operators BROADCAST_TO,
//! REVERSE_V2, GATHER_ND, SCATTER_ND, TOPK_V2, ONE_HOT, WHERE, SPACE_TO_BATCH_ND,
//! BATCH_TO_SPACE_ND, MATRIX_DIAG, MATRIX_SET_DIAG, SEGMENT_SUM, UNSORTED_SEGMENT_* and
//! DYNAMIC_UPDATE_SLICE.
//!
//! They move elements without looking at them, so one kernel serves every fixed-size element
//! type: it works on bytes, `esize` at a time. Only CONCATENATION computes (requantizing inputs
//! whose quantization differs from the output's, and fused activations).
//!
//! Operands that decide where elements go (shapes, permutations, begin/size, paddings,
//! indices, axes) are checked at preparation when they are constants; when they are computed,
//! `run` checks them before touching memory and returns an error instead of going out of
//! bounds.
//!
//! CUMSUM ([`cumsum`]), RANGE and BITCAST ([`range`]) and EMBEDDING_LOOKUP
//! ([`embedding_lookup`]) live here too.

mod batch_space;
mod broadcast_to;
mod concat;
mod cumsum;
pub(crate) mod densify;
mod dynamic_update_slice;
mod embedding_lookup;
mod fill;
mod gather;
mod gather_nd;
#[cfg(test)]
mod hostile;
mod layout;
mod matrix_diag;
mod nms;
mod one_hot;
mod pad;
mod range;
mod reshape;
mod segment;
mod slice;
mod topk;
pub(crate) mod util;

use crate::kernel::NodeCtx;
use crate::{Kernel, KernelError};
use alloc::boxed::Box;
use tflrs_ir::Op;

pub(crate) fn kernel_for(node: &NodeCtx<'_>) -> Result<Option<Box<dyn Kernel>>, KernelError> {
    let k = match node.op {
        Op::Reshape(a) => reshape::reshape(node, a.as_ref())?,
        Op::Squeeze(a) => reshape::squeeze(node, a)?,
        Op::ExpandDims => reshape::expand_dims(node)?,
        Op::Transpose => layout::transpose(node)?,
        Op::Tile => layout::tile(node)?,
        Op::DepthToSpace(a) => layout::depth_to_space(node, a)?,
        Op::SpaceToDepth(a) => layout::space_to_depth(node, a)?,
        Op::Concatenation(a) => concat::concatenation(node, a)?,
        Op::Pack(a) => concat::pack(node, a)?,
        Op::Unpack(a) => concat::unpack(node, a)?,
        Op::Split(a) => concat::split(node, a)?,
        Op::SplitV(a) => concat::split_v(node, a)?,
        Op::Slice => slice::slice(node)?,
        Op::StridedSlice(a) => slice::strided_slice(node, a)?,
        Op::Gather(a) => gather::gather(node, a)?,
        Op::Pad => pad::pad(node, false)?,
        Op::PadV2 => pad::pad(node, true)?,
        Op::MirrorPad(a) => pad::mirror_pad(node, a)?,
        Op::Fill => fill::fill(node)?,
        Op::Shape(a) => fill::shape(node, a)?,
        Op::Densify => densify::densify_op(node)?,
        Op::Cumsum(a) => cumsum::cumsum(node, a)?,
        Op::Range => range::range(node)?,
        Op::Bitcast => range::bitcast(node)?,
        Op::EmbeddingLookup => embedding_lookup::embedding_lookup(node)?,
        Op::BroadcastTo => broadcast_to::broadcast_to(node)?,
        Op::ReverseV2 => broadcast_to::reverse_v2(node)?,
        Op::GatherNd => gather_nd::gather_nd(node)?,
        Op::ScatterNd => gather_nd::scatter_nd(node)?,
        Op::TopkV2 => topk::topk_v2(node)?,
        Op::OneHot(a) => one_hot::one_hot(node, a)?,
        Op::Where => one_hot::where_op(node)?,
        Op::SpaceToBatchNd => batch_space::space_to_batch_nd(node)?,
        Op::BatchToSpaceNd => batch_space::batch_to_space_nd(node)?,
        Op::MatrixDiag => matrix_diag::matrix_diag(node)?,
        Op::MatrixSetDiag => matrix_diag::matrix_set_diag(node)?,
        Op::SegmentSum
        | Op::UnsortedSegmentSum
        | Op::UnsortedSegmentProd
        | Op::UnsortedSegmentMax
        | Op::UnsortedSegmentMin => segment::segment(node)?,
        Op::DynamicUpdateSlice => dynamic_update_slice::dynamic_update_slice(node)?,
        Op::NonMaxSuppressionV4 | Op::NonMaxSuppressionV5 => nms::non_max_suppression(node)?,
        _ => return Ok(None),
    };
    Ok(Some(k))
}
