"""Checkpoints in each publisher's exact format, generated small, and private registry entries for them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

TINY_PRESET = "resnet20_cifar"
"""The preset the generated torch checkpoints fit (0.27 M parameters: cheap to build and serve)."""

TRANSFORMS = {"resize": 36, "crop": 32, "interpolation": "bilinear", "mode": "imagenet"}
CLASS_NAMES = [f"digit_{i}" for i in range(10)]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def torch_model(seed: int = 0):
    """The torch reference ResNet-20 (torchvision names) with random BatchNorm statistics, in eval mode."""
    import torch

    from tests.models.torch_reference import TorchResNet, randomized

    torch.manual_seed(seed)
    model = TorchResNet("basic", (3, 3, 3), widths=(16, 32, 64), num_classes=10, stem="cifar", stem_width=16)
    return randomized(model, seed=seed)


def write_torchvision_checkpoint(model, path: Path) -> Path:
    """A torchvision-format file: ``torch.save(model.state_dict())``, as torchvision publishes."""
    import torch

    torch.save(model.state_dict(), str(path))
    return path


def write_timm_safetensors(model, path: Path) -> Path:
    """A timm-format file: the state dict as ``.safetensors`` (timm's Hugging Face files)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def private_entry(name: str, url: str, path: Path, fmt: str = "torchvision", **extra) -> dict:
    """A private registry entry for a generated file (its real sha256)."""
    return {
        "name": name,
        "preset": TINY_PRESET,
        "url": url,
        "sha256": sha256(path),
        "format": fmt,
        "num_classes": 10,
        "top1": 99.0,
        "transforms": TRANSFORMS,
        "class_names": CLASS_NAMES,
        **extra,
    }


def images(count: int = 4, size: int = 32, seed: int = 0) -> np.ndarray:
    """Raw 0..255 RGB pixels, NHWC float32."""
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")


def torch_logits(model, pixels: np.ndarray) -> np.ndarray:
    """The torch model's logits for raw pixels, normalized as torchvision does (x/255, mean/std)."""
    import torch

    mean = np.array([0.485, 0.456, 0.406], "float32")
    std = np.array([0.229, 0.224, 0.225], "float32")
    x = ((pixels / 255.0 - mean) / std).transpose(0, 3, 1, 2)
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def keras_applications_model(seed: int = 0, input_shape=(64, 64, 3)):
    """keras.applications.ResNet50 (logits head) with random BatchNorm statistics and conv biases."""
    import keras

    rng = np.random.default_rng(seed)
    model = keras.applications.ResNet50(weights=None, input_shape=input_shape, classifier_activation=None)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.1, n),
                               rng.uniform(0.5, 1.5, n)])
        elif isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
    return model


def write_keras_applications_h5(model, path: Path) -> Path:
    """The legacy HDF5 weights layout keras.applications publishes (``layer_names``/``weight_names`` attrs)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(str(path), "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    return path


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()
