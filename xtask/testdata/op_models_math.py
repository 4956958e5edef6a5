"""Per-operator cases for the math, rounding, reduction and bit operators of issue 10: FLOOR,
CEIL, ROUND, SIN, COS, SIGN, ELU, FLOOR_DIV, FLOOR_MOD, ATAN2, RELU_0_TO_1, REDUCE_PROD,
REDUCE_ANY, REDUCE_ALL, SELECT, CUMSUM, RANGE, BUCKETIZE, LOCAL_RESPONSE_NORMALIZATION,
BITWISE_XOR, RIGHT_SHIFT, BITCAST and EMBEDDING_LOOKUP.

Operators the converter never emits (RELU_0_TO_1, EMBEDDING_LOOKUP, int8 ELU) are made from a
converted model of a neighbouring operator whose operator code is changed (`_patched`); their
notes say which.

The conventions are `op_models`' (whose `Spec` and builder this module uses): `tf.function`s
with an input signature, float32 and int8 conversions (int8 falls back to a recorded skip with the
converter's or LiteRT's reason where there is no int8 kernel), every case checked to contain its
operator. Integer-only and bool-only operators get int32 / bool cases in the float32 conversion,
and their float32 and int8 pairs a skip that says so.
"""

from __future__ import annotations

import os
import re
import sys
import zlib

import numpy as np
import tensorflow as tf

import common
import op_models as om
from op_models import BOOL, F32, I32, U, Spec, _gen_cat, _sig

OP_LIST = (
    "FLOOR CEIL ROUND SIN COS SIGN ELU FLOOR_DIV FLOOR_MOD ATAN2 RELU_0_TO_1 REDUCE_PROD "
    "REDUCE_ANY REDUCE_ALL SELECT CUMSUM RANGE BUCKETIZE LOCAL_RESPONSE_NORMALIZATION "
    "BITWISE_XOR RIGHT_SHIFT BITCAST EMBEDDING_LOOKUP"
).split()

I64 = tf.int64


def _ints(*shapes, lo=-9, hi=9, dtype=np.int32):
    return lambda r: [r.integers(lo, hi, size=s).astype(dtype) for s in shapes]


def _nonzero_ints(shape, lo=-5, hi=6, dtype=np.int32):
    def g(r):
        v = r.integers(lo, hi, size=shape)
        v[v == 0] = 1
        return [v.astype(dtype)]
    return g


def _halves(shape, lo=-4, hi=4):
    """Floats on a grid of 0.25 (so that ROUND meets exact halves)."""
    def g(r):
        a = r.integers(lo * 4, hi * 4, size=shape).astype(np.float32) / 4.0
        return [a]
    return g


def _bools(*shapes):
    return lambda r: [r.integers(0, 2, size=s).astype(np.bool_) for s in shapes]


def _patched(spec: Spec, codes: dict) -> Spec:
    """`spec` whose converted model gets its operator codes replaced ({"RELU": (152, None)}: every
    RELU node becomes builtin 152 without options; an int keeps only that many inputs, a list
    takes the inputs in that order), for operators the converter cannot emit."""
    spec.patch_codes = codes
    return spec


