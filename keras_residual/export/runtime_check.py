"""The one verification stack every export format goes through.

`prepare_source` turns the model into the float32 reference (a mixed-precision model is rebuilt in
float32 with the same weights); `verify` runs the written file in its own runtime on real images
(`keras_residual.export.images`), holds float32 files to `keras_residual.export.report.TOLERANCE`
and reduced-precision files to a minimum top-1 agreement with float32 Keras on held-out images, and
fills the `ExportReport`. A failed check raises `ExportError` before anything is published.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from keras_residual._validation import fail
from keras_residual.contract import OUTPUT_FEATURES, OUTPUT_PROBABILITIES
from keras_residual.export.images import calibration_split, verification_images
from keras_residual.export.report import DEFAULT_IMAGE_SIZE, ExportError, ExportReport
from keras_residual.models.rebuild import is_mixed_precision, policy_names, rebuild_with_policy


@dataclasses.dataclass
class Source:
    """The float32 reference of an export: the model (or its float32 rebuild), its size and output names."""

    model: object
    rebuilt: bool
    size: tuple[int, int, int]
    output_names: tuple[str, ...]


def prepare_source(model, image_size=None, channels_first_ok: bool = False) -> Source:
    """Check ``model`` and return its float32 `Source`.

    Args:
        model: A built Keras model with one ``[batch, H, W, C]`` image input.
        image_size: ``(height, width)`` of the check images when the model does not fix them
            (default ``DEFAULT_IMAGE_SIZE`` square).
        channels_first_ok: Accept a ``channels_first`` model (its graph transposes NHWC input).

    Raises:
        ValueError: not a built single-image-input Keras model (channels-last unless allowed).
    """
    import keras

    if not isinstance(model, keras.Model):
        fail("model", "a keras.Model", type(model).__name__)
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError):
        fail("model", "a built model with a known input shape (call it once)", model.name)
    first = _channels_first(model)
    if first and not channels_first_ok:
        fail("model", "a channels_last model (the exported input is NHWC)", "data_format='channels_first'")
    if len(shape) != 4 or isinstance(shape[0], (list, tuple)) or shape[1 if first else -1] is None:
        fail("model", "a model with one [batch, H, W, C] image input", f"input_shape={shape}")
    channels, dims = (shape[1], shape[2:]) if first else (shape[-1], shape[1:3])
    if image_size is not None:
        dims = tuple(image_size)
    height, width = (DEFAULT_IMAGE_SIZE if d is None else int(d) for d in dims)
    rebuilt = is_mixed_precision(model)
    source = rebuild_with_policy(model, "float32") if rebuilt else model
    return Source(source, rebuilt, (height, width, int(channels)), output_names(source))


def _channels_first(model) -> bool:
    return getattr(model, "data_format", "channels_last") == "channels_first"


def verify(report: ExportReport, model, source: Source, run, held_out, tolerance, min_agreement, reference=None):
    """Compare a written file with float32 Keras and fill ``report``; raise `ExportError` when a check fails.

    ``run(images)`` returns the file's float32 outputs in ``source.output_names`` order; ``reference``
    (optional) maps Keras's outputs to what the file returns. Parity is measured on 16 real images
    (held to ``tolerance`` when set); with ``held_out`` images, the top-1 agreement with float32
    Keras is measured and held to ``min_agreement``.
    """
    images = verification_images(*source.size)
    expected = keras_outputs(source.model, images, reference)
    label = f"{report.format} {report.precision}"
    report.tolerance = tolerance
    report.max_abs_diff, report.max_rel_diff = compare(run(images), expected, source.output_names, tolerance, label)
    report.verify_images = len(images)
    if source.rebuilt:
        mixed = keras_outputs(model, images, reference)
        report.source_max_abs_diff = max(
            float(np.max(np.abs(m - e))) for m, e in zip(mixed, expected, strict=True)
        )
    if held_out is not None:
        want = keras_outputs(source.model, held_out, reference)[0]
        report.top1_agreement = top1_agreement(run(held_out)[0], want)
        report.heldout_images, report.min_agreement = len(held_out), min_agreement
        check_agreement(report.top1_agreement, min_agreement, label)


def split_images(calibration_data, size, reduced: bool):
    """``(calibration, held_out, source)`` for a reduced-precision export, ``(None, None, None)`` for float32."""
    if not reduced:
        return None, None, None
    return calibration_split(calibration_data, *size)


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
    """The name of ``model``'s dtype policy, or of its layers' when they differ from float32.

    A Functional model reloaded from ``.keras`` keeps ``float32`` on the model while its layers run
    ``mixed_bfloat16``: the layers' policy is the one that says how it computes.
    """
    own = getattr(model.dtype_policy, "name", str(model.dtype_policy))
    if own != "float32":
        return own
    others = sorted(policy_names(model) - {"float32"})
    return others[0] if others else own


def keras_outputs(model, images: np.ndarray, reference=None, batch_size: int = 16) -> list[np.ndarray]:
    """Run ``model`` on NHWC ``images`` in chunks; one float32 array per output (through ``reference``)."""
    import keras

    if _channels_first(model):
        images = np.transpose(images, (0, 3, 1, 2))
    parts = []
    for start in range(0, len(images), batch_size):
        out = model(images[start : start + batch_size], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        parts.append([keras.ops.convert_to_numpy(o).astype("float32") for o in out])
    outputs = [np.concatenate(chunk) for chunk in zip(*parts, strict=True)]
    return reference(outputs) if reference is not None else outputs


def compare(got: list[np.ndarray], expected: list[np.ndarray], names, tolerance: float | None, label: str):
    """Return ``(max_abs_diff, max_rel_diff)`` over every output; raise above ``tolerance`` (relative).

    The bound for an output is ``tolerance * max(1, max |expected|)``. ``tolerance=None`` only measures.

    Raises:
        ExportError: a shape mismatch, a non-finite value, or a difference above the bound.
    """
    worst_abs = worst_rel = 0.0
    for name, out, ref in zip(names, got, expected, strict=True):
        if out.shape != ref.shape:
            raise ExportError(
                f"{label}: output {name!r} has shape {out.shape}, Keras gives {ref.shape}"
            )
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        diff = float(np.max(np.abs(out.astype("float64") - ref))) if ref.size else 0.0
        bound = None if tolerance is None else tolerance * max(1.0, scale)
        if not np.isfinite(diff) or (bound is not None and diff > bound):
            raise ExportError(
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
    """Raise `ExportError` when ``minimum`` is set and ``agreement`` is below it (nothing is published)."""
    if minimum is not None and agreement < minimum:
        raise ExportError(
            f"{label}: top-1 agreement with float32 Keras is {100 * agreement:.1f}%, below "
            f"min_agreement={minimum:g}. Nothing was written."
        )


def check_calibration(calibration_data, reduced: bool) -> None:
    """Accept ``None``, ``"digits"``, a folder of images or an NHWC array; only for reduced precisions."""
    if calibration_data is None:
        return
    if not reduced:
        fail("calibration_data", "None for a float32 export", type(calibration_data).__name__)
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


def unsupported_error(fmt: str, model, op_types) -> ExportError:
    """A `ExportError` naming the layers that use ``op_types`` the ``fmt`` runtime cannot run."""
    by_layer = layers_using_ops(model, set(op_types)) or {"(unknown layer)": sorted(op_types)}
    listed = "; ".join(f"{layer} ({', '.join(ops)})" for layer, ops in sorted(by_layer.items()))
    return ExportError(
        f"{fmt} cannot run these layers: {listed}. Nothing was written. Keep such layers (image decoding, "
        "string ops, rare math) outside the exported model."
    )
