"""Per-operator cases: one tiny model per builtin operator of the interpreter's list.

Each operator gets a few variants (odd sizes, strides, dilation, SAME/VALID, broadcasting with
rank mismatch, fused activations, keep_dims, negative axes, ...), converted as float32 and as full
integer int8 (int8 input and output, per-channel weights where the converter makes them), and as
int16x8 (int16 activations, int8 weights) for the first variant of each operator where the
converter supports it. On top: hybrid (dynamic-range) FULLY_CONNECTED, CONV_2D,
DEPTHWISE_CONV_2D, BATCH_MATMUL and UNIDIRECTIONAL_SEQUENCE_LSTM, float16 weights through
DEQUANTIZE, sparse weights through DENSIFY, control flow (WHILE, IF) and resource variables.

Models are `tf.function`s with an input signature (arguments `in0`, `in1`, ... so that the
converter's input order is the signature's), constants held as `tf.constant`. After conversion
every case is checked to really contain its operator (in every subgraph, with the dtype the mode
promises, and its fused activation where one is asked for): the converter folds, fuses and
rewrites ops, and a case without its op would silently test nothing. A float32 case that fails
this check is an error; an (op, dtype) pair that the converter or LiteRT cannot do is recorded
with `ctx.skip` and the reason.

Case names: `op_<op>_<f32|i8|i16|hybrid|f16|bool|i32>[_<variant>]`; skips: `skip_op_<op>_<dtype>`.
Inputs are seeded per case (crc32 of the name), float inputs for quantized models are quantized
with the model's own input parameters by `Ctx.add_case`.
"""

from __future__ import annotations

import os
import re
import sys
import zlib

import numpy as np
import tensorflow as tf

import common

# The interpreter issue's operator list (issue 5); `build_all` checks that every one of them has
# a float32 and an int8 case or skip.
OP_LIST = (
    "CONV_2D DEPTHWISE_CONV_2D FULLY_CONNECTED TRANSPOSE_CONV BATCH_MATMUL ADD SUB MUL DIV "
    "SQUARED_DIFFERENCE MAXIMUM MINIMUM ABS NEG EXP LOG SQRT RSQRT POW SQUARE RELU RELU6 "
    "RELU_N1_TO_1 LEAKY_RELU PRELU HARD_SWISH GELU LOGISTIC TANH SOFTMAX LOG_SOFTMAX MAX_POOL_2D "
    "AVERAGE_POOL_2D L2_NORMALIZATION MEAN SUM REDUCE_MAX REDUCE_MIN ARG_MAX ARG_MIN RESHAPE "
    "SQUEEZE EXPAND_DIMS TRANSPOSE CONCATENATION PACK UNPACK SPLIT SPLIT_V SLICE STRIDED_SLICE "
    "GATHER PAD PADV2 MIRROR_PAD TILE FILL SHAPE CAST QUANTIZE DEQUANTIZE RESIZE_BILINEAR "
    "RESIZE_NEAREST_NEIGHBOR DEPTH_TO_SPACE SPACE_TO_DEPTH SELECT_V2 EQUAL LESS GREATER "
    "GREATER_EQUAL LESS_EQUAL NOT_EQUAL LOGICAL_AND LOGICAL_OR LOGICAL_NOT ZEROS_LIKE DENSIFY "
    "UNIDIRECTIONAL_SEQUENCE_LSTM WHILE IF VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE CALL_ONCE"
).split()

# Representative-dataset size for int8 / int16x8 calibration.
REP_SAMPLES = 12

SUFFIX = {"float32": "f32", "int8": "i8", "int16x8": "i16", "dynamic_range": "hybrid",
          "float16": "f16"}
QTYPE = {"int8": "INT8", "int16x8": "INT16"}

F32, I32, I64, BOOL = tf.float32, tf.int32, tf.int64, tf.bool


# --------------------------------------------------------------------------------------------
# Looking inside a .tflite (every subgraph; LiteRT's op details show only the first)


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as s
    except ImportError:  # pragma: no cover
        from tensorflow.lite.python import schema_py_generated as s
    return s


class Node:
    __slots__ = ("subgraph", "op", "version", "ins", "outs", "fused", "in_scales")

    def __repr__(self):
        f = f" fused={self.fused}" if self.fused not in (None, "NONE") else ""
        return f"{self.op}{tuple(self.ins)}->{tuple(self.outs)}{f}@{self.subgraph}"


def model_nodes(tflite: bytes) -> list[Node]:
    """Every node of every subgraph: op name, input/output dtypes (None for an absent optional
    input), fused activation (where the op's options have one), number of scales per input."""
    s = _schema()
    ops = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_")}
    acts = {v: k for k, v in vars(s.ActivationFunctionType).items() if not k.startswith("_")}
    opt_names = {v: k for k, v in vars(s.BuiltinOptions).items() if not k.startswith("_")}
    m = s.Model.GetRootAsModel(tflite, 0)
    nodes = []
    for si in range(m.SubgraphsLength()):
        g = m.Subgraphs(si)
        for oi in range(g.OperatorsLength()):
            o = g.Operators(oi)
            code = m.OperatorCodes(o.OpcodeIndex())
            n = Node()
            n.subgraph = si
            n.op = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            n.version = code.Version()
            n.ins, n.in_scales = [], []
            for i in range(o.InputsLength()):
                ti = o.Inputs(i)
                if ti < 0:
                    n.ins.append(None)
                    n.in_scales.append(0)
                    continue
                t = g.Tensors(ti)
                n.ins.append(types[t.Type()])
                q = t.Quantization()
                n.in_scales.append(q.ScaleLength() if q is not None else 0)
            n.outs = [types[g.Tensors(o.Outputs(i)).Type()] for i in range(o.OutputsLength())]
            n.fused = None
            table = o.BuiltinOptions()
            cls = getattr(s, opt_names.get(o.BuiltinOptionsType(), ""), None)
            if table is not None and cls is not None and hasattr(cls, "FusedActivationFunction"):
                opts = cls()
                opts.Init(table.Bytes, table.Pos)
                n.fused = acts.get(opts.FusedActivationFunction())
            nodes.append(n)
    return nodes


def normalize_names(tflite: bytes) -> bytes:
    """Strips TensorFlow's process-global unique ids from subgraph and tensor names
    ("cond_true_98220" -> "cond_true"): tf.cond names its branch functions with a counter that
    depends on everything traced before, which would make the bytes of an IF model depend on
    which other models were built first. Re-serializes the model (same content, names aside)."""
    import flatbuffers

    s = _schema()
    pat = re.compile(r"\b(cond_true|cond_false)_\d+")
    model = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)

    def fix(name):
        if name is None:
            return None
        text = name.decode() if isinstance(name, bytes) else name
        return pat.sub(r"\1", text)

    for g in model.subgraphs or []:
        g.name = fix(g.name)
        for t in g.tensors or []:
            t.name = fix(t.name)
    for sig in model.signatureDefs or []:
        for tm in (sig.inputs or []) + (sig.outputs or []):
            tm.name = fix(tm.name)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# --------------------------------------------------------------------------------------------
# Case specifications


def _sig(*shapes, dtypes=None):
    dtypes = dtypes or [F32] * len(shapes)
    return [tf.TensorSpec(shape, dt, name=f"in{i}") for i, (shape, dt) in enumerate(zip(shapes, dtypes))]


def _const(name: str, shape, lo=-1.0, hi=1.0, *, sparsity: float = 0.0) -> np.ndarray:
    """A seeded constant (weights) for case family `name`."""
    rng = np.random.default_rng(zlib.crc32(("const/" + name).encode()))
    a = rng.uniform(lo, hi, size=shape).astype(np.float32)
    if sparsity:
        a[rng.random(size=shape) < sparsity] = 0.0
    return a


def U(*shapes, lo=-1.0, hi=1.0):
    """Generator: uniform floats for each shape."""
    return lambda rng: [rng.uniform(lo, hi, size=s).astype(np.float32) for s in shapes]


class Spec:
    """One operator case family: a model and the modes to convert it in.

    body:     the model, a function of the inputs (wrapped in a tf.function with `sig`), or
              `model=` a ready object for `common.convert` (keras.Model, tf.Module, SavedModel).
    gen:      rng -> list of input arrays (float arrays for float inputs: quantized models get
              them quantized with their own input parameters). Used for calibration and inputs.
    modes:    conversion modes to try; "int16x8" is added to an operator's first int8 spec.
    expect:   ops that must be in the model (default: the op itself).
    fused:    fused activation the op must carry (e.g. "RELU6").
    label:    dtype label of the float32-mode case when its data is not float (e.g. "bool").
    in_dtype: the first input dtype of the op in the float32 case (default FLOAT32 or by label).
    need_q:   for quantized modes, the op must touch a tensor of the mode's integer type (default).
    skip:     {mode: reason} for modes expected to fail; the converter's or LiteRT's message is
              appended as evidence (a mode that unexpectedly works becomes a case).
    """

    def __init__(self, op, variant, body=None, sig=None, gen=None, *, model=None,
                 modes=("float32", "int8"), expect=None, fused=None, label=None, in_dtype=None,
                 need_q=True, skip=None, flags=None, notes="", tolerance=None, i16=True,
                 check=None, also_covers=(), normalize=False, mode_notes=None, no=None):
        self.op = op
        self.variant = variant
        self.body = body
        self.sig = sig
        self.gen = gen or (U(*[[d or 1 for d in s.shape] for s in sig]) if sig else None)
        self.model = model
        self.modes = list(modes)
        self.expect = list(expect or [op])
        self.fused = fused
        self.label = label
        self.in_dtype = in_dtype
        self.need_q = need_q
        self.skip = dict(skip or {})
        self.flags = dict(flags or {})
        self.notes = notes
        self.tolerance = tolerance
        self.i16 = i16
        self.check = check  # extra check: fn(nodes, mode) -> error string or None
        self.also_covers = list(also_covers)  # other ops this case is also the case of
        self.normalize = normalize  # strip TensorFlow's unique ids from names (tf.cond)
        self.mode_notes = dict(mode_notes or {})  # {mode: extra notes}
        self.no = dict(no or {})  # {mode: reason}: modes not to make a case of at all

    def name(self, mode: str) -> str:
        suffix = self.label if (mode == "float32" and self.label) else SUFFIX[mode]
        n = f"op_{self.op.lower()}_{suffix}"
        return f"{n}_{self.variant}" if self.variant else n

    def dtype_of(self, mode: str) -> str:
        if mode == "float32":
            return self.label_dtype() or "float32"
        return {"int16x8": "int16x8", "dynamic_range": "hybrid"}.get(mode, mode)

    def label_dtype(self):
        return {"bool": "bool", "i32": "int32", "i64": "int64", "u8": "uint8"}.get(self.label)

    def convertible(self):
        if self.model is not None:
            return self.model
        body = self.body
        # A wrapper, so that default arguments of `body` (bound loop variables) stay Python.
        return tf.function(lambda *xs: body(*xs), input_signature=self.sig)


