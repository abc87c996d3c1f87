"""What the LiteRT and OpenVINO exporters share: the float32 source, names, runtime checks and the report.

Both exporters follow the ONNX exporter's contract: one input ``images`` (float32 NHWC raw pixels,
dynamic batch, the model's preprocessing inside), outputs named ``probabilities`` / ``features`` /
``outputs``, mixed-precision sources exported from a float32 rebuild, and a file that appears only
after it ran in its own runtime and matched Keras on real images.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from keras_residual._validation import check_bool, check_float, fail
from keras_residual.contract import INPUT_IMAGES, OUTPUT_FEATURES, OUTPUT_PROBABILITIES

FLOAT32_TOLERANCE = 1e-4
"""Float32 parity bound: ``max |runtime - keras| <= 1e-4 * max(1, max |keras|)``."""

DEFAULT_IMAGE_SIZE = 224
"""Height and width of the check images for models whose input size is not fixed."""


class RuntimeExportError(ValueError):
    """The model cannot be exported faithfully (unsupported layers, failed check); nothing was written."""


@dataclasses.dataclass
class RuntimeExportReport:
    """What `export_litert` or `export_openvino` wrote and how faithful it is.

    Attributes:
        format: ``"litert"`` or ``"openvino"``.
        path: The written file (``.tflite``, or the ``.xml`` of an OpenVINO IR pair).
        variant: What was written: ``"float32"``, ``"float16"``, ``"dynamic"``, ``"int8"`` or ``"bfloat16"``.
        input_dtype: Dtype of the ``images`` input (``uint8``/``int8`` for LiteRT INT8 with integer I/O).
        input_shape: Shape of ``images``, ``None`` for the dynamic batch.
        output_names: Output names, in order.
        op_counts: Operations of the graph by type, most frequent first.
        file_size: Bytes on disk (``.xml`` plus ``.bin`` for OpenVINO).
        source_policy: Dtype policy of the model that was passed in.
        rebuilt_float32: Whether the graph came from a float32 rebuild (mixed-precision sources).
        converter: The conversion path that produced the graph.
        execution_precision: The precision the runtime computed in while checking (OpenVINO's
            ``INFERENCE_PRECISION_HINT``; ``None`` for LiteRT).
        tolerance: Relative bound the parity was checked against; ``None`` when parity was only reported.
        verify_images: Real images behind the parity figures (0 with ``verify=False``).
        max_abs_diff: Max absolute difference from Keras on those images.
        max_rel_diff: ``max_abs_diff`` divided by the largest absolute Keras output.
        source_max_abs_diff: The float32 rebuild vs the mixed-precision source itself (what mixed
            precision costs; ``None`` without a rebuild).
        top1_agreement: Reduced-precision variants: fraction of held-out images whose top-1 class
            matches the float32 Keras model.
        heldout_images: Images behind ``top1_agreement``.
        calibration_images: INT8 only: images the ranges were calibrated on.
        calibration_source: INT8 only: ``"digits"``, the folder, or ``"array"``.
        seconds: Wall time of the whole export.
    """

    format: str
    path: Path
    variant: str
    input_dtype: str
    input_shape: tuple
    output_names: tuple[str, ...]
    source_policy: str
    rebuilt_float32: bool
    converter: str
    op_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    file_size: int = 0
    execution_precision: str | None = None
    tolerance: float | None = None
    verify_images: int = 0
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    source_max_abs_diff: float | None = None
    top1_agreement: float | None = None
    heldout_images: int = 0
    calibration_images: int = 0
    calibration_source: str | None = None
    seconds: float = 0.0

    @property
    def num_ops(self) -> int:
        """Total number of operations in the graph."""
        return sum(self.op_counts.values())

    def __str__(self) -> str:
        dims = ", ".join("batch" if d is None else str(d) for d in self.input_shape)
        size = f"{self.file_size / 1e6:.2f} MB" if self.file_size >= 1e5 else f"{self.file_size / 1e3:.1f} kB"
        lines = [
            f"{self.format} export: {self.path} ({size}, {self.variant})",
            f"  input    {INPUT_IMAGES}: {self.input_dtype} [{dims}] raw pixels, NHWC, preprocessing inside",
            f"  outputs  {', '.join(self.output_names)}",
            f"  source   {self.source_policy} model"
            + (", exported from its float32 rebuild" if self.rebuilt_float32 else "")
            + f"; converted by {self.converter}",
            f"  graph    {self.num_ops} ops: " + ", ".join(f"{op} {n}" for op, n in self.op_counts.items()),
        ]
        if self.execution_precision:
            lines.append(f"  runtime  checked with inference precision {self.execution_precision}")
        if self.max_abs_diff is None:
            lines.append("  parity   not checked (verify=False)")
        else:
            checked = f"checked at {self.tolerance:g} relative" if self.tolerance else "reported, not a check"
            lines.append(
                f"  parity   max abs diff {self.max_abs_diff:.2e}, max rel diff {self.max_rel_diff:.2e} "
                f"vs Keras on {self.verify_images} real images ({checked})"
            )
        if self.source_max_abs_diff is not None:
            lines.append(
                f"  mixed    the {self.source_policy} model itself differs by {self.source_max_abs_diff:.2e}"
            )
        if self.top1_agreement is not None:
            calibrated = (
                f"; calibrated on {self.calibration_images} ({self.calibration_source})"
                if self.calibration_images
                else ""
            )
            lines.append(
                f"  top-1    agreement with float32 Keras {100 * self.top1_agreement:.1f}% on "
                f"{self.heldout_images} held-out images{calibrated}"
            )
        lines.append(f"  time     {self.seconds:.1f} s")
        return "\n".join(lines)


def prepare_source(model):
    """Check ``model`` and return ``(float32 model, rebuilt, (height, width, channels), output_names)``.

    A model with any mixed-precision layer is rebuilt in float32 with the same weights
    (`rebuild_with_policy`), so every export starts from a float32 graph.

    Raises:
        ValueError: not a built single-image-input channels-last Keras model.
    """
    import keras

    if not isinstance(model, keras.Model):
        fail("model", "a keras.Model", type(model).__name__)
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError):
        fail("model", "a built model with a known input shape (call it once)", model.name)
    if len(shape) != 4 or isinstance(shape[0], (list, tuple)) or shape[-1] is None:
        fail("model", "a model with one [batch, H, W, C] image input", f"input_shape={shape}")
    if getattr(model, "data_format", "channels_last") == "channels_first":
        fail("model", "a channels_last model (the exported input is NHWC)", "data_format='channels_first'")
    names = {layer.dtype_policy.name for layer in model._flatten_layers(include_self=True)}
    rebuilt = not names <= {"float32"}
    if rebuilt:
        from keras_residual.models.rebuild import rebuild_with_policy

        model = rebuild_with_policy(model, "float32")
    height, width = (DEFAULT_IMAGE_SIZE if d is None else int(d) for d in shape[1:3])
    return model, rebuilt, (height, width, int(shape[-1])), output_names(model)


def new_report(fmt: str, path, variant: str, model, prepared, converter: str, input_dtype="float32"):
    """A `RuntimeExportReport` for ``model`` and the result of `prepare_source` on it."""
    _, rebuilt, (height, width, channels), names = prepared
    return RuntimeExportReport(
        format=fmt,
        path=path,
        variant=variant,
        input_dtype=input_dtype,
        input_shape=(None, height, width, channels),
        output_names=names,
        source_policy=policy_name(model),
        rebuilt_float32=rebuilt,
        converter=converter,
    )


def calibration_for(report, calibration_data, size, int8: bool, agreement: bool):
    """``(calibration, held_out)`` images when INT8 needs ranges or a top-1 agreement is measured.

    Returns ``(None, None)`` when neither is needed; records the calibration source on ``report``.
    """
    if not (int8 or agreement):
        return None, None
    from keras_residual.export.onnx_images import calibration_split

    calibration, held_out, source = calibration_split(calibration_data, *size)
    if int8:
        report.calibration_images, report.calibration_source = len(calibration), source
    return calibration, held_out


def verify(report, model, source, run, size, held_out, tolerance, min_agreement) -> None:
    """Compare a written file with Keras and fill ``report``; raise when a check fails.

    ``run(images)`` returns the file's float32 outputs in ``report.output_names`` order. Parity is
    measured on 16 real images (checked when ``tolerance`` is set); with ``held_out`` images, the
    top-1 agreement with the float32 Keras model is measured too (checked against ``min_agreement``).
    """
    from keras_residual.export.onnx_images import verification_images

    images = verification_images(*size)
    reference = keras_outputs(source, images)
    label = f"{report.format} {report.variant}"
    report.tolerance = tolerance
    report.max_abs_diff, report.max_rel_diff = compare(
        run(images), reference, report.output_names, tolerance, label
    )
    report.verify_images = len(images)
    if report.rebuilt_float32:
        mixed = keras_outputs(model, images)
        report.source_max_abs_diff = max(
            float(np.max(np.abs(m - r))) for m, r in zip(mixed, reference, strict=True)
        )
    if held_out is not None:
        expected = keras_outputs(source, held_out)[0]
        report.top1_agreement = top1_agreement(run(held_out)[0], expected)
        report.heldout_images = len(held_out)
        check_agreement(report.top1_agreement, min_agreement, label)


def output_names(model) -> tuple[str, ...]:
    """``probabilities`` for softmax classifiers, ``features`` for backbones, else ``outputs`` (or Keras's names)."""
    if len(model.outputs or ()) > 1:
        return tuple(model.output_names)
    if getattr(model, "include_top", None) is False:
        return (OUTPUT_FEATURES,)
    last = model.layers[-1] if model.layers else None
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    return (OUTPUT_PROBABILITIES,) if "softmax" in (activation, getattr(last, "name", "")) else ("outputs",)


def policy_name(model) -> str:
    """The name of ``model``'s dtype policy."""
    return getattr(model.dtype_policy, "name", str(model.dtype_policy))


def keras_outputs(model, images: np.ndarray, batch_size: int = 16) -> list[np.ndarray]:
    """Run ``model`` on ``images`` in chunks; one float32 array per output."""
    import keras

    parts = []
    for start in range(0, len(images), batch_size):
        out = model(images[start : start + batch_size], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        parts.append([keras.ops.convert_to_numpy(o).astype("float32") for o in out])
    return [np.concatenate(chunk) for chunk in zip(*parts, strict=True)]


def compare(got: list[np.ndarray], expected: list[np.ndarray], names, tolerance: float | None, label: str):
    """Return ``(max_abs_diff, max_rel_diff)`` over every output; raise above ``tolerance`` (relative).

    The bound for an output is ``tolerance * max(1, max |expected|)``. ``tolerance=None`` only measures.

    Raises:
        RuntimeExportError: a shape mismatch, a non-finite value, or a difference above the bound.
    """
    worst_abs = worst_rel = 0.0
    for name, out, ref in zip(names, got, expected, strict=True):
        if out.shape != ref.shape:
            raise RuntimeExportError(
                f"{label}: output {name!r} has shape {out.shape}, Keras gives {ref.shape}"
            )
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        diff = float(np.max(np.abs(out.astype("float64") - ref))) if ref.size else 0.0
        bound = None if tolerance is None else tolerance * max(1.0, scale)
        if not np.isfinite(diff) or (bound is not None and diff > bound):
            raise RuntimeExportError(
                f"{label}: output {name!r} differs from Keras by {diff:.3e} (max abs) on {len(ref)} real "
                f"images, above {tolerance:g} x max(1, max|output|) = {bound:.3e}. Nothing was written."
            )
        worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, diff / scale if scale > 0 else diff)
    return worst_abs, worst_rel


def top1_agreement(got: np.ndarray, expected: np.ndarray) -> float:
    """Fraction of rows whose argmax matches (outputs flattened per image)."""
    got, expected = got.reshape(len(got), -1), expected.reshape(len(expected), -1)
    return float(np.mean(got.argmax(-1) == expected.argmax(-1)))


def check_agreement(agreement: float, minimum: float | None, label: str) -> None:
    """Raise `RuntimeExportError` when ``minimum`` is set and ``agreement`` is below it."""
    if minimum is not None and agreement < minimum:
        raise RuntimeExportError(
            f"{label}: top-1 agreement with float32 Keras is {100 * agreement:.1f}%, below "
            f"min_agreement={minimum:g}. Nothing was written."
        )


def check_common(verify, tolerance, min_agreement) -> tuple[float | None, float | None]:
    """Validate the arguments both exporters take; returns ``(tolerance, min_agreement)`` as floats."""
    check_bool("verify", verify)
    if tolerance is not None:
        tolerance = check_float("atol", tolerance, 0.0, min_inclusive=False)
    if min_agreement is not None:
        min_agreement = check_float("min_agreement", min_agreement, 0.0, 1.0)
    return tolerance, min_agreement


def check_target(path, suffix: str) -> Path:
    """Return ``path`` as a ``Path`` if it names a ``suffix`` file (not a directory)."""
    path = Path(path)
    if path.suffix != suffix or path.is_dir():
        fail("path", f"a {suffix} file path", str(path))
    return path


def check_calibration(calibration_data, quantized: bool) -> None:
    """Accept ``None``, ``"digits"``, a folder of images or an NHWC array; only for quantized exports."""
    if calibration_data is None:
        return
    if not quantized:
        fail("calibration_data", "None unless the export is INT8", type(calibration_data).__name__)
    if isinstance(calibration_data, np.ndarray) and calibration_data.ndim == 4:
        return
    if isinstance(calibration_data, (str, Path)) and (
        str(calibration_data) == "digits" or Path(calibration_data).is_dir()
    ):
        return
    fail(
        "calibration_data",
        "None, 'digits', a folder of images or an NHWC array of raw pixels",
        calibration_data,
    )


_TF_SCOPE_SUFFIX = re.compile(r"_\d+$")


def layers_using_ops(model, op_types) -> dict[str, list[str]]:
    """Map each layer of ``model`` whose TensorFlow graph uses one of ``op_types`` to those op types.

    The model is traced once into a ``tf.function`` graph; each node's name scope names the Keras
    layer that created it (Keras appends ``_1``, ``_2`` to scopes, which are ignored). Ops outside
    any layer are listed under ``"(model)"``.

    Example:
        >>> layers_using_ops(model, {"Cumprod"})  # doctest: +SKIP
        {'running_product': ['Cumprod']}
    """
    import tensorflow as tf

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph.as_graph_def()
    nodes = list(graph.node) + [n for function in graph.library.function for n in function.node_def]
    layer_names = {layer.name for layer in model._flatten_layers(include_self=False)}
    found: dict[str, list[str]] = {}
    for node in nodes:
        if node.op not in op_types:
            continue
        scopes = [_TF_SCOPE_SUFFIX.sub("", part) for part in node.name.split("/")[:-1]]
        owner = next((s for s in reversed(scopes) if s in layer_names), "(model)")
        if node.op not in found.setdefault(owner, []):
            found[owner].append(node.op)
    return found


def unsupported_error(fmt: str, model, op_types) -> RuntimeExportError:
    """A `RuntimeExportError` naming the layers that use ``op_types`` the ``fmt`` runtime cannot run."""
    by_layer = layers_using_ops(model, set(op_types)) or {"(unknown layer)": sorted(op_types)}
    listed = "; ".join(f"{layer} ({', '.join(ops)})" for layer, ops in sorted(by_layer.items()))
    return RuntimeExportError(
        f"{fmt} cannot run these layers: {listed}. Nothing was written. Keep such layers (image decoding, "
        "string ops, rare math) outside the exported model."
    )
