"""The Keras layer zoo: small models built from the layers and patterns users' models contain.

Each model gives the cases `keras_<name>_float32`, `_dynamic_range`, `_float16` and `_int8`
(int8 input and output where the model's inputs are float), fed the same held-out sample.
As in `arch_models`, models are fitted briefly on seeded synthetic data (CPU, one thread, op
determinism), so that weights, and so the files, are the same on every run; they are kept small
(a few thousand weights) so that the test data stays small.

Keras gives every model a dynamic batch dimension (shape_signature -1): the converter then
lowers several layers (UpSampling2D, attention's reshapes, TimeDistributed) to shape-computing
chains (SHAPE, STRIDED_SLICE, PACK, CONCATENATION) that decide RESHAPE and TILE targets. The
`dynamic_batch` cases are fed a batch of 4, so that tflrs must resize the input as LiteRT does.

A mode the converter (or LiteRT) refuses is recorded as a skip under a non-builtin op name
(`KERAS_<NAME>`), so that it counts for no operator's coverage.
"""

from __future__ import annotations

import numpy as np

import common
from arch_models import _blobs, _calibrate_batchnorm, _images, _sequences

ZOO_MODES = ("float32", "dynamic_range", "float16", "int8")

# Keras 3's recurrent layers convert to WHILE loops; TensorFlow 2.21's calibrator crashes the
# process on such loops during full-integer conversion (see arch_models.build_lstm), so
# recurrent models are converted in the float modes only.
FLOAT_MODES = ("float32", "dynamic_range", "float16")

# Representative-dataset size for int8 calibration.
REP_SAMPLES = 32


def _keras():
    import keras

    return keras


def _fit(model, x, y, *, epochs: int = 2, batch_size: int = 32, lr: float = 1e-2,
         loss="sparse_categorical_crossentropy") -> None:
    keras = _keras()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=loss,
                  jit_compile=False)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)


def _names(name: str, modes) -> list[str]:
    return [f"keras_{name}_{m}" for m in modes]


def _emit(ctx, name: str, model, rep_inputs: list[np.ndarray], samples: list[np.ndarray],
          seed: int, notes: str, modes=ZOO_MODES) -> None:
    """Converts `model` in each mode and adds the cases.

    `rep_inputs`: one array per model input (batch first), whose rows make the representative
    dataset for int8; `samples`: one array per model input, the held-out input of every case.
    """
    n = min(REP_SAMPLES, len(rep_inputs[0]))
    order = None
    float32_bytes = None
    for mode in modes:
        case = f"keras_{name}_{mode}"
        if not ctx.wants(case):
            continue
        if order is None:
            # The calibrator feeds the representative samples in the converted model's input
            # order: learn it from a float32 conversion.
            order = [0] if len(model.inputs) == 1 else _input_order(
                model, common.convert(model, "float32"))
        rep = [[rep_inputs[k][i : i + 1] for k in order] for i in range(n)]
        try:
            tflite = common.convert(model, mode, rep if mode in ("int8", "int16x8") else None)
        except common.ConversionError as e:
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            ctx.skip(case, f"KERAS_{name.upper()}", mode,
                     f"TensorFlow 2.21's converter refuses this model in {mode} mode: {first}")
            continue
        case_notes = notes
        if mode == "float32":
            float32_bytes = tflite
        elif mode == "dynamic_range" and tflite == float32_bytes:
            case_notes += ("; the converter keeps weights under 1024 elements in float, so this "
                           "model is the float32 one")
        try:
            ctx.add_case(case, tflite, family="arch", mode=mode,
                         inputs=[samples[k] for k in order],
                         seed=seed, notes=case_notes)
        except ValueError as e:  # LiteRT refuses the converted model (an op version it lacks)
            first = str(e).strip().splitlines()[0][:300]
            ctx.skip(case, f"KERAS_{name.upper()}", mode,
                     f"LiteRT 2.21 cannot run what the converter wrote in {mode} mode: {first}")


def _input_order(model, tflite: bytes) -> list[int]:
    """For each input of the converted model, the index of the Keras model's input it is,
    matched by name: the converter may order several inputs differently."""
    names = [t.name for t in model.inputs]
    interp = common.litert.Interpreter(model_content=tflite)
    order = []
    for d in interp.get_input_details():
        k = max(range(len(names)), key=lambda i: (names[i] in d["name"], len(names[i])))
        if names[k] not in d["name"]:
            raise ValueError(f"no Keras input matches converted input {d['name']!r}")
        order.append(k)
    return order


