"""The LiteRT format (``.tflite``), checked in the ``ai-edge-litert`` interpreter.

The conversion is Keras's own ``model.export(format="litert")`` (ExportArchive -> SavedModel ->
``tf.lite.TFLiteConverter``) with its converter settings passed through: builtin ops only (no Flex
ops, which the LiteRT runtime cannot run without TensorFlow), float16 weights, dynamic-range INT8
or full-integer INT8 calibrated on real images. The model is wrapped so the signature reads
``images`` -> ``probabilities`` like every other export. One format module of
`keras_residual.export.formats`: `check_options`, `convert`, `load`, `publish`.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from keras_residual._atomic import atomic_path
from keras_residual._validation import check_choice, fail
from keras_residual.contract import INPUT_IMAGES, SIGNATURE_IMAGES
from keras_residual.export import runtime_check as rc
from keras_residual.export.formats import Artifact, file_size, take_options
from keras_residual.export.report import ExportError
from keras_residual.precision import FORMAT_PRECISIONS

NAME = "litert"
PRECISIONS = FORMAT_PRECISIONS[NAME]
SUFFIX = ".tflite"

INT8_IO = (None, "uint8", "int8")
"""``int8_io`` values for full-integer INT8: float32 I/O (None, default) or integer input and output."""

CONVERTER = "keras model.export(format='litert') -> TFLiteConverter, builtin ops"


def check_options(model, path: Path, precision: str, options: dict) -> tuple[Path, dict]:
    """``int8_io``: with ``precision="int8"``, ``"uint8"`` or ``"int8"`` makes the input and output integer."""
    options = take_options(NAME, options, {"int8_io": None})
    check_choice("int8_io", options["int8_io"], INT8_IO)
    if options["int8_io"] is not None and precision != "int8":
        fail("int8_io", "None unless precision='int8'", options["int8_io"])
    return path, options


def convert(job, work: Path) -> Artifact:
    """Keras's LiteRT exporter with builtin ops and the precision's quantization settings."""
    target = work / "model.tflite"
    _convert(job.source, job.output_names, target, job.precision, job.options["int8_io"], job.calibration)
    return Artifact(
        path=target,
        converter=CONVERTER,
        op_counts=op_counts(_interpreter_class(), target),
        file_size=file_size(target),
        input_dtype=job.options["int8_io"] or "float32",
        details={"int8_io": job.options["int8_io"]} if job.options["int8_io"] else {},
    )


def load(artifact: Artifact, job):
    """The ``ai-edge-litert`` interpreter (XNNPACK); returns ``run(images)`` with float outputs."""
    interpreter = _interpreter_class()(model_path=str(artifact.path), num_threads=1)
    artifact.runtime = "ai-edge-litert interpreter (XNNPACK, 1 thread)"

    def run(images):
        outputs, names = run_signature(interpreter, images)
        return [outputs[names.index(name)] for name in job.output_names]

    return run


def publish(artifact: Artifact, job) -> None:
    """Move the checked file onto ``job.target`` in one atomic rename."""
    with atomic_path(job.target) as tmp:
        os.replace(artifact.path, tmp)


def _convert(source, names, target, precision, int8_io, calibration) -> None:
    """Keras's LiteRT exporter on a wrapper whose signature reads ``images`` -> named outputs."""
    import keras
    import tensorflow as tf

    inputs = keras.Input(source.input_shape[1:], name=INPUT_IMAGES)
    outputs = source(inputs, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    wrapper = keras.Model(inputs, dict(zip(names, outputs, strict=True)))
    settings: dict = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if precision != "float32":
        settings["optimizations"] = [tf.lite.Optimize.DEFAULT]  # alone: dynamic-range INT8
    if precision == "float16":
        settings["target_spec"]["supported_types"] = [tf.float16]
    if precision == "int8":
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
        raise ExportError(f"LiteRT conversion failed: {type(err).__name__}: {err}") from err


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


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise ImportError("LiteRT export needs ai-edge-litert: pip install 'keras-residual[litert]'") from err
    return Interpreter
