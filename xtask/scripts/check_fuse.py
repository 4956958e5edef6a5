#!/usr/bin/env python3
"""Checks that `tflrs optimize --fuse` changes nothing LiteRT computes beyond float rounding.

For every testdata/ model (the manifest's cases) and every extra model given, writes the fused
model with `tflrs optimize IN -o OUT --fuse` (or `--passes ...`), runs LiteRT on the original and
on the fused file with the same inputs (the case's, or seeded random ones) through its reference
kernels and through its default XNNPACK path, and compares: integer outputs bit for bit, float
outputs within `--rtol` of the output's largest magnitude. Prints the node counts before and
after for every model that changed.

    cargo build -p tflrs-cli
    .venv-testdata/bin/python xtask/scripts/check_fuse.py [--only SUBSTR] [MODEL.tflite ...]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_roundtrip import inputs_for  # noqa: E402


def run(model: Path, inputs: list[np.ndarray], ref: bool) -> list[np.ndarray]:
    kind = OpResolverType.BUILTIN_REF if ref else OpResolverType.AUTO
    interp = Interpreter(model_path=str(model), experimental_op_resolver_type=kind)
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs):
        if list(d["shape"]) != list(x.shape):
            interp.resize_tensor_input(d["index"], x.shape)
            interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]


def nodes(model: Path) -> int:
    from ai_edge_litert import schema_py_generated as s
    m = s.Model.GetRootAsModel(model.read_bytes(), 0)
    return sum(m.Subgraphs(i).OperatorsLength() for i in range(m.SubgraphsLength()))


def differ(a: list[np.ndarray], b: list[np.ndarray], rtol: float) -> str | None:
    if len(a) != len(b):
        return f"{len(a)} outputs vs {len(b)}"
    for k, (x, y) in enumerate(zip(a, b)):
        if x.dtype != y.dtype or x.shape != y.shape:
            return f"output {k}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}"
        if np.issubdtype(x.dtype, np.floating):
            scale = max(float(np.max(np.abs(x))) if x.size else 0.0, 1e-6)
            err = float(np.max(np.abs(x.astype(np.float64) - y))) if x.size else 0.0
            if not np.isfinite(err) or err > rtol * scale:
                return f"output {k}: max |diff| {err:.3g} > {rtol} * {scale:.3g}"
        elif x.tobytes() != y.tobytes():
            return f"output {k}: values differ"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path, help="extra models (random inputs)")
    ap.add_argument("--testdata", type=Path, default=ROOT / "testdata")
    ap.add_argument("--tflrs", type=Path, default=ROOT / "target" / "debug" / "tflrs")
    ap.add_argument("--only", default="", help="only testdata cases whose name contains this")
    ap.add_argument("--no-testdata", action="store_true")
    ap.add_argument("--passes", default="", help="run these passes instead of --fuse")
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()

    todo: list[tuple[str, Path]] = []
    if not args.no_testdata:
        manifest = json.loads((args.testdata / "manifest.json").read_text())
        todo += [(c["name"], args.testdata / c["model"]) for c in manifest["cases"]
                 if args.only in c["name"]]
    todo += [(m.stem, m) for m in args.models]
    failures, changed, skipped = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in todo:
            out = Path(tmp) / f"{name}.tflite"
            flags = ["--passes", args.passes] if args.passes else ["--fuse"]
            r = subprocess.run([str(args.tflrs), "optimize", str(path), "-o", str(out), *flags],
                               capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{name}: tflrs optimize failed: {r.stderr.strip()}")
                continue
            probe = Interpreter(model_path=str(path))
            inputs = inputs_for(path.parent, probe) if path.name == "model.tflite" else [
                np.random.default_rng(k).uniform(-1, 1, d["shape"]).astype(d["dtype"])
                if np.issubdtype(d["dtype"], np.floating) else np.zeros(d["shape"], d["dtype"])
                for k, d in enumerate(probe.get_input_details())]
            for ref in (True, False):
                try:
                    want = run(path, inputs, ref)
                except Exception as e:  # noqa: BLE001 - LiteRT cannot run the original
                    skipped.append(f"{name} [{'ref' if ref else 'xnnpack'}]: {str(e).splitlines()[0]}")
                    continue
                try:
                    problem = differ(want, run(out, inputs, ref), args.rtol)
                except Exception as e:  # noqa: BLE001 - report and go on
                    problem = f"LiteRT: {e}"
                if problem:
                    failures.append(f"{name} [{'ref' if ref else 'xnnpack'}]: {problem}")
            before, after = nodes(path), nodes(out)
            if before != after:
                changed.append(f"{name}: {before} -> {after} nodes, "
                               f"{path.stat().st_size} -> {out.stat().st_size} bytes")
    for c in changed:
        print("CHANGED", c)
    for s in skipped:
        print("SKIP", s, "(the original does not run in LiteRT)")
    for f in failures:
        print("FAIL", f)
    print(f"{len(todo)} models: {len(changed)} changed, {len(failures)} failures, "
          f"{len(skipped)} runs skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