def _patch_codes(tflite: bytes, codes: dict) -> bytes:
    import flatbuffers

    s = om._schema()
    names = {k: v for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    model = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    patched = {}
    for k, oc in enumerate(model.operatorCodes):
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        for old, (new, n_inputs) in codes.items():
            if code == names[old]:
                oc.builtinCode = new
                oc.deprecatedBuiltinCode = min(new, 127)
                oc.version = 1
                patched[k] = n_inputs
    for g in model.subgraphs:
        for op in g.operators:
            if op.opcodeIndex in patched:
                # The new operator has no options; keep the first n inputs.
                op.builtinOptionsType = 0
                op.builtinOptions = None
                keep = patched[op.opcodeIndex]
                if isinstance(keep, int):
                    keep = list(range(keep))
                if keep is not None:
                    inputs = list(op.inputs)
                    op.inputs = [inputs[k] for k in keep]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


_CURRENT: list = [None]
_ORIG_CONVERT = common.convert


def _convert(*args, **kw):
    tflite = _ORIG_CONVERT(*args, **kw)
    codes = getattr(_CURRENT[0], "patch_codes", None)
    return _patch_codes(tflite, codes) if codes else tflite


def _unary_specs():
    out = []
    for op, fn in (("FLOOR", tf.math.floor), ("CEIL", tf.math.ceil), ("ROUND", tf.math.round)):
        out.append(Spec(op, "", lambda x, fn=fn: fn(x), _sig([2, 3, 5]), gen=_halves([2, 3, 5]),
                        notes="values on a grid of 0.25 in [-4, 4): exact halves and integers"))
    for op, fn in (("SIN", tf.sin), ("COS", tf.cos)):
        out.append(Spec(op, "", lambda x, fn=fn: fn(x), _sig([3, 7]), gen=U([3, 7], lo=-7, hi=7),
                        notes="inputs in [-7, 7] (past one period)"))
    out += [
        Spec("SIGN", "", lambda x: tf.sign(x), _sig([4, 5]), gen=_halves([4, 5], -2, 2),
             notes="values on a grid of 0.25 (zeros occur)"),
        Spec("SIGN", "", lambda x: tf.sign(x), _sig([3, 4], dtypes=[I32]), gen=_ints([3, 4]),
             label="i32", modes=("float32",), in_dtype="INT32", notes="int32 input"),
        Spec("ELU", "", lambda x: tf.nn.elu(x), _sig([2, 4, 6]), gen=U([2, 4, 6], lo=-4, hi=3),
             notes="inputs in [-4, 3]; int8 through LiteRT's lookup table"),
        _patched(Spec("RELU_0_TO_1", "", lambda x: tf.nn.relu(x), _sig([3, 8]),
                      gen=U([3, 8], lo=-1.5, hi=2.0),
                      notes="the converter never emits RELU_0_TO_1 (min(max(x, 0), 1) becomes "
                            "RELU and MINIMUM): a converted RELU model with the operator code "
                            "changed to RELU_0_TO_1; inputs in [-1.5, 2]"),
                 {"RELU": (152, None)}),
        _patched(Spec("ELU", "from_maximum", lambda x: tf.maximum(x, -1.0), _sig([2, 4, 6]),
                      gen=U([2, 4, 6], lo=-4, hi=3), modes=("int8",), i16=False,
                      notes="the int8 converter leaves ELU in float: an int8 MAXIMUM(x, -1) "
                            "model (output range [-1, 3], ELU's on these inputs) with the "
                            "operator changed to ELU and the constant input dropped; LiteRT's "
                            "lookup table"),
                 {"MAXIMUM": (111, 1)}),
        Spec("BUCKETIZE", "", lambda x: tf.raw_ops.Bucketize(
                 input=x, boundaries=[-2.0, -0.5, 0.0, 0.0, 1.0, 2.5]),
             _sig([3, 6]), gen=_halves([3, 6], -3, 3),
             notes="boundaries [-2, -0.5, 0, 0, 1, 2.5] (a repeated one), values on a 0.25 grid "
                   "(values equal to boundaries occur); int32 output"),
        Spec("BUCKETIZE", "", lambda x: tf.raw_ops.Bucketize(input=x, boundaries=[-3.0, 0.0, 4.0]),
             _sig([10], dtypes=[I32]), gen=_ints([10], lo=-6, hi=6), label="i32",
             modes=("float32",), in_dtype="INT32", notes="int32 input, boundaries [-3, 0, 4]"),
        Spec("LOCAL_RESPONSE_NORMALIZATION", "",
             lambda x: tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0,
                                                          alpha=0.5, beta=0.75),
             _sig([1, 3, 4, 7]), gen=U([1, 3, 4, 7], lo=-2, hi=2),
             notes="radius 2, bias 1, alpha 0.5, beta 0.75, 7 channels"),
    ]
    return out


