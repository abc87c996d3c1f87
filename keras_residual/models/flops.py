"""Multiply-accumulate (MAC) counting from the shapes a model's layers actually produce.

Convention (the one torchvision's and timm's "GFLOPS"/"GMACs" columns use): one multiply-add is
one MAC; only convolutions and dense layers are counted (norms, activations, additions and
pooling are not). A conv producing ``N`` output elements (``H * W * C_out``) with kernel
``(kh, kw, C_in / groups, C_out)`` costs ``N * kh * kw * C_in / groups`` MACs; a dense layer
costs ``N * C_in``.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_residual._validation import fail, is_int


def _macs(layer, output_shape):
    elements = math.prod(int(d) for d in output_shape[1:])
    kernel_shape = tuple(layer.kernel.shape)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return elements * math.prod(kernel_shape[:-2])
    if isinstance(layer, keras.layers.Dense):
        return elements * kernel_shape[0]
    return elements * math.prod(kernel_shape[:-1])


def _counted(layer):
    return isinstance(layer, (keras.layers.Dense, keras.layers.DepthwiseConv2D)) or (
        hasattr(layer, "kernel_size") and hasattr(layer, "kernel") and hasattr(layer, "filters")
    )


def count_macs(model, image_size=None):
    """Count the multiply-accumulates of one forward pass of one image.

    The model is run once, eagerly, on a batch of one zero image; every conv and dense layer
    (nested ones included) records its output shape, and the MACs follow from those shapes and
    the kernel shapes (see the module docstring for the convention).

    Args:
        model: a built Keras model with one image input.
        image_size: ``(height, width)`` to use where the model's input leaves them as None.

    Returns:
        The MAC count (an int). Divide by 1e9 for GMACs; FLOPs are about 2x MACs.

    Raises:
        ValueError: the input size is unknown and ``image_size`` is not given.

    Example:

    >>> from keras_residual.models import ResNet
    >>> model = ResNet.from_preset("resnet20_cifar", input_shape=(32, 32, 3))
    >>> round(count_macs(model) / 1e6, 1)
    40.8
    """
    shape = list(model.input_shape[1:])
    data_format = getattr(model, "resnet_config", {}).get("data_format", keras.config.image_data_format())
    spatial = [0, 1] if data_format == "channels_last" else [1, 2]
    if image_size is not None:
        if not (
            isinstance(image_size, (list, tuple)) and len(image_size) == 2 and all(map(is_int, image_size))
        ):
            fail("image_size", "None or (height, width)", image_size)
        for axis, size in zip(spatial, image_size, strict=True):
            shape[axis] = int(size)
    if any(d is None for d in shape):
        raise ValueError(
            f"The model input shape {tuple(model.input_shape)} has unknown dimensions: pass image_size=(height, width)."
        )
    layers = [layer for layer in model._flatten_layers(include_self=False) if _counted(layer)]
    records = []
    originals = {}
    for layer in layers:
        original = layer.call
        originals[id(layer)] = original

        def recording_call(*args, _layer=layer, _original=original, **kwargs):
            outputs = _original(*args, **kwargs)
            records.append((_layer, tuple(outputs.shape)))
            return outputs

        layer.call = recording_call
    try:
        model(np.zeros([1, *shape], "float32"), training=False)
    finally:
        for layer in layers:
            try:
                del layer.call
            except AttributeError:
                layer.call = originals[id(layer)]
    return int(sum(_macs(layer, shape) for layer, shape in records))