def _skip_int8(ctx, name: str, what: str) -> None:
    ctx.skip(f"keras_{name}_int8", f"KERAS_{name.upper()}", "int8",
             f"{what} converts to a WHILE loop, and TensorFlow 2.21's calibrator crashes the "
             "process on it during full-integer conversion (see arch_models.build_lstm)")


def _head(L, h, classes: int, name: str = "probs"):
    return L.Dense(classes, activation="softmax", name=name)(h)


# --------------------------------------------------------------------------------------------
# Convolutional layers


def _upsampling(ctx, interpolation: str, seed: int) -> None:
    name = f"upsampling2d_{interpolation}"
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _images(rng, 160, (12, 12, 3), 3)
    inp = keras.Input((12, 12, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="conv_1")(inp)
    h = L.MaxPooling2D(2, name="pool")(h)
    h = L.UpSampling2D(2, interpolation=interpolation, name="up")(h)
    h = L.Conv2D(4, 3, padding="same", activation="relu", name="conv_2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          f"conv, max pool, UpSampling2D(2, {interpolation}), conv, GAP, dense softmax on "
          "12x12x3; 2 epochs on synthetic stripes")


def build_upsampling_nearest(ctx) -> None:
    """UpSampling2D(nearest): Keras 3 lowers it to EXPAND_DIMS, TILE and RESHAPE whose targets
    SHAPE / STRIDED_SLICE / CONCATENATION compute under the dynamic batch."""
    _upsampling(ctx, "nearest", 201)


def build_upsampling_bilinear(ctx) -> None:
    """UpSampling2D(bilinear): RESIZE_BILINEAR."""
    _upsampling(ctx, "bilinear", 202)


def build_conv2d_transpose(ctx) -> None:
    """Conv2D stride 2, Conv2DTranspose stride 2 (TRANSPOSE_CONV, its output shape computed)."""
    name, seed = "conv2d_transpose", 203
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _images(rng, 160, (12, 12, 3), 3)
    inp = keras.Input((12, 12, 3), name="image")
    h = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down")(inp)
    h = L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu", name="up")(h)
    h = L.Conv2DTranspose(4, 2, strides=1, padding="valid", name="up_valid")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "conv stride 2, Conv2DTranspose(3, stride 2, same), Conv2DTranspose(2, valid), GAP, "
          "dense softmax on 12x12x3; 2 epochs")


def build_separable_conv(ctx) -> None:
    """SeparableConv2D: DEPTHWISE_CONV_2D then a 1x1 CONV_2D."""
    name, seed = "separable_conv2d", 204
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _images(rng, 160, (12, 12, 3), 3)
    inp = keras.Input((12, 12, 3), name="image")
    h = L.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep_1")(inp)
    h = L.SeparableConv2D(8, 3, strides=2, depth_multiplier=2, name="sep_2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "SeparableConv2D(8, same, relu), SeparableConv2D(8, stride 2, depth multiplier 2), "
          "GAP, dense softmax; 2 epochs")


def build_conv1d(ctx) -> None:
    """Conv1D with 1-D max and average pooling and a global 1-D pooling."""
    name, seed = "conv1d_pool1d", 205
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _sequences(rng, 160, 24, 4, 3)
    inp = keras.Input((24, 4), name="signal")
    h = L.Conv1D(8, 3, activation="relu", name="conv_1")(inp)
    h = L.MaxPooling1D(2, name="max_pool")(h)
    h = L.Conv1D(8, 3, padding="same", strides=2, activation="relu", name="conv_2")(h)
    h = L.AveragePooling1D(2, name="avg_pool")(h)
    h = L.GlobalAveragePooling1D(name="gap")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "Conv1D, MaxPooling1D, Conv1D(stride 2, same), AveragePooling1D, "
          "GlobalAveragePooling1D, dense softmax on 24x4 sequences; 2 epochs")


def build_conv1d_dilated(ctx) -> None:
    """A dilated Conv1D (WaveNet/TCN style): the converter wraps it in SPACE_TO_BATCH_ND and
    BATCH_TO_SPACE_ND around a CONV_2D."""
    name, seed = "conv1d_dilated", 227
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _sequences(rng, 160, 24, 4, 3)
    inp = keras.Input((24, 4), name="signal")
    h = L.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="relu", name="conv_1")(inp)
    h = L.Conv1D(8, 3, padding="same", dilation_rate=4, activation="relu", name="conv_2")(h)
    h = L.GlobalAveragePooling1D(name="gap")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "causal Conv1D (dilation 2), Conv1D (same, dilation 4), GlobalAveragePooling1D, "
          "dense softmax on 24x4 sequences; 2 epochs")


