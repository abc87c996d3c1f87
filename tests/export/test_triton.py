"""``export(model, DIR, format="triton")``: a Triton model repository whose config Triton's own
``ModelConfig`` parses and whose model file matches Keras within 1e-4 in its runtime.

No ``tritonserver`` binary exists here: the config is checked by Triton's proto (tritonclient, in its own
venv: `tests.export.triton_config`), the model file by ONNX Runtime / OpenVINO Runtime, the runtimes of
Triton's ``onnxruntime`` and ``openvino`` backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_residual.export import export
from tests.export.triton_config import parse_model_config

TUNING = Path(__file__).resolve().parents[2] / "benchmarks" / "tune_batching" / "resnet20_cifar_cpu-amx.json"


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x), name="digits")


def _images(count: int = 8) -> np.ndarray:
    return np.random.default_rng(5).uniform(0, 255, size=(count, 32, 32, 3)).astype("float32")


def _assert_matches_keras(got: np.ndarray, model) -> None:
    expected = np.asarray(model(_images()))
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-4 * max(1.0, float(np.max(np.abs(expected))))


def test_onnxruntime_repository_with_the_tuners_batching(model, tmp_path):
    repo = tmp_path / "repo"
    report = export(model, repo, "triton", batching=TUNING)
    assert report.path == repo / "digits"
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()) == [
        "digits/1/model.onnx", "digits/config.pbtxt"
    ]
    config = parse_model_config(repo / "digits" / "config.pbtxt")
    chosen = json.loads(TUNING.read_text())["parameters"]
    assert config["name"] == "digits" and config["backend"] == "onnxruntime"
    assert int(config["max_batch_size"]) == chosen["max_batch_size"] > 0
    batching = config["dynamic_batching"]
    assert [int(s) for s in batching["preferred_batch_size"]] == [s for s in chosen["allowed_batch_sizes"] if s > 1]
    assert int(batching["max_queue_delay_microseconds"]) == chosen["batch_timeout_micros"]
    assert config["input"] == [{"name": "images", "data_type": "TYPE_FP32", "dims": ["32", "32", "3"]}]
    assert config["output"] == [{"name": "probabilities", "data_type": "TYPE_FP32", "dims": ["10"]}]

    import onnxruntime as ort

    session = ort.InferenceSession(str(repo / "digits" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(["probabilities"], {"images": _images()})
    _assert_matches_keras(got, model)


def test_openvino_repository(model, tmp_path):
    repo = tmp_path / "repo"
    export(model, repo, "triton", backend="openvino", model_name="digits_ov", max_batch_size=16)
    folder = repo / "digits_ov"
    assert sorted(p.name for p in (folder / "1").iterdir()) == ["model.bin", "model.xml"]
    config = parse_model_config(folder / "config.pbtxt")
    assert (config["backend"], int(config["max_batch_size"])) == ("openvino", 16)
    assert "dynamic_batching" in config

    import openvino as ov

    # f32 as the IR records it (OpenVINO's CPU default is bf16 on bf16-capable CPUs such as AMX Xeons)
    compiled = ov.Core().compile_model(str(folder / "1" / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = np.asarray(compiled(_images())[compiled.outputs[0]])
    _assert_matches_keras(got, model)


def test_a_new_version_joins_the_repository_and_an_existing_one_is_refused(model, tmp_path):
    repo = tmp_path / "repo"
    export(model, repo, "triton")
    export(model, repo, "triton", version=2)
    assert sorted(p.name for p in (repo / "digits").iterdir()) == ["1", "2", "config.pbtxt"]
    with pytest.raises(ValueError, match="`version` must be"):
        export(model, repo, "triton", version=2)
    assert [p.name for p in repo.iterdir()] == ["digits"]  # no staging folder left in the repository


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"backend": "tensorrt"}, "backend"),
        ({"precision": "bfloat16"}, "precision"),  # ONNX Runtime's row has no bfloat16
        ({"backend": "openvino", "precision": "dynamic_int8"}, "precision"),
        ({"model_name": "a/b"}, "model_name"),
        ({"batching": {"curve": []}}, "batching"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"instances": 0}, "instances"),
        ({"colour": "blue"}, "format_options"),
    ],
)
def test_a_bad_option_is_named_and_nothing_is_written(model, tmp_path, options, argument):
    with pytest.raises(ValueError, match=f"`{argument}` (must|of format)"):
        export(model, tmp_path / "repo", "triton", **options)
    assert not (tmp_path / "repo").exists()


def test_a_bfloat16_openvino_config_turns_on_the_backends_bf16_hint(model, tmp_path):
    from types import SimpleNamespace

    from keras_residual.export.triton import model_config

    options = {
        "model_name": "digits", "backend": "openvino", "instances": 2,
        "batching": {"max_batch_size": 8, "preferred": [8], "delay_us": 500, "source": "test"},
    }
    job = SimpleNamespace(options=options, precision="bfloat16", size=(32, 32, 3), output_names=("probabilities",),
                          source=model)
    (tmp_path / "config.pbtxt").write_text(model_config(job))
    config = parse_model_config(tmp_path / "config.pbtxt")
    assert config["parameters"] == {"HINT_BF16": {"string_value": "YES"}}
    assert config["instance_group"] == [{"kind": "KIND_CPU", "count": 2}]


def test_cli_adds_a_version_to_an_existing_repository(model, tmp_path, capsys):
    from keras_residual.cli import main

    repo, model_path = tmp_path / "repo", tmp_path / "digits.keras"
    model.save(model_path)
    export(model, repo, "triton")
    assert main(["export", "triton", str(model_path), str(repo), "--option", "version=2"]) == 0
    assert "triton export: " in capsys.readouterr().out
    assert sorted(p.name for p in (repo / "digits").iterdir()) == ["1", "2", "config.pbtxt"]
