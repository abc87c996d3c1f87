"""ResNet model: presets, harness checks, parameter counts, MACs, pyramid outputs, fine-tuning."""

import keras
import numpy as np
import pytest

import keras_residual
from keras_residual.models import ResNet, count_macs, feature_model, list_presets
from keras_residual.models.presets import PRESETS
from tests.harness import CHECKS, check_model

REQUIRED_PRESETS = {
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet200", "resnet50_v1", "resnet50d",
    "resnet101d", "resnet50_v2", "resnet101_v2", "resnet152_v2", "resnext50_32x4d", "resnext101_32x8d",
    "wide_resnet50_2", "seresnet50", "resnet18_cifar", "resnet20_cifar", "resnet32_cifar", "resnet56_cifar",
    "resnet110_cifar",
}  # fmt: skip

# torchvision's published parameter counts (num_classes=1000).
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "wide_resnet50_2": 68_883_240,
}
HEAVY = {"resnet34", "resnet101", "resnet152", "wide_resnet50_2"}


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


def _tiny(name, **overrides):
    """The preset with tiny widths and at most one block per stage: same structure, fast to build."""
    config = PRESETS[name]["config"]
    stages = len(config["stage_blocks"])
    small = {
        "stem_width": 4,
        "stage_widths": (4, 8, 16, 32) if stages == 4 else (4, 8, 8),
        "stage_blocks": (1,) * stages if config.get("downsample_at") != "last" else (2,) * stages,
        "input_shape": (32, 32, 3),
        "num_classes": 3,
    }
    if config.get("groups", 1) > 1:
        small.update(groups=2, base_width=32)
    small.update(overrides)
    if small.get("data_format") == "channels_first" and small["input_shape"] is not None:
        small["input_shape"] = (3, 32, 32)
    return ResNet.from_preset(name, **small)


def _cifar(**kw):
    shape = (3, 32, 32) if kw.get("data_format") == "channels_first" else (32, 32, 3)
    return ResNet.from_preset("resnet20_cifar", input_shape=shape, preprocessing="unit", **kw)


def test_presets_listed():
    assert REQUIRED_PRESETS <= set(list_presets())
    assert list_presets() == sorted(list_presets())
    assert keras_residual.ResNet is ResNet


def test_resnet20_cifar_contract():
    model = ResNet.from_preset(
        "resnet20_cifar", input_shape=(32, 32, 3), num_classes=10, preprocessing="unit"
    )
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 10)
    probabilities = model.predict(_pixels((4, 32, 32, 3)), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # 6n + 2 = 20 layers: the stem conv, 9 basic blocks of two 3x3 convs, the classifier.
    assert [(s.stage, s.filters) for s in model.block_specs] == [(1, 16)] * 3 + [(2, 32)] * 3 + [(3, 64)] * 3


@pytest.mark.parametrize("check", CHECKS)
def test_harness_resnet20_cifar(check):
    check_model(
        _cifar,
        (2, 32, 32, 3),
        (2, 10),
        checks=[check],
        input_data=_pixels((2, 32, 32, 3)),
        mixed_output_dtype="float32",
    )


@pytest.mark.parametrize("check", CHECKS)
def test_harness_bottleneck_variant(check):
    # Deep stem, avg-down shortcut, squeeze-excitation, stochastic depth, ImageNet preprocessing.
    check_model(
        lambda **kw: _tiny("resnet50d", preprocessing="imagenet", se_ratio=0.25, drop_path_rate=0.1, **kw),
        (2, 32, 32, 3),
        (2, 3),
        checks=[check],
        input_data=_pixels((2, 32, 32, 3)),
        mixed_output_dtype="float32",
    )


def _tiny_key(name):
    config = dict(PRESETS[name]["config"])
    config.pop("stage_blocks")
    return tuple(sorted(config.items()))


# Presets that differ only in depth have the same tiny (one block per stage) model: test one of each.
TINY_PRESETS = sorted({_tiny_key(name): name for name in sorted(REQUIRED_PRESETS, reverse=True)}.values())


def test_tiny_presets_cover_every_preset_structure():
    assert {_tiny_key(name) for name in TINY_PRESETS} == {_tiny_key(name) for name in PRESETS}


@pytest.mark.parametrize("name", TINY_PRESETS)
def test_every_preset_keras_file_round_trip(name):
    # load_model rebuilds through from_config, so this also round-trips the config.
    check_model(lambda **kw: _tiny(name, **kw), (2, 32, 32, 3), (2, 3), checks=["saving"])


# One deep preset per block family; resnet152 is left out: resnet200 has the same blocks and at least as many
# in every stage ((3, 24, 36, 3) against (3, 8, 36, 3)).
@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["resnet200", "resnet101d", "resnet152_v2", "resnext101_32x8d", "resnet110_cifar"]
)
def test_deep_presets_keras_file_round_trip_at_full_depth(name):
    def build(**kw):
        widths = (4, 8, 8) if "cifar" in name else (4, 8, 8, 8)
        groups = {"groups": 2, "base_width": 32} if "resnext" in name else {}
        return ResNet.from_preset(
            name, stem_width=4, stage_widths=widths, input_shape=(32, 32, 3), **groups, **kw
        )

    check_model(build, (2, 32, 32, 3), checks=["saving"])


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in sorted(TORCHVISION_PARAMS)],
)
def test_trainable_parameters_equal_torchvision(name):
    model = ResNet.from_preset(name, input_shape=(224, 224, 3))
    assert _trainable_count(model) == TORCHVISION_PARAMS[name]


