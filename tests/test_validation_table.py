"""Every public constructor and function rejects a bad argument with a ValueError that names it.

One table, one message style: "`name` must be ...; received ...". Each row calls the public entry
point with one bad value; nothing is built, trained or exported (the checks run first), so the whole
table takes a few seconds.
"""

import keras
import numpy as np
import pytest

from keras_residual import datasets
from keras_residual.client import ServingClient
from keras_residual.export import export, export_onnx, export_saved_model, rebuild_with_policy
from keras_residual.export.images import calibration_split
from keras_residual.layers import DropPath, Residual, ResidualBlock, SqueezeExcite
from keras_residual.models import ImagePreprocessing, ResNet, count_macs, feature_model
from keras_residual.models.presets import preset_config
from keras_residual.serving.kubernetes import kubernetes_manifests
from keras_residual.serving.serving_config import parse_serving_config, update_models_config
from keras_residual.training import Recipe, train
from keras_residual.training.data import from_arrays, load_dataset
from keras_residual.training.image_folder import load_image_folder
from keras_residual.training.recipe import WarmupCosineDecay


def _tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.fixture(scope="module")
def tiny():
    return _tiny_model()


@pytest.fixture(scope="module")
def backbone():
    return ResNet.from_preset(
        "resnet20_cifar", stage_blocks=(1, 1, 1), include_top=False, input_shape=(8, 8, 3)
    )


def _dense():
    return keras.layers.Dense(4)


# (entry point, fixed arguments, argument under test, bad value)
LAYERS = [
    (DropPath, {}, "rate", 1.0),
    (DropPath, {}, "rate", "0.1"),
    (DropPath, {"rate": 0.1}, "seed", -1),
    (Residual, {"layer": _dense}, "projection", "sometimes"),
    (Residual, {"layer": _dense}, "drop_path_rate", -0.1),
    (Residual, {"layer": _dense}, "layer_scale", 0),
    (Residual, {"layer": _dense}, "layer_scale", True),
    (Residual, {"layer": _dense}, "data_format", "NHWC"),
    (Residual, {}, "layer", "dense"),
    (SqueezeExcite, {}, "ratio", 0.0),
    (SqueezeExcite, {}, "ratio", 1.5),
    (SqueezeExcite, {}, "reduced_channels", 0),
    (SqueezeExcite, {}, "activation", "no_such_activation"),
    (SqueezeExcite, {}, "rank", 4),
    (ResidualBlock, {}, "filters", 0),
    (ResidualBlock, {"filters": 8}, "block", "huge"),
    (ResidualBlock, {"filters": 8}, "strides", True),
    (ResidualBlock, {"filters": 8}, "rank", 0),
    (ResidualBlock, {"filters": 8}, "preact", 1),
    (ResidualBlock, {"filters": 8}, "shortcut", "zero_pad"),
    (ResidualBlock, {"filters": 8}, "stride_on", "5x5"),
    (ResidualBlock, {"filters": 8}, "groups", 0),
    (ResidualBlock, {"filters": 8}, "se_ratio", 1.0),
    (ResidualBlock, {"filters": 8}, "drop_path_rate", 1.0),
    (ResidualBlock, {"filters": 8}, "zero_init_last", "yes"),
    (ResidualBlock, {"filters": 8}, "activation", 3),
    (ResidualBlock, {"filters": 8}, "norm", "instance"),
    (ResidualBlock, {"filters": 8}, "norm_epsilon", 0),
    (ResidualBlock, {"filters": 8}, "norm_momentum", 1.0),
    (ResidualBlock, {"filters": 8}, "kernel_initializer", "no_such_initializer"),
    (ResidualBlock, {"filters": 8}, "kernel_regularizer", "no_such_regularizer"),
    (ResidualBlock, {"filters": 8}, "data_format", "NCHW"),
    (ImagePreprocessing, {}, "mode", "bgr"),
    (ImagePreprocessing, {}, "data_format", "NHWC"),
]

