"""Named weights end to end on loopback: download, integrity, cache, mirror, private registry, errors.

Every file is generated here in its publisher's format and served by an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras_residual.models import ResNet
from keras_residual.weights import (
    IntegrityError,
    WeightSet,
    WeightsUnavailableError,
    converted_path,
    fetch,
    get_weights,
)
from tests.weights import checkpoints
from tests.weights.conftest import write_registry

pytest.importorskip("torch", reason="the parity reference is a torch model: pip install 'keras-residual[torch]'")


def _relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


@pytest.fixture
def private_torch(isolated, served, tmp_path, monkeypatch):
    """A torchvision-format ResNet-20 served on loopback and named "acme_v1" in a private registry."""
    directory, server = served
    reference = checkpoints.torch_model()
    path = checkpoints.write_torchvision_checkpoint(reference, directory / "resnet20-acme.pth")
    entry = checkpoints.private_entry("acme_v1", f"{server.url}/resnet20-acme.pth", path)
    monkeypatch.setenv("KERAS_RESIDUAL_WEIGHTS_REGISTRY", str(write_registry(tmp_path / "registry.json", [entry])))
    return reference, path, server, isolated


def test_private_set_loads_by_name_with_torch_parity_then_offline(private_torch, monkeypatch):
    reference, path, server, cache = private_torch
    pixels = checkpoints.images()
    model = ResNet.from_preset(checkpoints.TINY_PRESET, weights="acme_v1", classifier_activation=None)
    expected = checkpoints.torch_logits(reference, pixels)
    assert _relative_error(model.predict(pixels, verbose=0), expected) <= 1e-4
    # The set's transforms became the model's preprocessing; its class names ride on the model.
    assert model.resnet_config["preprocessing"] == "imagenet"
    assert model.pretrained_weights.class_names == tuple(checkpoints.CLASS_NAMES)
    entry = get_weights("acme_v1", checkpoints.TINY_PRESET)
    assert (cache / path.name).read_bytes() == path.read_bytes()
    assert converted_path(entry).is_file()

    # Second load: server gone, and neither a download nor a conversion happens.
    server.stop()
    import keras_residual.models.pretrained as pretrained

    def no_conversion(*args, **kwargs):
        raise AssertionError("the converted cache was not used")

    monkeypatch.setattr(pretrained, "load_torch_checkpoint", no_conversion)
    monkeypatch.setattr(pretrained, "fetch", no_conversion)
    again = ResNet.from_preset(checkpoints.TINY_PRESET, weights="acme_v1", classifier_activation=None)
    assert _relative_error(again.predict(pixels, verbose=0), expected) <= 1e-4


def test_tampered_file_is_refused_and_nothing_is_cached(private_torch):
    _, path, _, cache = private_torch
    good = checkpoints.sha256(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as raised:
        ResNet.from_preset(checkpoints.TINY_PRESET, weights="acme_v1")
    message = str(raised.value)
    assert good in message and checkpoints.sha256(path) in message and "\n" not in message
    assert sorted(p.name for p in cache.iterdir()) == []


def test_no_server_and_empty_cache_is_one_line_naming_the_url(private_torch):
    _, _, server, cache = private_torch
    server.stop()
    with pytest.raises(WeightsUnavailableError) as raised:
        ResNet.from_preset(checkpoints.TINY_PRESET, weights="acme_v1")
    message = str(raised.value)
    assert f"{server.url}/resnet20-acme.pth" in message
    assert "KERAS_RESIDUAL_WEIGHTS_MIRROR" in message and "keras-residual weights download" in message
    assert "\n" not in message
    assert not any(p.is_file() for p in cache.rglob("*"))


@pytest.mark.parametrize("kind", ["directory", "url"])
def test_a_mirror_serves_builtin_names_and_their_hash_is_checked(isolated, served, monkeypatch, kind):
    """A builtin torchvision set fetched from a mirror by its file name; a wrong file is refused."""
    directory, server = served
    entry = get_weights("resnet18.torchvision_v1")
    (directory / entry.file_name).write_bytes(b"not the published resnet18 weights")
    monkeypatch.setenv("KERAS_RESIDUAL_WEIGHTS_MIRROR", str(directory) if kind == "directory" else server.url + "/")
    with pytest.raises(IntegrityError, match=r"sha256 [0-9a-f]{64} but f37072fd\.\.\. was expected"):
        fetch(entry, progress=False)
    assert not any(isolated.iterdir())


def test_torchvision_hash_prefix_in_the_file_name_is_what_is_checked(isolated, served, tmp_path):
    """The publisher-style check (sha256 prefix in the file name, as torch.hub) on a generated file."""
    directory, server = served
    path = checkpoints.write_torchvision_checkpoint(checkpoints.torch_model(), tmp_path / "x.pth")
    prefix = checkpoints.sha256(path)[:8]
    served_name = f"resnet20-{prefix}.pth"
    (directory / served_name).write_bytes(path.read_bytes())
    entry = WeightSet(
        name="tv_style",
        preset=checkpoints.TINY_PRESET,
        url=f"{server.url}/{served_name}",
        format="torchvision",
        hash_algorithm="sha256-prefix",
        file_hash=prefix,
        num_classes=10,
    )
    assert fetch(entry, progress=False).read_bytes() == path.read_bytes()
    wrong = WeightSet(**{**entry.__dict__, "file_hash": "00000000" if prefix != "00000000" else "11111111"})
    (isolated / served_name).unlink()
    with pytest.raises(IntegrityError):
        fetch(wrong, progress=False)
    assert not (isolated / served_name).exists()


def test_timm_safetensors_set_with_a_fresh_head_for_fine_tuning(isolated, served, tmp_path, monkeypatch):
    directory, server = served
    reference = checkpoints.torch_model(seed=1)
    path = checkpoints.write_timm_safetensors(reference, directory / "resnet20.safetensors")
    entry = checkpoints.private_entry("acme_timm", f"{server.url}/{path.name}", path, fmt="timm")
    monkeypatch.setenv("KERAS_RESIDUAL_WEIGHTS_REGISTRY", str(write_registry(tmp_path / "r.json", [entry])))
    pixels = checkpoints.images(seed=2)
    full = ResNet.from_preset(checkpoints.TINY_PRESET, weights="resnet20_cifar.acme_timm", classifier_activation=None)
    assert _relative_error(full.predict(pixels, verbose=0), checkpoints.torch_logits(reference, pixels)) <= 1e-4
    tuned = ResNet.from_preset(checkpoints.TINY_PRESET, weights="acme_timm", num_classes=3)
    assert tuned.output_shape == (None, 3) and not hasattr(tuned, "pretrained_weights")
    np.testing.assert_array_equal(
        tuned.get_layer("stage3_block3").get_weights()[0], full.get_layer("stage3_block3").get_weights()[0]
    )


@pytest.mark.parametrize(
    ("weights", "preset", "expected"),
    [
        ("nope", "resnet50", "known for preset 'resnet50' (torchvision_v1, torchvision_v2)"),
        ("torchvision_v2", "resnet18", "fits preset(s) resnet101, resnet152, resnet50"),
        ("resnet50.torchvision_v2", "resnet18", "fit preset 'resnet50', not 'resnet18'"),
        ("imagenet", "resnet200", "a preset with published weights"),
    ],
)
def test_name_errors_are_one_line(isolated, weights, preset, expected):
    with pytest.raises(ValueError) as raised:
        ResNet.from_preset(preset, weights=weights)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_keras_applications_h5_converts_with_parity(isolated, served, tmp_path, monkeypatch):
    """A keras.applications-format ResNet50 .h5 (legacy HDF5 layout), by name for resnet50_v1."""
    from keras.applications.resnet import preprocess_input

    directory, server = served
    source = checkpoints.keras_applications_model()
    path = checkpoints.write_keras_applications_h5(source, directory / "resnet50_acme.h5")
    entry = {"name": "acme_keras", "preset": "resnet50_v1", "url": f"{server.url}/{path.name}",
             "sha256": checkpoints.sha256(path), "format": "keras", "transforms": {"mode": "caffe"}}
    monkeypatch.setenv("KERAS_RESIDUAL_WEIGHTS_REGISTRY", str(write_registry(tmp_path / "r.json", [entry])))
    pixels = checkpoints.images(count=2, size=64)
    model = ResNet.from_preset("resnet50_v1", weights="acme_keras", classifier_activation=None)
    expected = source.predict(preprocess_input(pixels.copy()), verbose=0)
    assert model.resnet_config["preprocessing"] == "caffe" and model.resnet_config["norm_epsilon"] == 1.001e-5
    assert _relative_error(model.predict(pixels, verbose=0), expected) <= 1e-4


def test_the_sets_class_names_become_the_saved_models_top_k_labels(private_torch, tmp_path):
    import tensorflow as tf

    from keras_residual import contract
    from keras_residual.export import export

    model = ResNet.from_preset(checkpoints.TINY_PRESET, weights="acme_v1", input_shape=(32, 32, 3))
    report = export(model, tmp_path / "base", "saved_model", warmup=False)
    serve = tf.saved_model.load(str(report.path)).signatures[contract.SIGNATURE_IMAGES]
    pixels = checkpoints.images()[:2]
    outputs = serve(images=tf.constant(pixels, tf.float32))
    labels = outputs[contract.OUTPUT_TOP_K_LABELS].numpy().astype(str)
    indices = outputs[contract.OUTPUT_TOP_K_INDICES].numpy()
    assert labels.tolist() == [[checkpoints.CLASS_NAMES[i] for i in row] for row in indices]
