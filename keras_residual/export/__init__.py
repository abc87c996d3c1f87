"""Exporters: SavedModel for TF Serving, ONNX, LiteRT and OpenVINO (need TensorFlow)."""

from keras_residual.export.litert import export_litert
from keras_residual.export.onnx import ExportReport, OnnxExportError, export_onnx  # O
from keras_residual.export.openvino import export_openvino
from keras_residual.export.runtime_check import RuntimeExportError, RuntimeExportReport
from keras_residual.export.saved_model import export_saved_model  # S
from keras_residual.models.rebuild import rebuild_with_policy  # S

__all__ = [
    "ExportReport",
    "OnnxExportError",
    "RuntimeExportError",
    "RuntimeExportReport",
    "export_litert",
    "export_onnx",
    "export_openvino",
    "export_saved_model",
    "rebuild_with_policy",
]
