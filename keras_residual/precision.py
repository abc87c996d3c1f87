"""One precision vocabulary for training, every exporter and the CLI.

The names are Keras dtype-policy names plus two pure compute dtypes and ``"auto"``:

| name | training | SavedModel | ONNX | meaning |
|---|---|---|---|---|
| ``auto`` | yes | yes | yes | training: :func:`resolve_precision`; SavedModel: the measured serving dtype of this CPU class; ONNX: float32 |
| ``float32`` | yes | yes | yes | float32 variables and compute |
| ``mixed_float16`` | yes | no | yes (= ``float16``) | float32 variables, float16 compute |
| ``mixed_bfloat16`` | yes | yes (= ``bfloat16``) | no | float32 variables, bfloat16 compute |
| ``float16`` | no | no | yes | float16 weights and compute, float32 I/O |
| ``bfloat16`` | no | yes | no | a ``mixed_bfloat16`` serving graph |

Each consumer accepts the subset that makes sense for it and maps a training policy to the dtype
its graph computes in with :func:`compute_dtype`.

Exports speak a vocabulary of their own, what the exported file computes in (``EXPORT_PRECISIONS``):
``float32``, ``float16``, ``bfloat16``, ``int8`` (weights and activations, ranges calibrated on real
images) and ``dynamic_int8`` (INT8 weights, float activations). ``keras_residual.export.export``
checks ``precision=`` against the format's row of ``FORMAT_PRECISIONS``:

| format | float32 | float16 | bfloat16 | int8 | dynamic_int8 |
|---|---|---|---|---|---|
| ``saved_model`` | yes | no | yes (a ``mixed_bfloat16`` graph) | no | no |
| ``onnx`` | yes | yes (float32 I/O) | no | yes (QDQ, per-channel) | yes (ONNX Runtime dynamic) |
| ``litert`` | yes | yes (float16 weights) | no | yes (full integer) | yes |
| ``openvino`` | yes | no | yes (bf16 inference hint, float16-compressed weights) | yes (NNCF) | no |
| ``triton`` | its backend's row: ``onnxruntime`` as ``onnx``, ``openvino`` as ``openvino`` | | | | |

Every precision but ``float32`` is reduced: its export is refused below a top-1 agreement with
float32 Keras on held-out images (``min_agreement``, default ``DEFAULT_MIN_AGREEMENT``). This module imports neither TensorFlow nor Keras
at import time, so the CLI and the TensorFlow-free client can use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from keras_residual._validation import check_choice
from keras_residual.precision_table import fastest_policy, gpu_class

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16", "float16", "bfloat16")
"""Every precision name the package knows."""

TRAINING_PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
"""Names accepted by ``train(precision=...)`` / ``keras-residual train --precision``."""

SAVED_MODEL_PRECISIONS = ("auto", "float32", "mixed_bfloat16", "bfloat16")
"""Names accepted by the deprecated ``export_saved_model(compute_dtype=...)`` / ``export saved-model --compute-dtype``."""

ONNX_PRECISIONS = ("auto", "float32", "mixed_float16", "float16")
"""Names accepted by the deprecated ``export_onnx(precision=...)`` / ``export onnx --precision``."""

EXPORT_PRECISIONS = ("float32", "float16", "bfloat16", "int8", "dynamic_int8")
"""What an exported file computes in: ``keras_residual.export.export(precision=...)``."""

FORMAT_PRECISIONS = {
    "saved_model": ("float32", "bfloat16"),
    "onnx": ("float32", "float16", "int8", "dynamic_int8"),
    "litert": ("float32", "float16", "int8", "dynamic_int8"),
    "openvino": ("float32", "bfloat16", "int8"),
    "triton": ("float32", "float16", "bfloat16", "int8", "dynamic_int8"),  # each backend held to its own row
}
"""The format x precision support table (see the module docstring); a format module's ``PRECISIONS``."""

DEFAULT_MIN_AGREEMENT = 0.99
"""Top-1 agreement with float32 Keras on held-out images below which a reduced-precision export is refused."""

OPENVINO_PRECISIONS = FORMAT_PRECISIONS["openvino"]
"""Names accepted by the deprecated ``export_openvino(precision=...)``."""