def build_cropping2d(ctx) -> None:
    """Cropping2D (a STRIDED_SLICE) between convolutions."""
    name, seed = "cropping2d", 206
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _images(rng, 160, (12, 12, 3), 3)
    inp = keras.Input((12, 12, 3), name="image")
    h = L.Conv2D(6, 3, padding="same", activation="relu", name="conv_1")(inp)
    h = L.Cropping2D(((1, 2), (2, 1)), name="crop")(h)
    h = L.Conv2D(4, 3, activation="relu", name="conv_2")(h)
    h = L.Flatten(name="flatten")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "conv, Cropping2D(((1, 2), (2, 1))), conv, flatten, dense softmax; 2 epochs")


def build_global_max_pool(ctx) -> None:
    """GlobalMaxPooling2D and GlobalMaxPooling1D (REDUCE_MAX)."""
    name, seed = "global_max_pool", 207
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _images(rng, 160, (10, 10, 3), 3)
    inp = keras.Input((10, 10, 3), name="image")
    h = L.Conv2D(8, 3, activation="relu", name="conv")(inp)
    a = L.GlobalMaxPooling2D(name="gmp_2d")(h)
    r = L.Reshape((64, 8), name="as_sequence")(h)
    b = L.GlobalMaxPooling1D(name="gmp_1d")(r)
    h = L.Concatenate(name="concat")([a, b])
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "conv, GlobalMaxPooling2D, and GlobalMaxPooling1D over a reshape, concat, dense "
          "softmax; 2 epochs")


def build_unet(ctx) -> None:
    """A small U-Net: two levels down (conv, max pool), up with UpSampling2D and
    Conv2DTranspose, skip concatenations, a per-pixel softmax."""
    name, seed = "unet", 208
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, _ = _images(rng, 96, (16, 16, 3), 3)
    # Segment the pixels whose first channel is above the image's mean.
    y = (x[..., 0] > x[..., 0].mean(axis=(1, 2), keepdims=True)).astype(np.int64)
    inp = keras.Input((16, 16, 3), name="image")
    e1 = L.Conv2D(8, 3, padding="same", activation="relu", name="enc_1")(inp)
    p1 = L.MaxPooling2D(2, name="pool_1")(e1)
    e2 = L.Conv2D(12, 3, padding="same", activation="relu", name="enc_2")(p1)
    p2 = L.MaxPooling2D(2, name="pool_2")(e2)
    b = L.Conv2D(16, 3, padding="same", activation="relu", name="bottleneck")(p2)
    u2 = L.UpSampling2D(2, name="up_2")(b)
    d2 = L.Concatenate(name="skip_2")([u2, e2])
    d2 = L.Conv2D(12, 3, padding="same", activation="relu", name="dec_2")(d2)
    u1 = L.Conv2DTranspose(8, 2, strides=2, name="up_1")(d2)
    d1 = L.Concatenate(name="skip_1")([u1, e1])
    d1 = L.Conv2D(8, 3, padding="same", activation="relu", name="dec_1")(d1)
    out = L.Conv2D(2, 1, activation="softmax", name="mask")(d1)
    model = keras.Model(inp, out, name=name)
    _fit(model, x[:80], y[:80], epochs=2, batch_size=16)
    _emit(ctx, name, model, [x[:80]], [x[80:81]], seed,
          "U-Net 16x16x3, two levels, UpSampling2D and Conv2DTranspose up, skip concats, "
          "per-pixel softmax; 2 epochs on a thresholding task")


# --------------------------------------------------------------------------------------------
# Normalization, attention, text


def build_layer_norm(ctx) -> None:
    """LayerNormalization after dense layers."""
    name, seed = "layer_norm", 209
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _blobs(rng, 320, 8, 4)
    inp = keras.Input((8,), name="features")
    h = L.Dense(16, name="dense_1")(inp)
    h = L.LayerNormalization(name="ln_1")(h)
    h = L.ReLU(name="relu")(h)
    h = L.Dense(16, name="dense_2")(h)
    h = L.LayerNormalization(center=False, epsilon=1e-3, name="ln_2")(h)
    model = keras.Model(inp, _head(L, h, 4), name=name)
    _fit(model, x[:256], y[:256], epochs=3)
    _emit(ctx, name, model, [x[:256]], [x[256:257]], seed,
          "dense, LayerNormalization, relu, dense, LayerNormalization(center=False), dense "
          "softmax on blobs; 3 epochs")


