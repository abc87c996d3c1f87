"""One export pipeline for every runtime: ``export(model, path, format, precision=...) -> ExportReport``.

Formats (``saved_model``, ``onnx``, ``litert``, ``openvino``) are modules registered in
`keras_residual.export.formats`; each is converted, loaded in its own runtime, checked against
float32 Keras on real images and published atomically by `keras_residual.export.pipeline`.
The per-format functions of 0.2 (``export_saved_model`` and friends) remain as deprecated aliases.

The names below load on first use, so ``keras_residual.export.formats`` (the registry, which the
CLI reads to build its parsers) imports without TensorFlow.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "export": "keras_residual.export.pipeline",
    "ExportError": "keras_residual.export.report",
    "ExportReport": "keras_residual.export.report",
    "TOLERANCE": "keras_residual.export.report",
    "DEFAULT_IMAGE_SIZE": "keras_residual.export.report",
    "FORMATS": "keras_residual.export.formats",
    "register": "keras_residual.export.formats",
    "rebuild_with_policy": "keras_residual.models.rebuild",
    "export_saved_model": "keras_residual.export.deprecated",
    "export_onnx": "keras_residual.export.deprecated",
    "export_litert": "keras_residual.export.deprecated",
    "export_openvino": "keras_residual.export.deprecated",
}
_RENAMED = {  # deprecated names of 0.2
    "OnnxExportError": "ExportError",
    "RuntimeExportError": "ExportError",
    "RuntimeExportReport": "ExportReport",
}

__all__ = sorted([*_LAZY, *_RENAMED])


def __getattr__(name: str):
    target = _RENAMED.get(name, name)
    module = _LAZY.get(target)
    if module is None:
        raise AttributeError(f"module 'keras_residual.export' has no attribute {name!r}")
    return getattr(importlib.import_module(module), target)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
