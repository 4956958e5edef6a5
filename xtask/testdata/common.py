"""Shared machinery of `cargo xtask gen-testdata`: conversion, LiteRT runs, files and manifest.

The contract between this module and the model builders (`arch_models.py`, `op_models.py`) is
documented in each function below. In short: a builder makes a model, calls `convert(...)` for a
mode, and hands the bytes to `Ctx.add_case(...)`, which writes

    OUTDIR/models/<name>/model.tflite
    OUTDIR/models/<name>/input_<k>.npy           seeded inputs (or the caller's)
    OUTDIR/models/<name>/ref_output_<k>.npy      LiteRT, OpResolverType.BUILTIN_REF, 1 thread
    OUTDIR/models/<name>/xnnpack_output_<k>.npy  LiteRT, default resolver (XNNPACK), 1 thread

and records a manifest entry; `Ctx.finish()` writes `OUTDIR/manifest.json` sorted by case name.
Everything here is deterministic: the same versions and seeds give byte-identical files.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import importlib.metadata
import io
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import zlib

import numpy as np
import tensorflow as tf

from ai_edge_litert import interpreter as litert

MODES = ("float32", "dynamic_range", "float16", "int8", "int16x8")

MANIFEST_FORMAT = 1

_NAME_RE = re.compile(r"^[a-z0-9_]+$")

# Default comparison tolerances for float outputs, per conversion mode (integer outputs are
# always compared exactly). float32 / float16 (weights dequantized to float32): the float kernels
# may sum in another order. dynamic_range: the hybrid kernels quantize activations on the fly, so
# a rounding tie broken differently moves an output by a fraction of a weight scale. Float outputs
# of integer models come out of a DEQUANTIZE of exact integers.
DEFAULT_FLOAT_TOLERANCE = {
    "float32": {"rtol": 1e-4, "atol": 1e-5},
    "float16": {"rtol": 1e-4, "atol": 1e-5},
    "dynamic_range": {"rtol": 1e-3, "atol": 1e-4},
    "int8": {"rtol": 1e-5, "atol": 1e-6},
    "int16x8": {"rtol": 1e-5, "atol": 1e-6},
}


class ConversionError(Exception):
    """The TFLite converter refused a model; the message is the converter's."""


# --------------------------------------------------------------------------------------------
# Determinism


def seed_everything(seed: int) -> None:
    """Seeds Python's `random`, NumPy's global generator, `tf.random` and Keras.

    Also resets Keras's global state (`keras.backend.clear_session`), in particular the counters
    behind auto-generated layer names ("dense_3"). Those names become tensor names in the
    .tflite, so resetting them makes a model's bytes independent of which models were built
    before it: a `--only` run writes the same files as a full run. Call it before building each
    model.
    """
    import keras

    keras.backend.clear_session(free_memory=False)
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)


def configure_tensorflow() -> None:
    """CPU only, single-threaded, deterministic ops. Called once by gen_testdata.py."""
    try:
        tf.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError):
        pass
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialized: keep going, determinism comes from the flags below
    tf.config.experimental.enable_op_determinism()


# --------------------------------------------------------------------------------------------
# Conversion


def _set_attr_path(obj, dotted: str, value) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        obj = getattr(obj, p)
    setattr(obj, parts[-1], value)


def _make_converter(model_or_fn, input_signature, keep_alive: list):
    """Chooses the converter constructor for what we were given."""
    import keras

    if isinstance(model_or_fn, keras.Model):
        return tf.lite.TFLiteConverter.from_keras_model(model_or_fn)
    if isinstance(model_or_fn, (str, os.PathLike)):
        return tf.lite.TFLiteConverter.from_saved_model(os.fspath(model_or_fn))
    if isinstance(model_or_fn, tf.types.experimental.ConcreteFunction):
        return tf.lite.TFLiteConverter.from_concrete_functions([model_or_fn])
    if isinstance(model_or_fn, tf.Module) and not isinstance(model_or_fn, keras.Model):
        # A module whose __call__ is a tf.function: go through a SavedModel, which is the path
        # that keeps resource variables (VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE) when
        # extra_flags sets experimental_enable_resource_variables.
        call = model_or_fn.__call__
        if input_signature is not None:
            concrete = call.get_concrete_function(*input_signature)
        else:
            concrete = call.get_concrete_function()
        tmp = tempfile.mkdtemp(prefix="tflrs-gen-")
        keep_alive.append(tmp)
        tf.saved_model.save(model_or_fn, tmp, signatures={"serving_default": concrete})
        return tf.lite.TFLiteConverter.from_saved_model(tmp)
    if hasattr(model_or_fn, "get_concrete_function"):
        if input_signature is not None:
            concrete = model_or_fn.get_concrete_function(*input_signature)
        else:
            concrete = model_or_fn.get_concrete_function()
        return tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    raise TypeError(f"convert: cannot convert a {type(model_or_fn).__name__}")


