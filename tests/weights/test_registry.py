"""The registry's facts against their publishers' own sources, and the private registry's checks.

torchvision cannot be imported beside the torch in .venv, so its ``Weights`` enums are read with
``ast`` from the files of the torchvision wheel (``pip download``, cached; see torchvision_source.py).
The keras.applications facts are read from the installed Keras's source the same way.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from keras_residual.weights import IMAGENET_CLASSES, get_weights, list_weights, private_sets
from keras_residual.weights.catalog import TORCHVISION_VERSION
from tests.weights import torchvision_source
from tests.weights.conftest import write_registry


@pytest.fixture(scope="module")
def torchvision_facts():
    try:
        resnet_source, meta_source = torchvision_source.wheel_sources(TORCHVISION_VERSION)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"torchvision's wheel could not be downloaded from PyPI to read its enums: {err}")
    return torchvision_source.weights_enums(resnet_source), torchvision_source.imagenet_categories(meta_source)


def test_every_torchvision_set_matches_torchvision_enums(torchvision_facts):
    enums, _ = torchvision_facts
    checked = 0
    for enum_class, preset in torchvision_source.ENUM_PRESETS.items():
        members = enums[enum_class]
        ours = {entry.name: entry for entry in list_weights(preset) if entry.format == "torchvision"}
        assert sorted(ours) == sorted(f"torchvision_{m.split('_')[-1].lower()}" for m in members), preset
        for member, facts in members.items():
            entry = ours[f"torchvision_{member.split('_')[-1].lower()}"]
            assert entry.url == facts["url"]
            assert (entry.top1, entry.top5, entry.num_params) == (facts["acc1"], facts["acc5"], facts["num_params"])
            assert (entry.transforms.resize, entry.transforms.crop) == (facts["resize_size"], facts["crop_size"])
            assert entry.size_mb == facts["file_size_mb"] and entry.transforms.mode == "imagenet"
            assert facts["url"].rsplit("-", 1)[1].startswith(entry.file_hash) and len(entry.file_hash) >= 8
            checked += 1
    assert checked == 14  # resnet18, resnet34: V1 only; the six others: V1 and V2


def test_imagenet_class_names_are_torchvisions(torchvision_facts):
    _, categories = torchvision_facts
    assert list(IMAGENET_CLASSES) == categories and len(categories) == 1000
    assert get_weights("resnet18.torchvision_v1").class_names == IMAGENET_CLASSES


def _keras_applications_facts():
    spec = importlib.util.find_spec("keras.src.applications.resnet")
    tree = ast.parse(Path(spec.origin).read_text())
    values = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        if isinstance(target, ast.Name) and target.id in ("BASE_WEIGHTS_PATH", "WEIGHTS_HASHES"):
            values[target.id] = ast.literal_eval(node.value)
    return values["BASE_WEIGHTS_PATH"], values["WEIGHTS_HASHES"]


def test_every_keras_set_matches_the_installed_keras():
    base, hashes = _keras_applications_facts()
    keras_sets = [entry for entry in list_weights() if entry.format == "keras"]
    assert len(keras_sets) == 6
    for entry in keras_sets:
        weights_name = entry.file_name.split("_weights_tf_dim_ordering_tf_kernels.h5")[0]
        assert entry.url == f"{base}{weights_name}_weights_tf_dim_ordering_tf_kernels.h5"
        assert (entry.hash_algorithm, entry.file_hash) == ("md5", hashes[weights_name][0])
        assert entry.transforms.mode == ("tf" if entry.preset.endswith("_v2") else "caffe")
        assert entry.class_names == IMAGENET_CLASSES


def test_imagenet_picks_the_best_published_set():
    assert get_weights("imagenet", "resnet50").name == "torchvision_v2"
    assert get_weights("imagenet", "resnet18").name == "torchvision_v1"
    assert get_weights("imagenet", "resnet50_v2").qualified_name == "resnet50_v2.keras"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "a", "preset": "resnet50", "url": "u", "format": "torchvision"}, "needs string fields ['sha256']"),
        ({"name": "a", "preset": "resnet50", "url": "u", "format": "onnx", "sha256": "0" * 64}, "`format` must be"),
        ({"name": "a", "preset": "resnet50", "url": "u", "format": "timm", "sha256": "abc"}, "64 lowercase hex"),
        ({"name": "a b", "preset": "resnet50", "url": "u", "format": "timm", "sha256": "0" * 64}, "`name` must be"),
        ({"name": "a", "preset": "r", "url": "u", "format": "timm", "sha256": "0" * 64, "class_names": ["x"]},
         "`class_names` must be a list of num_classes=1000"),
        ({"name": "torchvision_v1", "preset": "resnet18", "url": "u", "format": "timm", "sha256": "0" * 64},
         "defined twice"),
    ],
)
def test_private_registry_errors_name_the_file_and_field(tmp_path, monkeypatch, entry, expected):
    path = write_registry(tmp_path / "registry.json", [entry])
    monkeypatch.setenv("KERAS_RESIDUAL_WEIGHTS_REGISTRY", str(path))
    with pytest.raises(ValueError) as raised:
        list_weights()
    assert expected in str(raised.value)
    assert "defined twice" in expected or str(path) in str(raised.value)


def test_private_registry_that_is_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        private_sets(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        private_sets(tmp_path / "missing.json")


def test_weights_list_imports_neither_tensorflow_nor_keras(tmp_path):
    """`keras-residual weights list` in a fresh interpreter; its wall time is reported, never asserted."""
    code = (
        "import sys, time\n"
        "start = time.perf_counter()\n"
        "from keras_residual.cli import main\n"
        "code = main(['weights', 'list'])\n"
        "elapsed = time.perf_counter() - start\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules)\n"
        "print('RESULT', code, heavy, round(elapsed, 3), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    result = [line for line in done.stderr.splitlines() if line.startswith("RESULT")]
    assert result, done.stderr
    _, code, heavy, elapsed = result[0].split(" ", 3)
    assert code == "0" and heavy.startswith("[]"), result[0]
    assert "resnet50" in done.stdout and "torchvision_v2" in done.stdout and "80.858" in done.stdout
    print(f"weights list took {elapsed} s in a fresh interpreter")


def test_weights_list_json_is_the_registry(capsys):
    from keras_residual.cli import main

    assert main(["weights", "list", "--preset", "resnet50", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["torchvision_v1", "torchvision_v2"]
    assert rows[1]["url"] == "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"


def test_private_relative_path_is_relative_to_the_registry_file(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    entry = {"name": "local", "preset": "resnet18", "url": "files/r18.pth", "format": "torchvision", "sha256": "0" * 64}
    path = write_registry(tmp_path / "sub" / "registry.json", [entry])
    monkeypatch.chdir(tmp_path)
    (found,) = private_sets(path)
    assert found.url == str(tmp_path / "sub" / "files" / "r18.pth") and found.private