# --------------------------------------------------------------------------------------------
# The operators


def _conv(x, w, b, strides, padding, dil=1, act=None):
    y = tf.nn.conv2d(x, tf.constant(w), strides=strides, padding=padding, dilations=dil)
    if b is not None:
        y = tf.nn.bias_add(y, tf.constant(b))
    return act(y) if act else y


def _relu_n1_to_1(x):
    return tf.minimum(tf.maximum(x, -1.0), 1.0)


def _hard_swish(x):
    return x * tf.nn.relu6(x + 3.0) / 6.0


def _conv_specs():
    out = []
    w1, b1 = _const("conv1w", [3, 3, 3, 4], -0.5, 0.5), _const("conv1b", [4], -0.2, 0.2)
    out.append(Spec("CONV_2D", "same_stride2_relu",
                    lambda x: _conv(x, w1, b1, 2, "SAME", act=tf.nn.relu),
                    _sig([1, 9, 9, 3]), fused="RELU",
                    notes="9x9 input, 3x3 kernel, stride 2, SAME (odd size: pad 1 on each side), "
                          "bias, fused RELU"))
    w2, b2 = _const("conv2w", [3, 3, 2, 3], -0.6, 0.6), _const("conv2b", [3])
    out.append(Spec("CONV_2D", "valid_dilation2_relu6",
                    lambda x: _conv(x, w2, b2, 1, "VALID", dil=2, act=tf.nn.relu6),
                    _sig([1, 10, 8, 2]), gen=U([1, 10, 8, 2], lo=-3, hi=3), fused="RELU6",
                    notes="10x8 input, 3x3 kernel dilated 2, VALID, fused RELU6"))
    w3, b3 = _const("conv3w", [2, 3, 3, 5], -0.5, 0.5), _const("conv3b", [5])
    out.append(Spec("CONV_2D", "same_k2x3_stride1x2_batch2_n1to1",
                    lambda x: _conv(x, w3, b3, [1, 1, 2, 1], "SAME", act=_relu_n1_to_1),
                    _sig([2, 7, 6, 3]), fused="RELU_N1_TO_1",
                    notes="batch 2, even 2x3 kernel with SAME (asymmetric padding), strides "
                          "(1,2), fused RELU_N1_TO_1"))
    w4 = _const("conv4w", [1, 1, 4, 6])
    out.append(Spec("CONV_2D", "1x1_nobias", lambda x: _conv(x, w4, None, 1, "VALID"),
                    _sig([1, 5, 5, 4]), notes="pointwise 1x1 conv without bias"))
    out.append(Spec("CONV_2D", "per_tensor", lambda x: _conv(x, w1, b1, 1, "SAME"),
                    _sig([1, 6, 5, 3]), modes=("int8",),
                    flags={"_experimental_disable_per_channel": True}, i16=False,
                    notes="int8 with per-tensor weight quantization "
                          "(_experimental_disable_per_channel)",
                    check=_per_tensor_check("CONV_2D")))
    # Hybrid and float16: the converter quantizes weights of 1024 elements or more only.
    wh, bh = _const("convhw", [3, 3, 16, 8], -0.3, 0.3), _const("convhb", [8], -0.1, 0.1)
    for mode, also in (("dynamic_range", ()), ("float16", ("DEQUANTIZE",))):
        out.append(Spec("CONV_2D", "", lambda x: _conv(x, wh, bh, 1, "SAME", act=tf.nn.relu),
                        _sig([1, 6, 5, 16]), modes=(mode,), fused="RELU", also_covers=also,
                        notes="3x3x16x8 weights (1152 elements, over the converter's "
                              "1024-element threshold for weight quantization), SAME, fused "
                              "RELU" + ("; float16 weights through DEQUANTIZE" if also else "")))
    return out


def _dw(x, w, b, strides, padding, dil=1, act=None):
    s = [1, strides, strides, 1] if isinstance(strides, int) else strides
    y = tf.nn.depthwise_conv2d(x, tf.constant(w), strides=s, padding=padding,
                               dilations=[dil, dil])
    if b is not None:
        y = tf.nn.bias_add(y, tf.constant(b))
    return act(y) if act else y


def _dw_specs():
    out = []
    w1, b1 = _const("dw1w", [3, 3, 3, 2], -0.6, 0.6), _const("dw1b", [6])
    out.append(Spec("DEPTHWISE_CONV_2D", "same_stride2_mult2_relu",
                    lambda x: _dw(x, w1, b1, 2, "SAME", act=tf.nn.relu), _sig([1, 9, 9, 3]),
                    fused="RELU", notes="channel multiplier 2, 9x9, stride 2, SAME, fused RELU"))
    w2, b2 = _const("dw2w", [3, 3, 4, 1], -0.6, 0.6), _const("dw2b", [4])
    out.append(Spec("DEPTHWISE_CONV_2D", "valid_dilation2_relu6",
                    lambda x: _dw(x, w2, b2, 1, "VALID", dil=2, act=tf.nn.relu6),
                    _sig([1, 11, 9, 4]), gen=U([1, 11, 9, 4], lo=-3, hi=3), fused="RELU6",
                    notes="11x9, dilation 2, VALID, fused RELU6"))
    w3 = _const("dw3w", [5, 5, 5, 1], -0.4, 0.4)
    out.append(Spec("DEPTHWISE_CONV_2D", "k5_stride2_n1to1_nobias",
                    lambda x: _dw(x, w3, None, 2, "SAME", act=_relu_n1_to_1),
                    _sig([1, 8, 7, 5]), fused="RELU_N1_TO_1",
                    notes="5x5 kernel, 5 channels, even/odd sizes 8x7, stride 2, SAME, "
                          "no bias, fused RELU_N1_TO_1"))
    wh, bh = _const("dwhw", [3, 3, 128, 1], -0.5, 0.5), _const("dwhb", [128], -0.1, 0.1)
    out.append(Spec("DEPTHWISE_CONV_2D", "", lambda x: _dw(x, wh, bh, 1, "SAME"),
                    _sig([1, 4, 5, 128]), modes=("dynamic_range", "float16"),
                    notes="3x3x128 weights (1152 elements, over the 1024-element threshold)"))
    return out


def _fc_specs():
    out = []
    w1, b1 = _const("fc1w", [7, 5], -0.6, 0.6), _const("fc1b", [5], -0.2, 0.2)
    out.append(Spec("FULLY_CONNECTED", "relu",
                    lambda x: tf.nn.relu(tf.matmul(x, tf.constant(w1)) + tf.constant(b1)),
                    _sig([2, 7]), fused="RELU", notes="batch 2, 7 -> 5, bias, fused RELU"))
    w2 = _const("fc2w", [6, 3], -0.6, 0.6)
    out.append(Spec("FULLY_CONNECTED", "rank3_nobias_relu6",
                    lambda x: tf.nn.relu6(tf.matmul(x, tf.constant(w2))),
                    _sig([1, 4, 6]), gen=U([1, 4, 6], lo=-4, hi=4), fused="RELU6",
                    notes="rank-3 input [1,4,6] (keep_num_dims), no bias, fused RELU6"))
    w3, b3 = _const("fc3w", [9, 4]), _const("fc3b", [4])
    out.append(Spec("FULLY_CONNECTED", "n1to1",
                    lambda x: _relu_n1_to_1(tf.matmul(x, tf.constant(w3)) + tf.constant(b3)),
                    _sig([3, 9]), fused="RELU_N1_TO_1", notes="batch 3, 9 -> 4, fused RELU_N1_TO_1"))
    out.append(Spec("FULLY_CONNECTED", "per_tensor",
                    lambda x: tf.matmul(x, tf.constant(w1)) + tf.constant(b1),
                    _sig([3, 7]), modes=("int8",), i16=False,
                    flags={"_experimental_disable_per_channel": True},
                    check=_per_tensor_check("FULLY_CONNECTED"),
                    notes="int8 with per-tensor weight quantization "
                          "(_experimental_disable_per_channel), no activation"))
    wh, bh = _const("fchw", [64, 16], -0.3, 0.3), _const("fchb", [16], -0.1, 0.1)
    for mode, also in (("dynamic_range", ()), ("float16", ("DEQUANTIZE",))):
        out.append(Spec("FULLY_CONNECTED", "",
                        lambda x: tf.nn.relu(tf.matmul(x, tf.constant(wh)) + tf.constant(bh)),
                        _sig([2, 64]), modes=(mode,), fused="RELU", also_covers=also,
                        notes="64x16 weights (1024 elements: the converter's threshold), bias, "
                              "RELU" + ("; float16 weights through DEQUANTIZE" if also else "")))
    return out


