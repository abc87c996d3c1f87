"""Multi-scale feature extraction: a model whose outputs are a ResNet's pyramid levels C2..C5."""

from __future__ import annotations

import keras

from keras_residual._validation import fail
from keras_residual.layers._empty_batch import EmptyBatchSafeModel


@keras.saving.register_keras_serializable(package="keras_residual")
class FeatureModel(EmptyBatchSafeModel, keras.Model):
    """The Functional model :func:`feature_model` returns: a batch of 0 images gives empty feature maps."""


def feature_model(model, levels=None):
    """Build a ``keras.Model`` returning a dict of stage outputs of ``model``.

    The new model shares the layers (and weights) of ``model``; it is a Functional model (a
    :class:`FeatureModel`, which also answers a batch of 0 images), so it saves and loads like any
    other. Level ``"C{s+1}"`` is the output of stage ``s`` (1-based):
    ``C2..C5`` for ImageNet ResNets (strides 4, 8, 16, 32 with the default layout), ``C2..C4`` for
    the three-stage CIFAR ResNets. In pre-activation models the last level is taken after the
    final ``post_bn`` + ReLU.

    Args:
        model: a :class:`~keras_residual.models.ResNet`.
        levels: names of the levels to output (default: all, in order).

    Returns:
        A ``keras.Model`` mapping images to ``{level: feature map}``.

    Raises:
        ValueError: an unknown level name.

    Example:

    >>> from keras_residual.models import ResNet
    >>> backbone = ResNet.from_preset("resnet20_cifar", include_top=False, pooling=None)
    >>> features = feature_model(backbone, ["C3", "C4"])
    >>> sorted(features.output)
    ['C3', 'C4']
    """
    pyramid = getattr(model, "pyramid_outputs", None)
    if not pyramid:
        fail("model", "a ResNet with `pyramid_outputs`", type(model).__name__)
    available = list(pyramid)
    if levels is None:
        levels = available
    if isinstance(levels, str):
        levels = [levels]
    unknown = [level for level in levels if level not in pyramid]
    if unknown or not levels:
        fail("levels", f"None or a non-empty subset of {available}", list(levels))
    outputs = {level: pyramid[level] for level in levels}
    return FeatureModel(inputs=model.input, outputs=outputs, name=f"{model.name}_features")
