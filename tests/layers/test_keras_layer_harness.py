"""Keras's own layer harness (``keras.src.testing.TestCase.run_layer_test``) on every public layer.

Every built-in Keras layer passes this harness: config round trip, symbolic vs eager shapes and
dtypes, a training step, and (``run_mixed_precision_check``) the layer under ``mixed_float16``
with float32 variables and outputs in the compute dtype. Our own harness (tests/harness.py)
covers more; this one is the peers' yardstick, run as they run it.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

from keras_residual import DropPath, Residual, ResidualBlock, SqueezeExcite

pytestmark = [pytest.mark.backend_agnostic, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _run(layer_cls, init_kwargs, input_shape, expected_output_shape, **kwargs):
    case = TestCase("run_layer_test")
    case.setUp()
    try:
        case.run_layer_test(
            layer_cls,
            init_kwargs=init_kwargs,
            input_shape=input_shape,
            expected_output_shape=expected_output_shape,
            run_training_check=True,
            run_mixed_precision_check=True,
            **kwargs,
        )
    finally:
        case.tearDown()


BLOCKS = [
    # (init kwargs, input shape, expected output shape)
    ({"filters": 4}, (2, 8, 8, 4), (2, 8, 8, 4)),
    ({"filters": 8, "strides": 2}, (2, 8, 8, 4), (2, 4, 4, 8)),
    ({"filters": 2, "block": "bottleneck"}, (2, 8, 8, 8), (2, 8, 8, 8)),
    ({"filters": 4, "block": "bottleneck", "strides": 2, "stride_on": "1x1"}, (2, 8, 8, 8), (2, 4, 4, 16)),
    ({"filters": 4, "preact": True}, (2, 8, 8, 4), (2, 8, 8, 4)),
    ({"filters": 4, "block": "bottleneck", "preact": True, "strides": 2}, (2, 8, 8, 8), (2, 4, 4, 16)),
    ({"filters": 4, "block": "bottleneck", "groups": 2, "base_width": 32}, (2, 8, 8, 16), (2, 8, 8, 16)),
    ({"filters": 4, "se_ratio": 0.25, "drop_path_rate": 0.1}, (2, 8, 8, 4), (2, 8, 8, 4)),
    ({"filters": 4, "dilation_rate": 2}, (2, 8, 8, 4), (2, 8, 8, 4)),
    ({"filters": 8, "strides": 2, "shortcut": "avg_down"}, (2, 8, 8, 4), (2, 4, 4, 8)),
    ({"filters": 4, "norm": "group"}, (2, 8, 8, 4), (2, 8, 8, 4)),
    ({"filters": 4, "norm": "layer", "zero_init_last": False}, (2, 8, 8, 4), (2, 8, 8, 4)),
    ({"filters": 4, "rank": 1, "strides": 2}, (2, 8, 4), (2, 4, 4)),
    ({"filters": 2, "rank": 1, "block": "bottleneck"}, (2, 8, 8), (2, 8, 8)),
    ({"filters": 4, "rank": 3}, (2, 4, 4, 4, 4), (2, 4, 4, 4, 4)),
    ({"filters": 4, "rank": 3, "block": "bottleneck", "strides": 2}, (2, 4, 4, 4, 8), (2, 2, 2, 2, 16)),
    ({"filters": 4, "data_format": "channels_first"}, (2, 4, 8, 8), (2, 4, 8, 8)),
]


@pytest.mark.parametrize(("kwargs", "input_shape", "output_shape"), BLOCKS, ids=lambda v: str(v))
def test_residual_block(kwargs, input_shape, output_shape):
    if kwargs.get("data_format") == "channels_first" and keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow's CPU kernels have no NCHW convolution (channels_first runs on GPUs only)")
    _run(ResidualBlock, kwargs, input_shape, output_shape)


def test_squeeze_excite():
    _run(SqueezeExcite, {"ratio": 0.25}, (2, 4, 4, 8), (2, 4, 4, 8))


def test_drop_path():
    _run(DropPath, {"rate": 0.2}, (4, 3, 5), (4, 3, 5), expected_num_trainable_weights=0)


@pytest.mark.parametrize(
    ("make", "input_shape", "output_shape"),
    [
        (lambda: keras.layers.Dense(8), (2, 8), (2, 8)),
        (lambda: keras.layers.Dense(16), (2, 8), (2, 16)),  # a projection is added
        (lambda: keras.layers.Conv2D(4, 3, padding="same"), (2, 6, 6, 4), (2, 6, 6, 4)),
        (lambda: [keras.layers.Dense(16, activation="relu"), keras.layers.Dense(8)], (2, 5, 8), (2, 5, 8)),
    ],
    ids=["dense", "dense-projection", "conv", "list"],
)
def test_residual_wrapper(make, input_shape, output_shape):
    _run(Residual, {"layer": make(), "layer_scale": 0.5}, input_shape, output_shape)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_residual_symbolic_dtype_equals_eager_dtype(policy):
    """The wrapper's output dtype is its own compute dtype, whatever the wrapped layer's policy."""
    for inner in (keras.layers.Dense(8), keras.layers.Dense(8, dtype=policy), keras.layers.Dense(4)):
        layer = Residual(inner, dtype=policy)
        eager = layer(np.ones((2, 8), "float32"))
        symbolic = layer.compute_output_spec(keras.KerasTensor((2, 8)))
        assert keras.backend.standardize_dtype(eager.dtype) == symbolic.dtype == layer.compute_dtype
        functional = keras.Model(inputs := keras.Input((8,)), Residual(keras.layers.Dense(8), dtype=policy)(inputs))
        assert functional.output.dtype == keras.backend.standardize_dtype(functional(np.ones((2, 8))).dtype)