RESNET = [
    (ResNet, {}, "stage_blocks", ()),
    (ResNet, {"stage_blocks": (1, 1)}, "stage_widths", (8, 16, 32)),
    (ResNet, {"stage_blocks": (1, 1), "stage_widths": (8, 16)}, "block", "tiny"),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "stem", "v3"),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "stem_width", 0),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "preact", None),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "output_stride", 4),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "include_top", "no"),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "num_classes", 0),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "pooling", "sum"),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "input_shape", (32, 32)),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "preprocessing", "bgr"),
    (
        ResNet,
        {"stage_blocks": (1,), "stage_widths": (8,), "input_shape": (8, 8, 1)},
        "preprocessing",
        "imagenet",
    ),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "head_dtype", "float99"),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "norm_epsilon", -1.0),
    (ResNet, {"stage_blocks": (1,), "stage_widths": (8,)}, "data_format", "NHWC"),
    (ResNet.from_preset, {}, "name", "resnet9000"),
    (ResNet.from_preset, {"name": "resnet20_cifar"}, "drop_path_rate", 1.5),
    (preset_config, {}, "name", 50),
]

TRAINING = [
    (train, {"model": "resnet20_cifar"}, "epochs", 0),
    (train, {"model": "resnet20_cifar"}, "batch_size", 2.5),
    (train, {"model": "resnet20_cifar"}, "xla", "yes"),
    (train, {"model": "resnet20_cifar"}, "seed", -1),
    (train, {"model": "resnet20_cifar"}, "verbose", 3),
    (train, {"model": "resnet20_cifar"}, "recipe", {"lr": 0.1}),
    (train, {}, "model", ""),
    (train, {"model": "resnet20_cifar"}, "strategy", "tpu"),
    (train, {"model": "resnet20_cifar"}, "precision", "float16"),
    (Recipe, {}, "optimizer", "rmsprop"),
    (Recipe, {}, "base_lr", 0),
    (Recipe, {}, "lr", -1.0),
    (Recipe, {}, "momentum", 1.0),
    (Recipe, {}, "weight_decay", 2.0),
    (Recipe, {}, "warmup_epochs", -1),
    (Recipe, {}, "label_smoothing", True),
    (Recipe, {}, "norm_momentum", 1.0),
    (Recipe, {}, "ema_decay", 1.0),
    (Recipe, {}, "random_resized_crop", 0.0),
    (Recipe, {}, "flip", "yes"),
    (Recipe, {}, "mixup_alpha", -0.5),
    (Recipe, {}, "cutmix_alpha", "1"),
    (WarmupCosineDecay, {"peak_lr": 0.1}, "total_steps", 0),
    (WarmupCosineDecay, {"peak_lr": 0.1, "total_steps": 10}, "warmup_steps", 11),
    (load_dataset, {}, "channels", 2),
    (load_dataset, {}, "image_size", 4),
    (load_image_folder, {"root": ".", "image_size": 32}, "validation_split", 1.0),
]

DATA = [
    (datasets.load_digits_arrays, {}, "image_size", 7),
    (datasets.load_digits_arrays, {}, "image_size", "32"),
    (datasets.fit_channels, {"images": np.zeros((1, 4, 4, 3), "float32")}, "channels", 2),
    (datasets.fit_channels, {"channels": 3}, "images", np.zeros((1, 4, 4, 2), "float32")),
    (datasets.folder_images, {"height": 8, "width": 8, "channels": 3}, "folder", "no/such/folder"),
    (calibration_split, {"height": 8, "width": 8, "channels": 3}, "calibration_data", 3),
    (calibration_split, {"height": 8, "width": 8, "channels": 3}, "calibration_data", np.zeros((2, 8, 8, 3))),
    (parse_serving_config, {"path": "models.config"}, "kind", "cluster"),
    (update_models_config, {"path": "m.config", "base_path": "/m", "version": 1}, "model_name", ""),
    (update_models_config, {"path": "m.config", "model_name": "m", "version": 1}, "base_path", ""),
    (update_models_config, {"path": "m.config", "model_name": "m", "base_path": "/m"}, "version", -1),
    (
        update_models_config,
        {"path": "m.config", "model_name": "m", "base_path": "/m", "version": 1},
        "label",
        "beta",
    ),
    (ServingClient, {"target": "h:1", "model_name": "m"}, "load_balancing", "random"),
    (ServingClient, {"model_name": "m"}, "target", ["h:1", "h:2"]),
    (kubernetes_manifests, {"base_path": "exports/digits"}, "replicas", 0),
    (kubernetes_manifests, {"base_path": "exports/digits"}, "memory", "4GB"),
    (kubernetes_manifests, {"base_path": "exports/digits"}, "name", "Digits"),
]

