"""Named ResNet configurations (presets) and their lookup.

Every preset is a plain dict of :class:`~keras_residual.models.ResNet` constructor arguments, so
``ResNet.from_preset(name, **overrides)`` is ``ResNet(**{**PRESETS[name]["config"], **overrides})``.
"""

from __future__ import annotations

import copy

_BASIC_18 = (2, 2, 2, 2)
_DEPTH_34_50 = (3, 4, 6, 3)
_DEPTH_101 = (3, 4, 23, 3)
_DEPTH_152 = (3, 8, 36, 3)
_DEPTH_200 = (3, 24, 36, 3)
_CIFAR_WIDTHS = (16, 32, 64)


def _imagenet(stage_blocks, block="bottleneck", **extra):
    return {"stage_blocks": stage_blocks, "block": block, "num_classes": 1000, **extra}


def _cifar(n):
    return {
        "stage_blocks": (n, n, n),
        "block": "basic",
        "stem": "cifar",
        "stem_width": 16,
        "stage_widths": _CIFAR_WIDTHS,
        "num_classes": 10,
    }


PRESETS = {
    "resnet18": {
        "description": "ResNet-18 (torchvision layout, basic blocks).",
        "config": _imagenet(_BASIC_18, block="basic"),
    },
    "resnet34": {
        "description": "ResNet-34 (torchvision layout, basic blocks).",
        "config": _imagenet(_DEPTH_34_50, block="basic"),
    },
    "resnet50": {
        "description": "ResNet-50 v1.5: stride on the 3x3 conv (torchvision / timm layout).",
        "config": _imagenet(_DEPTH_34_50),
    },
    "resnet101": {
        "description": "ResNet-101 v1.5.",
        "config": _imagenet(_DEPTH_101),
    },
    "resnet152": {
        "description": "ResNet-152 v1.5.",
        "config": _imagenet(_DEPTH_152),
    },
    "resnet200": {
        "description": "ResNet-200 v1.5 (timm depths 3-24-36-3).",
        "config": _imagenet(_DEPTH_200),
    },
    "resnet50_v1": {
        "description": "ResNet-50 v1: stride on the first 1x1 conv, as keras.applications.ResNet50.",
        "config": _imagenet(_DEPTH_34_50, stride_on="1x1"),
    },
    "resnet101_v1": {
        "description": "ResNet-101 v1: stride on the first 1x1 conv, as keras.applications.ResNet101.",
        "config": _imagenet(_DEPTH_101, stride_on="1x1"),
    },
    "resnet152_v1": {
        "description": "ResNet-152 v1: stride on the first 1x1 conv, as keras.applications.ResNet152.",
        "config": _imagenet(_DEPTH_152, stride_on="1x1"),
    },
    "resnet50d": {
        "description": "ResNet-50-D: three-conv deep stem (ResNet-C) and average-pool shortcut (ResNet-D), timm layout.",
        "config": _imagenet(_DEPTH_34_50, stem="deep", stem_width=32, shortcut="avg_down"),
    },
    "resnet101d": {
        "description": "ResNet-101-D: deep stem and average-pool shortcut, timm layout.",
        "config": _imagenet(_DEPTH_101, stem="deep", stem_width=32, shortcut="avg_down"),
    },
    "resnet50_v2": {
        "description": "ResNet-50 v2 (pre-activation), keras.applications.ResNet50V2 layout.",
        "config": _imagenet(_DEPTH_34_50, preact=True, downsample_at="last"),
    },
    "resnet101_v2": {
        "description": "ResNet-101 v2 (pre-activation), keras.applications.ResNet101V2 layout.",
        "config": _imagenet(_DEPTH_101, preact=True, downsample_at="last"),
    },
    "resnet152_v2": {
        "description": "ResNet-152 v2 (pre-activation), keras.applications.ResNet152V2 layout.",
        "config": _imagenet(_DEPTH_152, preact=True, downsample_at="last"),
    },
    "resnext50_32x4d": {
        "description": "ResNeXt-50 32x4d: 32 groups of width 4 in the bottleneck 3x3 conv.",
        "config": _imagenet(_DEPTH_34_50, groups=32, base_width=4),
    },
    "resnext101_32x8d": {
        "description": "ResNeXt-101 32x8d: 32 groups of width 8.",
        "config": _imagenet(_DEPTH_101, groups=32, base_width=8),
    },
    "wide_resnet50_2": {
        "description": "Wide ResNet-50-2: bottleneck inner width doubled (base_width=128).",
        "config": _imagenet(_DEPTH_34_50, base_width=128),
    },
    "seresnet50": {
        "description": "SE-ResNet-50: squeeze-excitation (ratio 1/16) in every block, timm layout.",
        "config": _imagenet(_DEPTH_34_50, se_ratio=0.0625),
    },
    "resnet18_cifar": {
        "description": "ResNet-18 with a 3x3 stride-1 stem and no max-pool, for 32x32 images.",
        "config": {**_imagenet(_BASIC_18, block="basic", stem="cifar"), "num_classes": 10},
    },
    "resnet20_cifar": {
        "description": "CIFAR ResNet-20 (He et al. 2015, 6n+2 with n=3; 16/32/64 widths, basic blocks).",
        "config": _cifar(3),
    },
    "resnet32_cifar": {
        "description": "CIFAR ResNet-32 (n=5).",
        "config": _cifar(5),
    },
    "resnet56_cifar": {
        "description": "CIFAR ResNet-56 (n=9).",
        "config": _cifar(9),
    },
    "resnet110_cifar": {
        "description": "CIFAR ResNet-110 (n=18).",
        "config": _cifar(18),
    },
}


def list_presets():
    """Names of the built-in ResNet presets, sorted.

    Returns:
        A list of preset names accepted by ``ResNet.from_preset``.

    Example:

    >>> from keras_residual.models import list_presets
    >>> "resnet50" in list_presets() and "resnet20_cifar" in list_presets()
    True
    """
    return sorted(PRESETS)


def preset_config(name):
    """A copy of the constructor arguments of preset ``name``.

    Raises:
        ValueError: ``name`` is not a preset; the message lists the valid names.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(
            f"`name` must be a preset name; received name={name!r}. Valid presets: {', '.join(list_presets())}."
        )
    return copy.deepcopy(PRESETS[name]["config"])


def preset_description(name):
    """One-line description of preset ``name`` (ValueError for an unknown name)."""
    preset_config(name)
    return PRESETS[name]["description"]
