"""Export a Keras image model to ONNX through tf2onnx, checked in ONNX Runtime before the file appears.

The graph is converted from the model's float tensor endpoint: one input ``images``, float32 NHWC raw
pixels, dynamic batch, the model's preprocessing inside. Mixed-precision models are exported from a
float32 rebuild of the same weights, so every export has float32 parity. ``precision="float16"`` and
``quantize="int8"`` derive smaller files from the verified float32 graph (see `onnx_quantize`).

`export_onnx` runs four stages, each a function below: convert (`convert_model`), verify the
float32 graph against Keras, derive the float16 or INT8 file, publish it atomically.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from keras_residual import contract, precision
from keras_residual._atomic import atomic_path, staging_dir
from keras_residual._validation import check_bool, check_choice, check_int, check_positive_float, fail
from keras_residual.export import onnx_images, onnx_quantize
from keras_residual.models.rebuild import rebuild_with_policy

INPUT_NAME = contract.INPUT_IMAGES
PRECISIONS = precision.ONNX_PRECISIONS
QUANTIZATIONS = (None, "int8")
DEFAULT_OPSET = 17
MIN_OPSET = 13  # QDQ per-channel quantization and the Squeeze/Unsqueeze forms tf2onnx emits today
FLOAT32_ATOL = 1e-4
FLOAT16_ATOL = 1e-2
DEFAULT_IMAGE_SIZE = 224  # check images for models whose height/width are not fixed
_ORT_PROVIDERS = ["CPUExecutionProvider"]


class OnnxExportError(ValueError):
    """The model cannot be exported faithfully; nothing was written at the target path."""


@dataclasses.dataclass
class ExportReport:
    """What `export_onnx` wrote and how faithful it is.

    Attributes:
        path: The written ONNX file.
        opset: ONNX opset of the default domain.
        precision: ``"float32"`` or ``"float16"`` (weights and compute; inputs/outputs stay float32).
        quantize: ``None`` or ``"int8"`` (static QDQ, per-channel weights).
        input_shape: Shape of the ``images`` input, ``None`` for the dynamic batch.
        output_names: Graph output names, in order.
        node_counts: Nodes of the main graph by op type, most frequent first.
        file_size: Size of the written file in bytes.
        source_policy: Dtype policy of the model that was passed in.
        rebuilt_float32: Whether the graph came from a float32 rebuild (mixed-precision sources).
        atol: Tolerance the written file was checked against (``None`` when not checked).
        verify_images: Number of real images the Keras comparison used (0 when ``verify=False``).
        max_abs_diff: Max absolute difference of the written file vs Keras on those images.
        max_rel_diff: ``max_abs_diff`` divided by the largest absolute Keras output.
        float32_max_abs_diff: The same for the intermediate float32 graph (equal to ``max_abs_diff``
            for float32 exports).
        source_max_abs_diff: Max absolute difference of the float32 rebuild vs the mixed-precision
            source model itself (what mixed precision costs; ``None`` when no rebuild happened).
        float32_file_size: Size of the float32 graph in bytes.
        size_reduction: ``float32_file_size / file_size`` (1.0 for float32 exports).
        top1_agreement: INT8 only: fraction of held-out images whose top-1 class matches the float32
            graph.
        heldout_images: INT8 only: number of held-out images behind ``top1_agreement``.
        calibration_images: INT8 only: number of calibration images.
        calibration_source: INT8 only: ``"digits"``, the folder, or ``"array"``.
        seconds: Wall time of the whole export.

    Example:
        >>> report = export_onnx(model, "model.onnx")  # doctest: +SKIP
        >>> report.node_counts.get("BatchNormalization", 0)  # doctest: +SKIP
        0
    """

    path: Path
    opset: int
    precision: str
    quantize: str | None
    input_shape: tuple
    output_names: tuple[str, ...]
    node_counts: dict[str, int]
    file_size: int
    source_policy: str
    rebuilt_float32: bool
    atol: float | None = None
    verify_images: int = 0
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    float32_max_abs_diff: float | None = None
    source_max_abs_diff: float | None = None
    float32_file_size: int = 0
    size_reduction: float = 1.0
    top1_agreement: float | None = None
    heldout_images: int = 0
    calibration_images: int = 0
    calibration_source: str | None = None
    seconds: float = 0.0

    @property
    def num_nodes(self) -> int:
        """Total number of nodes in the main graph."""
        return sum(self.node_counts.values())

    def __str__(self) -> str:
        kind = self.precision + (f" + {self.quantize}" if self.quantize else "")
        dims = ", ".join("batch" if d is None else str(d) for d in self.input_shape)
        lines = [
            f"ONNX export: {self.path} ({_megabytes(self.file_size)}, opset {self.opset}, {kind})",
            f"  input    {INPUT_NAME}: float32 [{dims}] raw pixels, NHWC, preprocessing inside",
            f"  outputs  {', '.join(self.output_names)} (float32)",
            f"  source   {self.source_policy} model"
            + (", exported from its float32 rebuild" if self.rebuilt_float32 else ""),
            f"  graph    {self.num_nodes} nodes: "
            + ", ".join(f"{op} {count}" for op, count in self.node_counts.items()),
        ]
        if self.max_abs_diff is None:
            lines.append("  parity   not checked (verify=False)")
        else:
            lines.append(
                f"  parity   max abs diff {self.max_abs_diff:.2e}, max rel diff {self.max_rel_diff:.2e} "
                f"vs Keras on {self.verify_images} real images"
                + (f" (checked at atol {self.atol:g})" if self.atol is not None else " (not checked: int8)")
            )
        if self.source_max_abs_diff is not None:
            lines.append(
                f"  mixed    the {self.source_policy} model itself differs by {self.source_max_abs_diff:.2e}"
            )
        if self.quantize:
            lines.append(
                f"  int8     top-1 agreement with float32 {100 * self.top1_agreement:.1f}% on "
                f"{self.heldout_images} held-out images; calibrated on {self.calibration_images} "
                f"({self.calibration_source})"
            )
        if self.size_reduction != 1.0:
            lines.append(
                f"  size     {_megabytes(self.file_size)} vs {_megabytes(self.float32_file_size)} in float32 "
                f"(size reduction {self.size_reduction:.2f}x)"
            )
        lines.append(f"  time     {self.seconds:.1f} s")
        return "\n".join(lines)


def export_onnx(
    model,
    path,
    opset: int | None = None,
    precision: str = "float32",
    quantize: str | None = None,
    calibration_data=None,
    verify: bool = True,
    atol: float | None = None,
) -> ExportReport:
    """Export an image model to ONNX, load-check it in ONNX Runtime and compare it with Keras.

    The graph takes ``images``: float32 ``[batch, H, W, C]`` raw pixels (the model's preprocessing
    runs inside). It is converted with tf2onnx from a frozen ``tf.function`` over the model (see
    `convert_model`; never ``from_keras``, which is broken on Keras 3). Mixed-precision models are first
    rebuilt in float32 with the same weights. The file is written atomically, after ``onnx.checker``
    and an ONNX Runtime session accepted it and, with ``verify=True``, after its outputs matched
    Keras on real images; on any failure nothing is left at ``path``.

    Args:
        model: A built Keras model with one NHWC image input (float pixels).
        path: Target ``.onnx`` file; parent folders are created.
        opset: ONNX opset (13-18); ``None`` means 17.
        precision: A name from ``keras_residual.precision.ONNX_PRECISIONS``: ``"float32"`` (also
            ``"auto"``) or ``"float16"`` (also ``"mixed_float16"``): float16 weights and compute,
            float32 I/O.
        quantize: ``None`` or ``"int8"``: static INT8, QDQ format, per-channel weights, calibrated
            on real images. Needs ``precision="float32"``.
        calibration_data: For INT8: ``None``/``"digits"`` (128 digits calibrate, 360 held-out
            digits measure top-1 agreement), a folder of images, or an NHWC array of raw pixels
            (first 3/4 calibrate, last 1/4 held out).
        verify: Compare the file with Keras on 16 real images (two sample photos and 14 digits)
            and fail above the tolerance.
        atol: Tolerance of the check: it passes when ``max |onnx - keras| <= atol * max(1, max |keras|)``.
            ``None`` means 1e-4 for float32 and 1e-2 for float16; for INT8 it applies to the
            float32 graph the quantization starts from.

    Returns:
        An `ExportReport`; ``print(report)`` gives a readable summary.

    Raises:
        ValueError: an argument is out of range (the message names it and the allowed values).
        OnnxExportError: unsupported TensorFlow ops (listed), an invalid graph, or parity above the
            tolerance. Nothing is written.
        ImportError: the ``onnx`` extra is missing.

    Example:
        ```python
        import keras
        from keras_residual.export import export_onnx

        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
        report = export_onnx(model, "tiny.onnx")
        print(report)
        ```
    """
    started = time.perf_counter()
    args = _check_arguments(path, opset, precision, quantize, calibration_data, verify, atol)
    onnx, ort = _onnx_modules()
    export_model, rebuilt = _float32_model(model)
    shape = _image_size(export_model)
    output_names = _output_names(export_model)
    proto = convert_model(export_model, output_names, args.opset)
    report = ExportReport(
        path=args.path,
        opset=args.opset,
        precision=args.dtype,
        quantize=args.quantize,
        input_shape=(None, *export_model.input_shape[1:]),
        output_names=output_names,
        node_counts={},
        file_size=0,
        source_policy=_policy_name(model),
        rebuilt_float32=rebuilt,
    )
    args.path.parent.mkdir(parents=True, exist_ok=True)
    with staging_dir(args.path) as work:
        float32 = _Graph.save(onnx, ort, proto, work / "float32.onnx")
        report.float32_file_size = float32.size
        check = _verify_float32(float32, model, export_model, rebuilt, shape, args, report)
        final = _derive(onnx, ort, float32, work, shape, args, report)
        if check is not None:
            _verify_final(final, float32, check, args, report)
        _publish(final, args.path, report)
    report.seconds = time.perf_counter() - started
    return report


@dataclasses.dataclass(frozen=True)
class _Arguments:
    """``export_onnx``'s arguments, checked, with the defaults filled in."""

    path: Path
    opset: int
    dtype: str  # "float32" or "float16": what the final graph computes in
    quantize: str | None
    calibration_data: Any
    verify: bool
    atol: float


