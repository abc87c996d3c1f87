"""The two contenders every CPU row compares: our ResNet-50 and keras.applications.ResNet50 (the anchor).

``tiny=True`` (the ``--quick`` smoke run) builds both with one bottleneck block per stage and narrow stages:
the same layer types and the same code paths through every benchmark group, in a fraction of the time.
"""

from __future__ import annotations

OURS = "keras_residual resnet50"
OURS_V1 = "keras_residual resnet50_v1"
ANCHOR = "keras.applications.ResNet50"


TINY_WIDTHS = (8, 16, 32, 64)
"""Bottleneck widths of the tiny models' four stages (one block each)."""


def build_ours(image_size: int, preset: str = "resnet50", tiny: bool = False):
    """``keras_residual.ResNet.from_preset(preset)`` at a fixed square input size, 1000 classes, random weights
    (``tiny``: one block per stage, :data:`TINY_WIDTHS`)."""
    import keras_residual

    small = {"stage_blocks": (1, 1, 1, 1), "stage_widths": TINY_WIDTHS, "stem_width": 8} if tiny else {}
    return keras_residual.ResNet.from_preset(
        preset, input_shape=(image_size, image_size, 3), num_classes=1000, **small
    )


def build_anchor(image_size: int, tiny: bool = False):
    """keras.applications.ResNet50 with random weights, the same input size and 1000 classes (``tiny``: the
    same builder and v1 blocks, one block per stage of :data:`TINY_WIDTHS`)."""
    import keras

    shape = (image_size, image_size, 3)
    if not tiny:
        return keras.applications.ResNet50(weights=None, input_shape=shape, classes=1000)
    from keras.src.applications.resnet import ResNet, stack_residual_blocks_v1

    def stack(x):
        for stage, width in enumerate(TINY_WIDTHS):
            x = stack_residual_blocks_v1(x, width, 1, stride1=1 if stage == 0 else 2, name=f"conv{stage + 2}")
        return x

    return ResNet(stack, False, True, weights=None, input_shape=shape, classes=1000, name="resnet50_tiny")


def describe_model(model, image_size: int) -> dict:
    """Parameter count and forward multiply-accumulates per image (torchvision/timm "GMACs" convention)."""
    from keras_residual.models import count_macs

    return {
        "params": int(model.count_params()),
        "gmacs": count_macs(model, image_size=(image_size, image_size)) / 1e9,
    }
