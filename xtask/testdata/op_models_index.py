"""Per-operator cases of the index and layout operators (issue 10): BROADCAST_TO, GATHER_ND,
SCATTER_ND, TOPK_V2, WHERE, REVERSE_V2, ONE_HOT, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND,
MATRIX_DIAG, MATRIX_SET_DIAG, SEGMENT_SUM, UNSORTED_SEGMENT_SUM/PROD/MAX/MIN and
DYNAMIC_UPDATE_SLICE.

The conventions are op_models.py's (its `Spec` and builder are reused): `tf.function`s with an
input signature (`in0`, `in1`, ...), converted as float32 and int8 (int16x8 for an operator's
first int8 case where the converter supports it), every case checked to contain its operator;
an (op, dtype) pair the converter or LiteRT cannot do becomes a `ctx.skip` with the reason.
Index operands that are model inputs get valid seeded values (out-of-range indices fail the
invoke in LiteRT: the kernels' unit and property tests cover those).
"""

from __future__ import annotations

import os
import re
import sys
import zlib

import numpy as np
import tensorflow as tf

import common
import op_models
from op_models import F32, I32, Spec, U, _gen_cat, _sig

OP_LIST = (
    "BROADCAST_TO GATHER_ND SCATTER_ND TOPK_V2 WHERE REVERSE_V2 ONE_HOT SPACE_TO_BATCH_ND "
    "BATCH_TO_SPACE_ND MATRIX_DIAG MATRIX_SET_DIAG SEGMENT_SUM UNSORTED_SEGMENT_SUM "
    "UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_MIN DYNAMIC_UPDATE_SLICE "
    "NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5"
).split()


def _ints(shape, lo, hi):
    """Generator: int32 values in [lo, hi)."""
    return lambda r: [r.integers(lo, hi, size=shape).astype(np.int32)]


def _nd_indices(outer, dims):
    """Generator: index tuples into `dims`, an int32 tensor of shape `outer + [len(dims)]`."""
    outer = list(outer)
    return lambda r: [np.stack([r.integers(0, d, size=outer) for d in dims], -1).astype(np.int32)]


def _ties(shape, levels=4):
    """Generator: floats on a few levels, so that rows hold equal values (top-k tie order)."""
    return lambda r: [(r.integers(0, levels, size=shape) * 0.5 - 0.75).astype(np.float32)]


def _dus(x, u, idx):
    from tensorflow.compiler.tf2xla.python import xla
    return xla.dynamic_update_slice(x, u, idx)


_NO_REF = ("LiteRT's reference op resolver (BUILTIN_REF) registers no {} kernel, so there is no "
           "reference golden (the default resolver has one)")


