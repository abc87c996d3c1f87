"""Rebuild a Keras model under another dtype policy with the same weights.

Exporters use this to turn a model trained under ``mixed_float16`` / ``mixed_bfloat16`` into a
float32 serving graph (mixed-float16 graphs are slow on CPU serving and convert badly to ONNX), or
to opt a model into a ``mixed_bfloat16`` graph for GPU serving.
"""

from __future__ import annotations

import copy
from typing import Any

import keras

from keras_residual import precision

__all__ = ["is_mixed_precision", "policy_names", "rebuild_with_policy"]

_MIXED = ("mixed_float16", "mixed_bfloat16")
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy")


def _policy_name(value: Any) -> str | None:
    """The policy name held by a serialized ``dtype`` entry, or None if it is not a plain policy."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("class_name") in _POLICY_CLASSES:
        name = (value.get("config") or {}).get("name")
        return name if isinstance(name, str) else None
    return None


def _with_policy_name(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return name
    value = dict(value)
    value["config"] = {**value["config"], "name": name}
    return value


def _rewrite(node: Any, replace: dict[str, str], keep: frozenset[str]) -> Any:
    """Return a copy of a serialized config with every ``dtype`` policy renamed through ``replace``.

    Layers whose ``name`` is in ``keep`` (the model's output layers, when a float32 model is moved
    to bfloat16) keep their policy. ``InputLayer`` dtypes are tensor dtypes, never rewritten.
    """
    if isinstance(node, list):
        return [_rewrite(item, replace, keep) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("class_name") == "InputLayer" or node.get("class_name") == "__keras_tensor__":
        return node
    out = {}
    config_name = node.get("name")
    for key, value in node.items():
        if key == "dtype" and config_name not in keep:
            name = _policy_name(value)
            if name in replace:
                out[key] = _with_policy_name(value, replace[name])
                continue
        out[key] = _rewrite(value, replace, keep)
    return out


def policy_names(model: keras.Model) -> set[str]:
    """The dtype policy names of ``model`` and every layer in it (``{"float32"}`` for a plain model)."""
    return {layer.dtype_policy.name for layer in model._flatten_layers(include_self=True)}


def is_mixed_precision(model: keras.Model) -> bool:
    """Whether any layer of ``model`` runs under a policy other than float32 (mixed or pure float16/bfloat16).

    Example:
        ```python
        import keras
        from keras_residual.models.rebuild import is_mixed_precision

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, dtype="mixed_bfloat16")])
        assert is_mixed_precision(model)
        ```
    """
    return not policy_names(model) <= {"float32"}


def _output_layer_names(config: dict) -> frozenset[str]:
    inner = config.get("config") or {}
    if config.get("class_name") == "Sequential":
        layers = inner.get("layers") or []
        return frozenset([layers[-1]["config"]["name"]]) if layers else frozenset()
    outputs = inner.get("output_layers") or []
    if outputs and isinstance(outputs[0], str):  # a single output: [name, node, tensor]
        outputs = [outputs]
    return frozenset(item[0] for item in outputs if isinstance(item, list) and item)


def rebuild_with_policy(model: keras.Model, compute_dtype: str = "float32") -> keras.Model:
    """Rebuild ``model`` from its config under a float32 or bfloat16 compute policy, same weights.

    Every mixed policy in the serialized config (``mixed_float16``, ``mixed_bfloat16``) becomes
    ``float32`` (``compute_dtype="float32"``) or ``mixed_bfloat16`` (``compute_dtype="bfloat16"``).
    Layers that were explicitly float32 in a mixed model (the classifier head) stay float32, so the
    model still outputs float32. A float32 model asked for ``"bfloat16"`` moves every layer except
    its output layers to ``mixed_bfloat16``. Variables stay float32 in every case and are copied
    one by one (checked by shape). The global dtype policy is set to the target policy while the
    config is deserialized (so subclassed models that read it in their constructor follow) and
    restored afterwards. Works for Functional and Sequential models and for Functional subclasses
    with a correct ``get_config``/``from_config``.

    Args:
        model: A built Keras model.
        compute_dtype: ``"float32"`` (default) or ``"bfloat16"``; the precision names
            ``"auto"`` (float32) and ``"mixed_bfloat16"`` (bfloat16) are accepted too
            (``keras_residual.precision.SAVED_MODEL_PRECISIONS``).

    Returns:
        A new, uncompiled ``keras.Model``; ``model`` itself is not modified. When the model already
        runs in the requested precision, a rebuilt copy is still returned.

    Raises:
        ValueError: If ``compute_dtype`` is not one of the allowed values or the rebuilt model's
            variables do not match the original's.

    Example:
        ```python
        import keras
        from keras_residual.models.rebuild import rebuild_with_policy

        keras.mixed_precision.set_dtype_policy("mixed_float16")
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3)(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(2, activation="softmax", dtype="float32")(x)
        model = keras.Model(inputs, outputs)
        keras.mixed_precision.set_dtype_policy("float32")

        fp32 = rebuild_with_policy(model)
        assert fp32.layers[1].compute_dtype == "float32"
        ```
    """
    precision.check_precision("compute_dtype", compute_dtype, precision.SAVED_MODEL_PRECISIONS)
    compute = precision.compute_dtype(compute_dtype)
    target = "float32" if compute == "float32" else "mixed_bfloat16"
    config = keras.saving.serialize_keras_object(model)
    replace = {name: target for name in _MIXED}
    keep: frozenset[str] = frozenset()
    if compute == "bfloat16" and not (policy_names(model) & set(_MIXED)):
        replace["float32"] = target
        keep = _output_layer_names(config)
    config = _rewrite(copy.deepcopy(config), replace, keep)
    # Subclassed models that read the global policy in their constructor follow the target.
    with precision.dtype_policy(target):
        rebuilt = keras.saving.deserialize_keras_object(config)

    if not rebuilt.built:
        rebuilt.build(model.input_shape)
    source, dest = model.weights, rebuilt.weights
    if len(source) != len(dest):
        raise ValueError(
            f"rebuilt model has {len(dest)} variables but the original has {len(source)}; "
            "the model's get_config/from_config does not round-trip"
        )
    for src, dst in zip(source, dest, strict=True):
        if tuple(src.shape) != tuple(dst.shape):
            raise ValueError(
                f"variable {src.path!r} has shape {tuple(src.shape)} but the rebuilt "
                f"{dst.path!r} has {tuple(dst.shape)}; get_config/from_config does not round-trip"
            )
        dst.assign(keras.ops.cast(src.value, dst.dtype))
    return rebuilt
