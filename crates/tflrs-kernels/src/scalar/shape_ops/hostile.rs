//! Property tests: index operands chosen to hurt (extremes of their type, wrong sizes,
//! mismatching output shapes), as constants and as computed inputs. Kernels must answer with
//! a kernel or an error, and runs with an output or an error: never a panic, never an
//! out-of-bounds access.
//!
//! The output shapes are the ones shape inference derives from the node (with the index
//! operands' values), so that most cases get past preparation and run; one case in eight
//! keeps an independently drawn output shape, which is mostly wrong. Each test counts, per
//! operator, the preparations that gave a kernel and the runs that completed, and asserts a
//! minimum share of both: a property about runs must be exercised by runs.

use crate::testing::{TestInput, make_kernel, run_kernel};
use crate::{ScalarBackend, TensorInfo};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tflrs_ir::{
    DType, GatherAttrs, GraphBuilder, MirrorPadAttrs, MirrorPadMode, Op, ReducerAttrs, Shape,
    SplitVAttrs, StridedSliceAttrs,
};

/// Small values, with the extremes of int32 now and then.
fn index() -> impl Strategy<Value = i32> {
    prop_oneof![8 => -6i32..7, 1 => Just(i32::MIN), 1 => Just(i32::MAX)]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0usize..4, 0..4)
}

/// Cases per test.
const CASES: u32 = 400;

/// How far one operator got, over both kinds of operand (constant, computed).
#[derive(Debug, Default, Clone, Copy)]
struct Reach {
    /// Node makings tried.
    tries: u32,
    /// Makings that gave a kernel.
    made: u32,
    /// Runs that returned an output.
    ran: u32,
}

/// Per operator name.
type Tally = RefCell<BTreeMap<String, Reach>>;

/// How a case uses its draws.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// Keep the drawn output shapes instead of the inferred ones.
    wrong: bool,
    /// Fold the drawn index values and attributes into their valid ranges (see [`tame`]), so
    /// that runs also reach the kernels' arithmetic; the other cases keep them hostile.
    tame: bool,
}

/// `v` folded into `0..n` (0 when `n` is 0).
fn tame(v: i32, n: usize) -> i32 {
    if n == 0 { 0 } else { v.rem_euclid(n as i32) }
}

/// `v` folded into `-n..n`, both ways of naming an axis of rank `n`.
fn tame_axis(v: i32, n: usize) -> i32 {
    tame(v, 2 * n) - n as i32
}

/// The outputs shape inference gives `op` on these inputs (operands as constants), or `None`
/// where it refuses the node or cannot tell a shape.
fn inferred(
    op: &Op<'_>,
    data: &TensorInfo,
    operands: &[(TensorInfo, Vec<u8>)],
    n_out: usize,
) -> Option<Vec<TensorInfo>> {
    let dims = |t: &TensorInfo| -> Option<Shape> {
        let d: Option<Vec<i32>> = t.shape.iter().map(|&d| i32::try_from(d).ok()).collect();
        Some(Shape::new(d?))
    };
    let mut g = GraphBuilder::new();
    let mut ids = alloc::vec![g.input("x", data.dtype, dims(data)?)];
    for (info, bytes) in operands {
        ids.push(g.constant("c", info.dtype, dims(info)?, bytes.clone()));
    }
    let outs = g.op_n(op.clone(), &ids, n_out).ok()?;
    let sg = &g.graph().subgraphs[g.current()];
    outs.iter()
        .map(|&id| {
            let v = sg.value(id)?;
            let shape: Option<Vec<usize>> = (0..v.shape.rank())
                .map(|a| Some(v.shape.dim(a)?.get()? as usize))
                .collect();
            Some(TensorInfo::new("out", v.dtype, shape?))
        })
        .collect()
}

