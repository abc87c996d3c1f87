"""The ONNX format: tf2onnx from a frozen ``tf.function``, checked in ONNX Runtime.

The graph is converted from the model's float tensor endpoint: one input ``images``, float32 NHWC raw
pixels, dynamic batch, the model's preprocessing inside (see `convert_model`). ``float16``,
``int8`` (static QDQ, calibrated) and ``dynamic_int8`` files are derived from the float32 graph
(`keras_residual.export.onnx_quantize`). One format module of `keras_residual.export.formats`:
`check_options`, `convert`, `load`, `publish`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from keras_residual import contract
from keras_residual._atomic import atomic_path
from keras_residual._validation import check_int
from keras_residual.export import onnx_quantize
from keras_residual.export.formats import Artifact, file_size, take_options
from keras_residual.export.report import ExportError
from keras_residual.precision import FORMAT_PRECISIONS

NAME = "onnx"
PRECISIONS = FORMAT_PRECISIONS[NAME]
SUFFIX = ".onnx"
INPUT_NAME = contract.INPUT_IMAGES
DEFAULT_OPSET = 17
MIN_OPSET = 13  # QDQ per-channel quantization and the Squeeze/Unsqueeze forms tf2onnx emits today
_ORT_PROVIDERS = ["CPUExecutionProvider"]


def check_options(model, path: Path, precision: str, options: dict) -> tuple[Path, dict]:
    """``opset`` (13 to the newest tf2onnx knows; default 17) is the only ONNX option."""
    opset = take_options(NAME, options, {"opset": None})["opset"]
    max_opset = max(_tf2onnx().constants.OPSET_TO_IR_VERSION)
    return path, {"opset": check_int("opset", DEFAULT_OPSET if opset is None else opset, MIN_OPSET, max_opset)}


def convert(job, work: Path) -> Artifact:
    """Convert ``job.source`` to float32 ONNX and derive the float16 / INT8 file from it."""
    onnx, _ = _onnx_modules()
    float32 = work / "float32.onnx"
    onnx.save(convert_model(job.source, job.output_names, job.options["opset"]), str(float32))
    final = float32
    if job.precision == "float16":
        final = work / "float16.onnx"
        onnx.save(onnx_quantize.to_float16(onnx.load(str(float32))), str(final))
    elif job.precision == "int8":
        final = work / "int8.onnx"
        onnx_quantize.quantize_int8(float32, final, INPUT_NAME, job.calibration)
    elif job.precision == "dynamic_int8":
        final = work / "dynamic_int8.onnx"
        onnx_quantize.quantize_dynamic_int8(float32, final)
    size = file_size(final)
    return Artifact(
        path=final,
        converter="tf2onnx from_graph_def (frozen tf.function)"
        + ("" if final is float32 else f" -> {job.precision}"),
        op_counts=node_counts(onnx.load(str(final))),
        file_size=size,
        details={"opset": job.options["opset"], "float32_file_size": file_size(float32),
                 "size_reduction": file_size(float32) / size},
    )


def load(artifact: Artifact, job):
    """``onnx.checker`` (full) and an ONNX Runtime CPU session; returns ``run(images)``."""
    onnx, ort = _onnx_modules()
    try:
        onnx.checker.check_model(str(artifact.path), full_check=True)
        session = ort.InferenceSession(str(artifact.path), providers=_ORT_PROVIDERS)
    except Exception as err:
        raise ExportError(f"the converted graph is not valid ONNX ({type(err).__name__}: {err})") from err
    artifact.runtime = f"onnxruntime {ort.__version__} ({_ORT_PROVIDERS[0]})"

    def run(images: np.ndarray, batch_size: int = 16) -> list[np.ndarray]:
        chunks = [
            session.run(list(job.output_names), {INPUT_NAME: images[start : start + batch_size]})
            for start in range(0, len(images), batch_size)
        ]
        return [np.concatenate(parts).astype("float32") for parts in zip(*chunks, strict=True)]

    return run


def publish(artifact: Artifact, job) -> None:
    """Move the checked file onto ``job.target`` in one atomic rename."""
    with atomic_path(job.target) as tmp:
        os.replace(artifact.path, tmp)


def convert_model(model, output_names: tuple[str, ...], opset: int = DEFAULT_OPSET):
    """Convert a float32 Keras image model to an in-memory ``onnx.ModelProto`` with tf2onnx.

    A ``tf.function`` takes ``images`` (``[None, H, W, C]`` float32) and returns the model's
    outputs. Its concrete function is frozen (variables become constants) and converted with
    ``tf2onnx.convert.from_graph_def``: the steps of ``tf2onnx.convert.from_function`` plus one.
    Keras runs grouped convolutions (ResNeXt) on CPU as nested XLA functions marked no-inline, which
    tf2onnx would leave as unconvertible ``StatefulPartitionedCall`` nodes; clearing those markers
    lets TensorFlow's inliner flatten them into plain ``Conv(group=g)`` nodes. The graph input is
    renamed ``images``, the outputs ``output_names``, and the dynamic batch dimension ``batch``.

    Raises:
        ExportError: tf2onnx failed, or left TensorFlow ops it cannot convert (listed).

    Example:
        >>> proto = convert_model(model, ("probabilities",))  # doctest: +SKIP
    """
    tf2onnx = _tf2onnx()
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def serve(images):
        outputs = model(images, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [tf.cast(out, tf.float32) for out in outputs]

    tf2onnx_logger = logging.getLogger("tf2onnx")
    level = tf2onnx_logger.level
    tf2onnx_logger.setLevel(logging.CRITICAL)  # unsupported ops are reported by our own error below
    try:
        frozen = convert_variables_to_constants_v2(
            serve.get_concrete_function(), lower_control_flow=False, aggressive_inlining=True
        )
        graph_def = _allow_inlining(frozen.graph.as_graph_def(add_shapes=True))
        tensor_names = [frozen.inputs[0].name] + [out.name for out in frozen.outputs]
        proto, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=tensor_names[:1], output_names=tensor_names[1:], opset=opset
        )
    except Exception as err:
        raise ExportError(f"tf2onnx could not convert the model: {type(err).__name__}: {err}") from err
    finally:
        tf2onnx_logger.setLevel(level)
    missing = unsupported_ops(proto)
    if missing:
        listed = ", ".join(f"{op} ({count}x)" for op, count in missing.items())
        raise ExportError(
            f"the model uses TensorFlow ops that tf2onnx cannot convert: {listed}. Nothing was written. "
            "Keep image decoding (DecodeJpeg and friends) and other string ops outside the model: the "
            f"ONNX graph starts from the float tensor input {INPUT_NAME!r}."
        )
    for old, new in zip(tensor_names, (INPUT_NAME, *output_names), strict=True):
        _rename_tensor(proto.graph, old, new)
    for value in (*proto.graph.input, *proto.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        if not dim.HasField("dim_value"):
            dim.dim_param = "batch"
    return proto


def _allow_inlining(graph_def):
    """Clear XLA's must-compile / no-inline markers so the grappler inliner flattens those functions."""
    for node in graph_def.node:
        node.attr.pop("_XlaMustCompile", None)
    for function in graph_def.library.function:
        function.attr.pop("_noinline", None)
        function.attr.pop("_XlaMustCompile", None)
    return graph_def


