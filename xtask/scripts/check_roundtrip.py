#!/usr/bin/env python3
"""Checks that tflrs's import -> export round trip changes nothing LiteRT computes.

For every model in testdata/ (the manifest's cases plus any model directory it does not list
yet), writes the model back through the tflrs IR (inline buffers, and with every buffer placed
after the FlatBuffer by offset), runs LiteRT on the original and on each exported file with the
case's inputs, and requires bit-identical outputs.

Run with the interpreter of .venv-testdata (ai_edge_litert, numpy):

    .venv-testdata/bin/python xtask/scripts/check_roundtrip.py [--tflrs PATH] [--only SUBSTR]

By default the tflrs side is `cargo run -p tflrs-ir --example roundtrip`; `--tflrs PATH` uses a
built `tflrs` binary (`tflrs optimize IN -o OUT`) instead, for the inline mode.
CI need not run this script; the Rust tests check graph equality without Python.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

ROOT = Path(__file__).resolve().parents[2]


def cases(testdata: Path) -> list[tuple[str, Path]]:
    found: dict[str, Path] = {}
    manifest = testdata / "manifest.json"
    if manifest.exists():
        for c in json.loads(manifest.read_text())["cases"]:
            path = testdata / c["model"]
            if path.exists():
                found[c["name"]] = path
    for d in sorted((testdata / "models").glob("*/model.tflite")):
        found.setdefault(d.parent.name, d)
    return sorted(found.items())


def inputs_for(model_dir: Path, interp: Interpreter) -> list[np.ndarray]:
    details = interp.get_input_details()
    arrays = []
    for k, d in enumerate(details):
        f = model_dir / f"input_{k}.npy"
        if f.exists():
            arrays.append(np.load(f))
        else:
            # No stored input: a seeded one of the right type and shape.
            rng = np.random.default_rng(k)
            shape = d["shape"]
            if np.issubdtype(d["dtype"], np.floating):
                arrays.append(rng.uniform(-1, 1, shape).astype(d["dtype"]))
            elif d["dtype"] == np.bool_:
                arrays.append(rng.integers(0, 2, shape).astype(np.bool_))
            else:
                arrays.append(np.zeros(shape, d["dtype"]))
    return arrays


def run(model: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    interp = Interpreter(
        model_path=str(model),
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
    )
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs):
        if list(d["shape"]) != list(x.shape):
            interp.resize_tensor_input(d["index"], x.shape)
            interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]


def same_bits(a: list[np.ndarray], b: list[np.ndarray]) -> str | None:
    if len(a) != len(b):
        return f"{len(a)} outputs vs {len(b)}"
    for k, (x, y) in enumerate(zip(a, b)):
        if x.dtype != y.dtype or x.shape != y.shape:
            return f"output {k}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}"
        if x.tobytes() != y.tobytes():
            return f"output {k}: values differ"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--testdata", type=Path, default=ROOT / "testdata")
    ap.add_argument("--tflrs", type=Path, help="use this tflrs binary's `optimize` for the inline mode")
    ap.add_argument("--only", default="", help="only cases whose name contains this")
    args = ap.parse_args()

    subprocess.run(
        ["cargo", "build", "-q", "-p", "tflrs-ir", "--example", "roundtrip"], cwd=ROOT, check=True
    )
    example = ROOT / "target" / "debug" / "examples" / "roundtrip"

    def export(src: Path, dst: Path, offsets: bool) -> None:
        if args.tflrs and not offsets:
            cmd = [str(args.tflrs), "optimize", str(src), "-o", str(dst)]
        else:
            cmd = [str(example), str(src), str(dst)]
            if offsets:
                cmd += ["--offset-threshold", "0"]
        subprocess.run(cmd, check=True, capture_output=True)

    failures, unstable, checked = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in cases(args.testdata):
            if args.only not in name:
                continue
            probe = Interpreter(model_path=str(path))
            inputs = inputs_for(path.parent, probe)
            want = run(path, inputs)
            if same_bits(want, run(path, inputs)):
                # LiteRT gives different answers for the original itself (uninitialized memory
                # in a kernel): outputs of the exported file cannot be compared bit for bit.
                unstable.append(name)
                continue
            for mode, offsets in (("inline", False), ("offsets", True)):
                out = Path(tmp) / f"{name}_{mode}.tflite"
                try:
                    export(path, out, offsets)
                    got = run(out, inputs)
                except Exception as e:  # noqa: BLE001 - report and go on
                    failures.append(f"{name} [{mode}]: {e}")
                    continue
                problem = same_bits(want, got)
                if problem and any(same_bits(want, run(path, inputs)) for _ in range(3)):
                    # The original itself gives different answers run to run.
                    unstable.append(name)
                    break
                if problem:
                    failures.append(f"{name} [{mode}]: {problem}")
            if name not in unstable:
                checked += 1
    for f in failures:
        print("FAIL", f)
    for u in unstable:
        print(f"SKIP {u}: LiteRT's outputs for the original model differ between two runs")
    print(f"{checked} models, 2 layouts each: {len(failures)} failures, {len(unstable)} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
