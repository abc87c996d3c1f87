"""The CLI never shows a traceback for a user's mistake: one line naming the file or argument, exit 2.

Every sub-command is run through the real entry point (``keras_residual.cli.main``) with bad
inputs. A traceback would escape ``main`` as an exception and fail the test; the printed error
must be a single line that names what is wrong. Two cases run as a separate process, like a user
would: ``--version`` must import neither TensorFlow nor Keras, and a normal export must print no
TensorFlow C++ log line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import pytest

from keras_residual.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny real model and a set of files that are not what their names say."""
    folder = tmp_path_factory.mktemp("cli-errors")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)).save(folder / "model.keras")
    (folder / "garbage.keras").write_text("this is not a Keras archive\n")
    with zipfile.ZipFile(folder / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "a zip archive, but not from model.save()")
    (folder / "garbage.pth").write_text("not a torch checkpoint\n")
    (folder / "garbage.safetensors").write_bytes(b"\x00\x01 not safetensors")
    (folder / "a-file").write_text("a file where a directory is expected\n")
    (folder / "names.json").write_text("{not json")
    return folder


CASES = [
    # (sub-command argv with {dir} for the fixture folder, text the one error line must contain)
    (["train", "--weights", "imagenet", "--out", "{dir}/run1"], "received preset='resnet20_cifar'"),
    (["train", "--weights", "{dir}/missing.pth", "--out", "{dir}/run1"], "missing.pth': no such file"),
    (["train", "--preset", "resnet18", "--data", "synthetic", "--weights", "{dir}/garbage.pth",
      "--out", "{dir}/run2"], "garbage.pth"),
    (["train", "--preset", "resnet18", "--data", "synthetic", "--weights", "{dir}/garbage.safetensors",
      "--out", "{dir}/run3"], "garbage.safetensors"),
    (["train", "--data", "{dir}/no-such-folder", "--out", "{dir}/run4"], "no-such-folder"),
    (["train", "--out", "{dir}/a-file"], "a-file': exists and is not a directory"),
    (["train", "--preset", "resnet_nope", "--out", "{dir}/run5"], "resnet_nope"),
    (["train", "--epochs", "0", "--out", "{dir}/run6"], "epochs"),
    (["train", "--strategy", "data_parallel", "--out", "{dir}/run7"],
     "strategy 'data_parallel' runs on the jax backend (KERAS_BACKEND=jax); this process runs tensorflow"),
    (["export", "onnx", "{dir}/missing.keras", "-o", "{dir}/x.onnx"], "missing.keras': no such file"),
    (["export", "onnx", "{dir}/garbage.keras", "-o", "{dir}/x.onnx"], "garbage.keras': not a Keras archive"),
    (["export", "onnx", "{dir}/other.keras", "-o", "{dir}/x.onnx"], "other.keras': could not be loaded"),
    (["export", "onnx", "{dir}", "-o", "{dir}/x.onnx"], "not a file"),
    (["export", "onnx", "{dir}/model.keras", "-o", "{dir}/a-file/x.onnx"], "a-file"),
    (["export", "onnx", "{dir}/model.keras", "-o", "{dir}"], "is a directory"),
    (["export", "litert", "{dir}/missing.keras", "--output", "{dir}/x.tflite"], "missing.keras': no such file"),
    (["export", "litert", "{dir}/garbage.keras", "--output", "{dir}/x.tflite"], "not a Keras archive"),
    (["export", "openvino", "{dir}/other.keras", "--output", "{dir}/x.xml"], "could not be loaded"),
    (["export", "openvino", "{dir}/model.keras", "--output", "{dir}/x.xml", "--min-agreement", "2"],
     "min_agreement"),
    (["export", "saved-model", "{dir}/missing.keras", "--base-path", "{dir}/exp"], "missing.keras"),
    (["export", "saved-model", "{dir}/garbage.keras", "--base-path", "{dir}/exp"], "not a Keras archive"),
    (["export", "saved-model", "{dir}/model.keras", "--base-path", "{dir}/a-file"], "a-file"),
    (["export", "saved-model", "{dir}/model.keras", "--base-path", "{dir}/exp", "--class-names",
      "{dir}/nope.json"], "nope.json"),
    (["export", "saved-model", "{dir}/model.keras", "--base-path", "{dir}/exp", "--class-names",
      "{dir}/names.json"], "names.json"),
    (["export", "saved-model", "{dir}/model.keras", "--base-path", "{dir}/exp", "--image-size", "1", "2",
      "3"], "--image-size"),
    (["export", "saved-model", "{dir}/model.keras", "--base-path", "{dir}/exp", "--top-k", "0"], "top_k"),
    (["export", "saved-model", "{dir}/model.keras", "--base-path", "{dir}/exp", "--max-pixels", "0"],
     "max_pixels"),
    (["export", "saved-model", "{dir}/model.keras", "--base-path", "{dir}/exp", "--resize", "cubic"],
     "resize"),
    (["export", "onnx", "{dir}/model.keras", "{dir}/x.onnx", "--precision", "auto"], "received precision='auto'"),
    (["export", "onnx", "{dir}/model.keras", "{dir}/x.onnx", "--option", "opset=99"], "`opset` must be"),
    (["export", "onnx", "{dir}/model.keras", "{dir}/x.onnx", "--option", "nope"], "--option takes KEY=VALUE"),
    (["export", "onnx", "{dir}/model.keras", "{dir}/x.onnx", "-o", "{dir}/y.onnx"], "not both"),
    (["export", "litert", "{dir}/model.keras", "{dir}/x.tflite", "--option", "depth=3"], "`format_options`"),
    (["export", "saved_model", "{dir}/model.keras", "{dir}/exp", "--option", "top_k=0"], "top_k"),
    (["export", "openvino", "{dir}/model.keras", "{dir}/x.xml", "--precision", "int8", "--min-agreement", "1.01"],
     "min_agreement"),
    (["predict", "--target", "127.0.0.1:1", "--model", "m", "{dir}/missing.png"], "missing.png"),
    (["tune-batching", "{dir}/no-export"], "no-export"),
    (["deploy", "kubernetes", "{dir}", "--out", "{dir}/k8s"], "`base_path` must be"),
    (["deploy", "kubernetes", "{dir}/no-export", "--out", "{dir}/k8s", "--replicas", "0"], "`replicas` must be"),
    (["deploy", "kserve", "{dir}/names.json", "--storage-uri", "s3://b/m", "--out", "{dir}/ks"], "`base_path` must be"),
    (["weights", "download", "nope", "--preset", "resnet50"], "known for preset 'resnet50'"),
    (["evaluate", "{dir}/missing.keras", "--data", "{dir}"], "missing.keras': no such file"),
]


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[" ".join(c[0][:2]) + f"-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_naming_it(files, capsys, argv, expected):
    argv = [item.format(dir=files) for item in argv]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"keras-residual {argv[0]}: error: "), err
    assert expected in lines[0], err


