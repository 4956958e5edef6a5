"""Per-operator cases for the recurrent operators of issue 10 the converter does not emit from a
`tf.function`: RNN, UNIDIRECTIONAL_SEQUENCE_RNN and SVDF (float32 and hybrid); and CONV_3D and
CONV_3D_TRANSPOSE (float32), which the converter does emit (`tf.nn.conv3d`,
`tf.nn.conv3d_transpose`).

Keras' SimpleRNN lowers to WHILE and the converter has no path to the fused basic-RNN builtins,
so every model here is a raw flatbuffer written with the schema module of `ai_edge_litert`
(`_model`): one operator, seeded constant weights, and LiteRT's reference outputs as for every
other case. Hybrid cases hold int8 weights with one scale each (what the dynamic-range converter
writes), float input, output and state.

The hidden state is a variable tensor (LiteRT requires one; zero-initialized). An RNN model
holds two RNN nodes that share it (inputs x1 and x2, outputs o1 and o2), so that one invoke
exercises the recurrent weights; UNIDIRECTIONAL_SEQUENCE_RNN's steps exercise them. SVDF
models chain three SVDF nodes on one state (inputs x1..x3, outputs o1..o3), so that the memory
shifts and the time weights see more than the newest slot.
"""

from __future__ import annotations

import zlib

import numpy as np

import op_models as om

OP_LIST = "RNN UNIDIRECTIONAL_SEQUENCE_RNN SVDF CONV_3D CONV_3D_TRANSPOSE".split()


def _rng(name):
    return np.random.default_rng(zlib.crc32(("rest/" + name).encode()))


def _model(op_name: str, opts_type: str, opts, tensors, inputs, outputs, nodes,
           version: int) -> bytes:
    """A model of one operator type. `tensors`: (name, shape, dtype, data or None, scale or
    None, is_variable); `nodes`: (inputs, outputs) of each node."""
    import flatbuffers

    s = om._schema()
    model = s.ModelT()
    model.version = 3
    model.description = "tflrs op_models_rest"
    model.buffers = [s.BufferT()]
    g = s.SubGraphT()
    g.tensors = []
    for name, shape, dtype, data, scale, var in tensors:
        t = s.TensorT()
        t.name = name
        t.shape = list(shape)
        t.type = getattr(s.TensorType, dtype)
        t.isVariable = var
        t.buffer = 0
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            model.buffers.append(b)
            t.buffer = len(model.buffers) - 1
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = [float(scale)]
            q.zeroPoint = [0]
            t.quantization = q
        g.tensors.append(t)
    g.inputs = list(inputs)
    g.outputs = list(outputs)
    g.operators = []
    for op_inputs, op_outputs in nodes:
        o = s.OperatorT()
        o.opcodeIndex = 0
        o.inputs = list(op_inputs)
        o.outputs = list(op_outputs)
        o.builtinOptionsType = getattr(s.BuiltinOptions, opts_type)
        o.builtinOptions = opts
        g.operators.append(o)
    g.name = "main"
    model.subgraphs = [g]
    oc = s.OperatorCodeT()
    code = getattr(s.BuiltinOperator, op_name)
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = version
    model.operatorCodes = [oc]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _weights(rng, shape, hybrid):
    w = rng.uniform(-0.6, 0.6, size=shape).astype(np.float32)
    if not hybrid:
        return w, None
    scale = float(np.abs(w).max()) / 127.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


ACT = {"tanh": "TANH", "relu": "RELU", "none": "NONE", "relu6": "RELU6"}


def _rnn_case(ctx, name, *, seq, batch, time, input_size, units, act, hybrid=False,
              asym=False, time_major=False, notes=""):
    s = om._schema()
    rng = _rng(name)
    w, ws = _weights(rng, [units, input_size], hybrid)
    r, rs = _weights(rng, [units, units], hybrid)
    bias = rng.uniform(-0.3, 0.3, size=[units]).astype(np.float32)
    wt = "INT8" if hybrid else "FLOAT32"
    if seq:
        x_shape = [time, batch, input_size] if time_major else [batch, time, input_size]
        out_shape = x_shape[:2] + [units]
        opts = s.SequenceRNNOptionsT()
        opts.timeMajor = time_major
        opts_type = "SequenceRNNOptions"
        op = "UNIDIRECTIONAL_SEQUENCE_RNN"
    else:
        x_shape = [batch, input_size]
        out_shape = [batch, units]
        opts = s.RNNOptionsT()
        opts_type = "RNNOptions"
        op = "RNN"
    opts.fusedActivationFunction = getattr(s.ActivationFunctionType, ACT[act])
    opts.asymmetricQuantizeInputs = asym
    tensors = [
        ("input", x_shape, "FLOAT32", None, None, False),
        ("input_weights", [units, input_size], wt, w, ws, False),
        ("recurrent_weights", [units, units], wt, r, rs, False),
        ("bias", [units], "FLOAT32", bias, None, False),
        ("hidden_state", [batch, units], "FLOAT32", None, None, True),
        ("output", out_shape, "FLOAT32", None, None, False),
    ]
    nodes = [([0, 1, 2, 3, 4], [5])]
    graph_inputs, graph_outputs = [0], [5]
    if not seq:
        # A second step on the same state.
        tensors += [("input_2", x_shape, "FLOAT32", None, None, False),
                    ("output_2", out_shape, "FLOAT32", None, None, False)]
        nodes.append(([6, 1, 2, 3, 4], [7]))
        graph_inputs, graph_outputs = [0, 6], [5, 7]
    version = (3 if asym else 2) if hybrid else 1
    tflite = _model(op, opts_type, opts, tensors, graph_inputs, graph_outputs, nodes, version)
    inputs = [rng.uniform(-1.5, 1.5, size=x_shape).astype(np.float32)
              for _ in graph_inputs]
    mode = "dynamic_range" if hybrid else "float32"
    ctx.add_case(name, tflite, family="op", mode=mode, inputs=inputs, notes=notes)


