"""Resume: SIGKILL a run mid-epoch, run the same command again, finish with the same total epochs."""

import csv
import json
import os
import signal
import time

import numpy as np
import pytest

from keras_residual.training.run_dir import RunDirectory
from tests.training._launch import start_worker
from tests.training._tiny import tiny_classifier


def _worker(out, weights, *extra):
    return start_worker([out, weights, "default", "3", *extra])


def test_sigkill_mid_epoch_then_resume(tmp_path):
    out, marker = tmp_path / "run", tmp_path / "mid-epoch-2"
    first = _worker(out, tmp_path / "unused.npz", "--marker", str(marker), "--bn")
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert first.poll() is None, f"worker exited early:\n{first.stdout.read()}"
        assert time.monotonic() < deadline, "worker never reached the middle of epoch 2"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)  # inside epoch 2, after 3 of its 8 steps
    first.wait(timeout=30)
    state = json.loads((out / "state" / "state.json").read_text())
    assert state["epoch"] == 1 and not state["finished"]
    assert not (out / "metrics.json").exists()

    second = _worker(out, tmp_path / "final.npz", "--bn")
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    # 8 steps per epoch: the optimizer's step count came back with the state (8 restored + 16 new).
    assert "STATUS resumed" in output and "ITERATIONS 24" in output, output
    with open(out / "history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [1, 2, 3]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and np.isfinite(metrics["val_loss"])
    assert os.listdir(out / "state") == ["state.json"]  # resume weights dropped once finished
    assert (out / "model.keras").exists()


def test_state_round_trip_restores_optimizer(tmp_path):
    """The saved state holds the optimizer's slots and step count, not only the model weights."""
    import keras

    def compiled():
        model = tiny_classifier((8, 8, 3), 2)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy")
        return model

    x = np.random.default_rng(0).uniform(0, 255, (16, 8, 8, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(16) % 2]
    model = compiled()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    run = RunDirectory(tmp_path, {"k": 1})
    run.start("auto")
    run.save_state(model, 1, {"loss": 1.0}, 0.5)
    restored = compiled()
    again = RunDirectory(tmp_path, {"k": 1})
    assert again.start("auto") == "resumed" and again.initial_epoch == 1
    again.restore(restored)
    assert int(restored.optimizer.iterations.numpy()) == 8
    for a, b in zip(model.optimizer.variables, restored.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.weights, restored.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_roll_back_to_the_kept_previous_epoch(tmp_path):
    """A process one epoch ahead of its peers returns to their epoch: weights, history and best score."""
    import keras

    model = tiny_classifier((8, 8, 3), 2)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    run = RunDirectory(tmp_path, {"k": 1})
    run.keep_previous = True
    run.start("auto")
    weights = []
    for epoch in (1, 2, 3):
        model.layers[-1].kernel.assign(np.full(model.layers[-1].kernel.shape, float(epoch), "float32"))
        weights.append(model.get_weights())
        run.save_state(model, epoch, {"val_accuracy": epoch / 10}, 1.0)
        run.maybe_save_best(model, epoch, {"val_accuracy": epoch / 10})
    assert sorted(os.listdir(tmp_path / "state")) == [
        "epoch-2.weights.h5",
        "epoch-3.weights.h5",
        "state.json",
    ]

    again = RunDirectory(tmp_path, {"k": 1})
    assert again.start("auto") == "resumed" and (again.initial_epoch, again.previous_epoch) == (3, 2)
    with pytest.raises(ValueError, match="holds epoch 3 \\(and 2\\), not 1"):
        again.roll_back(1)
    again.roll_back(2)
    assert again.initial_epoch == 2 and [row["epoch"] for row in again.history] == [1, 2]
    assert again.best["epoch"] == 2 and again.wall_time == 2.0
    assert sorted(os.listdir(tmp_path / "state")) == ["epoch-2.weights.h5", "state.json"]
    third = RunDirectory(tmp_path, {"k": 1})  # the rolled-back state is what a later start reads
    assert third.start("auto") == "resumed" and third.initial_epoch == 2 and third.previous_epoch is None
    third.restore(model)
    for got, want in zip(model.get_weights(), weights[1], strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "states, expected",
    [
        ([[2, 0, 1], [2, 0, 1]], 2),
        ([[2, 0, 1], [1, 0, 0]], 1),  # killed between the two processes' saves of epoch 2
        ([[1, 0, 0], [0, 0, -1]], 0),  # the second never saved an epoch
        ([[3, 1, -1], [3, 1, -1]], 3),  # both finished
        ([[3, 1, -1], [3, 0, 2]], "cannot be brought to one"),
        ([[3, 0, 2], [1, 0, 0]], "cannot be brought to one"),
    ],
)
def test_common_epoch(states, expected):
    from keras_residual.training.data_parallel import common_epoch

    if isinstance(expected, int):
        assert common_epoch(states) == expected
    else:
        with pytest.raises(ValueError, match=expected):
            common_epoch(states)