def _run(args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300, **kwargs)


def test_version_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys\n"
        "from keras_residual.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'torch', 'jax') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    result = _run(["-c", code])
    assert result.returncode == 0, result.stderr
    assert "keras-residual 0.1.0" in result.stdout and "heavy: []" in result.stdout


def test_a_normal_export_prints_no_tensorflow_log_line(files, tmp_path):
    result = _run(["-m", "keras_residual.cli", "export", "saved-model", str(files / "model.keras"),
                   "--base-path", str(tmp_path / "exp"), "--no-warmup"])
    assert result.returncode == 0, result.stderr
    assert "exported" in result.stdout
    assert _cpp_log_lines(result.stderr) == [] and "absl::InitializeLog" not in result.stderr, result.stderr
    verbose = _run(["-m", "keras_residual.cli", "--verbose", "export", "saved-model",
                    str(files / "model.keras"), "--base-path", str(tmp_path / "exp2"), "--no-warmup"])
    assert verbose.returncode == 0 and _cpp_log_lines(verbose.stderr), verbose.stderr  # shown on request


def _cpp_log_lines(text):
    """Lines in absl's format: a severity letter, then MMDD (e.g. ``I0000 00:00:17... port.cc:153] ...``)."""
    return [line for line in text.splitlines() if line[:1] in "IWEF" and line[1:5].isdigit()]