def convert(model_or_fn, mode: str, rep_inputs=None, *, input_signature=None,
            extra_flags: dict | None = None) -> bytes:
    """Converts a model with `tf.lite.TFLiteConverter` in one of `MODES`; returns the .tflite.

    `model_or_fn` is a `keras.Model`, a `tf.function` (its `input_signature` argument, or the
    one given here), a `ConcreteFunction`, a `tf.Module` whose `__call__` is a `tf.function`
    (converted through a SavedModel, which keeps resource variables), or a SavedModel path.

    - float32: no optimizations.
    - dynamic_range: optimizations=[DEFAULT], no dataset.
    - float16: optimizations=[DEFAULT], target_spec.supported_types=[tf.float16].
    - int8: optimizations=[DEFAULT], representative dataset from `rep_inputs` (a list of
      samples, each a list of arrays, one per model input, batch dimension included),
      supported_ops=[TFLITE_BUILTINS_INT8], int8 input and output.
    - int16x8: as int8 with supported_ops=[EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_
      WEIGHTS_INT8] and int16 input and output.

    `extra_flags` sets converter attributes (dotted names reach into sub-objects, e.g.
    "target_spec.experimental_select_user_tf_ops"), applied after the mode's settings.
    Raises `ConversionError` with the converter's message on failure.
    """
    if mode not in MODES:
        raise ValueError(f"convert: unknown mode {mode!r}, expected one of {MODES}")
    if mode in ("int8", "int16x8") and not rep_inputs:
        raise ValueError(f"convert: mode {mode} needs rep_inputs")
    keep_alive: list = []
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            converter = _make_converter(model_or_fn, input_signature, keep_alive)
            if mode != "float32":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if mode == "float16":
                converter.target_spec.supported_types = [tf.float16]
            if mode in ("int8", "int16x8"):
                samples = [[np.asarray(a) for a in sample] for sample in rep_inputs]

                def representative_dataset():
                    for sample in samples:
                        yield sample

                converter.representative_dataset = representative_dataset
                if mode == "int8":
                    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                    converter.inference_input_type = tf.int8
                    converter.inference_output_type = tf.int8
                else:
                    converter.target_spec.supported_ops = [
                        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                    ]
                    converter.inference_input_type = tf.int16
                    converter.inference_output_type = tf.int16
            for key in sorted(extra_flags or {}):
                _set_attr_path(converter, key, extra_flags[key])
            return bytes(converter.convert())
    except TypeError as e:
        if str(e).startswith("convert:"):
            raise
        raise ConversionError(f"{type(e).__name__}: {e}") from e
    except Exception as e:  # the converter raises ConverterError and friends
        raise ConversionError(f"{type(e).__name__}: {e}") from e
    finally:
        for d in keep_alive:
            shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Files


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _write_if_changed(path: str, data: bytes) -> None:
    """Writes only when the content differs, so that unchanged files keep their mtime."""
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _dtype_name(dt) -> str:
    dt = np.dtype(dt)
    if dt.kind in ("S", "U", "O"):
        return "string"
    return dt.name


def _ints(a) -> list[int]:
    return [int(x) for x in np.asarray(a).reshape(-1)]


def _floats(a) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


def _quant(detail) -> dict | None:
    scale, zero_point = detail["quantization"]
    if scale == 0.0 and zero_point == 0:
        return None
    return {"scale": float(scale), "zero_point": int(zero_point)}


