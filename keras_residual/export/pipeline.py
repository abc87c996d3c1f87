"""One entry point for every format: ``export(model, path, format, precision=...) -> ExportReport``.

The stages, the same for every format (`keras_residual.export.formats` describes what a format
implements): check the arguments, prepare the float32 reference and the real images, convert into a
hidden staging folder beside the target, load the file in its own runtime, verify it against
float32 Keras, publish it atomically. A failure at any stage raises and leaves nothing at the target.
"""

from __future__ import annotations

import time
from pathlib import Path

from keras_residual import precision as precision_lib
from keras_residual._atomic import staging_dir
from keras_residual._validation import check_bool, check_float, fail
from keras_residual.export import formats
from keras_residual.export import runtime_check as rc
from keras_residual.export.report import TOLERANCE, ExportReport


def export(
    model,
    path,
    format: str,
    *,
    precision: str = "float32",
    calibration_data=None,
    min_agreement: float | None = None,
    verify: bool = True,
    atol: float | None = None,
    **format_options,
) -> ExportReport:
    """Export an image model to ``format``, check it in that format's runtime, then publish it at ``path``.

    Every export takes ``images`` (float32 ``[batch, H, W, C]`` raw pixels, the model's
    preprocessing inside) and returns ``probabilities`` (or ``features`` / ``outputs``). A
    mixed-precision model is compared with its float32 rebuild (same weights). The file appears
    only after it ran in its own runtime and, with ``verify=True``, matched float32 Keras on real
    images: float32 within ``atol`` (default ``TOLERANCE``, relative to ``max(1, |Keras output|)``),
    reduced precisions with a top-1 agreement of at least ``min_agreement`` on held-out images.

    Args:
        model: A built Keras model with one image input.
        path: The target: a file with the format's suffix (``.onnx``, ``.tflite``, ``.xml``) or,
            for ``saved_model``, the model's base directory (the version goes below it).
        format: A registered format: ``"saved_model"``, ``"onnx"``, ``"litert"``, ``"openvino"``
            (`keras_residual.export.formats.FORMATS`).
        precision: What the file computes in, from the format's row of
            ``keras_residual.precision.FORMAT_PRECISIONS``.
        calibration_data: Reduced precisions: ``None``/``"digits"`` (128 digits calibrate INT8,
            360 held-out digits measure agreement), a folder of images or an NHWC array of raw
            pixels (first 3/4 calibrate, last 1/4 held out). Must be ``None`` for float32.
        min_agreement: Reduced precisions: the least top-1 agreement with float32 Keras on the
            held-out images (default ``keras_residual.precision.DEFAULT_MIN_AGREEMENT``, 0.99).
        verify: Compare with Keras (``False`` only loads the file in its runtime).
        atol: The relative parity bound; ``None`` is ``TOLERANCE`` for float32 and no bound (parity
            reported, agreement checked) for reduced precisions.
        **format_options: The format's own options (ONNX ``opset``; LiteRT ``int8_io``; OpenVINO
            ``device``; SavedModel ``version``, ``class_names``, ``top_k``, ``image_size``,
            ``resize``, ``warmup``, ``overwrite``, ``max_pixels``).

    Returns:
        An `ExportReport` (``print(report)`` gives a readable summary).

    Raises:
        ValueError: an unknown format, a precision the format does not write (the message names
            the supported ones), or another bad argument (named).
        ExportError: the model cannot be converted (layers listed) or a check failed; nothing is
            written at the target.
        ImportError: the format's extra is missing.

    Example:
        ```python
        import keras
        from keras_residual.export import export

        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
        print(export(model, "tiny.onnx", "onnx"))
        ```
    """
    started = time.perf_counter()
    fmt = formats.get(format)
    precision_lib.check_precision("precision", precision, fmt.PRECISIONS)
    reduced = precision != "float32"
    check_bool("verify", verify)
    tolerance = TOLERANCE if atol is None and not reduced else atol
    if tolerance is not None:
        tolerance = check_float("atol", tolerance, 0.0, min_inclusive=False)
    min_agreement = _check_min_agreement(min_agreement, reduced)
    rc.check_calibration(calibration_data, reduced)
    target, options = fmt.check_options(model, _check_target(path, fmt.SUFFIX), precision, dict(format_options))
    source = rc.prepare_source(model, options.get("image_size"), getattr(fmt, "CHANNELS_FIRST_OK", False))
    calibration, held_out, origin = rc.split_images(calibration_data, source.size, reduced)
    job = formats.Job(
        model, source.model, precision, source.size, source.output_names,
        calibration if precision == "int8" else None, options, target,
    )
    report = ExportReport(
        format=format, path=target, precision=precision, input_shape=(None, *source.size),
        output_names=source.output_names, source_policy=rc.policy_name(model), rebuilt_float32=source.rebuilt,
        calibration_source=origin, calibration_images=len(job.calibration) if job.calibration is not None else 0,
    )
    target.parent.mkdir(parents=True, exist_ok=True)  # only once every argument passed
    with staging_dir(target) as work:
        artifact = _timed(report, "convert", fmt.convert, job, work)
        run = _timed(report, "load", fmt.load, artifact, job)
        if verify:
            _timed(report, "verify", rc.verify, report, model, source, run, held_out, tolerance, min_agreement,
                   artifact.reference)
        _fill(report, artifact)
        _timed(report, "publish", fmt.publish, artifact, job)
    report.timings["total"] = time.perf_counter() - started
    return report


def _timed(report: ExportReport, stage: str, function, *args):
    started = time.perf_counter()
    try:
        return function(*args)
    finally:
        report.timings[stage] = time.perf_counter() - started


def _fill(report: ExportReport, artifact: formats.Artifact) -> None:
    report.runtime, report.converter = artifact.runtime, artifact.converter
    report.op_counts, report.file_size = artifact.op_counts, artifact.file_size
    report.input_dtype, report.execution_precision = artifact.input_dtype, artifact.execution_precision
    report.details.update(artifact.details)


def _check_target(path, suffix: str | None) -> Path:
    """A file target must have the format's suffix; a directory target is the format's to check."""
    path = Path(path)
    if suffix is not None and (path.suffix != suffix or path.is_dir()):
        fail("path", f"a {suffix} file path", str(path))
    return path


def _check_min_agreement(min_agreement, reduced: bool) -> float | None:
    if min_agreement is not None:
        min_agreement = check_float("min_agreement", min_agreement, 0.0, 1.0)
    if not reduced:
        return None
    return precision_lib.DEFAULT_MIN_AGREEMENT if min_agreement is None else min_agreement