def _svdf_case(ctx, name, *, batch, input_size, filters, rank, memory, act, bias=True,
               hybrid=False, asym=False, notes=""):
    s = om._schema()
    rng = _rng(name)
    units = filters // rank
    fw, fs = _weights(rng, [filters, input_size], hybrid)
    tw, ts = _weights(rng, [filters, memory], hybrid)
    wt = "INT8" if hybrid else "FLOAT32"
    b = rng.uniform(-0.3, 0.3, size=[units]).astype(np.float32)
    opts = s.SVDFOptionsT()
    opts.rank = rank
    opts.fusedActivationFunction = getattr(s.ActivationFunctionType, ACT[act])
    opts.asymmetricQuantizeInputs = asym
    tensors = [
        ("weights_feature", [filters, input_size], wt, fw, fs, False),
        ("weights_time", [filters, memory], wt, tw, ts, False),
        ("bias", [units], "FLOAT32", b, None, False),
        ("state", [batch, filters * memory], "FLOAT32", None, None, True),
    ]
    nodes, graph_inputs, graph_outputs = [], [], []
    for k in range(3):
        tensors.append((f"input_{k}", [batch, input_size], "FLOAT32", None, None, False))
        tensors.append((f"output_{k}", [batch, units], "FLOAT32", None, None, False))
        xi, oi = len(tensors) - 2, len(tensors) - 1
        nodes.append(([xi, 0, 1, 2 if bias else -1, 3], [oi]))
        graph_inputs.append(xi)
        graph_outputs.append(oi)
    version = (4 if asym else 2) if hybrid else 1
    tflite = _model("SVDF", "SVDFOptions", opts, tensors, graph_inputs, graph_outputs, nodes,
                    version)
    inputs = [rng.uniform(-1.5, 1.5, size=[batch, input_size]).astype(np.float32)
              for _ in graph_inputs]
    mode = "dynamic_range" if hybrid else "float32"
    ctx.add_case(name, tflite, family="op", mode=mode, inputs=inputs, notes=notes)


def _conv3d_case(ctx, name, fn, x_shape, notes):
    import tensorflow as tf

    import common

    f = tf.function(fn, input_signature=[tf.TensorSpec(x_shape, tf.float32, name="in0")])
    tflite = common.convert(f, "float32", input_signature=None)
    ops = [n.op for n in om.model_nodes(tflite)]
    op = "CONV_3D_TRANSPOSE" if "transpose" in name else "CONV_3D"
    if op not in ops:
        raise RuntimeError(f"{name}: no {op} in {ops}")
    x = _rng(name).uniform(-1.0, 1.0, size=x_shape).astype(np.float32)
    ctx.add_case(name, tflite, family="op", mode="float32", inputs=[x], notes=notes)


def _conv3d_cases(ctx):
    import tensorflow as tf

    r = _rng("conv3d/weights")
    w1 = r.uniform(-1, 1, size=[2, 3, 2, 3, 4]).astype(np.float32)
    b1 = r.uniform(-0.5, 0.5, size=[4]).astype(np.float32)
    w2 = r.uniform(-1, 1, size=[3, 2, 2, 2, 3]).astype(np.float32)
    w3 = r.uniform(-1, 1, size=[2, 2, 3, 4, 3]).astype(np.float32)
    b3 = r.uniform(-0.5, 0.5, size=[4]).astype(np.float32)
    w4 = r.uniform(-1, 1, size=[3, 3, 3, 2, 2]).astype(np.float32)
    _conv3d_case(ctx, "op_conv_3d_f32", lambda x: tf.nn.relu(tf.nn.conv3d(
        x, tf.constant(w1), strides=[1, 1, 2, 1, 1], padding="SAME") + b1), [1, 4, 5, 6, 3],
        "SAME, strides (1, 2, 1), bias and fused RELU, filter [2,3,2,3,4]")
    _conv3d_case(ctx, "op_conv_3d_f32_valid", lambda x: tf.nn.conv3d(
        x, tf.constant(w2), strides=[1, 2, 1, 1, 1], padding="VALID"), [2, 6, 4, 5, 2],
        "VALID, strides (2, 1, 1), batch 2, no bias (the converter rejects dilated Conv3D "
        "shapes)")
    _conv3d_case(ctx, "op_conv_3d_transpose_f32", lambda x: tf.nn.conv3d_transpose(
        x, tf.constant(w3), output_shape=[1, 6, 8, 5, 4], strides=[1, 2, 2, 2, 1],
        padding="SAME") + b3, [1, 3, 4, 3, 3],
        "SAME, strides 2 (odd output width 5), bias, filter [2,2,3,4,3]")
    _conv3d_case(ctx, "op_conv_3d_transpose_f32_valid", lambda x: tf.nn.conv3d_transpose(
        x, tf.constant(w4), output_shape=[2, 5, 7, 4, 2], strides=[1, 1, 2, 1, 1],
        padding="VALID"), [2, 3, 3, 2, 2],
        "VALID, strides (1, 2, 1), batch 2, no bias")
    for op in ("CONV_3D", "CONV_3D_TRANSPOSE"):
        ctx.skip(f"skip_op_{op.lower()}_i8", op, "int8",
                 f"LiteRT registers {op} for float32 only, so the int8 converter keeps it "
                 "in float")