def _binary_specs():
    out = []
    def nz(shape):
        """Divisors of both signs, 0.5 to 3 away from zero."""
        return lambda r: [np.where(r.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)
                          * r.uniform(0.5, 3.0, size=shape).astype(np.float32)]

    out += [
        Spec("FLOOR_DIV", "broadcast", lambda a, b: tf.math.floordiv(a, b), _sig([2, 3, 4], [4]),
             gen=_gen_cat(U([2, 3, 4], lo=-6, hi=6), nz([4])),
             notes="[2,3,4] by [4], divisors of both signs away from zero"),
        Spec("FLOOR_DIV", "", lambda a, b: tf.math.floordiv(a, b),
             _sig([3, 5], [3, 5], dtypes=[I32, I32]),
             gen=_gen_cat(_ints([3, 5], lo=-20, hi=20), _nonzero_ints([3, 5])), label="i32",
             modes=("float32",), in_dtype="INT32", notes="int32, negative operands"),
        Spec("FLOOR_MOD", "broadcast", lambda a, b: tf.math.floormod(a, b), _sig([2, 3, 4], [4]),
             gen=_gen_cat(U([2, 3, 4], lo=-6, hi=6), nz([4])),
             notes="[2,3,4] by [4], divisors of both signs"),
        Spec("FLOOR_MOD", "", lambda a, b: tf.math.floormod(a, b),
             _sig([3, 5], [5], dtypes=[I32, I32]),
             gen=_gen_cat(_ints([3, 5], lo=-20, hi=20), _nonzero_ints([5])), label="i32",
             modes=("float32",), in_dtype="INT32",
             notes="int32, negative dividends and divisors, [5] broadcast"),
        Spec("ATAN2", "", lambda a, b: tf.math.atan2(a, b), _sig([3, 4], [3, 4]),
             gen=U([3, 4], [3, 4], lo=-2, hi=2), notes="all four quadrants"),
        Spec("BITWISE_XOR", "", lambda a, b: tf.bitwise.bitwise_xor(a, b),
             _sig([2, 5], [5], dtypes=[I32, I32]),
             gen=_ints([2, 5], [5], lo=-1000, hi=1000), label="i32", modes=("float32",),
             in_dtype="INT32", notes="int32, [5] broadcast"),
        Spec("RIGHT_SHIFT", "", lambda a, b: tf.bitwise.right_shift(a, b),
             _sig([2, 6], [2, 6], dtypes=[I32, I32]),
             gen=_gen_cat(_ints([2, 6], lo=-100000, hi=100000), _ints([2, 6], lo=0, hi=31)),
             label="i32", modes=("float32",), in_dtype="INT32",
             notes="int32, negative values (arithmetic shift), shifts 0..30"),
    ]
    return out


def _reduce_specs():
    out = [
        Spec("REDUCE_PROD", "axis1", lambda x: tf.reduce_prod(x, 1), _sig([2, 4, 3]),
             gen=U([2, 4, 3], lo=0.5, hi=1.5), notes="axis 1, no keep_dims"),
        Spec("REDUCE_PROD", "all_keep", lambda x: tf.reduce_prod(x, [0, 1, 2], keepdims=True),
             _sig([2, 2, 3]), gen=U([2, 2, 3], lo=0.6, hi=1.4), notes="every axis, keep_dims"),
        Spec("REDUCE_PROD", "", lambda x: tf.reduce_prod(x, -1), _sig([3, 4], dtypes=[I32]),
             gen=_ints([3, 4], lo=-4, hi=5), label="i32", modes=("float32",), in_dtype="INT32",
             notes="int32, axis -1"),
    ]
    for op, fn in (("REDUCE_ANY", tf.reduce_any), ("REDUCE_ALL", tf.reduce_all)):
        out += [
            Spec(op, "axis1", lambda x, fn=fn: fn(x, 1), _sig([3, 4, 2], dtypes=[BOOL]),
                 gen=_bools([3, 4, 2]), label="bool", modes=("float32",), in_dtype="BOOL",
                 notes="bool input, axis 1"),
            Spec(op, "axes02_keep", lambda x, fn=fn: fn(x, [0, 2], keepdims=True),
                 _sig([2, 3, 2], dtypes=[BOOL]), gen=_bools([2, 3, 2]), label="bool",
                 modes=("float32",), in_dtype="BOOL", notes="bool input, axes [0, 2], keep_dims"),
        ]
    return out