_COMPUTE = {
    "auto": "float32",
    "float32": "float32",
    "mixed_float16": "float16",
    "float16": "float16",
    "mixed_bfloat16": "bfloat16",
    "bfloat16": "bfloat16",
}


def check_precision(name: str, value: str, allowed: tuple[str, ...] = PRECISIONS) -> str:
    """Return ``value`` if it is one of ``allowed`` (a subset of :data:`PRECISIONS`).

    Raises:
        ValueError: naming the argument, the allowed names and the value received.
    """
    return check_choice(name, value, allowed)


def compute_dtype(precision: str) -> str:
    """The dtype a graph computes in for a precision name: ``"float32"``, ``"float16"`` or ``"bfloat16"``.

    ``"auto"`` maps to ``"float32"`` here; the SavedModel exporter resolves its own ``"auto"`` from
    the serving measurements (``keras_residual.export.saved_model.auto_serving_dtype``).

    Example:
        ```python
        from keras_residual.precision import compute_dtype

        assert compute_dtype("mixed_bfloat16") == "bfloat16"
        assert compute_dtype("float32") == "float32"
        ```
    """
    return _COMPUTE[check_precision("precision", precision)]


def _gpu_compute_capabilities() -> list[tuple[int, int]]:
    import tensorflow as tf  # only the "auto" rule looks at devices

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        if capability:
            capabilities.append(tuple(int(v) for v in capability))
    return capabilities


def _has_tpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("TPU"))


def _device_class() -> str:
    """The class :mod:`keras_residual.precision_table` keys on for this machine's training devices."""
    if _has_tpu():
        return "tpu"
    capabilities = _gpu_compute_capabilities()
    if capabilities:
        oldest = min(capabilities)  # every replica must support the policy
        return gpu_class(oldest) or f"gpu-cc{oldest[0]}.{oldest[1]}"
    from keras_residual.hardware import detect_cpu

    return detect_cpu().device_class


def resolve_precision(precision: str = "auto") -> str:
    """Return the dtype policy name to train with.

    ``"auto"`` is a fast table lookup, not a guess: the device class (TPU; the oldest GPU's compute
    capability; else the CPU's class from its flags, :mod:`keras_residual.hardware`) selects the policy
    that trained fastest there in the measurements recorded in :mod:`keras_residual.precision_table`
    (ties within 5% go to the policy with fewer numerical hazards; classes with no record get
    ``float32``). As recorded: ``mixed_bfloat16`` on TPUs and on GPUs with compute capability >= 8.0,
    ``mixed_float16`` on 7.x, ``float32`` on older GPUs and on CPUs without native bfloat16 (an AVX2 EPYC
    trains ResNet-50 at 0.16x under ``mixed_bfloat16``), and ``mixed_bfloat16`` on AMX CPUs (1.32x faster,
    digits accuracy over 5 seeds per policy 99.61% against 99.44% in float32).
    ``keras-residual bench --precision-probe`` measures your own model on your machine and says
    whether it disagrees. Any other value is checked and returned unchanged.

    Args:
        precision: One of :data:`TRAINING_PRECISIONS`.

    Returns:
        ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``.

    Raises:
        ValueError: ``precision`` is not one of :data:`TRAINING_PRECISIONS`.

    Example:
        ```python
        from keras_residual.precision import resolve_precision

        print(resolve_precision("auto"))  # "float32" on most CPU-only machines
        print(resolve_precision("mixed_float16"))
        ```
    """
    check_precision("precision", precision, TRAINING_PRECISIONS)
    if precision != "auto":
        return precision
    return fastest_policy(_device_class())


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Context manager: layers created inside it use ``policy``; the global policy is restored after.

    Models keep the policy they were built with, so build the model inside the context and
    compile and train it anywhere. The previous policy is restored even when the body raises.

    Args:
        policy: A Keras dtype policy name such as ``"mixed_float16"``.

    Example:
        ```python
        import keras
        from keras_residual.precision import dtype_policy

        with dtype_policy("mixed_bfloat16"):
            layer = keras.layers.Dense(4)
        print(layer.dtype_policy.name, keras.config.dtype_policy().name)  # mixed_bfloat16 float32
        ```
    """
    import keras  # imported here so this module stays importable without Keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
