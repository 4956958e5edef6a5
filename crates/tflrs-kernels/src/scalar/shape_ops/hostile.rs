//! Property tests: index operands chosen to hurt (extremes of their type, wrong sizes,
//! mismatching output shapes), as constants and as computed inputs. Kernels must answer with
//! a kernel or an error, and runs with an output or an error: never a panic, never an
//! out-of-bounds access.

use crate::testing::{TestInput, make_kernel, run_kernel};
use crate::{ScalarBackend, TensorInfo};
use alloc::vec::Vec;
use proptest::prelude::*;
use tflrs_ir::{
    DType, GatherAttrs, MirrorPadAttrs, MirrorPadMode, Op, ReducerAttrs, SplitVAttrs,
    StridedSliceAttrs,
};

/// Small values, with the extremes of int32 now and then.
fn index() -> impl Strategy<Value = i32> {
    prop_oneof![8 => -6i32..7, 1 => Just(i32::MIN), 1 => Just(i32::MAX)]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0usize..4, 0..4)
}

/// Makes and runs the node with the operands given as constants and as computed inputs.
fn exercise(
    op: &Op<'_>,
    data: &TensorInfo,
    operands: &[(TensorInfo, Vec<u8>)],
    out: &[TensorInfo],
) {
    let x = alloc::vec![7u8; data.byte_len().unwrap_or(0)];
    for constant in [true, false] {
        let mut inputs = alloc::vec![Some(TestInput::new(data.clone(), x.clone()))];
        for (info, bytes) in operands {
            inputs.push(Some(if constant {
                TestInput::constant(info.clone(), bytes.clone())
            } else {
                TestInput::new(info.clone(), bytes.clone())
            }));
        }
        if let Ok(Some(mut k)) = make_kernel(&ScalarBackend, op, &inputs, out) {
            let _ = run_kernel(k.as_mut(), &inputs, out);
        }
    }
}

fn i32s(name: &str, v: &[i32], shape: &[usize]) -> (TensorInfo, Vec<u8>) {
    (
        TensorInfo::new(name, DType::Int32, shape.to_vec()),
        bytemuck::cast_slice(v).to_vec(),
    )
}

fn ti(dt: DType, s: &[usize]) -> TensorInfo {
    TensorInfo::new("t", dt, s.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn strided_slice(
        in_shape in shape(),
        out_shape in shape(),
        b in proptest::collection::vec(index(), 0..5),
        e in proptest::collection::vec(index(), 5),
        s in proptest::collection::vec(index(), 5),
        masks in proptest::array::uniform5(0i32..32),
        offset in any::<bool>(),
    ) {
        let n = b.len();
        let attrs = StridedSliceAttrs {
            begin_mask: masks[0],
            end_mask: masks[1],
            ellipsis_mask: masks[2],
            new_axis_mask: masks[3],
            shrink_axis_mask: masks[4],
            offset,
        };
        let ops = [i32s("b", &b, &[n]), i32s("e", &e[..n], &[n]), i32s("s", &s[..n], &[n])];
        exercise(&Op::StridedSlice(attrs), &ti(DType::Float32, &in_shape), &ops, &[ti(DType::Float32, &out_shape)]);
    }

    #[test]
    fn slice_pad_mirror_pad(
        in_shape in shape(),
        out_shape in shape(),
        v in proptest::collection::vec(index(), 8),
        reflect in any::<bool>(),
    ) {
        let r = in_shape.len();
        let data = ti(DType::Int16, &in_shape);
        let out = [ti(DType::Int16, &out_shape)];
        exercise(&Op::Slice, &data, &[i32s("b", &v[..r], &[r]), i32s("s", &v[4..4 + r], &[r])], &out);
        let pads = [i32s("p", &v[..2 * r], &[r, 2])];
        exercise(&Op::Pad, &data, &pads, &out);
        let mode = if reflect { MirrorPadMode::Reflect } else { MirrorPadMode::Symmetric };
        exercise(&Op::MirrorPad(MirrorPadAttrs { mode }), &data, &pads, &out);
    }

    #[test]
    fn transpose_tile_gather_split(
        in_shape in shape(),
        out_shape in shape(),
        v in proptest::collection::vec(index(), 4),
        axis in -4i32..4,
        batch_dims in -2i32..3,
    ) {
        let r = in_shape.len();
        let data = ti(DType::UInt8, &in_shape);
        let out = [ti(DType::UInt8, &out_shape)];
        exercise(&Op::Transpose, &data, &[i32s("p", &v[..r], &[r])], &out);
        exercise(&Op::Tile, &data, &[i32s("m", &v[..r], &[r])], &out);
        exercise(&Op::Gather(GatherAttrs { axis, batch_dims }), &data, &[i32s("i", &v[..2], &[2])], &out);
        let outs = [ti(DType::UInt8, &out_shape), ti(DType::UInt8, &in_shape)];
        // SPLIT_V takes the data first, then sizes and axis.
        exercise(
            &Op::SplitV(SplitVAttrs { num_splits: 2 }),
            &data,
            &[i32s("s", &v[..2], &[2]), i32s("a", &[axis], &[])],
            &outs,
        );
    }

    #[test]
    fn reductions_and_resize(
        in_shape in shape(),
        out_shape in shape(),
        axes in proptest::collection::vec(index(), 0..3),
        size in proptest::collection::vec(index(), 2),
        keep_dims in any::<bool>(),
    ) {
        let n = axes.len();
        for dt in [DType::Float32, DType::Int32] {
            let data = ti(dt, &in_shape);
            let out = [ti(dt, &out_shape)];
            exercise(&Op::Mean(ReducerAttrs { keep_dims }), &data, &[i32s("a", &axes, &[n])], &out);
            exercise(&Op::ReduceMax(ReducerAttrs { keep_dims }), &data, &[i32s("a", &axes, &[n])], &out);
        }
        let data = ti(DType::Float32, &in_shape);
        let arg_out = [ti(DType::Int32, &out_shape)];
        exercise(&Op::ArgMax(tflrs_ir::ArgMaxAttrs { output_type: DType::Int32 }), &data, &[i32s("a", &axes[..n.min(1)], &[n.min(1)])], &arg_out);
        let attrs = tflrs_ir::ResizeNearestNeighborAttrs { align_corners: false, half_pixel_centers: true };
        exercise(&Op::ResizeNearestNeighbor(attrs), &data, &[i32s("s", &size, &[2])], &[ti(DType::Float32, &out_shape)]);
        exercise(&Op::Fill, &ti(DType::Int32, &[out_shape.len()]), &[i32s("v", &[1], &[])], &[ti(DType::Int32, &out_shape)]);
    }
}