def _misc_specs():
    out = [
        Spec("SELECT", "", lambda c, a, b: tf.where(c, a, b),
             _sig([3, 5], [3, 5], [3, 5], dtypes=[BOOL, F32, F32]),
             gen=_gen_cat(_bools([3, 5]), U([3, 5], [3, 5])),
             notes="condition of the operands' shape (the converter's SELECT)"),
        Spec("SELECT", "rank1", lambda c, a, b: tf.compat.v1.where(c, a, b),
             _sig([4], [4, 3], [4, 3], dtypes=[BOOL, F32, F32]),
             gen=_gen_cat(_bools([4]), U([4, 3], [4, 3])),
             notes="rank-1 condition over the first dimension (tf.compat.v1.where)"),
        Spec("CUMSUM", "", lambda x: tf.math.cumsum(x, axis=1), _sig([2, 5, 3]),
             notes="axis 1"),
        Spec("CUMSUM", "exclusive_reverse",
             lambda x: tf.math.cumsum(x, axis=-1, exclusive=True, reverse=True), _sig([3, 6]),
             notes="axis -1, exclusive and reverse"),
        Spec("CUMSUM", "", lambda x: tf.math.cumsum(x, axis=0, exclusive=True),
             _sig([4, 3], dtypes=[I32]), gen=_ints([4, 3], lo=-50, hi=50), label="i32",
             modes=("float32",), in_dtype="INT32", notes="int32, axis 0, exclusive"),
        Spec("RANGE", "from_shape", lambda x: tf.cast(tf.range(tf.shape(x)[0]), F32) + x[:, 0],
             _sig([None, 2]), gen=U([5, 2]), expect=["RANGE", "SHAPE"], in_dtype="INT32",
             notes="range(dynamic batch) through SHAPE and STRIDED_SLICE; input [5,2]"),
        Spec("BITCAST", "", lambda x: tf.bitcast(x, tf.int32), _sig([2, 3]),
             notes="float32 -> int32 bits"),
        Spec("BITCAST", "", lambda x: tf.bitcast(x, tf.uint8), _sig([2, 3], dtypes=[I32]),
             gen=_ints([2, 3], lo=-100000, hi=100000), label="i32", modes=("float32",),
             in_dtype="INT32", notes="int32 -> uint8 [2,3,4] (a new last dimension)"),
    ]
    return out


def _embedding_specs():
    table = om._const("embedding", [6, 4], -2.0, 2.0)
    ids = lambda r: [r.integers(0, 6, size=[5]).astype(np.int32)]  # noqa: E731
    return [
        _patched(Spec("EMBEDDING_LOOKUP", "", lambda i: tf.gather(tf.constant(table), i),
                      _sig([5], dtypes=[I32]), gen=ids, in_dtype="FLOAT32",
                      notes="the converter emits GATHER for embedding lookups: a converted "
                            "GATHER(table [6,4], ids [5]) with the operator changed to "
                            "EMBEDDING_LOOKUP and its inputs swapped (ids first); ids repeat"),
                 {"GATHER": (7, [1, 0])}),
    ]


def all_specs() -> list[Spec]:
    return (_unary_specs() + _binary_specs() + _reduce_specs() + _misc_specs()
            + _embedding_specs())


_BOOL_ONLY = "{op} is defined on bool tensors only (cases op_{low}_bool_*)"
_INT_ONLY = "LiteRT's {op} kernel takes integer tensors only (cases op_{low}_i32*)"
KNOWN_SKIPS = {}
for _op in ("REDUCE_ANY", "REDUCE_ALL"):
    KNOWN_SKIPS[(_op, "float32")] = _BOOL_ONLY.format(op=_op, low=_op.lower())
    KNOWN_SKIPS[(_op, "int8")] = _BOOL_ONLY.format(op=_op, low=_op.lower()) + ": no quantized form"