def _tconv_specs():
    out = []
    w1, b1 = _const("tc1w", [3, 3, 2, 3], -0.5, 0.5), _const("tc1b", [2], -0.2, 0.2)
    out.append(Spec("TRANSPOSE_CONV", "same_stride2_bias",
                    lambda x: tf.nn.bias_add(tf.nn.conv2d_transpose(
                        x, tf.constant(w1), [1, 8, 8, 2], 2, "SAME"), tf.constant(b1)),
                    _sig([1, 4, 4, 3]), notes="4x4x3 -> 8x8x2, 3x3 kernel, stride 2, SAME, bias"))
    w2 = _const("tc2w", [2, 3, 4, 2], -0.5, 0.5)
    out.append(Spec("TRANSPOSE_CONV", "valid_stride2_odd",
                    lambda x: tf.nn.conv2d_transpose(x, tf.constant(w2), [1, 6, 11, 4], 2,
                                                     "VALID"),
                    _sig([1, 3, 5, 2]), notes="3x5x2 -> 6x11x4, 2x3 kernel, stride 2, VALID"))
    w3 = _const("tc3w", [3, 3, 3, 2], -0.5, 0.5)
    out.append(Spec("TRANSPOSE_CONV", "same_stride1x2_batch2",
                    lambda x: tf.nn.conv2d_transpose(x, tf.constant(w3), [2, 5, 6, 3],
                                                     [1, 1, 2, 1], "SAME"),
                    _sig([2, 5, 3, 2]), notes="batch 2, strides (1,2), SAME, odd height"))
    return out


def _bmm_specs():
    out = []
    out.append(Spec("BATCH_MATMUL", "broadcast", lambda a, b: tf.matmul(a, b),
                    _sig([2, 3, 4], [1, 4, 5]), notes="both operands inputs, batch broadcast 2 x 1"))
    out.append(Spec("BATCH_MATMUL", "adj_y_rank4", lambda a, b: tf.matmul(a, b, transpose_b=True),
                    _sig([1, 2, 3, 4], [1, 2, 5, 4]), notes="rank 4, adj_y"))
    out.append(Spec("BATCH_MATMUL", "adj_x", lambda a, b: tf.matmul(a, b, transpose_a=True),
                    _sig([2, 4, 3], [2, 4, 5]), notes="adj_x"))
    wh = _const("bmmhw", [2, 32, 16], -0.3, 0.3)
    out.append(Spec("BATCH_MATMUL", "", lambda a: tf.matmul(a, tf.constant(wh)),
                    _sig([2, 3, 32]), modes=("dynamic_range", "float16"),
                    notes="constant rhs [2,32,16] (1024 elements) with a batch of 2, which "
                          "keeps it a BATCH_MATMUL (not a FULLY_CONNECTED)"))
    return out


def _nonzero(shape, lo=0.5, hi=2.0):
    def g(rng):
        m = rng.uniform(lo, hi, size=shape)
        return (m * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)
    return g


def _gen_cat(*gens):
    return lambda rng: [a for g in gens for a in g(rng)]


def _binary_specs():
    out = []
    for op, fn, act, fused in (("ADD", tf.add, tf.nn.relu, "RELU"),
                               ("SUB", tf.subtract, tf.nn.relu6, "RELU6"),
                               ("MUL", tf.multiply, _relu_n1_to_1, "RELU_N1_TO_1")):
        c = _const(op + "c", [3])
        lo = -4.0 if op == "SUB" else -1.0
        out += [
            Spec(op, "broadcast_rank", lambda a, b, fn=fn: fn(a, b), _sig([2, 3, 4, 5], [5]),
                 notes="rank-mismatched broadcast [2,3,4,5] with [5]"),
            Spec(op, "broadcast_both", lambda a, b, fn=fn: fn(a, b), _sig([2, 1, 4], [3, 1]),
                 notes="both operands broadcast: [2,1,4] with [3,1] -> [2,3,4]"),
            Spec(op, f"{fused.lower()}", lambda a, b, fn=fn, act=act: act(fn(a, b)),
                 _sig([1, 7, 3], [1, 7, 3]), gen=U([1, 7, 3], [1, 7, 3], lo=lo, hi=-lo),
                 fused=fused, notes=f"same shapes, fused {fused}"),
            Spec(op, "const", lambda a, fn=fn, c=c: fn(tf.constant(c), a), _sig([2, 5, 3]),
                 notes="constant first operand [3] broadcast over [2,5,3]"),
            Spec(op, "broadcast5d", lambda a, b, fn=fn: fn(a, b),
                 _sig([1, 2, 1, 3, 2], [2, 1, 3, 1, 2]), notes="5-D broadcast"),
        ]
    out += [
        Spec("DIV", "broadcast", lambda a, b: a / b, _sig([2, 3, 4], [4]),
             gen=_gen_cat(U([2, 3, 4]), lambda r: [_nonzero([4])(r)]),
             notes="divisor broadcast [4], |divisor| in [0.5, 2]"),
        Spec("DIV", "relu", lambda a, b: tf.nn.relu(a / b), _sig([3, 5], [3, 5]),
             gen=_gen_cat(U([3, 5]), lambda r: [_nonzero([3, 5])(r)]), fused="RELU",
             notes="fused RELU, |divisor| in [0.5, 2]"),
        Spec("SQUARED_DIFFERENCE", "broadcast", lambda a, b: tf.math.squared_difference(a, b),
             _sig([2, 3, 5], [3, 1])),
        Spec("SQUARED_DIFFERENCE", "same", lambda a, b: tf.math.squared_difference(a, b),
             _sig([4, 7], [4, 7])),
        Spec("POW", "broadcast", lambda a, b: tf.pow(a, b), _sig([2, 3, 4], [4]),
             gen=_gen_cat(U([2, 3, 4], lo=0.5, hi=2.0), U([4], lo=-2.0, hi=2.0)),
             notes="positive base in [0.5, 2], exponent in [-2, 2] broadcast"),
        Spec("POW", "same", lambda a, b: tf.pow(a, b), _sig([3, 5], [3, 5]),
             gen=_gen_cat(U([3, 5], lo=0.1, hi=3.0), U([3, 5], lo=-1.5, hi=2.5))),
    ]
    for op, fn in (("MAXIMUM", tf.maximum), ("MINIMUM", tf.minimum)):
        c = _const(op + "c", [1, 4])
        out += [
            Spec(op, "broadcast_rank", lambda a, b, fn=fn: fn(a, b), _sig([2, 3, 4], [4])),
            Spec(op, "const", lambda a, fn=fn, c=c: fn(a, tf.constant(c)), _sig([3, 4])),
        ]
    return out


def _unary_specs():
    out = []
    pos = dict(lo=0.05, hi=4.0)
    for op, fn, kw, note in (
        ("ABS", tf.abs, {}, ""),
        ("NEG", tf.negative, {}, ""),
        ("EXP", tf.exp, dict(lo=-3.0, hi=2.0), "inputs in [-3, 2]"),
        ("LOG", tf.math.log, pos, "positive inputs in [0.05, 4]"),
        ("SQRT", tf.sqrt, pos, "positive inputs in [0.05, 4]"),
        ("RSQRT", tf.math.rsqrt, pos, "positive inputs in [0.05, 4]"),
        ("SQUARE", tf.square, dict(lo=-2.0, hi=2.0), ""),
    ):
        out.append(Spec(op, "", lambda x, fn=fn: fn(x), _sig([2, 3, 5]), gen=U([2, 3, 5], **kw),
                        notes=note))
        out.append(Spec(op, "rank1_odd", lambda x, fn=fn: fn(x), _sig([13]), gen=U([13], **kw),
                        notes="rank 1, 13 elements " + note))
    return out


def _act_specs():
    out = []
    wide = dict(lo=-8.0, hi=8.0)
    for op, fn, kw in (
        ("RELU", tf.nn.relu, dict(lo=-2.0, hi=2.0)),
        ("RELU6", tf.nn.relu6, wide),
        ("RELU_N1_TO_1", _relu_n1_to_1, dict(lo=-2.0, hi=2.0)),
        ("LEAKY_RELU", lambda x: tf.nn.leaky_relu(x, 0.2), dict(lo=-3.0, hi=3.0)),
        ("HARD_SWISH", _hard_swish, dict(lo=-5.0, hi=5.0)),
        ("LOGISTIC", tf.sigmoid, wide),
        ("TANH", tf.tanh, dict(lo=-4.0, hi=4.0)),
        ("LOG_SOFTMAX", lambda x: tf.nn.log_softmax(x, axis=-1), dict(lo=-4.0, hi=4.0)),
    ):
        out.append(Spec(op, "", lambda x, fn=fn: fn(x), _sig([2, 3, 7]), gen=U([2, 3, 7], **kw)))
    out.append(Spec("LEAKY_RELU", "alpha_neg", lambda x: tf.nn.leaky_relu(x, -0.5),
                    _sig([1, 9]), gen=U([1, 9], lo=-3.0, hi=3.0), notes="alpha -0.5"))
    out.append(Spec("LOGISTIC", "rank4_odd", tf.sigmoid, _sig([1, 3, 5, 7]),
                    gen=U([1, 3, 5, 7], lo=-10.0, hi=10.0), notes="saturating range [-10, 10]"))
    out.append(Spec("TANH", "rank1", tf.tanh, _sig([17]), gen=U([17], lo=-6.0, hi=6.0)))
    out.append(Spec("GELU", "exact", lambda x: tf.nn.gelu(x, approximate=False), _sig([2, 3, 7]),
                    gen=U([2, 3, 7], lo=-4.0, hi=4.0), notes="approximate=False (erf)"))
    out.append(Spec("GELU", "approximate", lambda x: tf.nn.gelu(x, approximate=True),
                    _sig([2, 9]), gen=U([2, 9], lo=-4.0, hi=4.0), notes="approximate=True (tanh)"))
    out.append(Spec("SOFTMAX", "", lambda x: tf.nn.softmax(x, axis=-1), _sig([3, 10]),
                    gen=U([3, 10], lo=-4.0, hi=4.0)))
    out.append(Spec("SOFTMAX", "rank4", lambda x: tf.nn.softmax(x, axis=-1), _sig([1, 2, 3, 5]),
                    gen=U([1, 2, 3, 5], lo=-6.0, hi=6.0), notes="rank 4, last axis of 5"))
    out.append(Spec("SOFTMAX", "beta", lambda x: tf.nn.softmax(x * 0.5, axis=-1),
                    _sig([2, 6]), gen=U([2, 6], lo=-4.0, hi=4.0),
                    expect=["SOFTMAX", "MUL"],
                    notes="softmax(0.5 x): the converter keeps a MUL before SOFTMAX (beta stays "
                          "1.0; TensorFlow has no way to ask for another beta)"))
    out.append(Spec("LOG_SOFTMAX", "rank1", lambda x: tf.nn.log_softmax(x), _sig([11]),
                    gen=U([11], lo=-5.0, hi=5.0)))
    out.append(Spec("HARD_SWISH", "rank4", _hard_swish, _sig([1, 4, 5, 3]),
                    gen=U([1, 4, 5, 3], lo=-6.0, hi=6.0), notes="x * relu6(x + 3) / 6 pattern"))
    out.append(Spec("RELU", "rank4", tf.nn.relu, _sig([1, 5, 3, 2])))
    out.append(Spec("PRELU", "per_channel", None, None, gen=U([1, 4, 5, 3], lo=-2.0, hi=2.0),
                    model=_prelu_model([4, 5, 3], [1, 2],
                                       _const("prelu1", [1, 1, 3], -0.5, 0.8)),
                    notes="keras PReLU, alpha per channel [1,1,3] (shared over H and W)"))
    out.append(Spec("PRELU", "full_alpha", None, None, gen=U([2, 3, 4], lo=-2.0, hi=2.0),
                    model=_prelu_model([3, 4], None, _const("prelu2", [3, 4], -0.5, 0.8)),
                    notes="keras PReLU, alpha of the full [3,4] shape, batch 2"))
    return out