def _transformer_block(L, h, dim: int, heads: int, prefix: str):
    a = L.MultiHeadAttention(num_heads=heads, key_dim=dim // heads, name=f"{prefix}_mha")(h, h)
    h = L.LayerNormalization(name=f"{prefix}_ln_1")(L.Add(name=f"{prefix}_res_1")([h, a]))
    f = L.Dense(2 * dim, activation="relu", name=f"{prefix}_ffn_1")(h)
    f = L.Dense(dim, name=f"{prefix}_ffn_2")(f)
    return L.LayerNormalization(name=f"{prefix}_ln_2")(L.Add(name=f"{prefix}_res_2")([h, f]))


def build_transformer(ctx) -> None:
    """A tiny transformer encoder block: MultiHeadAttention(2 heads), residuals, LayerNorm,
    feed-forward, over 8 steps of 16 features."""
    name, seed = "transformer_block", 210
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _sequences(rng, 160, 8, 16, 3)
    inp = keras.Input((8, 16), name="sequence")
    h = _transformer_block(L, inp, 16, 2, "enc")
    h = L.GlobalAveragePooling1D(name="gap")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128], lr=3e-3)
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "transformer encoder block over 8x16: MultiHeadAttention(2 heads, key_dim 8), "
          "residual, LayerNorm, FFN 32, residual, LayerNorm, GAP, dense softmax; 2 epochs")


def _tokens(rng: np.random.Generator, n: int, steps: int, vocab: int, classes: int):
    """Token sequences: each class draws most tokens from its own band of the vocabulary."""
    y = rng.integers(0, classes, size=n)
    band = vocab // classes
    x = rng.integers(1, vocab, size=(n, steps))
    own = rng.random((n, steps)) < 0.6
    x = np.where(own, (y[:, None] * band + rng.integers(0, band, size=(n, steps))) % vocab, x)
    x[:, -2:] = 0  # padding
    return x.astype(np.int32), y.astype(np.int64)


def build_embedding_text(ctx) -> None:
    """An Embedding text classifier: int32 tokens, Embedding (GATHER), Conv1D, pooling."""
    name, seed = "embedding_text", 211
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _tokens(rng, 320, 12, 40, 3)
    inp = keras.Input((12,), dtype="int32", name="tokens")
    h = L.Embedding(40, 8, name="embed")(inp)
    h = L.Conv1D(8, 3, padding="same", activation="relu", name="conv")(h)
    h = L.GlobalAveragePooling1D(name="gap")(h)
    h = L.Dense(8, activation="relu", name="dense")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:256], y[:256], epochs=3)
    _emit(ctx, name, model, [x[:256]], [x[256:257]], seed,
          "int32 tokens (vocabulary 40, 12 steps), Embedding(8), Conv1D, GAP, dense, dense "
          "softmax; 3 epochs; the int8 model keeps its int32 input")


# --------------------------------------------------------------------------------------------
# Recurrent layers


def _recurrent(ctx, name: str, seed: int, layer, what: str) -> None:
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _sequences(rng, 160, 8, 4, 3)

    def make(batch_size):
        inp = keras.Input((8, 4), batch_size=batch_size, name="sequence")
        return keras.Model(inp, _head(L, layer(L)(inp), 3), name=name)

    model = make(None)
    _fit(model, x[:128], y[:128])
    # The converter refuses Keras 3's recurrent layers under a dynamic batch (its TensorList
    # needs a static size): convert a batch-1 twin with the trained weights, as TensorFlow's
    # RNN conversion guide does (see arch_models.build_lstm).
    twin = make(1)
    twin.set_weights(model.get_weights())
    _emit(ctx, name, twin, [x[:128]], [x[128:129]], seed,
          f"{what} over 8x4 sequences, dense softmax, converted with batch 1; 2 epochs on "
          "noisy sines", modes=FLOAT_MODES)
    _skip_int8(ctx, name, what)


def build_gru(ctx) -> None:
    _recurrent(ctx, "gru", 212, lambda L: L.GRU(8, name="gru"), "Keras GRU(8)")