def test_macs_match_torchvision_resnet18():
    # torchvision documents resnet18 at 1.81 GFLOPS (multiply-adds) for 224x224.
    model = ResNet.from_preset("resnet18")
    assert round(count_macs(model, image_size=(224, 224)) / 1e9, 2) == 1.81


def test_macs_of_a_single_conv_follow_the_formula():
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(4, 3, strides=2, padding="same", groups=1)(inputs)
    outputs = keras.layers.Dense(5)(keras.layers.Flatten()(outputs))
    model = keras.Model(inputs, outputs)
    assert count_macs(model) == 4 * 4 * 4 * (3 * 3 * 3) + 64 * 5


@pytest.mark.slow
def test_macs_match_torchvision_resnet50():
    model = ResNet.from_preset("resnet50")
    assert round(count_macs(model, image_size=(224, 224)) / 1e9, 2) == 4.09


def test_preprocessing_inside_the_model():
    x = _pixels((2, 16, 16, 3))
    small = {"stage_blocks": (1, 1, 1), "num_classes": 3, "classifier_activation": None}
    raw = ResNet.from_preset("resnet20_cifar", **small)
    weights = raw.get_weights()
    for mode, normalized in [
        ("unit", x / 255.0),
        ("imagenet", (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])),
    ]:
        model = ResNet.from_preset("resnet20_cifar", preprocessing=mode, **small)
        model.set_weights(weights)
        expected = keras.ops.convert_to_numpy(raw(normalized.astype("float32")))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, rtol=1e-4, atol=1e-5)