def _prelu_model(shape, shared_axes, alpha, batch=None):
    import keras

    batch = 2 if shared_axes is None else 1
    inp = keras.Input(tuple(shape), batch_size=batch, name="in0")
    layer = keras.layers.PReLU(shared_axes=shared_axes,
                               alpha_initializer=keras.initializers.Constant(alpha))
    return keras.Model(inp, layer(inp))


def _pool_specs():
    mp, ap = tf.nn.max_pool2d, tf.nn.avg_pool2d
    return [
        Spec("MAX_POOL_2D", "same_2x2_s2_odd", lambda x: mp(x, 2, 2, "SAME"), _sig([1, 7, 9, 3]),
             notes="7x9 input, 2x2 window, stride 2, SAME: the last row/column windows are "
                   "partial"),
        Spec("MAX_POOL_2D", "valid_3x3_s2", lambda x: mp(x, 3, 2, "VALID"), _sig([2, 9, 8, 2]),
             notes="batch 2, 3x3 window, stride 2, VALID"),
        Spec("MAX_POOL_2D", "relu6_2x3_s1x2", lambda x: tf.nn.relu6(mp(x, [2, 3], [1, 2], "SAME")),
             _sig([1, 5, 7, 4]), gen=U([1, 5, 7, 4], lo=-3.0, hi=8.0), fused="RELU6",
             notes="2x3 window, strides (1,2), SAME, fused RELU6"),
        Spec("AVERAGE_POOL_2D", "same_3x3_s2_odd", lambda x: ap(x, 3, 2, "SAME"),
             _sig([1, 7, 9, 3]),
             notes="SAME average pool: border windows average only the valid elements"),
        Spec("AVERAGE_POOL_2D", "valid_2x3_s1x2", lambda x: ap(x, [2, 3], [1, 2], "VALID"),
             _sig([2, 6, 9, 2]), notes="batch 2, 2x3 window, strides (1,2), VALID"),
        Spec("AVERAGE_POOL_2D", "relu", lambda x: tf.nn.relu(ap(x, 2, 2, "VALID")),
             _sig([1, 6, 6, 5]), fused="RELU", notes="2x2 VALID, fused RELU"),
        Spec("L2_NORMALIZATION", "", lambda x: tf.math.l2_normalize(x, axis=-1),
             _sig([2, 3, 8]), notes="last axis"),
        Spec("L2_NORMALIZATION", "rank2_odd", lambda x: tf.math.l2_normalize(x, axis=-1),
             _sig([3, 13]), gen=U([3, 13], lo=-3.0, hi=3.0)),
    ]


def _reduce_specs():
    out = []
    for op, fn in (("MEAN", tf.reduce_mean), ("SUM", tf.reduce_sum),
                   ("REDUCE_MAX", tf.reduce_max), ("REDUCE_MIN", tf.reduce_min)):
        out += [
            Spec(op, "axis12_keep", lambda x, fn=fn: fn(x, [1, 2], keepdims=True),
                 _sig([1, 4, 5, 3]), notes="spatial axes [1,2], keep_dims",
                 no={"int16x8": _SUM_I16} if op == "SUM" else None),
            Spec(op, "neg_axis", lambda x, fn=fn: fn(x, -1), _sig([2, 3, 7]),
                 notes="axis -1, no keep_dims"),
            Spec(op, "axes02_neg", lambda x, fn=fn: fn(x, [0, -1]), _sig([3, 4, 5]),
                 notes="axes [0, -1], no keep_dims"),
            Spec(op, "all_keep", lambda x, fn=fn: fn(x, [0, 1, 2], keepdims=True),
                 _sig([2, 3, 5]), notes="every axis, keep_dims -> [1,1,1]"),
        ]
    for op, fn in (("ARG_MAX", tf.argmax), ("ARG_MIN", tf.argmin)):
        out += [
            Spec(op, "", lambda x, fn=fn: fn(x, -1, output_type=tf.int32), _sig([2, 3, 7]),
                 notes="axis -1, int32 output"),
            Spec(op, "axis1_i64", lambda x, fn=fn: fn(x, 1, output_type=tf.int64),
                 _sig([2, 5, 3]), notes="axis 1, int64 output"),
        ]
    return out


def _shape_specs():
    out = [
        Spec("RESHAPE", "", lambda x: tf.reshape(x, [4, 6]), _sig([2, 3, 4])),
        Spec("RESHAPE", "infer_dim", lambda x: tf.reshape(x, [-1, 2, 5]), _sig([1, 5, 4]),
             notes="target shape with -1"),
        Spec("SQUEEZE", "axis1", lambda x: tf.squeeze(x, [1]), _sig([None, 1, None]),
             gen=U([2, 1, 5]),
             notes="dynamic dims in the signature keep SQUEEZE (with static shapes the converter "
                   "turns it into RESHAPE); input resized to [2,1,5]"),
        Spec("SQUEEZE", "all", lambda x: tf.squeeze(x), _sig([None, 1, None, 1]),
             gen=U([3, 1, 4, 1]),
             notes="squeeze every size-1 dim; signature [?,1,?,1], input [3,1,4,1]"),
        Spec("EXPAND_DIMS", "neg_axis", lambda x: tf.expand_dims(x, -1), _sig([None, None]),
             gen=U([3, 4]),
             notes="dynamic dims keep EXPAND_DIMS (static shapes become RESHAPE); axis -1"),
        Spec("EXPAND_DIMS", "axis1", lambda x: tf.expand_dims(x, 1), _sig([None, None, 2]),
             gen=U([2, 3, 2]), notes="axis 1"),
        Spec("TRANSPOSE", "rank4", lambda x: tf.transpose(x, [0, 2, 1, 3]), _sig([1, 3, 5, 2])),
        Spec("TRANSPOSE", "rank3", lambda x: tf.transpose(x, [2, 0, 1]), _sig([2, 3, 4])),
        Spec("TRANSPOSE", "rank5", lambda x: tf.transpose(x, [4, 1, 3, 0, 2]),
             _sig([2, 1, 3, 2, 3]), notes="5-D"),
        Spec("CONCATENATION", "neg_axis_3in", lambda a, b, c: tf.concat([a, b, c], -1),
             _sig([2, 3, 2], [2, 3, 1], [2, 3, 4]),
             gen=lambda r: [r.uniform(-1, 1, [2, 3, 2]).astype(np.float32),
                            r.uniform(-4, 4, [2, 3, 1]).astype(np.float32),
                            r.uniform(0, 0.5, [2, 3, 4]).astype(np.float32)],
             notes="axis -1, three inputs with different ranges (int8: different scales, "
                   "requantized)"),
        Spec("CONCATENATION", "axis1", lambda a, b: tf.concat([a, b], 1),
             _sig([1, 2, 3, 2], [1, 3, 3, 2])),
        Spec("PACK", "axis1", lambda a, b, c: tf.stack([a, b, c], 1), _sig([2, 3], [2, 3], [2, 3])),
        Spec("PACK", "neg_axis", lambda a, b: tf.stack([a, b], -1), _sig([3, 1, 2], [3, 1, 2])),
        Spec("UNPACK", "axis1", lambda x: tf.unstack(x, axis=1), _sig([2, 3, 4]),
             notes="3 outputs"),
        Spec("UNPACK", "neg_axis", lambda x: tf.unstack(x, axis=-1), _sig([3, 2]),
             notes="axis -1, 2 outputs"),
        Spec("SPLIT", "neg_axis", lambda x: tf.split(x, 3, axis=-1), _sig([2, 3, 6])),
        Spec("SPLIT", "axis1", lambda x: tf.split(x, 2, axis=1), _sig([1, 4, 3])),
        Spec("SPLIT_V", "", lambda x: tf.split(x, [1, 3, 2], axis=1), _sig([2, 6, 3])),
        Spec("SPLIT_V", "infer_neg_axis", lambda x: tf.split(x, [2, -1], axis=-1),
             _sig([3, 7]), notes="size -1 inferred, axis -1"),
        Spec("SLICE", "", lambda x: tf.slice(x, [0, 1, 2], [-1, 2, 3]), _sig([2, 4, 6]),
             notes="size -1 (to the end)"),
        Spec("SLICE", "rank4", lambda x: tf.slice(x, [0, 1, 0, 1], [1, 3, 2, 2]),
             _sig([1, 5, 3, 4])),
        Spec("STRIDED_SLICE", "neg_stride", lambda x: x[:, 1:-1:2, ::-1], _sig([2, 7, 5]),
             notes="x[:, 1:-1:2, ::-1]: begin/end masks, negative end, stride 2, reversed axis"),
        Spec("STRIDED_SLICE", "shrink_newaxis", lambda x: x[:, 2, tf.newaxis, 1:], _sig([2, 4, 5]),
             notes="x[:, 2, newaxis, 1:]: shrink_axis_mask and new_axis_mask"),
        Spec("STRIDED_SLICE", "ellipsis", lambda x: x[..., -3:], _sig([1, 3, 4, 6]),
             notes="x[..., -3:]: ellipsis, negative begin"),
    ]
    return out


