"""train() and `keras-residual train`: the run directory contract, re-runs, errors."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from keras_residual.cli import train as train_command
from keras_residual.datasets import synthetic_arrays
from keras_residual.precision import resolve_precision
from keras_residual.training import Recipe, train
from tests.training._tiny import tiny_classifier

FAST = Recipe(random_resized_crop=0.5, flip=True, warmup_epochs=0.5)


@pytest.fixture(scope="module")
def arrays():
    return synthetic_arrays(image_size=8, num_classes=3, num_train=64, num_val=16)


def test_run_directory_contract(tmp_path, arrays):
    out = tmp_path / "run"
    x_train, y_train, x_val, y_val, _ = arrays
    names = ["red", "green", "blue"]
    result = train(
        tiny_classifier,
        (x_train, y_train, x_val, y_val, names),
        out=out,
        epochs=2,
        batch_size=16,
        recipe=FAST,
        verbose=0,
    )
    assert result.status == "fresh" and result.class_names == names
    assert json.loads((out / "class_names.json").read_text()) == names
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("val_accuracy", "val_loss", "epochs", "wall_time", "precision", "best_epoch"):
        assert key in metrics
    assert metrics["epochs"] == 2 and metrics["precision"] == resolve_precision("auto")
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    best = max(float(r["val_accuracy"]) for r in rows)
    assert metrics["val_accuracy"] == pytest.approx(best)
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 2 and config["batch_size"] == 16 and config["recipe"]["optimizer"] == "sgd"
    assert any(files for _, _, files in os.walk(out / "logs"))  # TensorBoard event files
    loaded = keras.saving.load_model(out / "model.keras")
    probabilities = loaded.predict(x_val[:4], verbose=0)
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert not [n for n in os.listdir(out) if ".tmp" in n]  # no temporary files left behind

    again = train(
        tiny_classifier,
        (x_train, y_train, x_val, y_val, names),
        out=out,
        epochs=2,
        batch_size=16,
        recipe=FAST,
        verbose=0,
    )
    assert again.status == "finished" and again.metrics == metrics
    with pytest.raises(ValueError, match="epochs: saved 2, now 3"):
        train(
            tiny_classifier,
            (x_train, y_train, x_val, y_val, names),
            out=out,
            epochs=3,
            batch_size=16,
            recipe=FAST,
            verbose=0,
        )


def test_ema_run_and_resume_errors(tmp_path, arrays):
    result = train(
        tiny_classifier,
        arrays,
        out=tmp_path / "ema",
        epochs=1,
        batch_size=16,
        recipe=Recipe(ema_decay=0.9, random_resized_crop=None),
        verbose=0,
    )
    assert result.model.optimizer.use_ema and np.isfinite(result.metrics["val_loss"])
    with pytest.raises(ValueError, match="holds no saved run state"):
        train(tiny_classifier, arrays, out=tmp_path / "empty", epochs=1, resume="yes", verbose=0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"epochs": 0}, "`epochs` must be an integer >= 1"),
        ({"batch_size": 2.5}, "`batch_size`"),
        ({"strategy": "tpu"}, "`strategy` must be one of"),
        ({"resume": "maybe"}, "`resume` must be one of"),
        ({"precision": "half"}, "`precision` must be one of"),
    ],
)
def test_bad_arguments(tmp_path, arrays, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(tiny_classifier, arrays, out=tmp_path, verbose=0, **kwargs)


def test_mismatched_channels(tmp_path, arrays):
    def grey_model(input_shape, num_classes):
        return tiny_classifier((*input_shape[:2], 1), num_classes)

    with pytest.raises(ValueError, match="mismatched channels: the data has 3 channel"):
        train(grey_model, arrays, out=tmp_path, epochs=1, verbose=0)


def test_tfrecord_label_error_surfaces_as_value_error(tmp_path):
    from tests.training.test_data import write_records

    folder = str(tmp_path / "records")
    write_records(folder, {"train": [0, 1, 9, 0], "validation": [1, 0]})
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("a\nb\n")
    with pytest.raises(
        ValueError,
        match=r"bad training data: label 9 is out of range \[0, 2\) in file .*records/train-00000-of-00001$",
    ):
        train(tiny_classifier, folder, out=tmp_path / "run", epochs=1, batch_size=2, image_size=8, verbose=0)


def run_cli(argv):
    """Parse ``argv`` with the ``train`` sub-command's parser and run it (what ``keras-residual`` does)."""
    import argparse

    parser = argparse.ArgumentParser(prog="keras-residual")
    train_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_trains_resnet20_preset(tmp_path, capsys):
    out = tmp_path / "cli"
    code = run_cli(
        [
            "train",
            "--preset",
            "resnet20_cifar",
            "--data",
            "synthetic",
            "--epochs",
            "1",
            "--image-size",
            "16",
            "--batch-size",
            "128",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    # --precision auto: the policy recorded fastest with accuracy kept on this machine's class
    assert "validation accuracy:" in printed and f"precision {resolve_precision('auto')}" in printed
    model = keras.saving.load_model(out / "model.keras")
    assert model.input_shape == (None, 16, 16, 3) and model.output_shape == (None, 10)
    assert json.loads((out / "class_names.json").read_text())[:2] == ["class_0", "class_1"]


def test_cli_bad_values(tmp_path, capsys):
    with pytest.raises(ValueError, match="`epochs` must be an integer >= 1"):  # main prints it and exits 2
        run_cli(["train", "--epochs", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        run_cli(["train", "--precision", "float16"])
    assert "invalid choice: 'float16'" in capsys.readouterr().err
