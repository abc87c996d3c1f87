"""``keras-residual info``: versions, backend, installed extras, the preset names, the detected hardware
(CPU model and SIMD/AMX/VNNI/BF16 flags, GPUs with their compute capability, oneDNN on or off) and the serving
runtime measured fastest on this CPU class (:func:`keras_residual.hardware.serving_pick`)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json

from keras_residual.cli._runtime import CLIError, start_tensorflow

_EXTRAS = {
    "tf": ("keras", "tensorflow", "tensorboard"),
    "client": ("grpcio", "protobuf", "numpy"),
    "onnx": ("tf2onnx", "onnx", "onnxruntime", "onnxconverter-common"),
    "litert": ("ai-edge-litert",),
    "openvino": ("openvino",),
    "nncf": ("nncf",),
    "serving": ("tensorflow-serving-api", "grpcio"),
    "deploy": ("pyyaml", "tensorflow-serving-api"),
    "data": ("scikit-learn", "pillow"),
    "torch": ("torch", "safetensors"),
    "jax": ("jax",),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``info`` sub-command."""
    parser = subparsers.add_parser(
        "info", help="Print versions, the Keras backend, installed extras, presets and the detected hardware."
    )
    parser.add_argument("--json", action="store_true", help="Machine-readable output.")
    parser.add_argument(
        "--gpus",
        action="store_true",
        help="also ask TensorFlow for GPUs and their compute capability when nvidia-smi is not available",
    )
    parser.set_defaults(func=run)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect(gpus: bool = False, verbose: bool = False) -> dict:
    """Return what ``keras-residual info`` prints, as a dict (``gpus``: let TensorFlow report GPUs too).

    Works in a client-only install too: Keras, its backend and the presets are then ``None``.
    """
    from keras_residual import __version__
    from keras_residual.hardware import describe, serving_pick

    try:
        start_tensorflow(verbose)  # quiet unless verbose; raises CLIError without Keras
    except CLIError:
        keras_version = backend = presets = None
    else:
        import keras

        from keras_residual.models import list_presets

        keras_version, backend, presets = keras.__version__, keras.backend.backend(), list(list_presets())
    return {
        "keras_residual": __version__,
        "keras": keras_version,
        "backend": backend,
        "tensorflow": _version("tensorflow"),
        "extras": {extra: {dist: _version(dist) for dist in dists} for extra, dists in _EXTRAS.items()},
        "presets": presets,
        "hardware": (hardware := describe(use_tensorflow=gpus)),
        "serving": serving_pick(hardware["cpu"]["device_class"]),
    }


def run(args: argparse.Namespace) -> int:
    """Print the environment report."""
    from keras_residual.hardware import serving_lines, summary_lines

    info = collect(gpus=args.gpus, verbose=getattr(args, "verbose", False))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"keras-residual {info['keras_residual']}  keras {info['keras']}  backend {info['backend']}"
        f"  tensorflow {info['tensorflow']}"
    )
    for extra, dists in info["extras"].items():
        missing = [d for d, v in dists.items() if v is None]
        state = (
            "installed"
            if not missing
            else f"missing {', '.join(missing)} (pip install 'keras-residual[{extra}]')"
        )
        print(f"  extra [{extra}]: {state}")
    if info["presets"] is None:
        print("presets: Keras is not installed (pip install 'keras-residual[tf]')")
    else:
        print(f"presets ({len(info['presets'])}): {', '.join(info['presets'])}")
    for line in summary_lines(info["hardware"]) + serving_lines(info["hardware"]["cpu"]["device_class"]):
        print(line)
    return 0