def _gather_specs():
    def idx(shape, hi):
        return lambda r: [r.integers(0, hi, size=shape).astype(np.int32)]
    return [
        Spec("GATHER", "axis1", lambda p, i: tf.gather(p, i, axis=1),
             _sig([2, 5, 3], [4], dtypes=[F32, I32]),
             gen=_gen_cat(U([2, 5, 3]), idx([4], 5)), notes="int32 indices input, axis 1"),
        Spec("GATHER", "axis0_idx2d", lambda p, i: tf.gather(p, i),
             _sig([6, 4], [2, 3], dtypes=[F32, I32]),
             gen=_gen_cat(U([6, 4]), idx([2, 3], 6)), notes="axis 0, 2-D indices"),
        Spec("GATHER", "batch_dims1_neg_axis", lambda p, i: tf.gather(p, i, axis=-1, batch_dims=1),
             _sig([3, 4, 5], [3, 2], dtypes=[F32, I32]),
             gen=_gen_cat(U([3, 4, 5]), idx([3, 2], 5)), notes="batch_dims 1, axis -1"),
        Spec("GATHER", "const_params", lambda i: tf.gather(tf.constant(_const("gat", [7, 3])), i),
             _sig([5], dtypes=[I32]), gen=idx([5], 7), need_q=True,
             notes="embedding-style: constant params, int32 indices input"),
    ]


def _pad_specs():
    return [
        Spec("PAD", "", lambda x: tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]), _sig([1, 3, 4, 2]),
             notes="asymmetric spatial padding"),
        Spec("PAD", "rank2", lambda x: tf.pad(x, [[1, 0], [0, 3]]), _sig([3, 5])),
        Spec("PADV2", "", lambda x: tf.pad(x, [[0, 0], [1, 1], [0, 2]], constant_values=0.5),
             _sig([2, 3, 4]), notes="constant value 0.5"),
        Spec("PADV2", "neg_value", lambda x: tf.pad(x, [[2, 1], [1, 0]], constant_values=-0.75),
             _sig([3, 4]), notes="constant value -0.75"),
        Spec("MIRROR_PAD", "reflect", lambda x: tf.pad(x, [[0, 0], [2, 1], [1, 2], [0, 0]],
                                                      mode="REFLECT"), _sig([1, 4, 5, 2])),
        Spec("MIRROR_PAD", "symmetric", lambda x: tf.pad(x, [[1, 2], [3, 0]], mode="SYMMETRIC"),
             _sig([3, 4])),
        Spec("TILE", "", lambda x: tf.tile(x, [2, 1, 3]), _sig([2, 3, 2])),
        Spec("TILE", "rank4", lambda x: tf.tile(x, [1, 2, 2, 1]), _sig([1, 3, 2, 2])),
    ]


def _fill_specs():
    return [
        Spec("FILL", "", lambda v: tf.fill([2, 3, 4], tf.reshape(v, [])), _sig([1]),
             expect=["FILL", "RESHAPE"],
             notes="constant dims [2,3,4], value from an input of shape [1] reshaped to a "
                   "scalar (scalar model inputs are avoided: np.ascontiguousarray makes them 1-D)"),
        Spec("FILL", "dims_input", lambda d, v: tf.fill(d, tf.reshape(v, [])),
             _sig([3], [1], dtypes=[I32, F32]),
             gen=lambda r: [np.array([2, 1, 3], np.int32),
                            r.uniform(-1, 1, size=[1]).astype(np.float32)],
             notes="dims from an int32 input ([2,1,3]): output shape known only at run time"),
        Spec("SHAPE", "", lambda x: tf.shape(x), _sig([None, 3, None]), gen=U([2, 3, 5]),
             notes="dynamic dims keep SHAPE (static shapes are folded); int32 output"),
        Spec("SHAPE", "i64", lambda x: tf.shape(x, out_type=tf.int64), _sig([None, 4]),
             gen=U([3, 4]), notes="int64 output"),
        Spec("ZEROS_LIKE", "", lambda x: tf.zeros_like(x), _sig([None, 3]), gen=U([2, 3]),
             notes="dynamic dims keep ZEROS_LIKE (static shapes are folded to a constant)"),
        Spec("ZEROS_LIKE", "", lambda x: tf.zeros_like(x), _sig([None, 4], dtypes=[I32]),
             gen=lambda r: [r.integers(-9, 9, size=[3, 4]).astype(np.int32)], label="i32",
             modes=("float32",), in_dtype="INT32", notes="int32 tensor"),
    ]


def _cast_specs():
    ints = lambda shape: lambda r: [r.integers(-50, 50, size=shape).astype(np.int32)]  # noqa
    return [
        Spec("CAST", "f32_to_i32", lambda x: tf.cast(x, tf.int32), _sig([2, 7]),
             gen=U([2, 7], lo=-5.0, hi=5.0), notes="float32 -> int32 (truncation toward zero)"),
        Spec("CAST", "i32_to_f32", lambda x: tf.cast(x, tf.float32), _sig([3, 4], dtypes=[I32]),
             gen=ints([3, 4]), label="i32", modes=("float32",), in_dtype="INT32",
             notes="int32 -> float32"),
        Spec("CAST", "bool_to_f32", lambda x: tf.cast(x, tf.float32), _sig([5], dtypes=[BOOL]),
             gen=lambda r: [r.integers(0, 2, size=[5]).astype(np.bool_)], label="bool",
             modes=("float32",), in_dtype="BOOL", notes="bool -> float32"),
        Spec("CAST", "f32_to_bool", lambda x: tf.cast(x, tf.bool), _sig([6]),
             gen=lambda r: [np.array([0.0, 1.5, -2.0, 0.0, 1e-3, -0.0], np.float32)],
             notes="float32 -> bool (nonzero)", modes=("float32",), i16=False),
        Spec("CAST", "i32_to_i8", lambda x: tf.cast(x, tf.int8), _sig([6], dtypes=[I32]),
             gen=lambda r: [np.array([-200, -128, -1, 0, 127, 300], np.int32)], label="i32",
             modes=("float32",), in_dtype="INT32",
             notes="int32 -> int8 (wraps like a C cast: -200 -> 56, 300 -> 44)"),
    ]


def _resize_specs():
    v1 = tf.compat.v1.image
    return [
        Spec("RESIZE_BILINEAR", "half_pixel_up",
             lambda x: tf.image.resize(x, [9, 12], method="bilinear"), _sig([1, 5, 7, 3]),
             notes="tf.image.resize (half_pixel_centers), 5x7 -> 9x12"),
        Spec("RESIZE_BILINEAR", "align_corners",
             lambda x: v1.resize_bilinear(x, [7, 5], align_corners=True), _sig([2, 4, 3, 2]),
             notes="align_corners, batch 2, 4x3 -> 7x5"),
        Spec("RESIZE_BILINEAR", "legacy_down",
             lambda x: v1.resize_bilinear(x, [3, 4]), _sig([1, 7, 9, 2]),
             notes="neither align_corners nor half_pixel_centers, downscale 7x9 -> 3x4"),
        Spec("RESIZE_NEAREST_NEIGHBOR", "half_pixel_up",
             lambda x: tf.image.resize(x, [9, 12], method="nearest"), _sig([1, 5, 7, 3]),
             notes="tf.image.resize (half_pixel_centers), 5x7 -> 9x12"),
        Spec("RESIZE_NEAREST_NEIGHBOR", "align_corners",
             lambda x: v1.resize_nearest_neighbor(x, [7, 5], align_corners=True),
             _sig([2, 4, 3, 2]), notes="align_corners, batch 2"),
        Spec("RESIZE_NEAREST_NEIGHBOR", "legacy_down",
             lambda x: v1.resize_nearest_neighbor(x, [3, 4]), _sig([1, 7, 9, 2]),
             notes="legacy (no half pixel), downscale"),
        Spec("DEPTH_TO_SPACE", "", lambda x: tf.nn.depth_to_space(x, 2), _sig([1, 3, 5, 8])),
        Spec("DEPTH_TO_SPACE", "block3", lambda x: tf.nn.depth_to_space(x, 3), _sig([2, 2, 1, 9])),
        Spec("SPACE_TO_DEPTH", "", lambda x: tf.nn.space_to_depth(x, 2), _sig([1, 6, 4, 3])),
        Spec("SPACE_TO_DEPTH", "block3", lambda x: tf.nn.space_to_depth(x, 3), _sig([2, 3, 6, 1])),
    ]


def _grid(*shapes):
    """Values on a coarse grid so that comparisons meet equal operands."""
    return lambda r: [r.choice(np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32), size=s)
                      for s in shapes]


def _bools(*shapes):
    return lambda r: [r.integers(0, 2, size=s).astype(np.bool_) for s in shapes]