@dataclasses.dataclass
class _Graph:
    """One ONNX file in the work folder with its parsed proto and its ONNX Runtime session."""

    path: Path
    proto: Any
    session: Any

    @property
    def size(self) -> int:
        """Size of the file in bytes."""
        return self.path.stat().st_size

    @classmethod
    def save(cls, onnx, ort, proto, path: Path) -> _Graph:
        """Write ``proto`` to ``path`` and load it back (checker + session)."""
        onnx.save(proto, str(path))
        return cls(path, proto, _load(onnx, ort, path))

    @classmethod
    def load(cls, onnx, ort, path: Path) -> _Graph:
        """Load a file another tool wrote (checker + session)."""
        session = _load(onnx, ort, path)
        return cls(path, onnx.load(str(path)), session)


@dataclasses.dataclass
class _Check:
    """The real images of the parity check, Keras's outputs on them and the float32 graph's diffs."""

    images: np.ndarray
    reference: list[np.ndarray]
    float32_diffs: tuple[float, float]


def _verify_float32(float32, model, export_model, rebuilt, shape, args, report) -> _Check | None:
    """Stage 2: compare the float32 graph with Keras on real images (``None`` when ``verify=False``)."""
    if not args.verify:
        return None
    images = onnx_images.verification_images(*shape)
    reference = _keras_outputs(export_model, images)
    float32_atol = args.atol if args.dtype == "float32" else FLOAT32_ATOL
    names = report.output_names
    diffs = _check_parity(float32.session, names, images, reference, float32_atol, "float32")
    report.float32_max_abs_diff = diffs[0]
    report.verify_images = len(images)
    if rebuilt:
        source = _keras_outputs(model, images)
        report.source_max_abs_diff = max(_diffs(s, r)[0] for s, r in zip(source, reference, strict=True))
    return _Check(images, reference, diffs)


