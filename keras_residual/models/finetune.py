"""Fine-tuning helpers: freeze the backbone, then unfreeze stages from the top.

Keras 3 runs a ``BatchNormalization`` layer in inference mode whenever the layer is not trainable
(it uses and keeps its moving statistics even inside ``fit``), so freezing a layer here also fixes
its normalization: the usual fine-tuning pitfall of a frozen backbone whose BatchNorm statistics
drift on the small new dataset cannot happen.
"""

from __future__ import annotations

import keras

from keras_residual._validation import fail, is_int

HEAD_LAYER_NAMES = ("avg_pool", "max_pool", "predictions")


def _stage_of(layer_name):
    if layer_name.startswith("stage") and "_block" in layer_name:
        return int(layer_name[len("stage") : layer_name.index("_block")])
    return None


def _norm_layers(layer):
    if isinstance(layer, keras.layers.BatchNormalization):
        return [layer]
    return [
        sub
        for sub in layer._flatten_layers(include_self=False)
        if isinstance(sub, keras.layers.BatchNormalization)
    ]


def _set_trainable(layer, value):
    # Setting ``trainable`` on a layer whose flag already has that value does not reach its
    # sublayers, so set every nested layer explicitly.
    for sub in layer._flatten_layers(include_self=True):
        sub.trainable = value


def freeze_backbone(model):
    """Make every layer except the classifier head non-trainable.

    The head is ``predictions`` (and the pooling layer, which has no weights). BatchNorm layers in
    the frozen part run in inference mode. Recompile the model after changing trainability.

    Example:

    >>> from keras_residual.models import ResNet
    >>> model = ResNet.from_preset("resnet20_cifar")
    >>> _ = model.freeze_backbone()
    >>> [w.path for w in model.trainable_weights]
    ['predictions/kernel', 'predictions/bias']
    """
    model.trainable = True
    for layer in model.layers:
        _set_trainable(layer, layer.name in HEAD_LAYER_NAMES)


def unfreeze_stages(model, count, train_norm=False):
    """Make the last ``count`` stages trainable again (after :func:`freeze_backbone`).

    ``count="all"`` unfreezes the whole network, stem included. The head stays trainable.

    Args:
        model: a :class:`~keras_residual.models.ResNet`.
        count: number of stages counted from the top (``1`` = the last stage), or ``"all"``.
        train_norm: if False (default), the BatchNorm layers of the unfrozen stages stay frozen
            (inference mode, fixed gamma/beta), which is the safe choice for small datasets and
            small batches; True trains them too.

    Raises:
        ValueError: ``count`` is not an int in ``[0, number of stages]`` or ``"all"``.

    Example:

    >>> from keras_residual.models import ResNet
    >>> model = ResNet.from_preset("resnet20_cifar").freeze_backbone().unfreeze_stages(1)
    >>> sorted({w.path.split("/")[0] for w in model.trainable_weights})
    ['predictions', 'stage3_block1', 'stage3_block2', 'stage3_block3']
    """
    num_stages = len(model.resnet_config["stage_blocks"])
    if count == "all":
        first = 1
    elif is_int(count) and 0 <= count <= num_stages:
        first = num_stages - count + 1
    else:
        fail("count", f"'all' or an integer in [0, {num_stages}]", count)
    model.trainable = True
    for layer in model.layers:
        stage = _stage_of(layer.name)
        if count == "all":
            unfrozen = True
        elif stage is not None:
            unfrozen = stage >= first
        else:
            # post_bn belongs to the last stage; the stem and preprocessing to none.
            unfrozen = layer.name in HEAD_LAYER_NAMES or (layer.name.startswith("post_") and count > 0)
        _set_trainable(layer, unfrozen)
        if unfrozen and not train_norm and layer.name not in HEAD_LAYER_NAMES:
            for norm in _norm_layers(layer):
                norm.trainable = False


def replace_head(model, num_classes, classifier_activation=None):
    """A new ResNet with the same architecture and backbone weights and a fresh classifier.

    Args:
        model: a :class:`~keras_residual.models.ResNet` (with or without a head).
        num_classes: outputs of the new classifier.
        classifier_activation: activation of the new classifier; ``None`` keeps the model's
            (``"softmax"`` when the model had no head).

    Returns:
        A new ``ResNet`` (``include_top=True``; pooling ``"avg"`` unless the model pooled with
        ``"max"``) whose every non-head weight is copied from ``model``.

    Example:

    >>> from keras_residual.models import ResNet
    >>> model = ResNet.from_preset("resnet20_cifar").replace_head(num_classes=3)
    >>> model.output_shape
    (None, 3)
    """
    config = model.get_config()
    config.update(include_top=True, num_classes=num_classes, pooling=config["pooling"] or "avg")
    if classifier_activation is not None or not model.resnet_config["include_top"]:
        config["classifier_activation"] = classifier_activation or "softmax"
    new = type(model).from_config(config)
    for layer in new.layers:
        if layer.name not in HEAD_LAYER_NAMES and layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return new
