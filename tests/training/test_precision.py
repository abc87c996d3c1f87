"""Precision: policy choice by hardware, and a few training steps under every policy."""

import keras
import numpy as np
import pytest

from keras_residual import precision as precision_lib
from keras_residual.datasets import synthetic_arrays
from keras_residual.training import Recipe, train
from tests.training._tiny import tiny_classifier


@pytest.mark.parametrize(
    "capabilities,tpu,expected",
    [
        ([], False, "this cpu"),  # no GPU, no TPU: the recorded choice for this machine's CPU class
        ([(6, 1)], False, "float32"),
        ([(7, 0)], False, "mixed_float16"),
        ([(7, 5)], False, "mixed_float16"),
        ([(8, 0)], False, "mixed_bfloat16"),
        ([(9, 0), (7, 5)], False, "mixed_float16"),  # the oldest GPU decides
        ([], True, "mixed_bfloat16"),
    ],
)
def test_auto_precision_by_hardware(monkeypatch, capabilities, tpu, expected):
    monkeypatch.setattr(precision_lib, "_gpu_compute_capabilities", lambda: capabilities)
    monkeypatch.setattr(precision_lib, "_has_tpu", lambda: tpu)
    if expected == "this cpu":
        expected = _cpu_policy()
    assert precision_lib.resolve_precision("auto") == expected


def _cpu_policy():
    from keras_residual.hardware import detect_cpu
    from keras_residual.precision_table import fastest_policy

    return fastest_policy(detect_cpu().device_class)


def test_auto_on_this_cpu_and_explicit_values_pass():
    # the test machines have no GPU: auto is the policy recorded for the CPU class (mixed_bfloat16 on
    # AMX, where 5 seeds kept digits accuracy; float32 elsewhere)
    assert precision_lib.resolve_precision("auto") == _cpu_policy() in ("float32", "mixed_bfloat16")
    assert precision_lib.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match=r"`precision` must be one of .*received precision='float16'"):
        precision_lib.resolve_precision("float16")


@pytest.mark.parametrize(
    "policy,compute", [("float32", "float32"), ("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")]
)
def test_training_under_each_policy(tmp_path, policy, compute):
    arrays = synthetic_arrays(image_size=8, num_classes=3, num_train=96, num_val=24)
    result = train(
        tiny_classifier,
        arrays,
        out=tmp_path,
        epochs=3,
        batch_size=16,
        lr=0.2,
        precision=policy,
        recipe=Recipe(random_resized_crop=None, flip=False, label_smoothing=0.0),
        verbose=0,
    )
    losses = [row["loss"] for row in result.history]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    model = result.model
    assert all(v.dtype == "float32" for v in model.weights)
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == compute
    assert model.outputs[0].dtype == "float32"  # float32 head
    assert result.metrics["precision"] == policy
    optimizer = model.optimizer
    if policy == "mixed_float16":
        # Keras compile wraps the optimizer for dynamic loss scaling; the scale stays a finite power of 2.
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        scale = float(optimizer.dynamic_scale.numpy())
        assert np.isfinite(scale) and scale >= 1 and np.log2(scale) == int(np.log2(scale))
    else:
        assert not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone


def test_dtype_policy_context_restores_global_policy():
    with precision_lib.dtype_policy("mixed_float16"):
        layer = keras.layers.Dense(2)
        assert keras.config.dtype_policy().name == "mixed_float16"
    assert layer.dtype_policy.name == "mixed_float16"
    assert keras.config.dtype_policy().name == "float32"