def _derive(onnx, ort, float32, work: Path, shape, args, report) -> _Graph:
    """Stage 3: the file to publish: the float32 graph itself, its float16 form, or its INT8 form."""
    if args.dtype == "float16":
        return _Graph.save(onnx, ort, onnx_quantize.to_float16(float32.proto), work / "float16.onnx")
    if args.quantize != "int8":
        return float32
    calibration, held_out, report.calibration_source = onnx_images.calibration_split(
        args.calibration_data, *shape
    )
    onnx_quantize.quantize_int8(float32.path, work / "int8.onnx", INPUT_NAME, calibration)
    int8 = _Graph.load(onnx, ort, work / "int8.onnx")
    report.top1_agreement = _top1_agreement(int8.session, float32.session, report.output_names[0], held_out)
    report.calibration_images, report.heldout_images = len(calibration), len(held_out)
    return int8


def _verify_final(final, float32, check: _Check, args, report) -> None:
    """Stage 3b: the parity of the file to publish (INT8 is reported, not held to ``atol``)."""
    report.atol = None if args.quantize else args.atol
    if final is float32:
        report.max_abs_diff, report.max_rel_diff = check.float32_diffs
        return
    report.max_abs_diff, report.max_rel_diff = _check_parity(
        final.session, report.output_names, check.images, check.reference, report.atol, args.dtype
    )


