"""Distribution: MirroredStrategy + fit on two logical CPUs; MultiWorkerMirroredStrategy with two
worker processes on 127.0.0.1. Both must equal a single-process run with the same global batch."""

import json
import subprocess

import numpy as np
import pytest

from keras_residual.training import distributed
from tests.training._launch import free_port as _free_port
from tests.training._launch import start_worker

EPOCHS = "2"


def _launch(out, weights, strategy, tf_config=None, *extra):
    changes = {"TF_CONFIG": json.dumps(tf_config)} if tf_config is not None else {}
    return start_worker([out, weights, strategy, EPOCHS, *extra], changes)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start every process at once: two workers, a MirroredStrategy run, and the single-process reference."""
    root = tmp_path_factory.mktemp("distributed")
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    processes = {
        f"worker{i}": _launch(
            root / "multi",
            root / f"worker{i}.npz",
            "auto",
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}},
        )
        for i in range(2)
    }
    processes["reference"] = _launch(root / "reference", root / "reference.npz", "default")
    # Keras fit under MirroredStrategy draws a different shuffle order than without a strategy, so the
    # mirrored run and its reference train on one batch per epoch, where the order does not matter.
    one_batch = ("--num-train", "16")
    processes["mirrored"] = _launch(
        root / "mirrored", root / "mirrored.npz", "mirrored", None, "--logical-cpus", "2", *one_batch
    )
    processes["reference_one_batch"] = _launch(
        root / "reference_one_batch", root / "reference_one_batch.npz", "default", None, *one_batch
    )
    outputs = {}
    for name, process in processes.items():
        try:
            outputs[name], _ = process.communicate(timeout=420)
        except subprocess.TimeoutExpired:
            for other in processes.values():
                other.kill()
            raise
        assert process.returncode == 0, f"{name} failed:\n{outputs[name]}"
    weights = {
        name: [w[k] for k in w.files] for name, w in ((n, np.load(root / f"{n}.npz")) for n in processes)
    }
    return root, outputs, weights


@pytest.mark.xdist_group("distributed-runs")  # one worker starts the five processes once
def test_multi_worker_weights_identical_and_equal_single_process(runs):
    root, outputs, weights = runs
    assert "REPLICAS 2" in outputs["worker0"] and "REPLICAS 2" in outputs["worker1"]
    for a, b in zip(weights["worker0"], weights["worker1"], strict=True):
        np.testing.assert_array_equal(a, b)  # all-reduced updates: bit-identical on both workers
    for a, b in zip(weights["worker0"], weights["reference"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    # the chief wrote the outputs; the other worker only its own resume state
    metrics = json.loads((root / "multi" / "metrics.json").read_text())
    assert metrics["strategy"] == "multi_worker" and metrics["epochs"] == 2 and metrics["num_replicas"] == 2
    assert (root / "multi" / "model.keras").exists()
    assert json.loads((root / "multi" / "state" / "worker-1" / "state.json").read_text())["finished"]
    reference = json.loads((root / "reference" / "metrics.json").read_text())
    assert metrics["val_accuracy"] == pytest.approx(reference["val_accuracy"], abs=1e-6)


@pytest.mark.xdist_group("distributed-runs")  # one worker starts the five processes once
def test_mirrored_fit_on_two_logical_cpus(runs):
    root, outputs, weights = runs
    assert "REPLICAS 2" in outputs["mirrored"]
    for a, b in zip(weights["mirrored"], weights["reference_one_batch"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    assert json.loads((root / "mirrored" / "metrics.json").read_text())["strategy"] == "mirrored"


def test_strategy_resolution(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distributed.resolve_strategy_name("auto") == "default"
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}),
    )
    assert distributed.resolve_strategy_name("auto") == "multi_worker"
    assert distributed.num_workers_in_tf_config() == 2
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distributed.tf_config()
    with pytest.raises(ValueError, match="`strategy` must be one of"):
        distributed.resolve_strategy_name("parameter_server")


def test_strategy_per_backend(monkeypatch):
    """Each backend runs its own engine; anything else is one line naming what to use."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("KERAS_DISTRIBUTION_NUM_PROCESSES", raising=False)
    assert distributed.resolve_strategy_name("auto", backend="torch") == "default"
    for strategy in ("mirrored", "multi_worker"):
        for backend in ("jax", "torch"):
            with pytest.raises(ValueError, match=f"strategy '{strategy}' runs on the tensorflow backend"):
                distributed.resolve_strategy_name(strategy, backend=backend)
    for backend in ("tensorflow", "torch"):
        with pytest.raises(ValueError, match="strategy 'data_parallel' runs on the jax backend"):
            distributed.resolve_strategy_name("data_parallel", backend=backend)
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "127.0.0.1:1")
    # several processes: decided from the environment alone (JAX must not start before they join)
    assert distributed.resolve_strategy_name("auto", backend="jax") == "data_parallel"
    with pytest.raises(ValueError, match="KERAS_DISTRIBUTION_NUM_PROCESSES=2 asks for several processes"):
        distributed.resolve_strategy_name("default", backend="jax")
    assert distributed.resolve_strategy_name("auto", backend="tensorflow") == "default"  # TF ignores them


def test_multi_worker_resume_after_sigkill(tmp_path):
    """Kill both workers after epoch 1, start them again: they resume from their own state and agree."""
    import signal
    import time

    def start_pair():
        workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
        return [
            _launch(
                tmp_path / "out",
                tmp_path / f"w{i}.npz",
                "auto",
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}},
                "--num-train",
                "64",
                "--epochs-override",
                "3",
            )
            for i in range(2)
        ]

    states = [
        tmp_path / "out" / "state" / "state.json",
        tmp_path / "out" / "state" / "worker-1" / "state.json",
    ]
    pair = start_pair()
    deadline = time.monotonic() + 300
    while not all(s.exists() and json.loads(s.read_text())["epoch"] >= 1 for s in states):
        assert all(p.poll() is None for p in pair), "\n".join(p.communicate()[0] for p in pair)
        assert time.monotonic() < deadline, "workers never finished epoch 1"
        time.sleep(0.1)
    for process in pair:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert [json.loads(s.read_text())["finished"] for s in states] == [False, False]

    outputs = [p.communicate(timeout=300)[0] for p in start_pair()]
    for output in outputs:
        assert "STATUS resumed" in output and "ITERATIONS 12" in output, output  # 3 epochs x 4 steps
    first, second = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
    history = (tmp_path / "out" / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2", "3"]