def all_specs() -> list[Spec]:
    out = [
        Spec("BROADCAST_TO", "", lambda x: tf.broadcast_to(x, [2, 3, 4]), _sig([3, 1]),
             notes="[3,1] to [2,3,4]: a new leading axis and a size-1 axis broadcast"),
        Spec("BROADCAST_TO", "rank4", lambda x: tf.broadcast_to(x, [2, 1, 3, 5]), _sig([1, 3, 1]),
             notes="[1,3,1] to [2,1,3,5]"),
        Spec("GATHER_ND", "elements", lambda p, i: tf.gather_nd(p, i),
             _sig([3, 4, 2], [5, 3], dtypes=[F32, I32]),
             gen=_gen_cat(U([3, 4, 2]), _nd_indices([5], [3, 4, 2])),
             notes="full index tuples: single elements"),
        Spec("GATHER_ND", "slices", lambda p, i: tf.gather_nd(p, i),
             _sig([4, 3, 2], [2, 2, 1], dtypes=[F32, I32]),
             gen=_gen_cat(U([4, 3, 2]), _nd_indices([2, 2], [4])),
             notes="one index per row of a [2,2,1] index tensor: [3,2] slices"),
        Spec("SCATTER_ND", "", lambda i, u: tf.scatter_nd(i, u, [5, 3]),
             _sig([4, 1], [4, 3], dtypes=[I32, F32]),
             gen=lambda r: [np.array([[1], [4], [1], [0]], np.int32),
                            r.uniform(-1, 1, size=[4, 3]).astype(np.float32)],
             notes="row updates into [5,3] zeros; index 1 twice (duplicates add)",
             mode_notes={"int8": "LiteRT starts the int8 output from 0, not from the zero point, "
                                 "so untouched rows dequantize to -zero_point * scale (its "
                                 "sanity check flags this); tflrs does the same"}),
        Spec("SCATTER_ND", "elements", lambda i, u: tf.scatter_nd(i, u, [3, 4]),
             _sig([3, 2], [3], dtypes=[I32, F32]),
             gen=lambda r: [np.array([[0, 3], [2, 1], [1, 1]], np.int32),
                            r.uniform(-1, 1, size=[3]).astype(np.float32)],
             notes="element updates into [3,4] zeros"),
        Spec("TOPK_V2", "", lambda x: tf.math.top_k(x, k=3), _sig([2, 7]),
             notes="k 3 of rows of 7; values and int32 indices"),
        Spec("TOPK_V2", "ties", lambda x: tf.math.top_k(x, k=4), _sig([3, 6]), gen=_ties([3, 6]),
             notes="values on 4 levels: equal values come out by ascending index"),
        Spec("WHERE", "", lambda x: tf.where(x), _sig([3, 4]),
             gen=lambda r: [(r.uniform(-1, 1, [3, 4]) * (r.random([3, 4]) < 0.5)).astype(np.float32)],
             notes="coordinates of the non-zero elements of a float input (about half are "
                   "zero): the output shape depends on the values"),
        Spec("REVERSE_V2", "", lambda x: tf.reverse(x, [1]), _sig([2, 5, 3]),
             notes="axis 1 of [2,5,3]"),
        Spec("REVERSE_V2", "axes_neg", lambda x: tf.reverse(x, [-1, 1]), _sig([2, 3, 4]),
             modes=("float32",), notes="two axes, one negative: [-1, 1] of [2,3,4] (LiteRT "
                                       "takes contiguous axes only; tflrs takes any)"),
        Spec("TOPK_V2", "", lambda x: tf.math.top_k(x, k=2), _sig([3, 5], dtypes=[I32]),
             gen=_ints([3, 5], -3, 3), modes=("float32",), label="i32", in_dtype="INT32",
             notes="int32 values in [-3, 3): many ties"),
        Spec("ONE_HOT", "", lambda i: tf.one_hot(i, 5), _sig([3, 2], dtypes=[I32]),
             gen=_ints([3, 2], -1, 6), in_dtype="INT32",
             notes="depth 5, last axis, float32 output; indices in [-1, 6) (out of range gives "
                   "all off)"),
        Spec("ONE_HOT", "axis0_values", lambda i: tf.one_hot(i, 4, on_value=2.5, off_value=-1.0,
                                                              axis=0),
             _sig([5], dtypes=[I32]), gen=_ints([5], 0, 4), in_dtype="INT32",
             notes="axis 0, on 2.5, off -1"),
        Spec("SPACE_TO_BATCH_ND", "", lambda x: tf.space_to_batch_nd(x, [2, 2], [[0, 1], [1, 0]]),
             _sig([1, 5, 5, 2]), notes="block [2,2], paddings [[0,1],[1,0]] (int8: padded with "
                                      "the zero point)"),
        Spec("SPACE_TO_BATCH_ND", "batch2", lambda x: tf.space_to_batch_nd(x, [3, 2], [[1, 0], [0, 0]]),
             _sig([2, 5, 4, 1]), notes="batch 2, block [3,2], top padding"),
        Spec("BATCH_TO_SPACE_ND", "", lambda x: tf.batch_to_space(x, [2, 2], [[0, 1], [1, 0]]),
             _sig([4, 3, 3, 2]), notes="block [2,2], crops [[0,1],[1,0]]"),
        Spec("BATCH_TO_SPACE_ND", "batch2", lambda x: tf.batch_to_space(x, [3, 2], [[1, 0], [0, 0]]),
             _sig([12, 2, 2, 1]), notes="output batch 2, block [3,2], top crop"),
        Spec("MATRIX_DIAG", "", lambda x: tf.linalg.diag(x), _sig([2, 3]),
             notes="[2,3] vectors to [2,3,3] matrices"),
        Spec("MATRIX_SET_DIAG", "", lambda x, d: tf.linalg.set_diag(x, d), _sig([2, 3, 4], [2, 3]),
             notes="[2,3,4] matrices, diagonals of 3"),
        Spec("SEGMENT_SUM", "", lambda x: tf.math.segment_sum(x, tf.constant([0, 0, 1, 2, 2, 2])),
             _sig([6, 3]), notes="constant sorted ids [0,0,1,2,2,2]",
             no={m: _NO_REF.format("SEGMENT_SUM") for m in ("float32", "int8")}),
        Spec("DYNAMIC_UPDATE_SLICE", "", _dus, _sig([4, 5], [2, 3], [2], dtypes=[F32, F32, I32]),
             gen=lambda r: [r.uniform(-1, 1, [4, 5]).astype(np.float32),
                            r.uniform(-1, 1, [2, 3]).astype(np.float32),
                            np.array([1, 4], np.int32)],
             notes="start [1,4], clamped to [1,2] (the update must fit)"),
    ]
    # Boxes: a few clusters of jittered boxes (overlapping within a cluster), some degenerate.
    def nms_gen(r, n=12):
        centers = r.uniform(0.2, 0.8, size=[3, 2])[r.integers(0, 3, size=n)]
        half = r.uniform(0.05, 0.2, size=[n, 2])
        b = np.concatenate([centers - half, centers + half], -1)
        b[:, [0, 1, 2, 3]] += r.uniform(-0.03, 0.03, size=[n, 4])
        b[1] = b[1, [2, 3, 0, 1]]  # corners given the other way round
        return [b.astype(np.float32), r.uniform(0, 1, size=[n]).astype(np.float32)]
    def vec(outs):
        # The count is a scalar: as a [1] vector (the test data's .npy files are at least 1-D).
        return (*outs[:-1], tf.reshape(outs[-1], [1]))
    out += [
        Spec("NON_MAX_SUPPRESSION_V4", "",
             lambda b, s: vec(tf.raw_ops.NonMaxSuppressionV4(
                 boxes=b, scores=s, max_output_size=6, iou_threshold=0.4, score_threshold=0.2,
                 pad_to_max_output_size=True)),
             _sig([12, 4], [12]), gen=nms_gen,
             notes="12 boxes in 3 clusters, max 6, IoU 0.4, score threshold 0.2, padded"),
        Spec("NON_MAX_SUPPRESSION_V5", "",
             lambda b, s: vec(tf.raw_ops.NonMaxSuppressionV5(
                 boxes=b, scores=s, max_output_size=6, iou_threshold=0.6, score_threshold=0.1,
                 soft_nms_sigma=0.5, pad_to_max_output_size=True)),
             _sig([12, 4], [12]), gen=nms_gen,
             notes="soft-NMS: sigma 0.5, IoU 0.6, score threshold 0.1, max 6, padded"),
        Spec("NON_MAX_SUPPRESSION_V5", "hard",
             lambda b, s: vec(tf.raw_ops.NonMaxSuppressionV5(
                 boxes=b, scores=s, max_output_size=8, iou_threshold=0.3, score_threshold=0.0,
                 soft_nms_sigma=0.0, pad_to_max_output_size=True)),
             _sig([12, 4], [12]), gen=nms_gen, modes=("float32",),
             notes="sigma 0 (hard NMS through V5), max 8"),
    ]
    for op, fn in (("UNSORTED_SEGMENT_SUM", tf.math.unsorted_segment_sum),
                   ("UNSORTED_SEGMENT_PROD", tf.math.unsorted_segment_prod),
                   ("UNSORTED_SEGMENT_MAX", tf.math.unsorted_segment_max),
                   ("UNSORTED_SEGMENT_MIN", tf.math.unsorted_segment_min)):
        out.append(Spec(op, "", lambda x, s, fn=fn: fn(x, s, 4), _sig([6, 2], [6], dtypes=[F32, I32]),
                        gen=lambda r: [r.uniform(-2, 2, [6, 2]).astype(np.float32),
                                       np.array([3, 0, 3, 1, 0, 3], np.int32)],
                        notes="ids [3,0,3,1,0,3] into 4 segments (segment 2 empty: the "
                              "reduction's identity)"))
        # int32 data: the integer kernel (wrapping sums and products, the type's extremes as
        # the identities of MAX and MIN).
        out.append(Spec(op, "", lambda x, s, fn=fn: fn(x, s, 4), _sig([6, 2], [6], dtypes=[I32, I32]),
                        gen=lambda r: [r.integers(-50, 50, size=[6, 2]).astype(np.int32),
                                       np.array([3, 0, 3, 1, 0, 3], np.int32)],
                        modes=("float32",), label="i32", in_dtype="INT32",
                        notes="int32 data; ids [3,0,3,1,0,3] into 4 segments (segment 2 empty)"))
    seen = set()
    for s in out:
        if "int8" in s.modes and s.op not in seen:
            seen.add(s.op)
            if s.i16 and "int16x8" not in s.modes:
                s.modes.append("int16x8")
    return out


