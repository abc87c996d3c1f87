"""``keras-residual export onnx``: a saved .keras model round-trips to a verified ONNX file."""

import argparse

import keras
import numpy as np
import onnxruntime as ort
import pytest

from keras_residual import ResNet
from keras_residual.cli import export_onnx as command
from keras_residual.export.images import verification_images

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def parse(argv):
    """Parse ``export onnx ...`` arguments with the command's own parser, as the CLI dispatcher does."""
    parser = argparse.ArgumentParser(prog="keras-residual export")
    command.register(parser.add_subparsers(dest="export_format", required=True))
    return parser.parse_args(["onnx", *argv])


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    model = ResNet.from_preset(
        "resnet20_cifar",
        stage_blocks=(1, 1, 1),
        stage_widths=(8, 8, 16),
        stem_width=8,
        input_shape=(32, 32, 3),
        num_classes=10,
        preprocessing="unit",
    )
    path = tmp_path_factory.mktemp("cli") / "model.keras"
    model.save(path)
    return path


def test_cli_round_trip_prints_the_report(tmp_path, saved_model, capsys):
    output = tmp_path / "out" / "model.onnx"
    args = parse([str(saved_model), "--output", str(output), "--opset", "15"])
    assert args.func is command.run
    assert command.run(args) == 0
    printed = capsys.readouterr().out
    assert f"ONNX export: {output}" in printed and "opset 15" in printed and "max abs diff" in printed
    # The file answers like the .keras model it came from.
    model = keras.saving.load_model(saved_model)
    images = verification_images(32, 32, 3, count=3)
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": images})[0]
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(images)), atol=1e-4, rtol=0)


def test_cli_float16_without_verification(tmp_path, saved_model, capsys):
    output = tmp_path / "half.onnx"
    assert (
        command.run(parse([str(saved_model), "-o", str(output), "--precision", "float16", "--no-verify"]))
        == 0
    )
    printed = capsys.readouterr().out
    assert "float16" in printed and "not checked (verify=False)" in printed and output.is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.keras", "-o", "x.onnx"], "no such file"),
        (
            ["{model}", "-o", "x.onnx", "--calibration", "digits"],
            "--calibration only applies with --quantize",
        ),
        (["{model}", "-o", "x.onnx", "--opset", "99"], r"`opset` must be an integer in \[13, "),
    ],
)
def test_cli_mistakes_are_value_errors(tmp_path, saved_model, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    args = parse([item.format(model=saved_model) for item in argv])
    with pytest.raises(ValueError, match=message):
        command.run(args)
    assert not (tmp_path / "x.onnx").exists()


def test_cli_rejects_unknown_choices():
    with pytest.raises(SystemExit):
        parse(["model.keras", "-o", "x.onnx", "--quantize", "int4"])


def test_entry_point_prints_one_error_line_and_exits_2(tmp_path, capsys):
    from keras_residual.cli import main

    code = main(["export", "onnx", str(tmp_path / "missing.keras"), "--output", str(tmp_path / "x.onnx")])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert "missing.keras" in error and "no such file" in error and len(error.splitlines()) == 1
