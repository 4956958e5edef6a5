"""Writes tflrs's golden test data: `python gen_testdata.py OUTDIR [--only PATTERN]...`.

Run by `cargo xtask gen-testdata` with the interpreter of `.venv-testdata`. Builds every model of
`arch_models`, `op_models` and `keras_models` (each module's `build_all(ctx)`), runs LiteRT on it, and writes
`OUTDIR/models/<case>/` and `OUTDIR/manifest.json` (see common.py).
"""

import os
import sys

# Before TensorFlow is imported: CPU only, quiet, deterministic, one thread.
for key, value in {
    "CUDA_VISIBLE_DEVICES": "",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_DETERMINISTIC_OPS": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "OMP_NUM_THREADS": "1",
    "KERAS_BACKEND": "tensorflow",
    "PYTHONHASHSEED": "0",
}.items():
    os.environ[key] = value

import argparse  # noqa: E402
import faulthandler  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODULES = ("arch_models", "op_models", "op_models_math", "op_models_index", "op_models_rest",
           "keras_models", "real_models")


def check_versions() -> None:
    """Every `name==version` line of requirements.txt must be what is installed."""
    wrong = []
    with open(os.path.join(HERE, "requirements.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line or "==" not in line:
                continue
            name, version = (s.strip() for s in line.split("==", 1))
            try:
                have = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                have = None
            if have != version:
                wrong.append(f"{name}: want {version}, have {have}")
    if wrong:
        sys.exit("gen-testdata: the virtualenv does not match requirements.txt:\n  "
                 + "\n  ".join(wrong))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("outdir")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="regenerate only cases whose name matches (glob if it has *?[, "
                             "else substring); other manifest entries are kept")
    parser.add_argument("--module", action="append", default=[], choices=MODULES,
                        help="run only these builder modules (implies a partial run)")
    args = parser.parse_args()

    if sys.flags.hash_randomization and os.environ.get("TFLRS_REEXEC") != "1":
        # Make set/dict-of-str iteration order fixed: re-run with PYTHONHASHSEED=0 in effect.
        os.environ["TFLRS_REEXEC"] = "1"
        os.execv(sys.executable, [sys.executable, *sys.argv])

    # The converter and LiteRT are C++: a crash there should at least show the Python stack.
    faulthandler.enable()
    check_versions()
    started = time.monotonic()
    import common

    common.configure_tensorflow()
    ctx = common.Ctx(args.outdir, only=args.only, partial=bool(args.module))
    for name in args.module or MODULES:
        print(f"gen-testdata: {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(name)
        module.build_all(ctx)
    ctx.finish()
    print(f"gen-testdata: done in {time.monotonic() - started:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
