"""`keras-residual export saved-model`: class names beside the model, --serving-config, clean errors."""

import argparse
import json

import keras
import pytest

from keras_residual.cli import export_saved_model as command
from keras_residual.serving.serving_config import parse_serving_config


def _parse(argv):
    parser = argparse.ArgumentParser(prog="keras-residual export")
    command.register(parser.add_subparsers())
    return parser.parse_args(["saved-model", *argv])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A training output directory: model.keras and class_names.json side by side."""
    out = tmp_path_factory.mktemp("run")
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)).save(out / "model.keras")
    (out / "class_names.json").write_text(json.dumps(["cat", "dog", "fox"]))
    return out


def test_export_reads_class_names_and_updates_models_config(run_dir, tmp_path, capsys):
    base, config = tmp_path / "exports" / "pets", tmp_path / "models.config"
    args = _parse([str(run_dir / "model.keras"), "--base-path", str(base), "--top-k", "2"])
    args.serving_config = config
    assert command.run(args) == 0
    assert "exported" in capsys.readouterr().out
    assert json.loads((base / "1/assets/class_names.json").read_text()) == ["cat", "dog", "fox"]
    export_config = json.loads((base / "1/assets/export_config.json").read_text())
    assert export_config["top_k"] == 2
    entry = parse_serving_config(config, "models").model_config_list.config[0]
    assert (entry.name, entry.base_path) == ("pets", "/models/pets")
    assert dict(entry.version_labels) == {"stable": 1}

    args = _parse(
        [str(run_dir / "model.keras"), "--base-path", str(base), "--version", "4", "--no-warmup"]
        + ["--serving-config", str(config), "--model-name", "pets", "--serving-base-path", "/srv/pets"]
    )
    assert command.run(args) == 0
    entry = parse_serving_config(config, "models").model_config_list.config[0]
    assert dict(entry.version_labels) == {"stable": 1, "canary": 4}
    assert list(entry.model_version_policy.specific.versions) == [1, 4]
    assert entry.base_path == "/srv/pets"
    assert not (base / "4/assets.extra").exists()


def test_existing_version_and_bad_class_names_are_clean_errors(run_dir, tmp_path):
    base = tmp_path / "exports" / "pets"
    assert command.run(_parse([str(run_dir / "model.keras"), "--base-path", str(base), "--no-warmup"])) == 0
    with pytest.raises(FileExistsError, match="version 1 already exists .* --overwrite"):
        command.run(_parse([str(run_dir / "model.keras"), "--base-path", str(base), "--version", "1"]))
    bad = tmp_path / "names.json"
    bad.write_text(json.dumps(["only", "two"]))
    with pytest.raises(ValueError, match="class_names has 2 entries but the model has 3 classes"):
        command.run(
            _parse([str(run_dir / "model.keras"), "--base-path", str(base), "--class-names", str(bad)])
        )
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="--class-names .*: not JSON"):
        command.run(
            _parse([str(run_dir / "model.keras"), "--base-path", str(base), "--class-names", str(bad)])
        )
    with pytest.raises(ValueError, match="MODEL .*missing.keras': no such file"):
        command.run(_parse([str(tmp_path / "missing.keras"), "--base-path", str(base)]))
    assert sorted(p.name for p in base.iterdir()) == ["1"]
