"""A batch of 0 images gives correctly shaped empty outputs, whatever kernel library runs the convs.

With TensorFlow's oneDNN kernels on (its default on x86 CPUs), a convolution over batch 0 returns
the input's shape, which made ``ResNet(...)(np.zeros((0, 32, 32, 3)))`` fail at the first norm.
`make test` runs this file again with ``TF_ENABLE_ONEDNN_OPTS=0`` so both kernel paths are covered
on any machine.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_residual import Residual, ResidualBlock, ResNet

pytestmark = [pytest.mark.backend_agnostic, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TINY = {"stage_blocks": (1, 1), "stage_widths": (8, 16), "stem_width": 8}


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("resnet20_cifar", {}),
        ("resnet18", {**TINY, "stage_blocks": (1, 1, 1, 1), "stage_widths": (8, 8, 16, 16)}),
        ("resnet50d", {**TINY, "stage_blocks": (1, 1, 1, 1), "stage_widths": (4, 4, 8, 8)}),
        ("resnet50_v2", {**TINY, "stage_blocks": (1, 1, 1, 1), "stage_widths": (4, 4, 8, 8)}),
    ],
)
def test_resnet_on_an_empty_batch(preset, overrides):
    model = ResNet.from_preset(preset, input_shape=(32, 32, 3), num_classes=7, **overrides)
    empty = model(np.zeros((0, 32, 32, 3), "float32"))
    assert tuple(empty.shape) == (0, 7)
    assert keras.backend.standardize_dtype(empty.dtype) == "float32"
    assert tuple(model(np.zeros((2, 32, 32, 3), "float32")).shape) == (2, 7)


def test_backbone_and_pyramid_on_an_empty_batch():
    model = ResNet.from_preset("resnet20_cifar", input_shape=(32, 32, 3), include_top=False, pooling="avg")
    assert tuple(model(np.zeros((0, 32, 32, 3), "float32")).shape) == (0, 64)
    features = model.feature_model()
    outputs = features(np.zeros((0, 32, 32, 3), "float32"))
    full = features(np.zeros((1, 32, 32, 3), "float32"))
    flat, flat_full = keras.tree.flatten(outputs), keras.tree.flatten(full)
    assert [tuple(t.shape) for t in flat] == [(0, *tuple(t.shape)[1:]) for t in flat_full]


def test_mixed_precision_resnet_on_an_empty_batch():
    model = ResNet.from_preset("resnet20_cifar", input_shape=(32, 32, 3), num_classes=5, dtype="mixed_float16")
    empty = model(np.zeros((0, 32, 32, 3), "float32"))
    assert tuple(empty.shape) == (0, 5) and keras.backend.standardize_dtype(empty.dtype) == "float32"


@pytest.mark.parametrize(
    ("layer", "shape", "expected"),
    [
        (lambda: ResidualBlock(8, strides=2), (0, 8, 8, 4), (0, 4, 4, 8)),
        (lambda: ResidualBlock(4, block="bottleneck", rank=1), (0, 8, 16), (0, 8, 16)),
        (lambda: Residual(keras.layers.Conv2D(6, 3, padding="same")), (0, 8, 8, 4), (0, 8, 8, 6)),
    ],
)
def test_layers_on_an_empty_batch(layer, shape, expected):
    assert tuple(layer()(np.zeros(shape, "float32")).shape) == expected