/// Makes and runs the node with the operands given as constants and as computed inputs, with
/// the inferred outputs unless `case.wrong` (or inference refuses): then with `fallback`.
fn exercise(
    tally: &Tally,
    case: Case,
    op: &Op<'_>,
    data: &TensorInfo,
    operands: &[(TensorInfo, Vec<u8>)],
    fallback: &[TensorInfo],
) {
    let derived = (!case.wrong)
        .then(|| inferred(op, data, operands, fallback.len()))
        .flatten();
    // Outputs too large for the harness's buffers (index values near i32::MAX) run with
    // the drawn shapes instead: the runtime refuses such tensors before any kernel sees them.
    let derived = derived.filter(|outs| {
        outs.iter()
            .all(|t| t.byte_len().is_some_and(|n| n <= 1 << 16))
    });
    let out = derived.as_deref().unwrap_or(fallback);
    let x = alloc::vec![7u8; data.byte_len().unwrap_or(0)];
    let mut tally = tally.borrow_mut();
    let reach = tally.entry(String::from(op.name())).or_default();
    for constant in [true, false] {
        let mut inputs = alloc::vec![Some(TestInput::new(data.clone(), x.clone()))];
        for (info, bytes) in operands {
            inputs.push(Some(if constant {
                TestInput::constant(info.clone(), bytes.clone())
            } else {
                TestInput::new(info.clone(), bytes.clone())
            }));
        }
        reach.tries += 1;
        if let Ok(Some(mut k)) = make_kernel(&ScalarBackend, op, &inputs, out) {
            reach.made += 1;
            if run_kernel(k.as_mut(), &inputs, out).is_ok() {
                reach.ran += 1;
            }
        }
    }
}

