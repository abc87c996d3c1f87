"""The ``keras-residual`` dispatcher and the ``info`` command."""

import json
import pathlib
import subprocess
import sys

import pytest

from keras_residual.cli import build_parser, main


def test_every_command_is_registered():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"train", "export", "predict", "serving-status", "bench", "info", "weights", "evaluate",
            "deploy", "tune-batching"} <= set(commands)
    export_formats = commands["export"]._subparsers._group_actions[0].choices
    assert {"saved-model", "onnx", "saved_model", "litert", "openvino", "triton"} <= set(export_formats)


def test_info_json_lists_presets_and_backend(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backend"] == "tensorflow"
    assert "resnet50" in info["presets"] and "resnet20_cifar" in info["presets"]
    assert info["extras"]["onnx"]["tf2onnx"]


def test_info_reports_every_runtime_extra_of_pyproject(capsys):
    """docs, dev and all are not runtimes; every other extra is listed with its distributions."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    pyproject = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"]) - {"docs", "dev", "all"}
    assert set(info["extras"]) == extras


def test_missing_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_console_script_help_runs():
    out = subprocess.run(
        [sys.executable, "-m", "keras_residual.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0
    assert "train" in out.stdout and "export" in out.stdout