def _publish(final: _Graph, path: Path, report) -> None:
    """Stage 4: fill in the file's figures and move it to ``path`` in one atomic rename."""
    report.node_counts = node_counts(final.proto)
    report.file_size = final.size
    report.size_reduction = report.float32_file_size / report.file_size
    with atomic_path(path) as tmp:
        os.replace(final.path, tmp)


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
        OnnxExportError: tf2onnx failed, or left TensorFlow ops it cannot convert (listed).

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
        raise OnnxExportError(f"tf2onnx could not convert the model: {type(err).__name__}: {err}") from err
    finally:
        tf2onnx_logger.setLevel(level)
    missing = unsupported_ops(proto)
    if missing:
        listed = ", ".join(f"{op} ({count}x)" for op, count in missing.items())
        raise OnnxExportError(
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


def _check_arguments(path, opset, precision_name, quantize, calibration_data, verify, atol) -> _Arguments:
    """Check every argument of ``export_onnx`` and fill in the defaults."""
    path = Path(path)
    if path.is_dir():
        fail("path", "the target .onnx file, not a directory", str(path))
    precision.check_precision("precision", precision_name, PRECISIONS)
    dtype = precision.compute_dtype(precision_name)
    check_choice("quantize", quantize, QUANTIZATIONS)
    if quantize and dtype != "float32":
        fail("precision", f"'float32' when quantize={quantize!r} (INT8 starts from float32)", precision_name)
    max_opset = max(_tf2onnx().constants.OPSET_TO_IR_VERSION)
    opset = check_int("opset", DEFAULT_OPSET if opset is None else opset, MIN_OPSET, max_opset)
    if atol is None:
        atol = FLOAT16_ATOL if dtype == "float16" else FLOAT32_ATOL
    atol = check_positive_float("atol", atol)
    check_bool("verify", verify)
    _check_calibration_data(calibration_data, quantize)
    return _Arguments(path, opset, dtype, quantize, calibration_data, verify, atol)


def _check_calibration_data(calibration_data, quantize) -> None:
    if calibration_data is None:
        return
    if quantize is None:
        fail("calibration_data", "None unless quantize='int8'", calibration_data)
    if isinstance(calibration_data, np.ndarray):
        if calibration_data.ndim != 4:
            raise ValueError(
                "`calibration_data` must be an NHWC array of raw pixels; received calibration_data="
                f"an array of shape {calibration_data.shape}."
            )
        return
    if isinstance(calibration_data, (str, Path)):
        if str(calibration_data) == "digits" or Path(calibration_data).is_dir():
            return
        fail("calibration_data", "'digits' or a directory of images", str(calibration_data))
    fail(
        "calibration_data",
        "None, 'digits', a folder of images or an NHWC array of raw pixels",
        calibration_data,
    )


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


def _policy_name(model) -> str:
    return getattr(model.dtype_policy, "name", str(model.dtype_policy))


def _float32_model(model):
    """Return ``(float32 model, rebuilt)``: the model itself, or its float32 rebuild when any layer is mixed."""
    if not isinstance(model, keras.Model):
        fail("model", "a keras.Model", model)
    policies = {_policy_name(layer) for layer in model._flatten_layers(include_self=True)}
    if policies <= {"float32"}:
        return model, False
    return rebuild_with_policy(model, "float32"), True


def _image_size(model) -> tuple[int, int, int]:
    """``(height, width, channels)`` of the model's NHWC image input (224 where it is not fixed)."""
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError) as err:
        raise ValueError(
            "`model` must be built (call it once) before exporting; received a model with no input shape."
        ) from err
    if len(shape) != 4 or isinstance(shape[0], (list, tuple)):
        _bad_model(f"take one image batch [batch, H, W, C]; received a model with input shape {shape}")
    if getattr(model, "data_format", "channels_last") == "channels_first":
        _bad_model(
            f"be channels_last (the ONNX input {INPUT_NAME!r} is NHWC); received a model with "
            "data_format='channels_first': rebuild it channels_last"
        )
    if shape[-1] is None:
        _bad_model(f"have a known channel count (channels last); received a model with input shape {shape}")
    height, width = (DEFAULT_IMAGE_SIZE if d is None else int(d) for d in shape[1:3])
    return height, width, int(shape[-1])


