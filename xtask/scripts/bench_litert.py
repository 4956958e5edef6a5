"""Times LiteRT on testdata models: reference kernels (1 thread) and the default (XNNPACK) path
on each thread count asked for.

Usage: bench_litert.py [--threads 1,2] TESTDATA_DIR RUNS MODEL [MODEL ...]
Prints one JSON object per line: {"model", "ref_median_us", "xnnpack_median_us" (1 thread),
"xnnpack_<T>t_median_us" for each thread count T, "runs"}.
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
    args = sys.argv[1:]
    threads = [1]
    if args and args[0] == "--threads":
        threads = [int(t) for t in args[1].split(",")]
        args = args[2:]
    root, runs, models = args[0], int(args[1]), args[2:]
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
        runs_of = [("ref_median_us", litert.OpResolverType.BUILTIN_REF, 1)]
        for t in threads:
            runs_of.append((f"xnnpack_{t}t_median_us", litert.OpResolverType.AUTO, t))
        for key, resolver, t in runs_of:
            interp = litert.Interpreter(
                model_path=path, num_threads=t, experimental_op_resolver_type=resolver
            )
            interp.allocate_tensors()
            out[key] = median_us(interp, inputs, runs)
        if "xnnpack_1t_median_us" in out:
            out["xnnpack_median_us"] = out["xnnpack_1t_median_us"]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
