"""keras_residual: residual layers, the ResNet family, mixed-precision training and export for Keras 3.

The public names below load on first use, so ``import keras_residual`` (and with it the CLI's
``--help``/``--version`` and the TensorFlow-free ``keras_residual.client``) does not import Keras
or TensorFlow. The layers and models register with Keras's serialization when they load: after
``from keras_residual import ResNet`` (or any public name), or after ``import keras_residual``
in a program that has already imported Keras, ``keras.saving.load_model("model.keras")`` needs
no ``custom_objects``. Training (``keras_residual.training``), the exporters
(``keras_residual.export``) and the TF Serving client (``keras_residual.client``) are imported
from their own modules.
"""

from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"

_LAZY = {
    "DropPath": "keras_residual.layers",
    "Residual": "keras_residual.layers",
    "ResidualBlock": "keras_residual.layers",
    "SqueezeExcite": "keras_residual.layers",
    "ResNet": "keras_residual.models",
    "feature_model": "keras_residual.models",
    "list_presets": "keras_residual.models",
}

__all__ = sorted([*_LAZY, "__version__", "register_serializables"])


def register_serializables() -> None:
    """Import the layers and models so Keras can deserialize them (idempotent, imports Keras)."""
    importlib.import_module("keras_residual.layers")
    importlib.import_module("keras_residual.models")


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_residual' has no attribute {name!r}")
    register_serializables()
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if "keras" in sys.modules:  # Keras is loaded already: registering costs nothing more
    register_serializables()