KNOWN_SKIPS = {
    ("WHERE", "int8"): "LiteRT's WHERE has no int8 kernel the converter targets: the output is "
                       "int64 coordinates, and the converter leaves the op in float",
    ("ONE_HOT", "int8"): "ONE_HOT's output comes from its constant on/off values: the converter "
                         "leaves it in float",
    ("DYNAMIC_UPDATE_SLICE", "int8"): "the converter leaves DYNAMIC_UPDATE_SLICE in float (it "
                                      "quantizes neither operand)",
    ("UNSORTED_SEGMENT_SUM", "int8"): "LiteRT's UNSORTED_SEGMENT_* have float32 and int32 "
                                      "kernels only",
    ("UNSORTED_SEGMENT_PROD", "int8"): "LiteRT's UNSORTED_SEGMENT_* have float32 and int32 "
                                       "kernels only",
    ("UNSORTED_SEGMENT_MAX", "int8"): "LiteRT's UNSORTED_SEGMENT_* have float32 and int32 "
                                      "kernels only",
    ("UNSORTED_SEGMENT_MIN", "int8"): "LiteRT's UNSORTED_SEGMENT_* have float32 and int32 "
                                      "kernels only",
}


def build_all(ctx) -> None:
    common.seed_everything(0)
    # The builder reads op_models' table of known skip reasons: add this module's.
    op_models.KNOWN_SKIPS.update(KNOWN_SKIPS)
    b = op_models._Builder(ctx)
    only = os.environ.get("TFLRS_OP_MODELS_ONLY")  # development: a regex on operator names
    specs = [s for s in all_specs() if not only or re.search(only, s.op)]
    for spec in specs:
        common.seed_everything(zlib.crc32(spec.name(spec.modes[0]).encode()))
        b.run(spec)
    for (op, dtype), reason in sorted(b.failures.items()):
        if (op, dtype) not in b.covered:
            b.skip(op, dtype, reason)
    for (op, dtype), reason in sorted(KNOWN_SKIPS.items()):
        if (op, dtype) not in b.covered and (not only or re.search(only, op)):
            b.skip(op, dtype, reason)
    if not only and not b.unselected:
        missing = [f"{op} {dt}" for op in OP_LIST for dt in ("float32", "int8")
                   if (op, dt) not in b.covered and (op, dt) not in b.skipped]
        if missing:
            raise RuntimeError("op_models_index: no case and no skip for: " + ", ".join(missing))
    for msg in b.sanity_flags:
        print("op_models_index: " + msg, file=sys.stderr)
    print(f"op_models_index: {sum(len(v) for v in b.covered.values())} cases, "
          f"{len(b.skipped)} skips, {b.bytes} bytes of models", file=sys.stderr)
