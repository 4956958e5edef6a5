"""Real models as their authors ship them: small MediaPipe vision models.

MediaPipe's 0.10 wheels carry their `.tflite` models (Apache-2.0, like the rest of MediaPipe);
the wheel is fetched once from PyPI with `pip download` (pinned by version and SHA-256, no
dependencies installed) into `target/testdata-cache/`, and the models below are copied out.
They hold what converted Keras models lack: standalone RELUs after ADDs, explicit PADs before
VALID convolutions, float16 weights behind DEQUANTIZE, sparse weights (DENSIFY). Inputs are
seeded; LiteRT's outputs are the reference. Models whose custom ops LiteRT's Python package
does not register are not here (they cannot have a LiteRT reference).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile

WHEEL = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"

# (case name, path in the wheel, notes)
MODELS = (
    ("mediapipe_face_detection_short_range", "mediapipe/modules/face_detection/face_detection_short_range.tflite",
     "MediaPipe BlazeFace short range (128x128), float16 weights, standalone RELUs after ADDs"),
    ("mediapipe_face_detection_full_range_sparse", "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
     "MediaPipe BlazeFace full range (192x192), sparse weights, PADs before VALID convolutions"),
    ("mediapipe_hand_recrop", "mediapipe/modules/holistic_landmark/hand_recrop.tflite",
     "MediaPipe holistic hand re-crop (256x256)"),
)


def _wheel() -> str:
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    cache = os.path.join(root, "target", "testdata-cache")
    path = os.path.join(cache, WHEEL)
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--only-binary=:all:", "--python-version", "3.11",
                        "--platform", "manylinux_2_17_x86_64", "-d", cache, "mediapipe==0.10.14"],
                       check=True)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{path}: SHA-256 {digest}, expected {WHEEL_SHA256}")
    return path


# Outputs are box coordinates and scores up to ~150; LiteRT's own XNNPACK path differs from its
# reference kernels by up to 7e-5 on them (measured on these cases), outside the default
# elementwise atol of 1e-5. The tolerance scales atol to these outputs' size.
TOLERANCE = {"kind": "allclose", "rtol": 1e-4, "atol": 1e-4}


def build_all(ctx) -> None:
    if not any(ctx.wants(name) for name, _, _ in MODELS):
        return
    with zipfile.ZipFile(_wheel()) as z:
        for name, member, notes in MODELS:
            ctx.add_case(name, z.read(member), family="arch", mode="float32", seed=7,
                         tolerance=TOLERANCE,
                         notes=notes + f" (from {WHEEL})")