def _compare_specs():
    out = []
    for op, fn in (("EQUAL", tf.equal), ("NOT_EQUAL", tf.not_equal), ("LESS", tf.less),
                   ("GREATER", tf.greater), ("GREATER_EQUAL", tf.greater_equal),
                   ("LESS_EQUAL", tf.less_equal)):
        out += [
            Spec(op, "broadcast", lambda a, b, fn=fn: fn(a, b), _sig([2, 3, 4], [4]),
                 gen=_grid([2, 3, 4], [4]),
                 notes="float inputs on a grid of 0.5 (equal operands occur), [4] broadcast, "
                       "bool output"),
            Spec(op, "", lambda a, b, fn=fn: fn(a, b), _sig([3, 5], [3, 5], dtypes=[I32, I32]),
                 gen=lambda r: [r.integers(-3, 3, size=[3, 5]).astype(np.int32),
                                r.integers(-3, 3, size=[3, 5]).astype(np.int32)],
                 label="i32", modes=("float32",), in_dtype="INT32", notes="int32 inputs"),
        ]
    out += [
        Spec("SELECT_V2", "broadcast", lambda c, a, b: tf.where(c, a, b),
             _sig([2, 1, 4], [2, 3, 4], [4], dtypes=[BOOL, F32, F32]),
             gen=_gen_cat(_bools([2, 1, 4]), U([2, 3, 4], [4])),
             notes="bool condition input [2,1,4], operands [2,3,4] and [4] broadcast"),
        Spec("SELECT_V2", "cond_broadcast", lambda c, a, b: tf.where(c, a, b),
             _sig([3, 1], [3, 5], [3, 5], dtypes=[BOOL, F32, F32]),
             gen=_gen_cat(_bools([3, 1]), U([3, 5], [3, 5])),
             notes="condition [3,1] broadcast over [3,5] operands (with equal shapes the "
                   "converter emits SELECT, not SELECT_V2)"),
        Spec("SELECT_V2", "cond_from_compare", lambda a, b: tf.where(a > b, a, b * 0.5),
             _sig([2, 6], [6]), expect=["SELECT_V2", "GREATER"],
             notes="condition computed in the model (GREATER), else-operand [6] broadcast"),
    ]
    for op, fn, n in (("LOGICAL_AND", tf.logical_and, 2), ("LOGICAL_OR", tf.logical_or, 2),
                      ("LOGICAL_NOT", tf.logical_not, 1)):
        shapes = [[2, 3, 4], [4]][:n]
        out.append(Spec(op, "broadcast" if n == 2 else "", lambda *a, fn=fn: fn(*a),
                        _sig(*shapes, dtypes=[BOOL] * n), gen=_bools(*shapes), label="bool",
                        modes=("float32",), in_dtype="BOOL",
                        notes="bool inputs" + (", [4] broadcast" if n == 2 else "")))
    return out


# --- QUANTIZE / DEQUANTIZE ------------------------------------------------------------------

def _quant_specs():
    w = _const("qw", [4, 3])
    body = lambda x: tf.nn.relu(tf.matmul(x, tf.constant(w)))  # noqa: E731
    f32_io = {"inference_input_type": tf.float32, "inference_output_type": tf.float32}
    u8_io = {"inference_input_type": tf.uint8, "inference_output_type": tf.uint8}
    return [
        Spec("QUANTIZE", "f32_io", body, _sig([2, 4]), modes=("int8",), i16=False,
             flags=f32_io, expect=["QUANTIZE", "DEQUANTIZE", "FULLY_CONNECTED"],
             also_covers=["DEQUANTIZE"],
             check=_node_check("QUANTIZE", ins=["FLOAT32"], outs=["INT8"],
                               also=("DEQUANTIZE", ["INT8"], ["FLOAT32"])),
             notes="int8 model with float32 input and output: QUANTIZE float32 -> int8 at the "
                   "input, DEQUANTIZE int8 -> float32 at the output"),
        Spec("QUANTIZE", "u8_io", body, _sig([2, 4]), modes=("int8",), i16=False, flags=u8_io,
             check=_node_check("QUANTIZE", ins=["UINT8"], outs=["INT8"],
                               also=("QUANTIZE", ["INT8"], ["UINT8"])),
             notes="int8 model with uint8 input and output: QUANTIZE uint8 -> int8 (input) and "
                   "int8 -> uint8 (output), i.e. requantizing QUANTIZE with an int8 input"),
        Spec("QUANTIZE", "f32_io", body, _sig([2, 4]), modes=("int16x8",), i16=False,
             flags=f32_io, expect=["QUANTIZE", "DEQUANTIZE"], also_covers=["DEQUANTIZE"],
             check=_node_check("QUANTIZE", ins=["FLOAT32"], outs=["INT16"],
                               also=("DEQUANTIZE", ["INT16"], ["FLOAT32"])),
             notes="int16x8 model with float32 input and output: QUANTIZE float32 -> int16, "
                   "DEQUANTIZE int16 -> float32"),
    ]


# --- DENSIFY, LSTM, control flow, resource variables ------------------------------------------

def _densify_specs():
    sparse_fc = _const("spfc", [16, 8], sparsity=0.85)
    sparse_conv = _const("spconv", [3, 3, 4, 6], sparsity=0.85)
    sp = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    dflt_sp = [tf.lite.Optimize.DEFAULT, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    out = []
    for variant, body, sig, extra in (
        ("fc", lambda x: tf.matmul(x, tf.constant(sparse_fc)), _sig([2, 16]), "FULLY_CONNECTED"),
        ("conv", lambda x: _conv(x, sparse_conv, None, 1, "SAME"), _sig([1, 5, 5, 4]), "CONV_2D"),
    ):
        out.append(Spec("DENSIFY", variant, body, sig, modes=("float32",), expect=["DENSIFY", extra],
                        flags={"optimizations": sp}, i16=False,
                        notes=f"{extra} with a constant weight of ~85% zeros, converted with "
                              "Optimize.EXPERIMENTAL_SPARSITY: the weight is stored sparse and "
                              "DENSIFY expands it"))
        fc_note = ("LiteRT's default path fails on the int8 FULLY_CONNECTED variant of this "
                   "model ('failed to delegate FULLY_CONNECTED': XNNPACK), so only the CONV_2D "
                   "one is a case") if variant == "conv" else None
        out.append(Spec("DENSIFY", variant, body, sig, modes=("int8",), expect=["DENSIFY", extra],
                        flags={"optimizations": dflt_sp}, i16=False,
                        mode_notes={"int8": fc_note},
                        notes=f"int8 {extra} with a ~85%-zero weight, Optimize.DEFAULT + "
                              "EXPERIMENTAL_SPARSITY: sparse int8 weight expanded by DENSIFY"))
    return out


LSTM_T, LSTM_I, LSTM_U = 5, 3, 4


def _lstm_module(units: int, inp: int, steps: int, tag: str):
    """A tf.Module whose inner function has the Keras 2 LSTM 'api_implements' signature, which
    the converter fuses into UNIDIRECTIONAL_SEQUENCE_LSTM (through a SavedModel). Keras 3's LSTM
    is lowered to a WHILE loop instead."""
    k = _const(f"lstmk{tag}", [inp, 4 * units], -0.5, 0.5)
    r = _const(f"lstmr{tag}", [units, 4 * units], -0.5, 0.5)
    b = _const(f"lstmb{tag}", [4 * units], -0.2, 0.2)
    b[units:2 * units] += 1.0  # forget-gate bias 1, as Keras initializes it

    @tf.function(experimental_attributes={
        "api_implements": f"lstm_tflrs_{tag}", "api_preferred_device": "CPU",
        "time_major": False, "go_backwards": False})
    def standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        h, c = init_h, init_c
        outs = []
        for t in range(inputs.shape[1]):
            z = tf.matmul(inputs[:, t], kernel) + tf.matmul(h, recurrent_kernel) + bias
            zi, zf, zc, zo = tf.split(z, 4, axis=1)
            c = tf.sigmoid(zf) * c + tf.sigmoid(zi) * tf.tanh(zc)
            h = tf.sigmoid(zo) * tf.tanh(c)
            outs.append(h)
        return h, tf.stack(outs, axis=1), h, c, tf.constant(0.0)

    class Lstm(tf.Module):
        @tf.function(input_signature=_sig([1, steps, inp]))
        def __call__(self, in0):
            z = tf.zeros([1, units])
            return standard_lstm(in0, z, z, tf.constant(k), tf.constant(r), tf.constant(b))[1]

    return Lstm()


def _lstm_specs():
    small = _lstm_module(LSTM_U, LSTM_I, LSTM_T, "s")
    big = _lstm_module(32, 32, 3, "h")
    lstm = "UNIDIRECTIONAL_SEQUENCE_LSTM"
    return [
        Spec(lstm, "", None, None, gen=U([1, LSTM_T, LSTM_I], lo=-2.0, hi=2.0), model=small,
             notes=f"batch 1, {LSTM_T} steps, {LSTM_I} features, {LSTM_U} units, return "
                   "sequences, zero initial state (the state is a variable tensor of the op)"),
        Spec(lstm, "", None, None, gen=U([1, 3, 32]), model=big, modes=("dynamic_range",),
             check=_hybrid_check(lstm),
             notes="32 inputs, 32 units, 3 steps: each gate's 32x32 weights reach the "
                   "converter's 1024-element threshold, so they are int8 (hybrid LSTM)"),
    ]


def _control_specs():
    def loop_fixed(x):
        i = tf.constant(0)
        return tf.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 0.5 + 1.0), [i, x])[1]

    def loop_data(x):
        # The trip count depends on the data: grow until the sum passes 10 (at most 8 rounds).
        i = tf.constant(0)
        return tf.while_loop(lambda i, x: tf.logical_and(tf.reduce_sum(x) < 10.0, i < 8),
                             lambda i, x: (i + 1, x * 1.5 + 0.25), [i, x])[1]

    def cond(p, x):
        return tf.cond(tf.reshape(p, []), lambda: x * 2.0 + 1.0, lambda: tf.nn.relu(x) - 0.5)

    def cond_data(x):
        return tf.cond(tf.reduce_sum(x) > 0.0, lambda: tf.tanh(x), lambda: x * x)

    pgen = lambda v: lambda r: [np.array([v]), r.uniform(-1, 1, size=[2, 3]).astype(np.float32)]  # noqa
    return [
        Spec("WHILE", "fixed3", loop_fixed, _sig([2, 3]),
             notes="tf.while_loop of 3 iterations (counter in the loop state): WHILE with cond "
                   "and body subgraphs"),
        Spec("WHILE", "data_dependent", loop_data, _sig([2, 3]), gen=U([2, 3], lo=0.0, hi=1.0),
             notes="trip count depends on the input (sum < 10, at most 8 rounds)"),
        Spec("IF", "then", cond, _sig([1], [2, 3], dtypes=[BOOL, F32]), gen=pgen(True),
             normalize=True,
             notes="tf.cond on a bool input (shape [1], reshaped to a scalar), true: the "
                   "then-branch subgraph runs; names normalized (cond_true_<uid> -> cond_true)"),
        Spec("IF", "else", cond, _sig([1], [2, 3], dtypes=[BOOL, F32]), gen=pgen(False),
             normalize=True,
             notes="same model, condition false: the else-branch subgraph runs"),
        Spec("IF", "data_dependent", cond_data, _sig([2, 3]), normalize=True,
             expect=["IF", "SUM", "GREATER"], notes="condition computed from the data"),
    ]