def test_any_image_size_and_pyramid_outputs():
    backbone = _tiny("resnet50", include_top=False, pooling=None, input_shape=None)
    assert backbone.input_shape == (None, None, None, 3)
    features = backbone.feature_model()
    for size in (64, 96):
        outputs = features.predict(_pixels((1, size, size, 3)), verbose=0)
        assert sorted(outputs) == ["C2", "C3", "C4", "C5"]
        for level, stride in zip(["C2", "C3", "C4", "C5"], [4, 8, 16, 32], strict=True):
            assert outputs[level].shape[1:3] == (size // stride, size // stride)
        assert outputs["C5"].shape[-1] == 32 * 4
    subset = feature_model(backbone, ["C3", "C5"])
    assert sorted(subset.output) == ["C3", "C5"]
    with pytest.raises(ValueError, match="levels"):
        feature_model(backbone, ["C9"])


def test_output_stride_keeps_weights_and_resolution():
    base = _tiny("resnet50", include_top=False, pooling=None, input_shape=(64, 64, 3))
    for output_stride, size in [(16, 4), (8, 8)]:
        dilated = _tiny(
            "resnet50", include_top=False, pooling=None, input_shape=(64, 64, 3), output_stride=output_stride
        )
        assert dilated.output_shape == (None, size, size, 128)
        assert dilated.count_params() == base.count_params()


def test_drop_path_rate_is_linear_over_blocks():
    model = ResNet.from_preset("resnet20_cifar", drop_path_rate=0.4)
    rates = [model.get_layer(spec.name).drop_path_rate for spec in model.block_specs]
    np.testing.assert_allclose(rates, np.linspace(0.0, 0.4, 9), atol=1e-7)


def test_mixed_precision_head_is_float32():
    model = ResNet.from_preset("resnet20_cifar", input_shape=(32, 32, 3), dtype="mixed_float16")
    assert model.get_layer("stage1_block1").compute_dtype == "float16"
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert keras.backend.standardize_dtype(model(_pixels((1, 32, 32, 3))).dtype) == "float32"
    restored = ResNet.from_config(model.get_config())
    assert restored.get_layer("stage1_block1").dtype_policy.name == "mixed_float16"


def test_freeze_backbone_keeps_batchnorm_in_inference_mode():
    model = ResNet.from_preset("resnet20_cifar", input_shape=(16, 16, 3), num_classes=3, preprocessing="unit")
    model.freeze_backbone()
    assert [w.path for w in model.trainable_weights] == ["predictions/kernel", "predictions/bias"]
    frozen = {w.path: w.numpy().copy() for w in model.weights if not w.path.startswith("predictions")}
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(_pixels((8, 16, 16, 3)), np.arange(8) % 3, epochs=1, batch_size=4, verbose=0)
    for w in model.weights:
        if w.path in frozen:  # kernels and BN moving statistics alike
            np.testing.assert_array_equal(w.numpy(), frozen[w.path], err_msg=w.path)

    model.unfreeze_stages(1)
    stages = {w.path.split("/")[0] for w in model.trainable_weights}
    assert stages == {"predictions", "stage3_block1", "stage3_block2", "stage3_block3"}
    assert not any("bn" in w.path for w in model.trainable_weights)
    model.unfreeze_stages(1, train_norm=True)
    assert any("bn" in w.path for w in model.trainable_weights)
    model.unfreeze_stages("all", train_norm=True)
    assert len(model.trainable_weights) == len(ResNet.from_preset("resnet20_cifar").trainable_weights)
    with pytest.raises(ValueError, match="count"):
        model.unfreeze_stages(4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"block": "tiny"}, "block"),
        ({"stem": "v3"}, "stem"),
        ({"stage_widths": (16, 32)}, "stage_widths"),
        ({"output_stride": 4}, "output_stride"),
        ({"pooling": "sum"}, "pooling"),
        ({"pooling": None}, "pooling"),
        ({"preprocessing": "bgr"}, "preprocessing"),
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"drop_path_rate": 1.5}, "drop_path_rate"),
        ({"shortcut": "zero_pad"}, "shortcut"),
        ({"head_dtype": "float99"}, "head_dtype"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet.from_preset("resnet20_cifar", **kwargs)


def test_unknown_preset_lists_valid_names():
    with pytest.raises(
        ValueError, match=r"resnet9000.*Valid presets: resnet101, .*resnet20_cifar, .*wide_resnet50_2"
    ):
        ResNet.from_preset("resnet9000")


def test_replace_head_keeps_backbone_weights():
    model = ResNet.from_preset("resnet20_cifar", stage_blocks=(1, 1, 1), input_shape=(16, 16, 3))
    new = model.replace_head(num_classes=4)
    assert new.output_shape == (None, 4) and model.output_shape == (None, 10)
    x = _pixels((2, 16, 16, 3))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(new.feature_model(["C4"])(x)["C4"]),
        keras.ops.convert_to_numpy(model.feature_model(["C4"])(x)["C4"]),
        rtol=1e-6,
    )