def _rename_tensor(graph, old: str, new: str) -> None:
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new
    for node in _all_nodes(graph):
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


def unsupported_ops(model_proto) -> dict[str, int]:
    """Count the nodes (sub-graphs included) whose op type no ONNX opset defines.

    tf2onnx copies ops it cannot convert (``DecodeJpeg``, ``EncodePng``, ...) into the graph under
    their TensorFlow names and only logs an error; such a file fails ``onnx.checker`` and ONNX
    Runtime. This finds them before anything is written.

    Example:
        >>> unsupported_ops(proto)  # doctest: +SKIP
        {'DecodeJpeg': 1}
    """
    import onnx  # optional extra [onnx]

    found: Counter = Counter()
    for node in _all_nodes(model_proto.graph):
        if not onnx.defs.has(node.op_type, node.domain):
            found[node.op_type] += 1
    return dict(found)


def node_counts(model_proto) -> dict[str, int]:
    """Nodes of the main graph by op type, most frequent first.

    Example:
        >>> node_counts(onnx.load("model.onnx"))  # doctest: +SKIP
        {'Conv': 20, 'Relu': 17, 'Add': 9, 'Transpose': 1, ...}
    """
    return dict(Counter(node.op_type for node in model_proto.graph.node).most_common())


def _all_nodes(graph):
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                yield from _all_nodes(subgraph)


def _tf2onnx():
    try:
        import tf2onnx  # optional extra [onnx]: imported on use so export_saved_model works without it
    except ImportError as err:
        raise ImportError("ONNX export needs tf2onnx: pip install 'keras-residual[onnx]'") from err
    return tf2onnx


def _onnx_modules():
    try:  # optional extra [onnx]
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ImportError(
            "ONNX export needs onnx and onnxruntime: pip install 'keras-residual[onnx]'"
        ) from err
    return onnx, onnxruntime