_RAW = ("a raw flatbuffer (the converter has no path to {op} from a tf.function: Keras' "
        "SimpleRNN lowers to WHILE)")


def build_all(ctx) -> None:
    rnn = _RAW.format(op="RNN")
    srnn = _RAW.format(op="UNIDIRECTIONAL_SEQUENCE_RNN")
    _rnn_case(ctx, "op_rnn_f32", seq=False, batch=2, time=1, input_size=5, units=4, act="tanh",
              notes=rnn + "; TANH; two nodes on one state")
    _rnn_case(ctx, "op_rnn_f32_relu", seq=False, batch=3, time=1, input_size=3, units=6,
              act="relu", notes=rnn + "; RELU; two nodes on one state")
    _rnn_case(ctx, "op_rnn_hybrid", seq=False, batch=2, time=1, input_size=5, units=4,
              act="tanh", hybrid=True,
              notes=rnn + "; two nodes on one state, int8 weights (one scale each), symmetric "
                           "input quantization")
    _rnn_case(ctx, "op_rnn_hybrid_asym", seq=False, batch=2, time=1, input_size=5, units=4,
              act="relu6", hybrid=True, asym=True,
              notes=rnn + "; two nodes on one state, int8 weights, asymmetric input "
                           "quantization, RELU6")
    _rnn_case(ctx, "op_unidirectional_sequence_rnn_f32", seq=True, batch=2, time=3,
              input_size=4, units=5, act="tanh",
              notes=srnn + "; batch-major [2, 3, 4], TANH, variable (zero) state")
    _rnn_case(ctx, "op_unidirectional_sequence_rnn_f32_time_major", seq=True, batch=3, time=4,
              input_size=2, units=3, act="relu", time_major=True,
              notes=srnn + "; time-major [4, 3, 2], RELU, variable (zero) state")
    _rnn_case(ctx, "op_unidirectional_sequence_rnn_hybrid", seq=True, batch=2, time=3,
              input_size=4, units=5, act="tanh", hybrid=True,
              notes=srnn + "; int8 weights, symmetric input quantization")
    _rnn_case(ctx, "op_unidirectional_sequence_rnn_hybrid_asym", seq=True, batch=2, time=3,
              input_size=4, units=5, act="tanh", hybrid=True, asym=True, time_major=True,
              notes=srnn + "; int8 weights, asymmetric input quantization, time-major")
    svdf = ("a raw flatbuffer (the converter emits SVDF only from TF1 graphs with its "
            "composite annotation); three SVDF nodes on one state")
    _svdf_case(ctx, "op_svdf_f32", batch=2, input_size=3, filters=4, rank=1, memory=3,
               act="none", notes=svdf + "; rank 1, memory 3")
    _svdf_case(ctx, "op_svdf_f32_rank2", batch=3, input_size=5, filters=6, rank=2, memory=4,
               act="relu", bias=False, notes=svdf + "; rank 2, memory 4, no bias, RELU")
    _svdf_case(ctx, "op_svdf_hybrid", batch=2, input_size=4, filters=4, rank=2, memory=3,
               act="relu", hybrid=True,
               notes=svdf + "; int8 weights, symmetric input quantization, rank 2")
    _svdf_case(ctx, "op_svdf_hybrid_asym", batch=2, input_size=4, filters=3, rank=1, memory=5,
               act="none", hybrid=True, asym=True,
               notes=svdf + "; int8 weights, asymmetric input quantization")
    _conv3d_cases(ctx)
    for op in ("RNN", "UNIDIRECTIONAL_SEQUENCE_RNN"):
        ctx.skip(f"skip_op_{op.lower()}_i8", op, "int8",
                 f"LiteRT's {op} kernel has float32 and hybrid (int8 weights) forms only: no "
                 "fully-integer int8 kernel")
    ctx.skip("skip_op_svdf_i8", "SVDF", "int8",
             "not yet: LiteRT has a fully-integer SVDF (int8 input, int16 state, "
             "EvalIntegerSVDF) that tflrs does not implement, and no converter path emits it")
