"""Conversion of keras.applications ResNet / ResNetV2 models (and their weights) into ResNet.

keras.applications layer names: ``conv1_conv`` (+ ``conv1_bn`` in v1), ``conv{s+1}_block{b}_{k}_conv``
/ ``_{k}_bn`` (``k = 0`` is the projection shortcut), ``_preact_bn`` (v2), ``post_bn`` (v2),
``predictions``. v1 convs all carry a bias followed by a BatchNorm: ``BN(conv(x) + b)`` equals
``BN'(conv(x))`` with ``moving_mean' = moving_mean - b``, which is how the biases are mapped (exact).
v2 convs with a bias (stem, last conv of a block, projection) map to our convs with a bias.
"""

from __future__ import annotations

import keras
import numpy as np


def _layers_by_name(model):
    return {layer.name: layer for layer in model.layers}


def _describe(ka_model):
    layers = _layers_by_name(ka_model)
    if "conv1_conv" not in layers or "conv2_block1_1_conv" not in layers:
        raise ValueError(
            "`ka_model` must be a keras.applications ResNet50/101/152 or ResNet50V2/101V2/152V2 model; "
            f"{ka_model.name!r} has no 'conv1_conv'/'conv2_block1_1_conv' layers."
        )
    preact = "post_bn" in layers
    stage_blocks, stage_widths = [], []
    stage = 2
    while f"conv{stage}_block1_1_conv" in layers:
        count = 1
        while f"conv{stage}_block{count + 1}_1_conv" in layers:
            count += 1
        stage_blocks.append(count)
        stage_widths.append(int(layers[f"conv{stage}_block1_1_conv"].filters))
        stage += 1
    stem_conv = layers["conv1_conv"]
    bn = layers["post_bn" if preact else "conv1_bn"]
    include_top = "predictions" in layers
    if include_top:
        pooling = "max" if "max_pool" in layers else "avg"
    else:
        pooling = "avg" if "avg_pool" in layers else ("max" if "max_pool" in layers else None)
    config = {
        "stage_blocks": stage_blocks,
        "block": "bottleneck",
        "stem": "v1",
        "stem_width": int(stem_conv.filters),
        "stage_widths": stage_widths,
        "preact": preact,
        "stride_on": "3x3" if preact else "1x1",
        "downsample_at": "last" if preact else "first",
        "include_top": include_top,
        "pooling": pooling,
        "input_shape": tuple(ka_model.input_shape[1:]),
        "norm_epsilon": float(bn.epsilon),
        "norm_momentum": float(bn.momentum),
        "data_format": stem_conv.data_format,
        "name": ka_model.name,
    }
    if include_top:
        head = layers["predictions"]
        config["num_classes"] = int(head.units)
        config["classifier_activation"] = keras.activations.serialize(head.activation)
    return config, layers


def _weights(layer):
    return [np.asarray(w) for w in layer.get_weights()]


def _set_conv(target, source, with_bias):
    kernel = _weights(source)[0]
    target.set_weights([kernel, _weights(source)[1]] if with_bias else [kernel])


def _set_bn(target, source, conv_bias=None):
    gamma, beta, mean, variance = _weights(source)
    if conv_bias is not None:
        mean = mean - conv_bias
    target.set_weights([gamma, beta, mean, variance])


def _copy_v1(model, layers):
    stem_bias = _weights(layers["conv1_conv"])[1]
    _set_conv(model.get_layer("stem_conv"), layers["conv1_conv"], with_bias=False)
    _set_bn(model.get_layer("stem_bn"), layers["conv1_bn"], stem_bias)
    for spec in model.block_specs:
        block = model.get_layer(spec.name)
        prefix = f"conv{spec.stage + 1}_block{spec.index}"
        pairs = [(block.conv1, block.bn1, 1), (block.conv2, block.bn2, 2), (block.conv3, block.bn3, 3)]
        if block.shortcut_conv is not None:
            pairs.append((block.shortcut_conv, block.shortcut_bn, 0))
        for conv, bn, k in pairs:
            source_conv = layers[f"{prefix}_{k}_conv"]
            _set_conv(conv, source_conv, with_bias=False)
            _set_bn(bn, layers[f"{prefix}_{k}_bn"], _weights(source_conv)[1])


def _copy_v2(model, layers):
    _set_conv(model.get_layer("stem_conv"), layers["conv1_conv"], with_bias=True)
    for spec in model.block_specs:
        block = model.get_layer(spec.name)
        prefix = f"conv{spec.stage + 1}_block{spec.index}"
        _set_bn(block.preact_bn, layers[f"{prefix}_preact_bn"])
        _set_conv(block.conv1, layers[f"{prefix}_1_conv"], with_bias=False)
        _set_bn(block.bn1, layers[f"{prefix}_1_bn"])
        _set_conv(block.conv2, layers[f"{prefix}_2_conv"], with_bias=False)
        _set_bn(block.bn2, layers[f"{prefix}_2_bn"])
        _set_conv(block.conv3, layers[f"{prefix}_3_conv"], with_bias=True)
        if block.shortcut_conv is not None:
            _set_conv(block.shortcut_conv, layers[f"{prefix}_0_conv"], with_bias=True)
    _set_bn(model.get_layer("post_bn"), layers["post_bn"])


def convert_keras_application(cls, ka_model, **overrides):
    """Build ``cls`` (a ResNet class) equivalent to ``ka_model`` and copy its weights.

    See :meth:`keras_residual.models.ResNet.from_keras_applications`.
    """
    config, layers = _describe(ka_model)
    config.update(overrides)
    model = cls(**config)
    (_copy_v2 if config["preact"] else _copy_v1)(model, layers)
    if config["include_top"]:
        model.get_layer("predictions").set_weights(_weights(layers["predictions"]))
    return model