def _var_module():
    class Acc(tf.Module):
        def __init__(self):
            super().__init__()
            self.acc = tf.Variable(tf.constant([[0.5, -1.0, 2.0, 0.25]]), name="acc")

        @tf.function(input_signature=_sig([1, 4]))
        def __call__(self, in0):
            self.acc.assign(self.acc * 0.5 + in0)
            return self.acc.read_value() * 1.0

    return Acc()


def _var_specs():
    ops = ["VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"]
    notes = ("stateful tf.Module: acc = acc * 0.5 + x; returns acc. CALL_ONCE runs the init "
             "subgraph (VAR_HANDLE + ASSIGN_VARIABLE of [0.5,-1,2,0.25]) on the first invoke. "
             "The golden is ONE invoke on a fresh interpreter (the manifest has no multi-invoke "
             "facility); LiteRT keeps the variable across invokes: a second invoke with the same "
             "input would give acc1 * 0.5 + x")
    return [Spec("VAR_HANDLE", "accumulate", None, None, gen=U([1, 4]), model=_var_module(),
                 expect=ops, also_covers=ops[1:], i16=False, need_q=False,
                 flags={"experimental_enable_resource_variables": True},
                 check=_var_check, notes=notes,
                 mode_notes={"int8": "int8: the converter keeps the variable float32 "
                                     "(READ_VARIABLE -> QUANTIZE, DEQUANTIZE -> ASSIGN_VARIABLE) "
                                     "and quantizes the arithmetic around it"})]


def _var_check(nodes, mode):
    if mode in QTYPE:
        q = QTYPE[mode]
        if not any(q in n.ins for n in nodes if n.op in ("MUL", "ADD")):
            return f"the arithmetic around the variable is not {q}"
    return None


# --------------------------------------------------------------------------------------------
# Extra checks


def _node_check(op, ins, outs, also=None):
    def check(nodes, mode):
        def has(i, o):
            return any(n.op == op and n.ins[:len(i)] == i and n.outs[:len(o)] == o for n in nodes)
        if not has(ins, outs):
            return f"no {op} {ins}->{outs}"
        if also and not any(n.op == also[0] and n.ins[:len(also[1])] == also[1]
                            and n.outs[:len(also[2])] == also[2] for n in nodes):
            return f"no {also[0]} {also[1]}->{also[2]}"
        return None
    return check


def _per_tensor_check(op):
    def check(nodes, mode):
        if not any(n.op == op and len(n.in_scales) > 1 and n.in_scales[1] == 1 for n in nodes):
            return f"{op} weights are not per-tensor quantized"
        return None
    return check


def _hybrid_check(op):
    def check(nodes, mode):
        if not any(n.op == op and n.ins[0] == "FLOAT32" and "INT8" in n.ins for n in nodes):
            return f"no hybrid {op} (float32 input, int8 weights)"
        return None
    return check


def _verify(spec: Spec, mode: str, nodes: list[Node]):
    """(error, unfused): error is None when the model has what the case is about, else what is
    missing; unfused says when the asked-for fused activation is not on the op."""
    err = _verify_ops(spec, mode, nodes)
    unfused = None
    mine = [n for n in nodes if n.op == spec.op]
    if not err and spec.fused and not any(n.fused == spec.fused for n in mine):
        unfused = (f"the converter did not keep the fused {spec.fused} on {spec.op} "
                   f"(nodes: {[repr(n) for n in nodes]})")
    return err, unfused


def _verify_ops(spec: Spec, mode: str, nodes: list[Node]):
    for op in spec.expect:
        if not any(n.op == op for n in nodes):
            return f"{op} is not in the model (ops: {sorted({n.op for n in nodes})})"
    mine = [n for n in nodes if n.op == spec.op]
    if mode == "float32":
        want = spec.in_dtype or "FLOAT32"
        if spec.op not in ("VAR_HANDLE", "CALL_ONCE") and not any(want in n.ins for n in mine):
            return f"{spec.op} has no {want} input: {mine}"
    elif mode in QTYPE and spec.need_q:
        q = QTYPE[mode]
        if not any(q in n.ins or q in n.outs for n in mine):
            return (f"{spec.op} was left in float (it touches no {q} tensor): "
                    f"{[repr(n) for n in mine]}")
    elif mode == "dynamic_range":
        err = _hybrid_check(spec.op)(nodes, mode)
        if err:
            return err
    elif mode == "float16":
        if not any(n.op == "DEQUANTIZE" and n.ins[0] == "FLOAT16" for n in nodes):
            return "no DEQUANTIZE of float16 weights"
    if spec.check:
        return spec.check(nodes, mode)
    return None


# --------------------------------------------------------------------------------------------
# Building


def all_specs() -> list[Spec]:
    specs = (_conv_specs() + _dw_specs() + _fc_specs() + _tconv_specs() + _bmm_specs()
             + _binary_specs() + _unary_specs() + _act_specs() + _pool_specs() + _reduce_specs()
             + _shape_specs() + _gather_specs() + _pad_specs() + _fill_specs() + _cast_specs()
             + _resize_specs() + _compare_specs() + _quant_specs() + _densify_specs()
             + _lstm_specs() + _control_specs() + _var_specs())
    # int16x8 for the first int8 variant of each operator (where asked).
    seen = set()
    for s in specs:
        if "int8" in s.modes and s.op not in seen:
            seen.add(s.op)
            if s.i16 and "int16x8" not in s.modes:
                s.modes.append("int16x8")
    return specs


# Reasons for (op, dtype) pairs that have no case, written from what LiteRT and the converter do;
# the converter's or LiteRT's own message is appended as evidence where there is one.
KNOWN_SKIPS = {
    ("LOGICAL_AND", "float32"): "LOGICAL_AND is defined on bool tensors only (case op_logical_and_bool)",
    ("LOGICAL_AND", "int8"): "LOGICAL_AND is defined on bool tensors only: no quantized form",
    ("LOGICAL_OR", "float32"): "LOGICAL_OR is defined on bool tensors only (case op_logical_or_bool)",
    ("LOGICAL_OR", "int8"): "LOGICAL_OR is defined on bool tensors only: no quantized form",
    ("LOGICAL_NOT", "float32"): "LOGICAL_NOT is defined on bool tensors only (case op_logical_not_bool)",
    ("LOGICAL_NOT", "int8"): "LOGICAL_NOT is defined on bool tensors only: no quantized form",
    ("DEQUANTIZE", "float32"): "DEQUANTIZE never has a float32 input, and a float32 "
                               "conversion has none; float32-output DEQUANTIZE is in "
                               "op_conv_2d_f16 and op_fully_connected_f16 (float16 weights "
                               "-> float32), op_quantize_i8_f32_io (int8 -> float32) and "
                               "op_quantize_i16_f32_io (int16 -> float32)",
    ("QUANTIZE", "float32"): "a float32 conversion has no QUANTIZE; QUANTIZE with a float32 "
                             "input is in op_quantize_i8_f32_io (float32 -> int8) and "
                             "op_quantize_i16_f32_io (float32 -> int16), both quantized models "
                             "with float32 input and output",
}


# Known bugs of LiteRT's reference kernels (BUILTIN_REF), written into the notes of the cases
# they affect: their ref_output is LiteRT's answer, but not the right one.
_SUM_BUG = ("LiteRT BUG: the reference SUM kernel (BUILTIN_REF) reads quantized int8/int16 "
            "input as uint8 in QuantizedMeanOrSum, so ref_output is wrong (off by up to the whole "
            "range); the default path (xnnpack_output: optimized kernel or XNNPACK) is right. "
            "Upstream: google-ai-edge/LiteRT issue 4079, fix in pull request 7855 (open)")
KNOWN_REF_BUGS = {("SUM", "int8"): _SUM_BUG}
_SUM_I16 = ("LiteRT's reference SUM kernel (BUILTIN_REF) is broken for quantized input (it reads "
            "the data as uint8: google-ai-edge/LiteRT issue 4079); for int16 its output even "
            "changes from run to run (it reads past what it should), so no reproducible golden "
            "exists. The int16x8 conversion itself works (and the converter gives the output the "
            "input's scale)")


def _flat_reason(msg: str, limit: int = 400) -> str:
    lines = [ln.strip() for ln in str(msg).splitlines() if ln.strip()]
    keep = [ln for ln in lines if re.search(r"error|not|unsupported|fail|quantiz", ln, re.I)
            and not ln.startswith(("loc(", "File ", "<unknown>"))]
    text = " | ".join(keep or lines[-3:])
    text = re.sub(r"\s+", " ", text)
    # TensorFlow's process-global unique ids ("cond_false_131830") would make the text depend
    # on what was traced before.
    text = re.sub(r"\b(cond_true|cond_false|while_body|while_cond)_\d+", r"\1", text)
    return text[:limit]


def _litert_probe(tflite: bytes, inputs, ref: bool = True):
    """Runs the model with both resolvers (as add_case will); returns an error string or None.
    ref=False: only the default resolver."""
    from ai_edge_litert import interpreter as litert

    resolvers = [litert.OpResolverType.BUILTIN_REF] if ref else []
    for resolver in resolvers + [litert.OpResolverType.AUTO]:
        try:
            it = litert.Interpreter(model_content=tflite, num_threads=1,
                                    experimental_op_resolver_type=resolver)
            details = it.get_input_details()
            for d, a in zip(details, inputs):
                if tuple(d["shape"]) != tuple(np.shape(a)):
                    it.resize_tensor_input(d["index"], list(np.shape(a)))
            it.allocate_tensors()
            for d, a in zip(it.get_input_details(), inputs):
                a = np.asarray(a)
                scale, zp = d["quantization"]
                if a.dtype.kind == "f" and np.dtype(d["dtype"]).kind in "iu" and scale:
                    info = np.iinfo(d["dtype"])
                    a = np.clip(np.round(a / scale) + zp, info.min, info.max)
                it.set_tensor(d["index"], a.astype(d["dtype"]))
            it.invoke()
        except Exception as e:  # noqa: BLE001
            return f"LiteRT ({resolver.name}): {type(e).__name__}: {_flat_reason(e)}"
    return None


