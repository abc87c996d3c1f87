"""The per-format export functions of 0.2, kept as thin aliases of `keras_residual.export.export` for one release.

Each maps its old arguments to ``export(model, path, format, precision=...)`` and returns what it
returned before (``export_saved_model``: the version directory; the others: the `ExportReport`).
They go through the same checks as ``export``: a reduced-precision file is refused below
``min_agreement`` (default 0.99) top-1 agreement with float32 Keras on held-out images.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from keras_residual import contract
from keras_residual import precision as precision_lib
from keras_residual._validation import check_choice, fail
from keras_residual.export.pipeline import export
from keras_residual.export.report import ExportReport
from keras_residual.precision import ONNX_PRECISIONS, SAVED_MODEL_PRECISIONS, check_precision

_LITERT_QUANTIZE = {None: "float32", "float16": "float16", "dynamic": "dynamic_int8", "int8": "int8"}


def _deprecated(old: str, fmt: str) -> None:
    warnings.warn(
        f"{old} is deprecated and goes in the next release: use "
        f"keras_residual.export.export(model, path, {fmt!r}, precision=...)",
        DeprecationWarning,
        stacklevel=3,
    )


def export_saved_model(
    model,
    base_path,
    version: int | None = None,
    class_names=None,
    top_k: int = 5,
    image_size=None,
    resize: str = "bilinear",
    compute_dtype: str = "float32",
    warmup: bool = True,
    overwrite: bool = False,
    max_pixels: int = contract.DEFAULT_MAX_PIXELS,
) -> Path:
    """Deprecated: ``export(model, base_path, "saved_model", precision=..., **options).path``.

    ``compute_dtype`` takes ``keras_residual.precision.SAVED_MODEL_PRECISIONS``: ``"float32"``,
    ``"bfloat16"`` / ``"mixed_bfloat16"``, or ``"auto"`` (`keras_residual.export.saved_model.auto_serving_dtype`:
    the serving dtype measured fastest on this CPU class). The other arguments are the
    SavedModel options (`keras_residual.export.saved_model.check_options`).

    Returns:
        The version directory (``base_path/<version>``).
    """
    _deprecated("export_saved_model", "saved_model")
    check_precision("compute_dtype", compute_dtype, SAVED_MODEL_PRECISIONS)
    if compute_dtype == "auto":
        from keras_residual.export.saved_model import auto_serving_dtype

        dtype = auto_serving_dtype()
    else:
        dtype = precision_lib.compute_dtype(compute_dtype)
    options = dict(version=version, class_names=class_names, top_k=top_k, image_size=image_size, resize=resize)
    options.update(warmup=warmup, overwrite=overwrite, max_pixels=max_pixels)
    return export(model, base_path, "saved_model", precision=dtype, **options).path


def export_onnx(
    model, path, opset=None, precision="float32", quantize=None, calibration_data=None, verify=True, atol=None,
    min_agreement=None,
) -> ExportReport:
    """Deprecated: ``export(model, path, "onnx", precision=...)``.

    ``precision`` takes ``keras_residual.precision.ONNX_PRECISIONS`` (``"auto"`` is float32,
    ``"mixed_float16"`` is float16); ``quantize="int8"`` is ``precision="int8"``. ``atol`` defaults
    to 1e-4 for float32 and 1e-2 for float16, as before. ``min_agreement`` is new: float16 and
    INT8 files are now refused below it (default 0.99).
    """
    _deprecated("export_onnx", "onnx")
    check_precision("precision", precision, ONNX_PRECISIONS)
    check_choice("quantize", quantize, (None, "int8"))
    dtype = precision_lib.compute_dtype(precision)
    if quantize and dtype != "float32":
        fail("precision", f"'float32' when quantize={quantize!r} (INT8 starts from float32)", precision)
    if dtype == "float16" and atol is None:
        atol = 1e-2
    if atol is not None and quantize:
        atol = None  # INT8 was never held to a parity bound
    return export(model, path, "onnx", precision=quantize or dtype, calibration_data=calibration_data,
                  min_agreement=min_agreement, verify=verify, atol=atol, opset=opset)


def export_litert(
    model, path, quantize=None, calibration_data=None, verify=True, int8_io=None, atol=None, min_agreement=None
) -> ExportReport:
    """Deprecated: ``export(model, path, "litert", precision=...)``.

    ``quantize``: ``None`` (float32), ``"float16"``, ``"dynamic"`` (``precision="dynamic_int8"``)
    or ``"int8"``. ``atol`` defaults to 1e-4 for float32 and 1e-2 for float16, as before.
    """
    _deprecated("export_litert", "litert")
    check_choice("quantize", quantize, tuple(_LITERT_QUANTIZE))
    precision = _LITERT_QUANTIZE[quantize]
    if precision == "float16" and atol is None:
        atol = 1e-2
    return export(model, path, "litert", precision=precision, calibration_data=calibration_data, verify=verify,
                  atol=atol, min_agreement=min_agreement, int8_io=int8_io)


def export_openvino(
    model, path, precision="float32", calibration_data=None, verify=True, atol=None, min_agreement=None,
    device="CPU",
) -> ExportReport:
    """Deprecated: ``export(model, path, "openvino", precision=...)`` (same precision names)."""
    _deprecated("export_openvino", "openvino")
    return export(model, path, "openvino", precision=precision, calibration_data=calibration_data,
                  verify=verify, atol=atol if precision == "float32" else None, min_agreement=min_agreement,
                  device=device)
