"""`keras-residual train` on the JAX and torch backends, as a user runs it: mixed precision, SIGKILL during
training, the same command resumes, and the model.keras it leaves reloads on TensorFlow and exports."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.training._launch import ROOT

COMMAND = [
    "train", "--preset", "resnet20_cifar", "--data", "synthetic", "--image-size", "8", "--batch-size", "128",
    "--epochs", "4", "--precision", "mixed_bfloat16",
]  # fmt: skip


def _train(backend, out):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    # the resumed JAX run loads the steps the first run compiled instead of compiling them again
    env["JAX_COMPILATION_CACHE_DIR"] = str(out.parent / "jax-cache")
    for name in ("TF_CONFIG", "XLA_FLAGS", "KERAS_DISTRIBUTION_NUM_PROCESSES"):
        env.pop(name, None)
    command = [sys.executable, "-m", "keras_residual.cli", *COMMAND, "--out", str(out)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _history(out):
    with open(out / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_train_kill_resume_reload_on_tensorflow(tmp_path, backend):
    pytest.importorskip(backend)
    out = tmp_path / "run"
    first = _train(backend, out)
    state = out / "state" / "state.json"
    deadline = time.monotonic() + 300
    while not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "epoch 1 never finished"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    saved = json.loads(state.read_text())
    assert not saved["finished"] and saved["config"]["precision"] == "mixed_bfloat16", saved["epoch"]
    before = saved["history"]  # history.csv may lag state.json by the instant of the kill

    second = _train(backend, out)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    assert "validation accuracy" in output and "precision mixed_bfloat16" in output, output
    after = _history(out)
    assert [int(row["epoch"]) for row in after] == [1, 2, 3, 4], output
    # resumed: the epochs before the kill were not trained again (same recorded times)
    assert [float(row["epoch_time"]) for row in after[: len(before)]] == [row["epoch_time"] for row in before]

    import keras

    import keras_residual
    from keras_residual.export import export_saved_model

    keras_residual.register_serializables()
    model = keras.saving.load_model(out / "model.keras", compile=False)  # as the exporters load it
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in model.layers)
    if keras.backend.backend() == "tensorflow":
        exported = export_saved_model(model, tmp_path / "export", class_names=[f"c{i}" for i in range(10)])
        assert (exported / "saved_model.pb").is_file()
