#!/usr/bin/env python3
"""Prunes the float32 models of testdata/ with `tflrs optimize --prune`, checks that LiteRT runs
every pruned file and that tflrs gives LiteRT's outputs on it, and prints the size and error table
of docs/pruning.md (error: the pruned model's outputs against the unpruned model's, in LiteRT,
on the case's inputs).

    cargo build --release -p tflrs-cli
    .venv-testdata/bin/python xtask/scripts/check_prune.py [--tflrs target/release/tflrs]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("mlp_float32", "cnn_small_float32", "kws_dscnn_float32", "mobilenet_v2_035_96_float32")
SETTINGS = (("50%, 1x4", ["--prune", "0.5", "--block", "1x4"]),
            ("75%, 1x4", ["--prune", "0.75", "--block", "1x4"]),
            ("75%, 1x1", ["--prune", "0.75"]))


def litert(model: Path, inputs: list[np.ndarray], ref: bool) -> list[np.ndarray]:
    kind = OpResolverType.BUILTIN_REF if ref else OpResolverType.AUTO
    it = Interpreter(model_path=str(model), experimental_op_resolver_type=kind)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflrs", type=Path, default=ROOT / "target" / "release" / "tflrs")
    args = ap.parse_args()
    failures = []
    print("| model | pruning | file bytes | LiteRT runs it (ref / XNNPACK) | tflrs vs LiteRT ref, max abs | output error vs unpruned (RMS / RMS) |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            case = ROOT / "testdata" / "models" / name
            model = case / "model.tflite"
            inputs = [np.load(p) for p in sorted(case.glob("input_*.npy"))]
            base = litert(model, inputs, True)
            for label, flags in SETTINGS:
                out = Path(tmp) / f"{name}.tflite"
                subprocess.run([str(args.tflrs), "optimize", str(model), "-o", str(out), *flags],
                               check=True, capture_output=True)
                runs = []
                try:
                    ref = litert(out, inputs, True)
                    runs.append("yes")
                    litert(out, inputs, False)
                    runs.append("yes")
                except Exception as e:  # noqa: BLE001
                    failures.append(f"{name} {label}: LiteRT: {e}")
                    runs.append("NO")
                    ref = None
                odir = Path(tmp) / "out"
                cmd = [str(args.tflrs), "run", str(out), "-o", str(odir), "--backend", "scalar"]
                for k in range(len(inputs)):
                    cmd += ["-i", str(case / f"input_{k}.npy")]
                subprocess.run(cmd, check=True, capture_output=True)
                got = [np.load(odir / f"output_{k}.npy") for k in range(len(base))]
                agree = "-"
                if ref is not None:
                    d = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(ref, got))
                    agree = f"{d:.2g}"
                    if d > 1e-4 * max(1.0, max(float(np.max(np.abs(a))) for a in ref)):
                        failures.append(f"{name} {label}: tflrs differs from LiteRT by {d}")
                err = "-"
                if ref is not None:
                    e = [float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)) / max(np.sqrt(np.mean(a.astype(np.float64) ** 2)), 1e-30))
                         for a, b in zip(base, ref)]
                    err = ", ".join(f"{100 * v:.1f}%" for v in e)
                print(f"| {name} | {label} | {model.stat().st_size} -> {out.stat().st_size} | "
                      f"{' / '.join(runs)} | {agree} | {err} |")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