for _op in ("BITWISE_XOR", "RIGHT_SHIFT"):
    KNOWN_SKIPS[(_op, "float32")] = _INT_ONLY.format(op=_op, low=_op.lower())
    KNOWN_SKIPS[(_op, "int8")] = (_INT_ONLY.format(op=_op, low=_op.lower())
                                  + "; a quantized model has no integer bit operations")
_FLOAT_ONLY = {
    "FLOOR": "float32", "CEIL": "float32", "ROUND": "float32", "SIN": "float32",
    "COS": "float32", "ATAN2": "float32 and float64",
    "LOCAL_RESPONSE_NORMALIZATION": "float32", "SIGN": "float32, float64 and int32",
    "FLOOR_DIV": "float32 and int32 (raw integers)", "FLOOR_MOD":
    "float32 and raw integers", "CUMSUM": "float32, int32 and int64",
    "BUCKETIZE": "float32, float64, int32 and int64 inputs",
}
for _op, _types in _FLOAT_ONLY.items():
    KNOWN_SKIPS[(_op, "int8")] = (f"LiteRT registers {_op} for {_types} only, so the int8 "
                                  "converter keeps it in float")
KNOWN_SKIPS[("BITCAST", "int8")] = ("BITCAST reinterprets bytes: the int8 converter does not "
                                    "quantize it")
KNOWN_SKIPS[("RANGE", "int8")] = ("RANGE makes indices (int32/int64/float32 scalars in, a vector "
                                  "out): a quantized model keeps it in int32")


# Models whose operator LiteRT's reference resolver (BUILTIN_REF) does not register (CEIL, for
# one): their reference outputs come from LiteRT's builtin kernels without delegates instead, and
# their notes say so.
_NO_REF: set[bytes] = set()
_NO_REF_NOTE = ("LiteRT's reference resolver (BUILTIN_REF) does not register this op version; "
                "ref_output is from LiteRT's builtin kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES)")


def _probe(tflite, inputs, ref=True):
    err = _ORIG_PROBE(tflite, inputs, ref)
    if err and ref and "BUILTIN_REF" in err and "Registration failed" in err:
        if _ORIG_PROBE(tflite, inputs, ref=False) is None:
            _NO_REF.add(bytes(tflite))
            return None
    return err


_ORIG_PROBE = om._litert_probe


class _Ctx:
    """The generator's context, with reference outputs from the builtin kernels for the models
    of `_NO_REF`."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def add_case(self, name, tflite, **kw):
        if bytes(tflite) in _NO_REF:
            from ai_edge_litert import interpreter as litert
            kw["ref_resolver"] = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            kw["notes"] = "; ".join(x for x in (kw.get("notes"), _NO_REF_NOTE) if x)
        return self._ctx.add_case(name, tflite, **kw)


def build_all(ctx) -> None:
    common.seed_everything(0)
    om.KNOWN_SKIPS.update(KNOWN_SKIPS)
    om._litert_probe = _probe
    b = om._Builder(_Ctx(ctx))
    only = os.environ.get("TFLRS_OP_MODELS_ONLY")
    specs = [s for s in all_specs() if not only or re.search(only, s.op)]
    common.convert = _convert
    for spec in specs:
        common.seed_everything(zlib.crc32(spec.name(spec.modes[0]).encode()))
        _CURRENT[0] = spec
        b.run(spec)
    _CURRENT[0] = None
    common.convert = _ORIG_CONVERT
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
            raise RuntimeError("op_models_math: no case and no skip for: " + ", ".join(missing))
    for msg in b.sanity_flags:
        print("op_models_math: " + msg, file=sys.stderr)
    print(f"op_models_math: {sum(len(v) for v in b.covered.values())} cases, "
          f"{len(b.skipped)} skips, {b.bytes} bytes of models", file=sys.stderr)