def _bad_model(requirement: str) -> None:
    raise ValueError(f"`model` must {requirement}.")


def _output_names(model) -> tuple[str, ...]:
    """``probabilities`` for softmax classifiers, ``features`` for backbones, else ``outputs`` (or Keras's names)."""
    outputs = model.outputs if hasattr(model, "outputs") and model.outputs else None
    if outputs is not None and len(outputs) > 1:
        return tuple(model.output_names)
    if getattr(model, "include_top", None) is False:
        return (contract.OUTPUT_FEATURES,)
    activation = getattr(model.layers[-1], "activation", None) if model.layers else None
    if getattr(activation, "__name__", "") == "softmax" or getattr(model.layers[-1], "name", "") == "softmax":
        return (contract.OUTPUT_PROBABILITIES,)
    return ("outputs",)


def _load(onnx, ort, path: Path):
    try:
        onnx.checker.check_model(str(path), full_check=True)
        return ort.InferenceSession(str(path), providers=_ORT_PROVIDERS)
    except Exception as err:
        raise OnnxExportError(f"the converted graph is not valid ONNX ({type(err).__name__}: {err})") from err


def _keras_outputs(model, images: np.ndarray, batch_size: int = 16) -> list[np.ndarray]:
    chunks = []
    for start in range(0, len(images), batch_size):
        outputs = model(images[start : start + batch_size], training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        chunks.append([keras.ops.convert_to_numpy(out).astype("float32") for out in outputs])
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def _onnx_outputs(session, names, images: np.ndarray, batch_size: int = 16) -> list[np.ndarray]:
    chunks = [
        session.run(list(names), {INPUT_NAME: images[start : start + batch_size]})
        for start in range(0, len(images), batch_size)
    ]
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def _diffs(got: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    abs_diff = float(np.max(np.abs(got.astype("float64") - reference)))
    scale = float(np.max(np.abs(reference)))
    return abs_diff, abs_diff / scale if scale > 0 else abs_diff


def _check_parity(session, names, images, reference, atol, label):
    got = _onnx_outputs(session, names, images)
    worst_abs = worst_rel = 0.0
    for name, out, ref in zip(names, got, reference, strict=True):
        if out.shape != ref.shape:
            raise OnnxExportError(
                f"{label} ONNX output {name!r} has shape {out.shape}, Keras gives {ref.shape}"
            )
        abs_diff, rel_diff = _diffs(out, ref)
        bound = None if atol is None else atol * max(1.0, float(np.max(np.abs(ref))))
        if not np.isfinite(abs_diff) or (bound is not None and abs_diff > bound):
            raise OnnxExportError(
                f"{label} ONNX output {name!r} differs from Keras by {abs_diff:.3e} (max abs) on "
                f"{len(images)} real images, above atol {atol:g} x max(1, max|output|) = {bound:.3e}. "
                "Nothing was written."
            )
        worst_abs, worst_rel = max(worst_abs, abs_diff), max(worst_rel, rel_diff)
    return worst_abs, worst_rel


def _top1_agreement(session, reference_session, name, images) -> float:
    got = _onnx_outputs(session, [name], images)[0]
    expected = _onnx_outputs(reference_session, [name], images)[0]
    return float(np.mean(got.reshape(len(got), -1).argmax(-1) == expected.reshape(len(got), -1).argmax(-1)))


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"
