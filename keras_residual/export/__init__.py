"""One export pipeline for every runtime: ``export(model, path, format, precision=...) -> ExportReport``.

Formats (``saved_model``, ``onnx``, ``litert``, ``openvino``) are modules registered in
`keras_residual.export.formats`; each is converted, loaded in its own runtime, checked against
float32 Keras on real images and published atomically by `keras_residual.export.pipeline`.
The per-format functions of 0.2 (``export_saved_model`` and friends) remain as deprecated aliases.
"""

from keras_residual.export.deprecated import export_litert, export_onnx, export_openvino, export_saved_model
from keras_residual.export.formats import FORMATS, register
from keras_residual.export.pipeline import export
from keras_residual.export.report import DEFAULT_IMAGE_SIZE, TOLERANCE, ExportError, ExportReport
from keras_residual.models.rebuild import rebuild_with_policy

OnnxExportError = RuntimeExportError = ExportError  # deprecated names of ExportError
RuntimeExportReport = ExportReport  # deprecated name of ExportReport

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "FORMATS",
    "TOLERANCE",
    "ExportError",
    "ExportReport",
    "OnnxExportError",
    "RuntimeExportError",
    "RuntimeExportReport",
    "export",
    "export_litert",
    "export_onnx",
    "export_openvino",
    "export_saved_model",
    "rebuild_with_policy",
    "register",
]
