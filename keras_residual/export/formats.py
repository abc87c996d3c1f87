"""The export formats and the small interface each one implements.

A format is one module with three constants and four functions; `keras_residual.export.export`
does everything else (argument checks, the float32 reference, real images, the checks, the staging
folder, the report):

- ``NAME``: the ``format=`` name; ``PRECISIONS``: the precisions it writes (its row of
  ``keras_residual.precision.FORMAT_PRECISIONS``); ``SUFFIX``: the file suffix the target must
  have (``".onnx"``), or ``None`` when the target is a directory.
- ``check_options(model, path, precision, options) -> (target, options)``: check the
  format-specific keyword arguments (``ValueError`` naming each, through ``_validation``) before
  anything is written; return where the export will appear and the options with defaults filled.
- ``convert(job, work) -> Artifact``: write the file(s) for ``job`` (a `Job`) into the staging
  folder ``work``. Import the optional runtime here, with an ``ImportError`` naming the extra; raise
  ``ExportError`` for a model the format cannot hold (name the layers).
- ``load(artifact, job) -> run``: load the written file in the format's own runtime and return
  ``run(images) -> [float32 array per output]`` (``images``: float32 NHWC raw pixels; outputs in
  ``job.output_names`` order). The pipeline compares ``run`` with float32 Keras.
- ``publish(artifact, job)``: move the verified file(s) from the staging folder to ``job.target``
  through ``keras_residual._atomic``.

A format may reuse another's stages: ``formats.get("onnx").convert(job, work)`` inside a
format's ``convert`` gives the verified-to-be ONNX file (a Triton repository wraps it). Register a
new format with one line in `FORMATS` (or `register` at run time) and add one row to the
format x precision matrix in ``tests/export/test_matrix.py``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_residual._validation import check_choice

FORMATS: dict[str, str] = {
    "saved_model": "keras_residual.export.saved_model",
    "onnx": "keras_residual.export.onnx",
    "litert": "keras_residual.export.litert",
    "openvino": "keras_residual.export.openvino",
    "triton": "keras_residual.export.triton",
}
"""Format name -> the module implementing it (imported on first use)."""


@dataclasses.dataclass
class Job:
    """One export as the pipeline hands it to a format.

    Attributes:
        model: The model as passed in.
        source: Its float32 form (the model itself, or its float32 rebuild when it is mixed).
        precision: A name from the format's ``PRECISIONS``.
        size: ``(height, width, channels)`` of the check images.
        output_names: Names of the outputs, in order (``probabilities``, ``features`` or ``outputs``).
        calibration: INT8: raw-pixel images to calibrate ranges on; else ``None``.
        options: The format's options, checked by its ``check_options``.
        target: Where the export appears once verified.
    """

    model: Any
    source: Any
    precision: str
    size: tuple[int, int, int]
    output_names: tuple[str, ...]
    calibration: Any
    options: dict[str, Any]
    target: Path


@dataclasses.dataclass
class Artifact:
    """What a format's ``convert`` wrote into the staging folder.

    Attributes:
        path: The main file or directory in the staging folder.
        converter: The conversion path, for the report.
        runtime: The runtime ``load`` runs it in, for the report.
        op_counts: Operations by type, most frequent first.
        file_size: Bytes on disk, every file of the export.
        input_dtype: Dtype of the ``images`` input.
        execution_precision: What the runtime computes in, where it says.
        details: Format-specific figures for the report.
        reference: Maps Keras's float32 outputs to what the file returns (a SavedModel applies a
            softmax to logits), or ``None``.
        state: Anything the format passes from ``convert`` to ``load`` / ``publish``.
    """

    path: Path
    converter: str
    runtime: str = ""
    op_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    file_size: int = 0
    input_dtype: str = "float32"
    execution_precision: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    reference: Callable | None = None
    state: Any = None


def register(name: str, module: str) -> None:
    """Add (or replace) a format: ``name`` is what ``export(format=...)`` takes, ``module`` its import path."""
    FORMATS[name] = module


def get(name: str):
    """The module implementing format ``name``.

    Raises:
        ValueError: ``name`` is not a registered format (the message lists them).
    """
    check_choice("format", name, tuple(FORMATS))
    return importlib.import_module(FORMATS[name])


def take_options(name: str, options: dict, known: dict) -> dict:
    """``known`` (option name -> default) filled from ``options``; any other option is a ValueError."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"`format_options` of format {name!r} must be among {sorted(known)}; received {unknown}."
        )
    return {key: options.get(key, default) for key, default in known.items()}


def file_size(path: Path) -> int:
    """Bytes of a file, or of every file below a directory."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