EXPORT = [
    (export_onnx, {"model": None}, "precision", "bfloat16"),
    (export_onnx, {"model": None}, "quantize", "int4"),
    (export_onnx, {"model": None, "quantize": "int8"}, "precision", "float16"),
    (export_onnx, {"model": None}, "opset", 9),
    (export_onnx, {"model": None}, "atol", 0.0),
    (export_onnx, {"model": None}, "verify", "yes"),
    (export_onnx, {"model": None}, "calibration_data", "digits"),
    (export_onnx, {"model": None, "quantize": "int8"}, "calibration_data", 3),
    (export_onnx, {"model": None, "quantize": "int8"}, "calibration_data", "no/such/folder"),
    (export_onnx, {}, "model", "model.keras"),
    (rebuild_with_policy, {}, "compute_dtype", "float16"),
    (export_saved_model, {}, "top_k", 0),
    (export_saved_model, {}, "resize", "cubic"),
    (export_saved_model, {}, "compute_dtype", "mixed_float16"),
    (export_saved_model, {}, "version", -1),
    (export_saved_model, {}, "max_pixels", 0),
    (export, {"format": "onnx"}, "precision", "bfloat16"),
    (export, {"format": "litert"}, "precision", "int4"),
    (export, {}, "format", "tensorrt"),
    (export, {"format": "onnx", "precision": "int8"}, "min_agreement", 1.01),
    (export, {"format": "openvino"}, "calibration_data", "digits"),
    (export, {"format": "litert"}, "int8_io", "uint8"),
    (export, {"format": "openvino"}, "device", "NPU9"),
    (export, {"format": "saved_model"}, "top_k", 0),
]

MODEL_FUNCTIONS = [
    (feature_model, {}, "levels", ["C9"]),
    (feature_model, {}, "model", "resnet50"),
    (count_macs, {}, "image_size", (8,)),
]


def _call(entry, fixed, argument, value, tmp_path, tiny):
    kwargs = {key: (item() if callable(item) and key == "layer" else item) for key, item in fixed.items()}
    kwargs[argument] = value
    if entry in (export_onnx,):
        kwargs.setdefault("model", tiny)
        kwargs["path"] = tmp_path / "bad.onnx"
    if entry is export:
        suffix = {"litert": ".tflite", "openvino": ".xml", "onnx": ".onnx"}.get(kwargs.get("format"), "")
        kwargs.update(model=tiny, path=tmp_path / f"bad{suffix}")
    if entry in (export_saved_model, rebuild_with_policy):
        kwargs["model"] = tiny
        if entry is export_saved_model:
            kwargs["base_path"] = tmp_path / "serving"
    if entry is train:
        kwargs.update(data="synthetic", out=tmp_path / "run")
    if entry in (update_models_config, parse_serving_config):
        kwargs["path"] = tmp_path / kwargs["path"]
    return entry(**kwargs)


def _expect_named(argument, call):
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert f"`{argument}` must be" in message and "received" in message, message


@pytest.mark.parametrize(
    ("entry", "fixed", "argument", "value"),
    LAYERS + RESNET + TRAINING + DATA + EXPORT,
    ids=lambda item: getattr(item, "__qualname__", None),
)
def test_bad_value_names_the_argument(tmp_path, tiny, entry, fixed, argument, value):
    _expect_named(argument, lambda: _call(entry, fixed, argument, value, tmp_path, tiny))


@pytest.mark.parametrize(("entry", "fixed", "argument", "value"), MODEL_FUNCTIONS)
def test_model_helpers_name_the_argument(backbone, entry, fixed, argument, value):
    kwargs = {"model": backbone, **fixed, argument: value}
    _expect_named(argument, lambda: entry(**kwargs))


def test_unfreeze_stages_names_count(backbone):
    _expect_named("count", lambda: backbone.unfreeze_stages(9))


def test_from_arrays_names_the_array():
    x = np.zeros((4, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="x_train"):
        from_arrays(x[0], np.zeros(4, "int32"), x, np.zeros(4, "int32"))
