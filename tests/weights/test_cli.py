"""The CLI around named weights: evaluate (digits in an image folder), local predict, train --weights NAME,
weights download, and their one-line errors. A private torch-format set is served on 127.0.0.1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keras_residual.cli import main
from tests.weights import checkpoints
from tests.weights.conftest import write_registry

torch = pytest.importorskip("torch", reason="the reference is a torch model: pip install 'keras-residual[torch]'")
Image = pytest.importorskip("PIL.Image", reason="image folders need Pillow: pip install 'keras-residual[data]'")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PER_CLASS = 3


@pytest.fixture
def served_set(isolated, served, tmp_path, monkeypatch):
    """The private set "acme_v1" (a torch ResNet-20 with 10 classes digit_0..digit_9) on loopback."""
    directory, server = served
    reference = checkpoints.torch_model(seed=5)
    path = checkpoints.write_torchvision_checkpoint(reference, directory / "resnet20-acme.pth")
    entry = checkpoints.private_entry("acme_v1", f"{server.url}/{path.name}", path)
    monkeypatch.setenv("KERAS_RESIDUAL_WEIGHTS_REGISTRY", str(write_registry(tmp_path / "registry.json", [entry])))
    return reference, server


@pytest.fixture
def digits_folder(tmp_path):
    """Held-out digits as PNG files in one folder per class, named like the set's classes."""
    from keras_residual.datasets import load_digits_arrays

    _, _, x_val, y_val, _ = load_digits_arrays(image_size=32)
    root = tmp_path / "digits"
    for label in range(10):
        folder = root / checkpoints.CLASS_NAMES[label]
        folder.mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(y_val == label)[:PER_CLASS]):
            Image.fromarray(x_val[index].astype("uint8")).save(folder / f"{i}.png")
    return root


def _reference_accuracy(reference, root):
    """Top-1/top-5 of the torch model on the folder: shorter side to 36 (bilinear), center 32 crop."""
    pixels, labels = [], []
    for label, name in enumerate(checkpoints.CLASS_NAMES):
        for file in sorted((root / name).glob("*.png")):
            image = Image.open(file).convert("RGB").resize((36, 36), Image.BILINEAR).crop((2, 2, 34, 34))
            pixels.append(np.asarray(image, "float32"))
            labels.append(label)
    logits = checkpoints.torch_logits(reference, np.stack(pixels))
    ranked = np.argsort(-logits, axis=1)
    labels = np.array(labels)
    return float((ranked[:, 0] == labels).mean()), float((ranked[:, :5] == labels[:, None]).any(1).mean())


def test_evaluate_a_preset_with_named_weights_on_digits(served_set, digits_folder, capsys):
    reference, _ = served_set
    argv = ["evaluate", "resnet20_cifar", "--weights", "acme_v1", "--data", str(digits_folder), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    top1, top5 = _reference_accuracy(reference, digits_folder)
    assert result["images"] == 10 * PER_CLASS
    assert result["transforms"] == checkpoints.TRANSFORMS
    assert (result["top1"], result["top5"]) == pytest.approx((top1, top5), abs=1e-9)


def test_predict_locally_prints_the_sets_labels(served_set, digits_folder, capsys):
    files = sorted(str(p) for p in digits_folder.rglob("*.png"))[:2]
    argv = ["predict", "--preset", "resnet20_cifar", "--weights", "acme_v1", "--top-k", "3", "--json", *files]
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)["predictions"]
    assert [len(r["top_k"]) for r in records] == [3, 3]
    for record in records:
        assert all(top["label"] == checkpoints.CLASS_NAMES[top["index"]] for top in record["top_k"])
        scores = [top["score"] for top in record["top_k"]]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6


def test_train_fine_tunes_from_named_weights_with_a_fresh_head(served_set, digits_folder, tmp_path):
    import keras

    import keras_residual

    reference, _ = served_set
    for name in checkpoints.CLASS_NAMES[3:]:  # a 3-class folder: the head cannot come from the weights
        for file in (digits_folder / name).iterdir():
            file.unlink()
        (digits_folder / name).rmdir()
    out = tmp_path / "run"
    argv = ["train", "--preset", "resnet20_cifar", "--weights", "acme_v1", "--data", str(digits_folder),
            "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--lr", "1e-9", "--out", str(out)]
    assert main(argv) == 0
    keras_residual.register_serializables()
    model = keras.saving.load_model(out / "model.keras", compile=False)
    assert model.output_shape == (None, 3) and model.resnet_config["preprocessing"] == "imagenet"
    kernel = model.get_layer("stage3_block3").conv2.kernel.numpy()
    expected = reference.layer3[2].conv2.weight.detach().numpy().transpose(2, 3, 1, 0)
    np.testing.assert_allclose(kernel, expected, atol=1e-5)  # the backbone is the set's (lr 1e-9: unchanged)


def test_weights_download_to_a_folder_then_serves_as_a_mirror(served_set, tmp_path, monkeypatch, capsys):
    _, server = served_set
    mirror = tmp_path / "mirror"
    assert main(["weights", "download", "acme_v1", "--preset", "resnet20_cifar", "--to", str(mirror)]) == 0
    assert "resnet20_cifar.acme_v1" in capsys.readouterr().out
    server.stop()
    monkeypatch.setenv("KERAS_RESIDUAL_WEIGHTS_MIRROR", str(mirror))
    assert main(["weights", "download", "resnet20_cifar.acme_v1"]) == 0  # into the empty cache, from the mirror


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["weights", "list", "--preset", "resnet200"], "a preset with published weights"),
        (["weights", "download", "nope", "--preset", "resnet50"], "known for preset 'resnet50'"),
        (["weights", "download", "resnet18.torchvision_v1", "--to", "{tmp}/file"], "exists and is not a directory"),
        (["evaluate", "resnet18", "--data", "{tmp}"], "give --weights"),
        (["evaluate", "resnet18", "--weights", "nope", "--data", "{tmp}"], "known for preset 'resnet18'"),
        (["predict", "{tmp}/file"], "give --target and --model"),
        (["predict", "--preset", "resnet18", "{tmp}/file"], "--preset needs --weights"),
        (["train", "--weights", "imagenet", "--out", "{tmp}/run"], "a preset with published weights"),
    ],
)
def test_errors_are_one_line(isolated, tmp_path, capsys, argv, expected):
    (tmp_path / "file").write_text("not a folder")
    argv = [item.format(tmp=tmp_path) for item in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