def _order_inputs(tflite: bytes, spec: Spec, arrays):
    """Puts the signature-ordered arrays in the model's input order (names in0, in1, ...)."""
    from ai_edge_litert import interpreter as litert

    if len(arrays) <= 1:
        return list(arrays)
    it = litert.Interpreter(model_content=tflite)
    order = []
    for d in it.get_input_details():
        m = re.search(r"in(\d+)", d["name"])
        if not m:
            raise RuntimeError(f"cannot place input {d['name']!r} of {spec.name('float32')}")
        order.append(int(m.group(1)))
    if sorted(order) != list(range(len(arrays))):
        raise RuntimeError(f"input names {order} do not match the signature")
    return [arrays[k] for k in order]


class _Builder:
    def __init__(self, ctx):
        self.ctx = ctx
        self.covered: dict[tuple, list] = {}
        self.skipped: dict[tuple, str] = {}
        self.failures: dict[tuple, str] = {}
        self.sanity_flags: list[str] = []
        self.unselected = 0
        self.bytes = 0

    def skip(self, op: str, dtype: str, reason: str) -> None:
        if (op, dtype) in self.skipped or (op, dtype) in self.covered:
            return
        self.skipped[(op, dtype)] = reason
        self.ctx.skip(f"skip_op_{op.lower()}_{dtype}", op, dtype, reason)

    def run(self, spec: Spec) -> None:
        for mode in spec.modes:
            name = spec.name(mode)
            skip_name = f"skip_op_{spec.op.lower()}_{spec.dtype_of(mode)}"
            if not (self.ctx.wants(name) or self.ctx.wants(skip_name)):
                # Not selected by --only: reserve the name, skip the conversion.
                self.ctx.add_case(name, b"", family="op", mode=mode)
                self.unselected += 1
                for op in [spec.op] + spec.also_covers:
                    self.covered.setdefault((op, spec.dtype_of(mode)), []).append(name)
                continue
            self.one(spec, mode, name)

    def one(self, spec: Spec, mode: str, name: str) -> None:
        dtype = spec.dtype_of(mode)
        if mode in spec.no:
            return self.failed(spec, mode, dtype, spec.no[mode])
        seed = zlib.crc32(name.encode())
        rng_rep = np.random.default_rng([seed, 1])
        rng_in = np.random.default_rng([seed, 2])
        arrays = spec.gen(rng_in)
        # The case's own input is one of the calibration samples, so that its activations fall
        # inside the calibrated ranges (goldens that test arithmetic, not saturation).
        rep = ([arrays] + [spec.gen(rng_rep) for _ in range(REP_SAMPLES - 1)]
               if mode in QTYPE else None)
        try:
            tflite = common.convert(spec.convertible(), mode, rep, input_signature=spec.sig,
                                    extra_flags=spec.flags or None)
        except common.ConversionError as e:
            if mode == "float32":
                raise RuntimeError(f"{name}: float32 conversion failed: {e}") from e
            return self.failed(spec, mode, dtype, "the converter refuses it: " + _flat_reason(e))
        if spec.normalize:
            tflite = normalize_names(tflite)
        nodes = model_nodes(tflite)
        err, unfused = _verify(spec, mode, nodes)
        if err:
            if mode in ("float32", "dynamic_range", "float16"):
                raise RuntimeError(f"{name}: {err}\n  nodes: {nodes}")
            return self.failed(spec, mode, dtype, "the converter does not emit it: " + err)
        if unfused and mode == "float32":
            raise RuntimeError(f"{name}: {unfused}\n  nodes: {nodes}")
        arrays = _order_inputs(tflite, spec, arrays)
        err = _litert_probe(tflite, arrays)
        if err and "BUILTIN_REF" in err and "Registration failed" in err:
            auto = _litert_probe(tflite, arrays, ref=False)
            versions = sorted({f"{n.op} v{n.version}" for n in nodes})
            err = ("LiteRT's reference op resolver (BUILTIN_REF) has no registration for an op "
                   f"version of this model ({', '.join(versions)}), so it cannot make the "
                   "reference golden; the default resolver "
                   + ("runs it" if auto is None else f"fails too: {auto}"))
        if err:
            if mode == "float32":
                raise RuntimeError(f"{name}: {err}")
            return self.failed(spec, mode, dtype, err)
        extra = [x for x in (spec.mode_notes.get(mode), _quant_note(nodes, spec.op, mode),
                             unfused) if x]
        notes = "; ".join([spec.notes] + extra if spec.notes else extra)
        bug = KNOWN_REF_BUGS.get((spec.op, mode))
        if bug:
            notes = f"{notes}; {bug}" if notes else bug
        self.ctx.add_case(name, tflite, family="op", mode=mode, inputs=arrays, seed=seed,
                          tolerance=spec.tolerance, notes=notes)
        if mode == "float32" and not spec.label:
            spec.f32_tflite = tflite
        elif mode in QTYPE and getattr(spec, "f32_tflite", None) and not spec.flags:
            self.sanity(name, spec.f32_tflite, tflite, arrays)
        self.bytes += len(tflite)
        for op in [spec.op] + spec.also_covers:
            self.covered.setdefault((op, dtype), []).append(name)

    def sanity(self, name, f32_tflite, q_tflite, arrays):
        """Diagnostic: the quantized model's outputs (LiteRT reference kernels and default
        path), dequantized, against the float32 model run on the dequantized inputs. Prints
        cases whose error is far beyond quantization noise (a wrong reference kernel shows up
        here); writes nothing."""
        from ai_edge_litert import interpreter as litert

        def run(model, ins, resolver):
            it = litert.Interpreter(model_content=model, num_threads=1,
                                    experimental_op_resolver_type=resolver)
            for d, a in zip(it.get_input_details(), ins):
                if tuple(d["shape"]) != tuple(np.shape(a)):
                    it.resize_tensor_input(d["index"], list(np.shape(a)))
            it.allocate_tensors()
            for d, a in zip(it.get_input_details(), ins):
                it.set_tensor(d["index"], a)
            it.invoke()
            return it, [it.get_tensor(d["index"]) for d in it.get_output_details()]

        probe = litert.Interpreter(model_content=q_tflite)
        qins, fins = [], []
        for d, a in zip(probe.get_input_details(), arrays):
            a = np.asarray(a)
            scale, zp = d["quantization"]
            if a.dtype.kind == "f" and scale:
                info = np.iinfo(d["dtype"])
                q = np.clip(np.round(a / scale) + zp, info.min, info.max).astype(d["dtype"])
                qins.append(q)
                fins.append(((q.astype(np.float64) - zp) * scale).astype(np.float32))
            else:
                qins.append(a)
                fins.append(a)
        try:
            _, want = run(f32_tflite, fins, litert.OpResolverType.BUILTIN_REF)
            it, ref = run(q_tflite, qins, litert.OpResolverType.BUILTIN_REF)
            _, xnn = run(q_tflite, qins, litert.OpResolverType.AUTO)
        except Exception as e:  # noqa: BLE001
            print(f"  op_models: sanity {name}: cannot run: {e}", file=sys.stderr)
            return
        for k, d in enumerate(it.get_output_details()):
            scale, zp = d["quantization"]
            if not scale:
                continue
            w = np.asarray(want[k], np.float64)
            r = (ref[k].astype(np.float64) - zp) * scale
            x = (xnn[k].astype(np.float64) - zp) * scale
            lim = 3 * scale + 0.03 * (np.max(np.abs(w)) if w.size else 0)
            er, ex = float(np.max(np.abs(r - w))), float(np.max(np.abs(x - w)))
            if er > lim or ex > lim:
                msg = (f"  op_models: SANITY {name} output {k}: |ref - float| = {er:.4g} "
                       f"({er / scale:.1f} LSB), |xnnpack - float| = {ex:.4g} "
                       f"({ex / scale:.1f} LSB)")
                print(msg, file=sys.stderr, flush=True)
                self.sanity_flags.append(msg.strip())

    def failed(self, spec, mode, dtype, evidence):
        key = (spec.op, dtype)
        known = spec.skip.get(mode) or KNOWN_SKIPS.get(key)
        reason = f"{known} ({evidence})" if known else evidence
        print(f"  op_models: {spec.name(mode)}: no case: {reason}", file=sys.stderr, flush=True)
        self.failures.setdefault(key, reason)


def _quant_note(nodes, op, mode):
    if mode not in QTYPE or op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
                                       "TRANSPOSE_CONV"):
        return ""
    for n in nodes:
        if n.op == op and len(n.in_scales) > 1:
            k = n.in_scales[1]
            return ("weights per-channel (%d scales)" % k) if k > 1 else "weights per-tensor"
    return ""


def build_all(ctx) -> None:
    common.seed_everything(0)
    b = _Builder(ctx)
    only = os.environ.get("TFLRS_OP_MODELS_ONLY")  # development: a regex on operator names
    specs = [s for s in all_specs() if not only or re.search(only, s.op)]
    for spec in specs:
        common.seed_everything(zlib.crc32(spec.name(spec.modes[0]).encode()))
        b.run(spec)
    # Pairs that failed and have no other case become skips, with their reasons.
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
            raise RuntimeError("op_models: no case and no skip for: " + ", ".join(missing))
    for msg in b.sanity_flags:
        print("op_models: " + msg, file=sys.stderr)
    print(f"op_models: {sum(len(v) for v in b.covered.values())} cases, {len(b.skipped)} skips, "
          f"{b.bytes} bytes of models", file=sys.stderr)
