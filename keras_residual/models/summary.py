"""The preset table of the docs: parameters and GMACs of every preset, measured from built models."""

from __future__ import annotations

import keras

from keras_residual.models.flops import count_macs
from keras_residual.models.presets import list_presets, preset_config, preset_description
from keras_residual.models.resnet import ResNet


def preset_rows(names=None):
    """``[(name, trainable_params, gmacs, image_size, description), ...]`` for the presets.

    ImageNet presets are measured at 224x224 with 1000 classes, the ``*_cifar`` presets at 32x32
    with 10 classes (their defaults). MACs follow :func:`~keras_residual.models.count_macs`.
    Building every preset takes a few minutes on a CPU.
    """
    rows = []
    for name in names or list_presets():
        size = 32 if preset_config(name).get("stem") == "cifar" else 224
        model = ResNet.from_preset(name, input_shape=(size, size, 3))
        params = sum(int(w.numpy().size) for w in model.trainable_weights)
        rows.append((name, params, count_macs(model) / 1e9, size, preset_description(name)))
        keras.backend.clear_session()
    return rows


def preset_table(names=None):
    """The rows of :func:`preset_rows` as a Markdown table.

    Example:

    >>> print(preset_table(["resnet20_cifar"]))  # doctest: +NORMALIZE_WHITESPACE
    | preset | params | GMACs | input | description |
    |---|---:|---:|---:|---|
    | `resnet20_cifar` | 272,474 | 0.0408 | 32 | CIFAR ResNet-20 (He et al. 2015, 6n+2 with n=3; 16/32/64 widths, basic blocks). |
    """
    lines = ["| preset | params | GMACs | input | description |", "|---|---:|---:|---:|---|"]
    for name, params, gmacs, size, description in preset_rows(names):
        lines.append(f"| `{name}` | {params:,} | {gmacs:.3g} | {size} | {description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(preset_table())
