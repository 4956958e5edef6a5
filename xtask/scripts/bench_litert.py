"""Times LiteRT on testdata models: reference kernels and the default (XNNPACK) path, 1 thread.

Usage: bench_litert.py TESTDATA_DIR RUNS MODEL [MODEL ...]
Prints one JSON object per line: {"model", "ref_median_us", "xnnpack_median_us", "runs"}.
The inputs are the case's own input_<k>.npy files, as tflrs's side uses.
"""
import json
import os
import sys
import time

import numpy as np
from ai_edge_litert import interpreter as litert


def median_us(interp, inputs, runs):
    for detail, value in zip(interp.get_input_details(), inputs):
        interp.set_tensor(detail["index"], value)
    interp.invoke()  # warm up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t) * 1e6)
    times.sort()
    return times[len(times) // 2]


def main():
    root, runs, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with open(os.path.join(root, "manifest.json")) as f:
        manifest = {c["name"]: c for c in json.load(f)["cases"]}
    for name in models:
        case = manifest.get(name)
        if case is None:
            print(json.dumps({"model": name, "error": "no such case"}))
            continue
        path = os.path.join(root, case["model"])
        inputs = [np.load(os.path.join(root, i["file"])) for i in case["inputs"]]
        out = {"model": name, "runs": runs}
        for key, resolver in (
            ("ref_median_us", litert.OpResolverType.BUILTIN_REF),
            ("xnnpack_median_us", litert.OpResolverType.AUTO),
        ):
            interp = litert.Interpreter(
                model_path=path, num_threads=1, experimental_op_resolver_type=resolver
            )
            interp.allocate_tensors()
            out[key] = median_us(interp, inputs, runs)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