def build_simple_rnn(ctx) -> None:
    _recurrent(ctx, "simple_rnn", 213, lambda L: L.SimpleRNN(8, name="rnn"),
               "Keras SimpleRNN(8)")


def build_bidirectional_lstm(ctx) -> None:
    _recurrent(ctx, "bidirectional_lstm", 214,
               lambda L: L.Bidirectional(L.LSTM(6, name="lstm"), name="bilstm"),
               "Keras Bidirectional(LSTM(6))")


def build_time_distributed(ctx) -> None:
    """TimeDistributed Conv2D, pooling and Dense over 4 frames of 6x6x2."""
    name, seed = "time_distributed", 215
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    frames, y = _images(rng, 4 * 160, (6, 6, 2), 3)
    x = frames.reshape(160, 4, 6, 6, 2)
    y = y.reshape(160, 4)[:, 0]
    inp = keras.Input((4, 6, 6, 2), name="frames")
    h = L.TimeDistributed(L.Conv2D(4, 3, activation="relu"), name="td_conv")(inp)
    h = L.TimeDistributed(L.GlobalAveragePooling2D(), name="td_gap")(h)
    h = L.TimeDistributed(L.Dense(4, activation="relu"), name="td_dense")(h)
    h = L.Flatten(name="flatten")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "TimeDistributed(Conv2D), TimeDistributed(GAP), TimeDistributed(Dense) over 4 frames "
          "of 6x6x2, flatten, dense softmax; 2 epochs")


# --------------------------------------------------------------------------------------------
# Activations and mobile blocks


def _activation(ctx, act: str, seed: int) -> None:
    name = f"activation_{act}"
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _blobs(rng, 320, 8, 4)
    inp = keras.Input((8,), name="features")
    h = L.Dense(16, name="dense_1")(inp)
    h = L.Activation(act, name=act)(h)
    h = L.Dense(8, activation=act, name="dense_2")(h)
    model = keras.Model(inp, _head(L, h, 4), name=name)
    _fit(model, x[:256], y[:256], epochs=3)
    _emit(ctx, name, model, [x[:256]], [x[256:257]], seed,
          f"MLP 8-16-8-4 with {act} activations, dense softmax on blobs; 3 epochs")


def build_activations(ctx) -> None:
    for k, act in enumerate(("elu", "selu", "swish", "softplus", "softsign")):
        _activation(ctx, act, 216 + k)


def _squeeze_excite(L, h, channels: int, squeeze: int, gate: str, prefix: str):
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_se_pool")(h)
    s = L.Conv2D(squeeze, 1, activation="relu", name=f"{prefix}_se_reduce")(s)
    s = L.Conv2D(channels, 1, activation=gate, name=f"{prefix}_se_expand")(s)
    return L.Multiply(name=f"{prefix}_se_scale")([h, s])