def _versions() -> dict:
    out = {}
    for pkg in ("tensorflow-cpu", "ai-edge-litert", "numpy", "keras"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _flat(value) -> bool:
    """A scalar, or a list of scalars."""
    if isinstance(value, (list, tuple)):
        return all(not isinstance(v, (dict, list, tuple)) for v in value)
    return not isinstance(value, dict)


# JSON with nesting indented, and lists of scalars, and dicts whose values are all scalars or
# lists of scalars (a tensor, an op), on one line: readable diffs, and no line per element of a
# per-channel scale list.
def _json(value, indent: int = 0) -> str:
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        if indent > 0 and all(_flat(v) for v in value.values()):
            return "{" + ", ".join(f"{json.dumps(k)}: {_json(v)}" for k, v in value.items()) + "}"
        items = [f"{inner}{json.dumps(k)}: {_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return "[" + ", ".join(_json(v) for v in value) + "]"
        items = [inner + _json(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("manifest: NaN/inf cannot be written as JSON")
        return json.dumps(value)
    return json.dumps(value)


# --------------------------------------------------------------------------------------------
# Inputs and LiteRT runs


def _default_input(detail, rng: np.random.Generator) -> np.ndarray:
    shape = tuple(int(d) for d in detail["shape"])
    dt = np.dtype(detail["dtype"])
    if dt.kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dt)
    if dt == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dt in (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.uint16)):
        info = np.iinfo(dt)
        return rng.integers(int(info.min), int(info.max) + 1, size=shape, dtype=np.int64).astype(dt)
    if dt.kind in ("i", "u"):
        lo = 0 if dt.kind == "u" else -8
        return rng.integers(lo, 8, size=shape, dtype=np.int64).astype(dt)
    raise ValueError(f"no default input for dtype {dt} of input {detail['name']!r}: pass inputs")


def _prepare_input(given, detail, name: str, k: int) -> np.ndarray:
    """Checks a caller's input; float data for a quantized input is quantized with its params."""
    arr = np.asarray(given)
    dt = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if arr.dtype.kind == "f" and dt.kind in ("i", "u") and scale != 0.0:
        info = np.iinfo(dt)
        q = np.round(arr.astype(np.float64) / scale) + zero_point
        arr = np.clip(q, info.min, info.max).astype(dt)
    if arr.dtype != dt:
        raise ValueError(f"case {name}: input {k} has dtype {arr.dtype}, the model wants {dt}")
    return np.ascontiguousarray(arr)


def _run(tflite: bytes, inputs: list[np.ndarray], resolver):
    interp = litert.Interpreter(
        model_content=tflite, num_threads=1, experimental_op_resolver_type=resolver
    )
    in_details = interp.get_input_details()
    resized = False
    for d, arr in zip(in_details, inputs):
        if tuple(int(x) for x in d["shape"]) != arr.shape:
            interp.resize_tensor_input(d["index"], list(arr.shape))
            resized = True
    interp.allocate_tensors()
    if resized:
        in_details = interp.get_input_details()
    for d, arr in zip(in_details, inputs):
        interp.set_tensor(d["index"], arr)
    interp.invoke()
    outs = [np.array(interp.get_tensor(d["index"])) for d in interp.get_output_details()]
    return interp, outs


def _op_details(interp) -> list[dict]:
    ops = []
    for op in interp._get_ops_details():  # noqa: SLF001 (the only way to get node details)
        ops.append({
            "index": int(op["index"]),
            "op_name": str(op["op_name"]),
            "inputs": _ints(op["inputs"]),
            "outputs": _ints(op["outputs"]),
        })
    return ops


def _tensor_details(interp) -> list[dict]:
    tensors = []
    for t in sorted(interp.get_tensor_details(), key=lambda t: t["index"]):
        qp = t["quantization_parameters"]
        tensors.append({
            "index": int(t["index"]),
            "name": str(t["name"]),
            "dtype": _dtype_name(t["dtype"]),
            "shape": _ints(t["shape"]),
            "shape_signature": _ints(t["shape_signature"]),
            "scales": _floats(qp["scales"]),
            "zero_points": _ints(qp["zero_points"]),
            "quantized_dimension": int(qp["quantized_dimension"]),
        })
    return tensors


def _op_dtypes(interp, tensors: list[dict]) -> list[dict]:
    """Distinct (op, dtypes) combinations in node order. `dtype` is the op's first input's."""
    by_index = {t["index"]: t for t in tensors}
    seen = set()
    out = []
    for op in interp._get_ops_details():  # noqa: SLF001
        ins = [by_index[i]["dtype"] for i in _ints(op["inputs"]) if i >= 0 and i in by_index]
        outs = [by_index[i]["dtype"] for i in _ints(op["outputs"]) if i in by_index]
        key = (str(op["op_name"]), tuple(ins), tuple(outs))
        if key in seen:
            continue
        seen.add(key)
        out.append({
            "op": key[0],
            "dtype": ins[0] if ins else (outs[0] if outs else "none"),
            "inputs": ins,
            "outputs": outs,
        })
    return out


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"reference and XNNPACK outputs differ in shape: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    if a.dtype == np.bool_:
        return float(np.any(a != b))
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    d = np.where(np.isnan(a.astype(np.float64)) & np.isnan(b.astype(np.float64)), 0.0, d)
    m = float(np.nanmax(d)) if not np.all(np.isnan(d)) else 0.0
    return m


# --------------------------------------------------------------------------------------------
# The context


class Ctx:
    """Collects cases and skips; writes files as cases come and the manifest at `finish()`.

    `only`: patterns selecting the cases to (re)generate; a pattern with `*?[` is a glob on the
    whole name, otherwise a substring. With patterns (or `partial=True`), manifest entries of
    cases not selected are kept as they were; a full run rewrites everything and deletes the
    case folders and entries it did not produce.
    """

    def __init__(self, outdir: str, only: list[str] | None = None, partial: bool = False):
        self.outdir = os.path.abspath(outdir)
        self.models_dir = os.path.join(self.outdir, "models")
        self.only = list(only or [])
        self.partial = partial or bool(self.only)
        self.cases: dict[str, dict] = {}
        self.skips: dict[str, dict] = {}
        self.started = time.monotonic()
        os.makedirs(self.models_dir, exist_ok=True)

    # -- selection ---------------------------------------------------------------------------

    def wants(self, name: str) -> bool:
        """Whether case (or skip) `name` is selected by `--only`; builders may use it to skip
        slow work (training, conversion) for cases that will not be written."""
        if not self.only:
            return True
        for pat in self.only:
            if any(c in pat for c in "*?["):
                if fnmatch.fnmatchcase(name, pat):
                    return True
            elif pat in name:
                return True
        return False

    def wants_any(self, names) -> bool:
        """`wants` for any of `names`."""
        return any(self.wants(n) for n in names)

    def _check_name(self, name: str) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"case name {name!r} is not [a-z0-9_]+")
        if name in self.cases or name in self.skips:
            raise ValueError(f"case name {name!r} is used twice")

    # -- cases -------------------------------------------------------------------------------

    def add_case(self, name: str, tflite: bytes, *, family: str, mode: str,
                 inputs: list[np.ndarray] | None = None, seed: int = 0,
                 tolerance: dict | None = None, notes: str = "",
                 ref_resolver=None) -> None:
        """Writes a case: model, inputs, LiteRT reference and XNNPACK outputs, manifest entry.

        `inputs`: one array per model input, in the model's input order; float arrays given
        for a quantized (int8/int16/uint8) input are quantized with that input's scale and zero
        point. When None, seeded inputs are made: floats ~U(-1, 1), int8/uint8/int16 over their
        full range, bools, other integers in [-8, 8). `tolerance`: the manifest's comparison
        rule for float outputs ({"kind": "allclose", "rtol", "atol"} or {"kind": "exact"});
        integer outputs are always exact. `ref_resolver`: the resolver of the reference outputs
        (default BUILTIN_REF, LiteRT's reference kernels; a builder passes another one only for
        an operator BUILTIN_REF does not register, and says so in the notes). Unselected names
        (`--only`) are ignored.
        """
        self._check_name(name)
        if mode not in MODES:
            raise ValueError(f"case {name}: unknown mode {mode!r}")
        if family not in ("arch", "op"):
            raise ValueError(f"case {name}: family must be 'arch' or 'op', not {family!r}")
        if not self.wants(name):
            self.cases[name] = None  # reserved, so that names stay unique in partial runs too
            return
        t0 = time.monotonic()
        tflite = bytes(tflite)

        ref_resolver = ref_resolver or litert.OpResolverType.BUILTIN_REF
        probe = litert.Interpreter(
            model_content=tflite, num_threads=1, experimental_op_resolver_type=ref_resolver
        )
        in_details = probe.get_input_details()
        del probe
        if inputs is None:
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            arrays = [_default_input(d, rng) for d in in_details]
        else:
            if len(inputs) != len(in_details):
                raise ValueError(
                    f"case {name}: {len(inputs)} inputs given, the model has {len(in_details)}"
                )
            arrays = [_prepare_input(a, d, name, k) for k, (a, d) in enumerate(zip(inputs, in_details))]

        ref, ref_outs = _run(tflite, arrays, ref_resolver)
        xnn, xnn_outs = _run(tflite, arrays, litert.OpResolverType.AUTO)

        case_dir = os.path.join(self.models_dir, name)
        os.makedirs(case_dir, exist_ok=True)
        files = {"model.tflite": tflite}
        in_entries = []
        for k, (arr, d) in enumerate(zip(arrays, ref.get_input_details())):
            fname = f"input_{k}.npy"
            files[fname] = _npy_bytes(arr)
            in_entries.append({
                "name": str(d["name"]),
                "file": f"models/{name}/{fname}",
                "dtype": _dtype_name(arr.dtype),
                "shape": list(arr.shape),
                "quantization": _quant(d),
            })
        out_entries = []
        any_float = False
        for k, (r, x, d) in enumerate(zip(ref_outs, xnn_outs, ref.get_output_details())):
            files[f"ref_output_{k}.npy"] = _npy_bytes(r)
            files[f"xnnpack_output_{k}.npy"] = _npy_bytes(x)
            any_float |= r.dtype.kind == "f"
            out_entries.append({
                "name": str(d["name"]),
                "ref_file": f"models/{name}/ref_output_{k}.npy",
                "xnnpack_file": f"models/{name}/xnnpack_output_{k}.npy",
                "dtype": _dtype_name(r.dtype),
                "shape": list(r.shape),
                "quantization": _quant(d),
                "xnnpack_max_abs_diff": _max_abs_diff(r, x),
            })
        for fname, data in files.items():
            _write_if_changed(os.path.join(case_dir, fname), data)
        for stale in sorted(set(os.listdir(case_dir)) - set(files)):
            p = os.path.join(case_dir, stale)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

        if tolerance is None:
            if any_float:
                tol = {"kind": "allclose", **DEFAULT_FLOAT_TOLERANCE[mode]}
            else:
                tol = {"kind": "exact"}
        else:
            tol = dict(tolerance)
            if tol.get("kind") not in ("exact", "allclose"):
                raise ValueError(f"case {name}: tolerance kind must be exact or allclose: {tol}")
            if tol["kind"] == "allclose":
                tol = {"kind": "allclose", "rtol": float(tol["rtol"]), "atol": float(tol["atol"])}

        tensors = _tensor_details(ref)
        ops = _op_details(ref)
        self.cases[name] = {
            "name": name,
            "family": family,
            "mode": mode,
            "seed": int(seed),
            "notes": notes,
            "model": f"models/{name}/model.tflite",
            "model_bytes": len(tflite),
            "model_sha256": hashlib.sha256(tflite).hexdigest(),
            "operators": [op["op_name"] for op in ops],
            "op_dtypes": _op_dtypes(ref, tensors),
            "inputs": in_entries,
            "outputs": out_entries,
            "tolerance": tol,
            "xnnpack_operators": [op["op_name"] for op in _op_details(xnn)],
            "litert": {"ops": ops, "tensors": tensors},
        }
        print(f"  {name}: {len(tflite)} bytes, {len(ops)} nodes, "
              f"{time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)

    def skip(self, name: str, op: str, dtype: str, reason: str) -> None:
        """Records that (op, dtype) has no model, and why (LiteRT has no kernel for it, the
        converter cannot emit it, ...)."""
        self._check_name(name)
        if not self.wants(name):
            self.skips[name] = None
            return
        self.skips[name] = {"name": name, "op": op, "dtype": dtype, "reason": reason}
        print(f"  {name}: skipped {op} {dtype}: {reason}", file=sys.stderr, flush=True)

    # -- manifest ----------------------------------------------------------------------------

    def _old_manifest(self) -> dict:
        path = os.path.join(self.outdir, "manifest.json")
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def finish(self) -> None:
        """Writes manifest.json; a full run also deletes case folders it did not produce."""
        cases = {n: c for n, c in self.cases.items() if c is not None}
        skips = {n: s for n, s in self.skips.items() if s is not None}
        if self.partial:
            old = self._old_manifest()
            # An old entry gives way to a new one of the same name of either kind (a skip
            # that became a case, or the reverse).
            for c in old.get("cases", []):
                name = c["name"]
                if name not in cases and name not in skips and not (self.only and self.wants(name)):
                    cases[name] = c
            for s in old.get("skips", []):
                name = s["name"]
                if name not in skips and name not in cases and not (self.only and self.wants(name)):
                    skips[name] = s
        clash = sorted(set(cases) & set(skips))
        if clash:
            raise ValueError(f"names used both as case and as skip: {clash}")
        for entry in sorted(os.listdir(self.models_dir)):
            if entry in cases:
                continue
            if not self.partial or (self.only and self.wants(entry)):
                print(f"  removing stale {entry}", file=sys.stderr)
                shutil.rmtree(os.path.join(self.models_dir, entry))
        manifest = {
            "format": MANIFEST_FORMAT,
            "generator": {
                "command": "cargo xtask gen-testdata",
                "versions": _versions(),
            },
            "cases": [cases[n] for n in sorted(cases)],
            "skips": [skips[n] for n in sorted(skips, key=lambda n: (skips[n]["op"], skips[n]["dtype"], n))],
        }
        _write_if_changed(os.path.join(self.outdir, "manifest.json"),
                          (_json(manifest) + "\n").encode("utf-8"))
        print(f"gen-testdata: {len(cases)} cases, {len(skips)} skips, "
              f"{time.monotonic() - self.started:.0f}s", file=sys.stderr)
