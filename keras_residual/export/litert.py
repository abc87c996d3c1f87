"""Export a Keras image model to LiteRT (``.tflite``), checked in the ``ai-edge-litert`` interpreter first.

The conversion is Keras's own ``model.export(format="litert")`` (ExportArchive -> SavedModel ->
``tf.lite.TFLiteConverter``) with its converter settings passed through: builtin ops only (no Flex
ops, which the LiteRT runtime cannot run without TensorFlow), and the quantization options below. The
model is wrapped so the signature reads ``images`` -> ``probabilities`` like every other export.
"""

from __future__ import annotations

import re
import time
from collections import Counter

from keras_residual._atomic import atomic_path
from keras_residual._validation import check_choice, fail
from keras_residual.contract import INPUT_IMAGES, SIGNATURE_IMAGES
from keras_residual.export import runtime_check as rc

QUANTIZATIONS = (None, "float16", "dynamic", "int8")
"""``quantize`` values: none (float32), float16 weights, dynamic-range INT8 weights, full-integer INT8."""

INT8_IO = (None, "uint8", "int8")
"""``int8_io`` values for full-integer INT8: float32 I/O (None, default) or integer input and output."""

FLOAT16_TOLERANCE = 1e-2
CONVERTER = "keras model.export(format='litert') -> TFLiteConverter, builtin ops"


def export_litert(
    model,
    path,
    quantize: str | None = None,
    calibration_data=None,
    verify: bool = True,
    int8_io: str | None = None,
    atol: float | None = None,
    min_agreement: float | None = None,
) -> rc.RuntimeExportReport:
    """Export an image model to a ``.tflite`` file, run it in LiteRT and compare it with Keras.

    The file has one signature, ``serving_default``: ``images`` (float32 ``[batch, H, W, C]`` raw
    pixels, dynamic batch, the model's preprocessing inside) to ``probabilities`` (or ``features`` /
    ``outputs``). Mixed-precision models are first rebuilt in float32 with the same weights. The
    file appears at ``path`` only after the ``ai-edge-litert`` interpreter ran it (XNNPACK) and,
    with ``verify=True``, its outputs matched Keras on real images.

    Args:
        model: A built Keras model with one NHWC image input.
        path: Target ``.tflite`` file; parent folders are created.
        quantize: ``None`` (float32), ``"float16"`` (float16 weights, half the file), ``"dynamic"``
            (INT8 weights, float activations, a quarter of the file) or ``"int8"`` (full-integer:
            weights and activations, ranges calibrated on real images).
        calibration_data: For ``"int8"``: ``None``/``"digits"`` (128 digits calibrate, 360 held-out
            digits measure top-1 agreement), a folder of images, or an NHWC array of raw pixels
            (first 3/4 calibrate, last 1/4 held out).
        verify: Compare with Keras on 16 real images (two sample photos, 14 digits) and, for
            ``"dynamic"``/``"int8"``, measure top-1 agreement on the held-out images.
        int8_io: With ``"int8"``: ``"uint8"`` or ``"int8"`` makes the input and output integer
            tensors (quantized with the scales in the file); ``None`` keeps float32 I/O.
        atol: Relative parity bound: ``max |litert - keras| <= atol * max(1, max |keras|)``; ``None``
            means 1e-4 (float32) and 1e-2 (float16). Dynamic and INT8 are judged by top-1 agreement.
        min_agreement: Refuse dynamic/INT8 files whose top-1 agreement is below this fraction.

    Returns:
        A `RuntimeExportReport`; ``print(report)`` gives a readable summary.

    Raises:
        ValueError: an argument is out of range (the message names it).
        RuntimeExportError: layers LiteRT cannot run (listed), or a failed check. Nothing is written.
        ImportError: the ``litert`` extra is missing.

    Example:
        ```python
        import keras
        from keras_residual.export import export_litert

        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ])
        report = export_litert(model, "digits.tflite", quantize="float16")
        print(report.max_rel_diff, report.op_counts)
        ```
    """
    started = time.perf_counter()
    path = rc.check_target(path, ".tflite")
    check_choice("quantize", quantize, QUANTIZATIONS)
    check_choice("int8_io", int8_io, INT8_IO)
    if int8_io is not None and quantize != "int8":
        fail("int8_io", "None unless quantize='int8'", int8_io)
    atol, min_agreement = rc.check_common(verify, atol, min_agreement)
    rc.check_calibration(calibration_data, quantize == "int8")
    interpreter_class = _interpreter_class()
    prepared = rc.prepare_source(model)
    source, size = prepared[0], prepared[2]
    report = rc.new_report(
        "litert", path, quantize or "float32", model, prepared, CONVERTER, int8_io or "float32"
    )
    calibration, held_out = rc.calibration_for(
        report, calibration_data, size, quantize == "int8", verify and quantize in ("dynamic", "int8")
    )
    path.parent.mkdir(parents=True, exist_ok=True)  # only once every argument passed
    with atomic_path(path) as tmp:
        _convert(source, report.output_names, tmp, quantize, int8_io, calibration)
        report.op_counts = op_counts(interpreter_class, tmp)
        if verify:
            interpreter = interpreter_class(model_path=str(tmp), num_threads=1)
            _verify(report, model, source, interpreter, size, held_out, atol, min_agreement)
        report.file_size = tmp.stat().st_size
    report.seconds = time.perf_counter() - started
    return report