def build_mobilenet_v3_block(ctx) -> None:
    """MobileNetV3-style blocks: hard-swish stem, inverted residual with a depthwise conv and a
    hard-sigmoid squeeze-excite."""
    name, seed = "mobilenet_v3_block", 221
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _images(rng, 160, (16, 16, 3), 3)
    inp = keras.Input((16, 16, 3), name="image")
    h = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    h = L.BatchNormalization(name="stem_bn")(h)
    h = L.Activation("hard_swish", name="stem_hswish")(h)
    e = L.Conv2D(16, 1, use_bias=False, name="expand")(h)
    e = L.BatchNormalization(name="expand_bn")(e)
    e = L.Activation("hard_swish", name="expand_hswish")(e)
    e = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(e)
    e = L.BatchNormalization(name="dw_bn")(e)
    e = L.Activation("hard_swish", name="dw_hswish")(e)
    e = _squeeze_excite(L, e, 16, 4, "hard_sigmoid", "block")
    e = L.Conv2D(8, 1, use_bias=False, name="project")(e)
    e = L.BatchNormalization(name="project_bn")(e)
    h = L.Add(name="residual")([h, e])
    h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128], lr=3e-3)
    _calibrate_batchnorm(model, x[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "MobileNetV3-style: conv/bn/hard-swish stem, inverted residual (1x1 expand, depthwise, "
          "hard-sigmoid squeeze-excite, 1x1 project), GAP, dense softmax; 2 epochs")


def build_efficientnet_block(ctx) -> None:
    """An EfficientNet-style MBConv block: swish, sigmoid squeeze-excite, residual."""
    name, seed = "efficientnet_block", 222
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _images(rng, 160, (16, 16, 3), 3)
    inp = keras.Input((16, 16, 3), name="image")
    h = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    h = L.BatchNormalization(name="stem_bn")(h)
    h = L.Activation("swish", name="stem_swish")(h)
    e = L.Conv2D(24, 1, use_bias=False, name="expand")(h)
    e = L.BatchNormalization(name="expand_bn")(e)
    e = L.Activation("swish", name="expand_swish")(e)
    e = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(e)
    e = L.BatchNormalization(name="dw_bn")(e)
    e = L.Activation("swish", name="dw_swish")(e)
    e = _squeeze_excite(L, e, 24, 2, "sigmoid", "block")
    e = L.Conv2D(8, 1, use_bias=False, name="project")(e)
    e = L.BatchNormalization(name="project_bn")(e)
    e = L.Dropout(0.2, name="drop")(e)
    h = L.Add(name="residual")([h, e])
    h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inp, _head(L, h, 3), name=name)
    _fit(model, x[:128], y[:128], lr=3e-3)
    _calibrate_batchnorm(model, x[:128])
    _emit(ctx, name, model, [x[:128]], [x[128:129]], seed,
          "EfficientNet-style MBConv: conv/bn/swish stem, 1x1 expand, depthwise, sigmoid "
          "squeeze-excite, 1x1 project, dropout, residual, GAP, dense softmax; 2 epochs",
          modes=FLOAT_MODES)
    ctx.skip(f"keras_{name}_int8", f"KERAS_{name.upper()}", "int8",
             "LiteRT 2.21 aborts the process (double free in allocate_tensors) on this "
             "model's full-integer conversion")


# --------------------------------------------------------------------------------------------
# Several inputs and outputs, dynamic batch


def build_two_in_two_out(ctx) -> None:
    """Two inputs (an image and a feature vector), two outputs (class probabilities and a
    regression value)."""
    name, seed = "two_in_two_out", 223
    if not ctx.wants_any(_names(name, ZOO_MODES)):
        return
    keras = _keras()
    L = keras.layers
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    img, y = _images(rng, 160, (8, 8, 3), 3)
    feats = (rng.normal(0.0, 1.0, size=(160, 5)) + y[:, None] * 0.5).astype(np.float32)
    target = (feats.sum(axis=1, keepdims=True) * 0.2).astype(np.float32)
    a = keras.Input((8, 8, 3), name="image")
    b = keras.Input((5,), name="features")
    h = L.Conv2D(6, 3, activation="relu", name="conv")(a)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    g = L.Dense(6, activation="relu", name="dense_features")(b)
    h = L.Concatenate(name="concat")([h, g])
    probs = L.Dense(3, activation="softmax", name="probs")(h)
    value = L.Dense(1, name="value")(h)
    model = keras.Model([a, b], [probs, value], name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                  loss=["sparse_categorical_crossentropy", "mse"], jit_compile=False)
    model.fit([img[:128], feats[:128]], [y[:128], target[:128]], epochs=2, batch_size=32,
              shuffle=True, verbose=0)
    _emit(ctx, name, model, [img[:128], feats[:128]], [img[128:129], feats[128:129]], seed,
          "two inputs (8x8x3 image through conv and GAP; 5 features through dense), concat, "
          "two outputs (dense softmax, dense regression); 2 epochs")


