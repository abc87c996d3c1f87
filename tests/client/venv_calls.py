"""Run inside a virtualenv holding only ``keras-residual[client]``: the client's calls over both transports.

Started by ``clean_venv.py`` (``make test-client-venv``) with the stand-in server's two addresses and
a folder holding PNG files, their pixels and the outputs TensorFlow computed in the full
environment. Checks that TensorFlow, Keras and tensorflow-serving-api cannot be imported here, then
calls predict, predict_encoded, status and metadata over gRPC and REST and compares every answer
with the reference and across transports (within 1e-6). Exits non-zero with the reason on any
difference. Imports only the standard library, numpy and ``keras_residual.client``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np


def _check_isolated(venv: str) -> None:
    for name in ("tensorflow", "keras", "tensorflow_serving"):
        if importlib.util.find_spec(name) is not None:
            raise SystemExit(f"`{name}` is importable in the client-only venv")
    import keras_residual

    if not Path(keras_residual.__file__).resolve().is_relative_to(Path(venv).resolve()):
        raise SystemExit(f"keras_residual comes from {keras_residual.__file__}, not from the venv {venv}")


def _close(name: str, got: np.ndarray, want: np.ndarray) -> None:
    if got.dtype == object or want.dtype == object:
        if got.tolist() != want.tolist():
            raise SystemExit(f"{name}: {got.tolist()} != {want.tolist()}")
        return
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, atol=1e-6):
        raise SystemExit(f"{name}: max difference {np.max(np.abs(got - want))}, shapes {got.shape} {want.shape}")


def _calls(target: str, model: str, pixels: np.ndarray, files: list[Path]) -> dict:
    from keras_residual.client import ServingClient, ServingNotFoundError

    with ServingClient(target, model, timeout=30.0) as client:
        answers = {
            "predict": client.predict(pixels),
            "predict_encoded": client.predict_encoded(files),
            "status": client.status(),
            "metadata": client.metadata(),
        }
    with ServingClient(target, "no-such-model", timeout=30.0) as missing:
        try:
            missing.status()
        except ServingNotFoundError:
            pass
        else:
            raise SystemExit(f"{target}: an unknown model did not raise NOT_FOUND")
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpc", required=True, help="host:port of the stand-in's gRPC API")
    parser.add_argument("--rest", required=True, help="http://host:port of the stand-in's REST API")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, type=Path, help="folder with reference.npz and *.png")
    parser.add_argument("--venv", required=True)
    args = parser.parse_args()
    _check_isolated(args.venv)
    reference = np.load(args.data / "reference.npz", allow_pickle=True)
    files = sorted(args.data.glob("*.png"))
    pixels = reference["pixels"]
    answers = {name: _calls(target, args.model, pixels, files) for name, target in (("grpc", args.grpc), ("rest", args.rest))}
    for transport, got in answers.items():
        for call in ("predict", "predict_encoded"):
            for key in ("probabilities", "top_k_indices", "top_k_scores", "top_k_labels"):
                want = reference[key]
                _close(f"{transport} {call} {key}", got[call][key], want)
                _close(f"grpc vs rest {call} {key}", got[call][key], answers["grpc"][call][key])
    if answers["grpc"]["status"] != answers["rest"]["status"] or answers["grpc"]["metadata"] != answers["rest"]["metadata"]:
        raise SystemExit("status or metadata differ between gRPC and REST")
    states = [(v.version, v.state) for v in answers["rest"]["status"]]
    if states != [(1, "AVAILABLE")]:
        raise SystemExit(f"unexpected status {states}")
    print(json.dumps({"ok": True, "transports": sorted(answers), "status": states}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