def _convert(source, names, target, quantize, int8_io, calibration) -> None:
    """Keras's LiteRT exporter on a wrapper whose signature reads ``images`` -> named outputs."""
    import keras
    import tensorflow as tf

    inputs = keras.Input(source.input_shape[1:], name=INPUT_IMAGES)
    outputs = source(inputs, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    wrapper = keras.Model(inputs, dict(zip(names, outputs, strict=True)))
    settings: dict = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize:
        settings["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        settings["target_spec"]["supported_types"] = [tf.float16]
    if quantize == "int8":
        settings["target_spec"]["supported_ops"] = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        settings["representative_dataset"] = lambda: (
            [calibration[i : i + 1]] for i in range(len(calibration))
        )
        if int8_io:
            settings["inference_input_type"] = settings["inference_output_type"] = getattr(tf, int8_io)
    try:
        wrapper.export(str(target), format="litert", verbose=False, **settings)
    except Exception as err:  # ConverterError, or quantization refusing an op
        ops = _unsupported_ops(str(err))
        if ops:
            raise rc.unsupported_error("LiteRT", source, ops) from err
        raise rc.RuntimeExportError(f"LiteRT conversion failed: {type(err).__name__}: {err}") from err


_UNSUPPORTED = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_UNQUANTIZABLE = re.compile(
    r"'tfl\.(\w+)' op is not quantizable|Quantization not yet supported for op: '?(\w+)"
)


def _unsupported_ops(message: str) -> set[str]:
    """TensorFlow op types the converter named as not runnable by builtin LiteRT kernels."""
    found = set(_UNSUPPORTED.findall(message))
    found |= {a or b for a, b in _UNQUANTIZABLE.findall(message)}
    return found


def op_counts(interpreter_class, path) -> dict[str, int]:
    """Operators of a ``.tflite`` file by name, most frequent first (read without applying delegates)."""
    from ai_edge_litert.interpreter import OpResolverType

    plain = interpreter_class(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    return dict(Counter(op["op_name"] for op in plain._get_ops_details()).most_common())


def run_signature(interpreter, images, batch_size: int = 16) -> tuple[list, list[str]]:
    """Run ``serving_default`` on float32 images: ``(float32 outputs, their names)`` in signature order.

    Integer-I/O files are fed quantized pixels and their outputs dequantized with the file's own
    scales, so callers always compare float arrays.
    """
    import numpy as np

    runner = interpreter.get_signature_runner(SIGNATURE_IMAGES)
    in_detail = runner.get_input_details()[INPUT_IMAGES]
    out_details = runner.get_output_details()
    names = list(interpreter.get_signature_list()[SIGNATURE_IMAGES]["outputs"])
    chunks = []
    for start in range(0, len(images), batch_size):
        feed = _quantize(images[start : start + batch_size], in_detail, np)
        result = runner(**{INPUT_IMAGES: feed})
        chunks.append([_dequantize(result[name], out_details[name], np) for name in names])
    return [np.concatenate(part) for part in zip(*chunks, strict=True)], names


def _quantize(images, detail, np):
    if detail["dtype"] == np.float32:
        return images.astype("float32")
    scale, zero_point = detail["quantization"]
    limits = np.iinfo(detail["dtype"])
    return np.clip(np.round(images / scale + zero_point), limits.min, limits.max).astype(detail["dtype"])


def _dequantize(values, detail, np):
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    return ((values.astype("float32") - zero_point) * scale).astype("float32")


def _verify(report, model, source, interpreter, size, held_out, atol, min_agreement) -> None:
    """Parity (float32 / float16) or top-1 agreement (dynamic / INT8) of the file in the interpreter."""
    if report.variant in ("dynamic", "int8"):
        tolerance = None  # judged by top-1 agreement
    else:
        tolerance = atol or (rc.FLOAT32_TOLERANCE if report.variant == "float32" else FLOAT16_TOLERANCE)

    def run(images):
        outputs, names = run_signature(interpreter, images)
        return [outputs[names.index(name)] for name in report.output_names]

    rc.verify(report, model, source, run, size, held_out, tolerance, min_agreement)


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise ImportError("LiteRT export needs ai-edge-litert: pip install 'keras-residual[litert]'") from err
    return Interpreter