def build_dynamic_batch(ctx) -> None:
    """Models with a dynamic batch fed a batch of 4 (LiteRT and tflrs resize the input): a CNN
    with UpSampling2D and Reshape, and the transformer block."""
    keras = _keras()
    L = keras.layers
    name, seed = "dynamic_batch_cnn", 224
    if ctx.wants_any(_names(name, ZOO_MODES)):
        common.seed_everything(seed)
        rng = np.random.default_rng(seed)
        x, y = _images(rng, 160, (8, 8, 3), 3)
        inp = keras.Input((8, 8, 3), name="image")
        h = L.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="conv_1")(inp)
        h = L.UpSampling2D(2, name="up")(h)
        h = L.Conv2D(4, 3, strides=2, activation="relu", name="conv_2")(h)
        h = L.Reshape((9, 4), name="as_sequence")(h)
        h = L.Conv1D(4, 3, activation="relu", name="conv1d")(h)
        h = L.Flatten(name="flatten")(h)
        model = keras.Model(inp, _head(L, h, 3), name=name)
        _fit(model, x[:128], y[:128])
        _emit(ctx, name, model, [x[:128]], [x[128:132]], seed,
              "dynamic batch, fed a batch of 4: conv, UpSampling2D, conv, Reshape, Conv1D, "
              "flatten, dense softmax; 2 epochs")
    name, seed = "dynamic_batch_transformer", 225
    if ctx.wants_any(_names(name, ZOO_MODES)):
        common.seed_everything(seed)
        rng = np.random.default_rng(seed)
        x, y = _sequences(rng, 160, 6, 8, 3)
        inp = keras.Input((6, 8), name="sequence")
        h = _transformer_block(L, inp, 8, 2, "enc")
        h = L.Flatten(name="flatten")(h)
        model = keras.Model(inp, _head(L, h, 3), name=name)
        _fit(model, x[:128], y[:128], lr=3e-3)
        _emit(ctx, name, model, [x[:128]], [x[128:132]], seed,
              "dynamic batch, fed a batch of 4: transformer encoder block (MultiHeadAttention, "
              "2 heads, key_dim 4) over 6x8, flatten, dense softmax; 2 epochs")


# --------------------------------------------------------------------------------------------
# keras.ops arithmetic after a fitted dense layer

# name -> (notes, function of (ops, h) giving the model's outputs).
KERAS_OPS = {
    "where": ("keras.ops.where(h > 0, h, 0.1 * h)",
              lambda ops, h: ops.where(h > 0, h, h * 0.1)),
    "cumsum": ("keras.ops.cumsum(h, axis=-1)", lambda ops, h: ops.cumsum(h, axis=-1)),
    "top_k": ("keras.ops.top_k(h, k=3): values and indices",
              lambda ops, h: list(ops.top_k(h, k=3))),
    "argsort": ("keras.ops.argsort(h, axis=-1)", lambda ops, h: ops.argsort(h, axis=-1)),
    "reverse": ("keras.ops.flip(h, axis=-1)", lambda ops, h: ops.flip(h, axis=-1)),
    "one_hot": ("keras.ops.one_hot of h scaled to int32 classes 0..7",
                lambda ops, h: ops.one_hot(ops.cast(ops.clip(h * 4.0 + 4.0, 0.0, 7.0), "int32"),
                                           8)),
    "gather": ("keras.ops.take(h, [5, 1, 1, 0], axis=-1)",
               lambda ops, h: ops.take(h, np.array([5, 1, 1, 0], dtype=np.int32), axis=-1)),
}


def build_keras_ops(ctx) -> None:
    """`keras.ops` arithmetic users write in functional models (where, cumsum, top-k, argsort,
    reverse, one_hot, gather), each after a dense layer fitted as part of a classifier."""
    seed = 226
    names = [f"ops_{k}" for k in KERAS_OPS]
    if not any(ctx.wants_any(_names(n, ZOO_MODES)) for n in names):
        return
    keras = _keras()
    L = keras.layers
    ops = keras.ops
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    x, y = _blobs(rng, 320, 8, 4)
    inp = keras.Input((8,), name="features")
    dense = L.Dense(8, activation="tanh", name="dense")
    classifier = keras.Model(inp, _head(L, dense(inp), 4), name="classifier")
    _fit(classifier, x[:256], y[:256], epochs=3)
    for k, (what, fn) in KERAS_OPS.items():
        name = f"ops_{k}"
        if not ctx.wants_any(_names(name, ZOO_MODES)):
            continue
        model = keras.Model(inp, fn(ops, dense(inp)), name=name)
        _emit(ctx, name, model, [x[:256]], [x[256:257]], seed,
              f"dense(8, tanh) fitted in a classifier on blobs (3 epochs), then {what}")


BUILDERS = (
    build_upsampling_nearest,
    build_upsampling_bilinear,
    build_conv2d_transpose,
    build_separable_conv,
    build_conv1d,
    build_conv1d_dilated,
    build_cropping2d,
    build_global_max_pool,
    build_unet,
    build_layer_norm,
    build_transformer,
    build_embedding_text,
    build_gru,
    build_simple_rnn,
    build_bidirectional_lstm,
    build_time_distributed,
    build_activations,
    build_mobilenet_v3_block,
    build_efficientnet_block,
    build_two_in_two_out,
    build_dynamic_batch,
    build_keras_ops,
)


def build_all(ctx) -> None:
    for build in BUILDERS:
        build(ctx)
