#!/usr/bin/env python3
"""Quantizes the float32 models of testdata/ to full-integer int8 with `tflrs optimize --quantize
int8`, calibrated on the converter's own representative samples (regenerated from the seeds of
xtask/testdata/arch_models.py), checks that LiteRT's reference kernels run every tflrs model and
give tflrs's outputs bit for bit, and prints the table of docs/quantization.md: SQNR (dB) and top-1
agreement against the float model on held-out samples, for tflrs (three calibration methods) and
for the converter's int8 model of testdata/.

    cargo build -p tflrs-cli
    .venv-testdata/bin/python xtask/scripts/check_ptq.py [--tflrs target/debug/tflrs] [--exact N]
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
sys.path.insert(0, str(ROOT / "xtask" / "testdata"))
import arch_models as A  # noqa: E402

REP = A.REP_SAMPLES


def data(arch: str):
    """(representative samples, held-out samples) of `arch`, as arch_models.py draws them."""
    if arch == "mlp":
        x, _ = A._blobs(np.random.default_rng(101), 512, 8, 4)
        return x[:REP], x[448:512]
    if arch == "cnn_small":
        x, _ = A._images(np.random.default_rng(102), 320, (24, 24, 3), 5)
        return x[:REP], x[256:320]
    if arch == "kws_dscnn":
        x, _ = A._images(np.random.default_rng(103), 320, (49, 10, 1), 12)
        return x[:REP], x[256:320]
    if arch == "mobilenet_v2_035_96":
        x, _ = A._images(np.random.default_rng(104), 48, (96, 96, 3), 10)
        return x[:REP], x[32:48]
    raise ValueError(arch)


MODELS = ("mlp", "cnn_small", "kws_dscnn", "mobilenet_v2_035_96")
METHODS = ("minmax", "percentile", "mse", "moving-average")


class Lite:
    def __init__(self, model: Path):
        self.it = Interpreter(model_path=str(model),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Output 0 as stored, for input `x` already in the model's input type."""
        self.it.set_tensor(self.inp["index"], x)
        self.it.invoke()
        return self.it.get_tensor(self.out["index"]).copy()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Float output for float input `x` (quantizing and dequantizing at integer I/O)."""
        d = self.inp
        if d["dtype"] != np.float32:
            s, z = d["quantization"]
            info = np.iinfo(d["dtype"])
            x = np.clip(np.round(x / s + z), info.min, info.max).astype(d["dtype"])
        y = self.raw(x)
        if self.out["dtype"] != np.float32:
            s, z = self.out["quantization"]
            y = (y.astype(np.float64) - z) * s
        return y.astype(np.float64)


def sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - got) ** 2), 1e-30)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflrs", type=Path, default=ROOT / "target" / "debug" / "tflrs")
    ap.add_argument("--exact", type=int, default=4,
                    help="held-out samples on which tflrs and LiteRT must agree bit for bit")
    args = ap.parse_args()
    failures = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for arch in MODELS:
            rep, held = data(arch)
            np.save(tmp / "rep.npy", rep)
            fmodel = ROOT / "testdata" / "models" / f"{arch}_float32" / "model.tflite"
            cmodel = ROOT / "testdata" / "models" / f"{arch}_int8" / "model.tflite"
            fl = Lite(fmodel)
            ref = [fl(h[None]) for h in held]
            row = {"model": arch}
            for method in METHODS:
                for io in (("float", "int8") if method == "minmax" else ("float",)):
                    out = tmp / f"{arch}_{method}_{io}.tflite"
                    subprocess.run([str(args.tflrs), "optimize", str(fmodel), "-o", str(out),
                                    "--quantize", "int8", "--calibration", str(tmp / "rep.npy"),
                                    "--calibration-method", method, "--io", io],
                                   check=True, capture_output=True)
                    lite = Lite(out)
                    if io == "int8":  # the converter's testdata model has int8 I/O too
                        row["bytes"] = out.stat().st_size
                    got = [lite(h[None]) for h in held]
                    if io == "float":
                        row[method] = sqnr(np.concatenate(ref), np.concatenate(got))
                        row[method + "_top1"] = np.mean(
                            [np.argmax(a) == np.argmax(b) for a, b in zip(ref, got)])
                    # tflrs runs the same model bit for bit as LiteRT's reference kernels.
                    for k, h in enumerate(held[: args.exact]):
                        d = lite.inp
                        x = h[None]
                        if d["dtype"] != np.float32:
                            s, z = d["quantization"]
                            x = np.clip(np.round(x / s + z), -128, 127).astype(np.int8)
                        np.save(tmp / "x.npy", x)
                        odir = tmp / "out"
                        subprocess.run([str(args.tflrs), "run", str(out), "-o", str(odir),
                                        "--backend", "scalar", "-i", str(tmp / "x.npy")],
                                       check=True, capture_output=True)
                        mine = np.load(odir / "output_0.npy")
                        theirs = lite.raw(x)
                        if mine.dtype != theirs.dtype or not np.array_equal(
                                mine.view(np.uint8), theirs.view(np.uint8)):
                            failures.append(f"{arch} {method} io={io} sample {k}: tflrs "
                                            f"{mine.ravel()[:6]} vs LiteRT {theirs.ravel()[:6]}")
            conv = Lite(cmodel)
            got = [conv(h[None]) for h in held]
            row["converter"] = sqnr(np.concatenate(ref), np.concatenate(got))
            row["converter_top1"] = np.mean(
                [np.argmax(a) == np.argmax(b) for a, b in zip(ref, got)])
            row["converter_bytes"] = cmodel.stat().st_size
            row["held"] = len(held)
            rows.append(row)
            print(f"{arch}: done", file=sys.stderr)
    print("| model | held-out | converter int8 | tflrs min/max | tflrs percentile 99.99% "
          "| tflrs MSE | tflrs moving average | bytes, int8 I/O (converter / tflrs) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cell = lambda k: f"{r[k]:.1f} dB ({100 * r[k + '_top1']:.0f}%)"  # noqa: E731
        print(f"| {r['model']} | {r['held']} | {cell('converter')} | {cell('minmax')} | "
              f"{cell('percentile')} | {cell('mse')} | {cell('moving-average')} | "
              f"{r['converter_bytes']} / {r['bytes']} |")
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    print("tflrs vs LiteRT reference kernels: "
          + ("bit-exact on every model" if not failures else f"{len(failures)} mismatches"),
          file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