/// Runs `body` on `CASES` cases of `strategy`, then checks that every operator in `min` made
/// a kernel and completed a run in at least the given shares (percent) of its tries.
fn reaching<S: Strategy>(
    strategy: S,
    body: impl Fn(&Tally, Case, S::Value),
    min: &[(&str, u32, u32)],
) where
    S::Value: core::fmt::Debug,
{
    let tally = Tally::default();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(
                prop::bool::weighted(0.125),
                prop::bool::weighted(0.75),
                strategy,
            ),
            |(wrong, tame, v)| {
                body(&tally, Case { wrong, tame }, v);
                Ok(())
            },
        )
        .unwrap();
    let tally = tally.into_inner();
    for &(op, made, ran) in min {
        let r = tally.get(op).copied().unwrap_or_default();
        assert!(
            r.made * 100 >= made * r.tries && r.ran * 100 >= ran * r.tries,
            "{op}: {r:?}, wanted at least {made}% made and {ran}% run"
        );
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

#[test]
fn strided_slice() {
    let strategy = (
        shape(),
        shape(),
        proptest::collection::vec(index(), 0..5),
        proptest::collection::vec(index(), 5),
        proptest::collection::vec(index(), 5),
        proptest::array::uniform5(0i32..32),
        any::<bool>(),
    );
    reaching(
        strategy,
        |tally, case, (in_shape, out_shape, b, e, s, masks, offset)| {
            let n = b.len();
            let attrs = StridedSliceAttrs {
                begin_mask: masks[0],
                end_mask: masks[1],
                ellipsis_mask: masks[2],
                new_axis_mask: masks[3],
                shrink_axis_mask: masks[4],
                offset,
            };
            let ops = [
                i32s("b", &b, &[n]),
                i32s("e", &e[..n], &[n]),
                i32s("s", &s[..n], &[n]),
            ];
            exercise(
                tally,
                case,
                &Op::StridedSlice(attrs),
                &ti(DType::Float32, &in_shape),
                &ops,
                &[ti(DType::Float32, &out_shape)],
            );
        },
        &[("STRIDED_SLICE", 40, 5)],
    );
}

#[test]
fn slice_pad_mirror_pad() {
    let strategy = (
        shape(),
        shape(),
        proptest::collection::vec(index(), 8),
        any::<bool>(),
    );
    reaching(
        strategy,
        |tally, case, (in_shape, out_shape, v, reflect)| {
            let r = in_shape.len();
            let data = ti(DType::Int16, &in_shape);
            let out = [ti(DType::Int16, &out_shape)];
            let (mut begin, mut size) = (v[..r].to_vec(), v[4..4 + r].to_vec());
            let mut pads = v[..2 * r].to_vec();
            if case.tame {
                for (a, &d) in in_shape.iter().enumerate() {
                    begin[a] = tame(begin[a], d + 1);
                    // -1: to the end.
                    size[a] = tame(size[a], d + 2 - begin[a] as usize) - 1;
                    // Up to d - 1: within both mirror modes' bounds.
                    pads[2 * a] = tame(pads[2 * a], d);
                    pads[2 * a + 1] = tame(pads[2 * a + 1], d);
                }
            }
            let slice = [i32s("b", &begin, &[r]), i32s("s", &size, &[r])];
            exercise(tally, case, &Op::Slice, &data, &slice, &out);
            let pads = [i32s("p", &pads, &[r, 2])];
            exercise(tally, case, &Op::Pad, &data, &pads, &out);
            let mode = if reflect {
                MirrorPadMode::Reflect
            } else {
                MirrorPadMode::Symmetric
            };
            let op = Op::MirrorPad(MirrorPadAttrs { mode });
            exercise(tally, case, &op, &data, &pads, &out);
        },
        &[("SLICE", 70, 55), ("PAD", 60, 55), ("MIRROR_PAD", 55, 50)],
    );
}

#[test]
fn transpose_tile_gather_split() {
    let strategy = (
        shape(),
        shape(),
        proptest::collection::vec(index(), 4),
        -4i32..4,
        -2i32..3,
    );
    reaching(
        strategy,
        |tally, case, (mut in_shape, out_shape, v, axis, batch_dims)| {
            let (mut perm, mut multiples) = (v.clone(), v.clone());
            let (mut axis, mut batch_dims, mut indices) = (axis, batch_dims, v[..2].to_vec());
            let mut sizes = v[..2].to_vec();
            if case.tame {
                // GATHER and SPLIT_V need an axis.
                if in_shape.is_empty() {
                    in_shape.push(2);
                }
                let r = in_shape.len();
                // A permutation: the axes in the order of their drawn values.
                perm = (0..r as i32).collect();
                perm.sort_by_key(|&a| v[a as usize]);
                multiples.iter_mut().for_each(|m| *m = tame(*m, 3));
                axis = tame_axis(axis, r);
                batch_dims = 0;
                let d = in_shape[axis.rem_euclid(r as i32) as usize];
                indices.iter_mut().for_each(|i| *i = tame(*i, d));
                sizes[0] = tame(sizes[0], d + 1);
                // The rest, or -1 for the rest.
                sizes[1] = if v[3] % 2 == 0 {
                    d as i32 - sizes[0]
                } else {
                    -1
                };
            }
            let r = in_shape.len();
            let data = ti(DType::UInt8, &in_shape);
            let out = [ti(DType::UInt8, &out_shape)];
            let p = [i32s("p", &perm[..r], &[r])];
            exercise(tally, case, &Op::Transpose, &data, &p, &out);
            let m = [i32s("m", &multiples[..r], &[r])];
            exercise(tally, case, &Op::Tile, &data, &m, &out);
            let op = Op::Gather(GatherAttrs { axis, batch_dims });
            exercise(tally, case, &op, &data, &[i32s("i", &indices, &[2])], &out);
            let outs = [ti(DType::UInt8, &out_shape), ti(DType::UInt8, &in_shape)];
            // SPLIT_V takes the data first, then sizes and axis.
            exercise(
                tally,
                case,
                &Op::SplitV(SplitVAttrs { num_splits: 2 }),
                &data,
                &[i32s("s", &sizes, &[2]), i32s("a", &[axis], &[])],
                &outs,
            );
        },
        &[
            ("TRANSPOSE", 70, 55),
            ("TILE", 70, 60),
            ("GATHER", 45, 40),
            ("SPLIT_V", 65, 50),
        ],
    );
}

#[test]
fn reductions_and_resize() {
    let strategy = (
        shape(),
        shape(),
        proptest::collection::vec(index(), 0..3),
        proptest::collection::vec(index(), 2),
        any::<bool>(),
    );
    reaching(
        strategy,
        |tally, case, (in_shape, out_shape, axes, size, keep_dims)| {
            let (n, r) = (axes.len(), in_shape.len());
            let (mut axes, mut size, mut resize_in) = (axes, size, in_shape.clone());
            if case.tame {
                axes.iter_mut().for_each(|a| *a = tame_axis(*a, r));
                size.iter_mut().for_each(|s| *s = 1 + tame(*s, 4));
                // RESIZE_NEAREST_NEIGHBOR takes NHWC.
                while resize_in.len() < 4 {
                    resize_in.insert(0, 1);
                }
            }
            for dt in [DType::Float32, DType::Int32] {
                let data = ti(dt, &in_shape);
                let out = [ti(dt, &out_shape)];
                let a = [i32s("a", &axes, &[n])];
                exercise(
                    tally,
                    case,
                    &Op::Mean(ReducerAttrs { keep_dims }),
                    &data,
                    &a,
                    &out,
                );
                let op = Op::ReduceMax(ReducerAttrs { keep_dims });
                exercise(tally, case, &op, &data, &a, &out);
            }
            let data = ti(DType::Float32, &in_shape);
            let arg_out = [ti(DType::Int32, &out_shape)];
            let op = Op::ArgMax(tflrs_ir::ArgMaxAttrs {
                output_type: DType::Int32,
            });
            let a = [i32s("a", &axes[..n.min(1)], &[n.min(1)])];
            if case.tame {
                // One axis over a non-empty dimension.
                let mut arg_in: Vec<usize> = in_shape.iter().map(|&d| d.max(1)).collect();
                if arg_in.is_empty() {
                    arg_in.push(3);
                }
                let axis = tame_axis(axes.first().copied().unwrap_or(0), arg_in.len());
                let a = [i32s("a", &[axis], &[1])];
                exercise(tally, case, &op, &ti(DType::Float32, &arg_in), &a, &arg_out);
            } else {
                exercise(tally, case, &op, &data, &a, &arg_out);
            }
            let attrs = tflrs_ir::ResizeNearestNeighborAttrs {
                align_corners: false,
                half_pixel_centers: true,
            };
            let op = Op::ResizeNearestNeighbor(attrs);
            let out = [ti(DType::Float32, &out_shape)];
            let resize_data = ti(DType::Float32, &resize_in);
            exercise(
                tally,
                case,
                &op,
                &resize_data,
                &[i32s("s", &size, &[2])],
                &out,
            );
            let fill = ti(DType::Int32, &[out_shape.len()]);
            let out = [ti(DType::Int32, &out_shape)];
            exercise(tally, case, &Op::Fill, &fill, &[i32s("v", &[1], &[])], &out);
        },
        &[
            ("MEAN", 55, 30),
            ("REDUCE_MAX", 55, 30),
            ("ARG_MAX", 50, 45),
            ("RESIZE_NEAREST_NEIGHBOR", 35, 35),
            ("FILL", 85, 10),
        ],
    );
}

#[test]
fn index_ops() {
    let strategy = (
        shape(),
        shape(),
        proptest::collection::vec(index(), 8),
        0usize..3,
    );
    reaching(
        strategy,
        |tally, case, (mut in_shape, out_shape, v, nd)| {
            if case.tame && in_shape.is_empty() {
                in_shape.push(3);
            }
            let r = in_shape.len();
            let data = ti(DType::Float32, &in_shape);
            let out = [ti(DType::Float32, &out_shape)];
            let mut v = v;
            if case.tame {
                for (a, x) in v.iter_mut().enumerate() {
                    *x = tame(*x, in_shape.get(a % r.max(1)).copied().unwrap_or(1).max(1));
                }
            }
            // BROADCAST_TO: to the drawn output shape (tame: the input's shape with a new
            // leading axis).
            let target: Vec<i32> = if case.tame {
                core::iter::once(2)
                    .chain(in_shape.iter().map(|&d| d as i32))
                    .collect()
            } else {
                out_shape.iter().map(|&d| d as i32).collect()
            };
            let s = [i32s("s", &target, &[target.len()])];
            exercise(tally, case, &Op::BroadcastTo, &data, &s, &out);
            // REVERSE_V2: the first axis, or a drawn one.
            let axes = [i32s("a", &v[..r.min(1)], &[r.min(1)])];
            exercise(tally, case, &Op::ReverseV2, &data, &axes, &out);
            // GATHER_ND: two index rows of `nd` values.
            let nd = nd.min(r);
            let idx = [i32s("i", &v[..2 * nd], &[2, nd])];
            exercise(tally, case, &Op::GatherNd, &data, &idx, &out);
            // TOPK_V2: k from the draws.
            let k = [i32s("k", &v[..1], &[])];
            let outs = [ti(DType::Float32, &out_shape), ti(DType::Int32, &out_shape)];
            exercise(tally, case, &Op::TopkV2, &data, &k, &outs);
            // SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND: block and paddings from the draws.
            let mut block = [v[0], v[1]];
            let mut pads = [v[2], v[3], v[4], v[5]];
            if case.tame {
                block = [1 + tame(v[0], 2), 1 + tame(v[1], 2)];
                pads = [0; 4];
            }
            let bp = [i32s("b", &block, &[2]), i32s("p", &pads, &[2, 2])];
            let (b0, b1) = (block[0].max(0) as usize, block[1].max(0) as usize);
            let (space, batched) = if case.tame {
                (
                    ti(DType::Float32, &[1, 2 * b0, b1, 2]),
                    ti(DType::Float32, &[b0 * b1, 2, 1, 2]),
                )
            } else {
                (data.clone(), data.clone())
            };
            exercise(tally, case, &Op::SpaceToBatchNd, &space, &bp, &out);
            exercise(tally, case, &Op::BatchToSpaceNd, &batched, &bp, &out);
            // DYNAMIC_UPDATE_SLICE: a one-element update at drawn starts.
            let update = (ti(DType::Float32, &alloc::vec![1; r]), alloc::vec![0u8; 4]);
            let start = i32s("s", &v[..r], &[r]);
            exercise(
                tally,
                case,
                &Op::DynamicUpdateSlice,
                &data,
                &[update, start],
                &out,
            );
            // Segment reductions over the first axis, ids from the draws.
            let n0 = in_shape.first().copied().unwrap_or(0);
            let ids: Vec<i32> = (0..n0).map(|i| v[i % 8]).collect();
            let ids = i32s("ids", &ids, &[n0]);
            let num = i32s("n", &[4], &[]);
            for op in [Op::UnsortedSegmentSum, Op::UnsortedSegmentMax] {
                exercise(tally, case, &op, &data, &[ids.clone(), num.clone()], &out);
            }
            let sorted: Vec<i32> = (0..n0 as i32)
                .map(|i| if case.tame { i / 2 } else { v[i as usize % 8] })
                .collect();
            let sorted = i32s("ids", &sorted, &[n0]);
            exercise(tally, case, &Op::SegmentSum, &data, &[sorted], &out);
            // MATRIX_SET_DIAG with a drawn diagonal shape.
            let diag = (
                ti(DType::Float32, &out_shape),
                alloc::vec![0u8; 4 * out_shape.iter().product::<usize>()],
            );
            exercise(tally, case, &Op::MatrixSetDiag, &data, &[diag], &out);
            exercise(tally, case, &Op::MatrixDiag, &data, &[], &out);
            // SCATTER_ND and ONE_HOT take indices first: the data (bytes 7) are huge indices,
            // so runs mostly stop with an error; they must not panic.
            let idx_data = ti(DType::Int32, &in_shape);
            let upd = (
                ti(DType::Float32, &out_shape),
                alloc::vec![0u8; 4 * out_shape.iter().product::<usize>()],
            );
            let sh: Vec<i32> = out_shape.iter().map(|&d| d as i32).collect();
            let sh = i32s("s", &sh, &[sh.len()]);
            exercise(tally, case, &Op::ScatterNd, &idx_data, &[upd, sh], &out);
            let depth = i32s("d", &v[..1], &[]);
            let on = (ti(DType::Float32, &[]), 1f32.to_le_bytes().to_vec());
            let off = (ti(DType::Float32, &[]), 0f32.to_le_bytes().to_vec());
            let op = Op::OneHot(tflrs_ir::OneHotAttrs { axis: -1 });
            exercise(tally, case, &op, &idx_data, &[depth, on, off], &out);
            // NON_MAX_SUPPRESSION_V5: boxes are the data (tame: [n, 4]), a drawn max size.
            let nb = in_shape.first().copied().unwrap_or(0);
            let boxes = if case.tame {
                ti(DType::Float32, &[nb, 4])
            } else {
                data.clone()
            };
            let f = |x: f32| (ti(DType::Float32, &[]), x.to_le_bytes().to_vec());
            let nms = [
                (ti(DType::Float32, &[nb]), alloc::vec![0x3fu8; 4 * nb]),
                i32s("m", &v[..1], &[]),
                f(0.5),
                f(0.1),
                f(v[1] as f32 * 0.25),
            ];
            let nms_out = [
                ti(DType::Int32, &out_shape),
                ti(DType::Float32, &out_shape),
                ti(DType::Int32, &[]),
            ];
            exercise(
                tally,
                case,
                &Op::NonMaxSuppressionV5,
                &boxes,
                &nms,
                &nms_out,
            );
            // WHERE: its input is the data (all true).
            exercise(
                tally,
                case,
                &Op::Where,
                &data,
                &[],
                &[ti(DType::Int64, &out_shape)],
            );
        },
        &[
            ("BROADCAST_TO", 50, 50),
            ("REVERSE_V2", 50, 50),
            ("GATHER_ND", 30, 20),
            ("TOPK_V2", 30, 30),
            ("SPACE_TO_BATCH_ND", 25, 25),
            ("BATCH_TO_SPACE_ND", 25, 25),
            ("DYNAMIC_UPDATE_SLICE", 50, 50),
            ("UNSORTED_SEGMENT_SUM", 30, 30),
            ("SEGMENT_SUM", 20, 20),
            ("MATRIX_DIAG", 50, 50),
            ("ONE_HOT", 20, 20),
            ("NON_MAX_SUPPRESSION_V5", 20, 10),
        ],
    );
}
