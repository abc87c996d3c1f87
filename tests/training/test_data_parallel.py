"""strategy='data_parallel' on JAX (keras.distribution): two processes on 127.0.0.1 and two virtual devices
in one process both equal one device on the same global batches; a killed job resumes; a job that cannot
form fails in one line within the timeout.

Every case runs in subprocesses with KERAS_BACKEND=jax, so this file runs under any pytest backend.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_residual.training import data_parallel
from tests.training._launch import ROOT, start_worker
from tests.training._launch import free_port as _free_port

pytest.importorskip("jax")

DATA_PARALLEL_VARS = (
    data_parallel.ADDRESSES_VAR,
    data_parallel.NUM_PROCESSES_VAR,
    data_parallel.PROCESS_ID_VAR,
)


def _env(processes=None, process_id=0, port=None, **extra):
    """Changes to the environment: the JAX backend, and the job's variables for several processes."""
    env = {"KERAS_BACKEND": "jax", **extra}
    if processes:
        env[data_parallel.ADDRESSES_VAR] = f"127.0.0.1:{port}"
        env[data_parallel.NUM_PROCESSES_VAR] = str(processes)
        env[data_parallel.PROCESS_ID_VAR] = str(process_id)
    return env


def _worker(out, weights, strategy, env, *extra, epochs="2"):
    args = [out, weights, strategy, epochs, "--bn", "--num-train", "64", *extra]
    return start_worker(args, env, drop=("TF_CONFIG", "XLA_FLAGS", *DATA_PARALLEL_VARS))


def _pair(out, weights_prefix, *extra, epochs="2"):
    port = _free_port()
    return [
        _worker(out, f"{weights_prefix}{i}.npz", "data_parallel", _env(2, i, port), *extra, epochs=epochs)
        for i in range(2)
    ]


def _finish(processes: dict, timeout=300) -> dict:
    outputs = {}
    for name, process in processes.items():
        try:
            outputs[name], _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in processes.values():
                other.kill()
            raise
        assert process.returncode == 0, f"{name} failed:\n{outputs[name]}"
    return outputs


def _weights(path):
    with np.load(path) as stored:
        return [stored[k] for k in stored.files]


def test_two_processes_and_two_devices_equal_one_device(tmp_path):
    """4 steps of 16 images x 2 epochs, BatchNorm included: the global batch is what every replica sees.
    31 validation images: one blank weight-0 image pads the last batch to the 2 devices."""
    odd = ("--num-val", "31")
    first, second = _pair(tmp_path / "multi", tmp_path / "process", *odd)
    processes = {
        "process0": first,
        "process1": second,
        "devices": _worker(
            tmp_path / "devices",
            tmp_path / "devices.npz",
            "auto",
            _env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
            *odd,
        ),
        "reference": _worker(tmp_path / "reference", tmp_path / "reference.npz", "default", _env(), *odd),
    }
    outputs = _finish(processes)
    for name in ("process0", "process1", "devices"):
        assert "REPLICAS 2 ITERATIONS 8" in outputs[name], outputs[name]
    assert "REPLICAS 1 ITERATIONS 8" in outputs["reference"]
    reference = _weights(tmp_path / "reference.npz")
    for name in ("process0", "process1", "devices"):
        for got, want in zip(_weights(tmp_path / f"{name}.npz"), reference, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5, err_msg=name)
    # process 0 alone wrote the outputs; process 1 only its resume state
    metrics = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    assert metrics["strategy"] == "data_parallel" and metrics["num_replicas"] == 2
    assert json.loads((tmp_path / "multi" / "config.json").read_text())["num_workers"] == 2
    assert (tmp_path / "multi" / "model.keras").is_file()
    assert json.loads((tmp_path / "multi" / "state" / "worker-1" / "state.json").read_text())["finished"]
    single = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    assert metrics["val_accuracy"] == pytest.approx(single["val_accuracy"], abs=1e-6)
    assert metrics["val_loss"] == pytest.approx(single["val_loss"], rel=1e-4)


def test_kill_one_process_mid_epoch_then_restart_both(tmp_path):
    """Process 1 is killed inside epoch 2 (after 3 of its 4 steps); both restart from epoch 1."""
    out, marker = tmp_path / "run", tmp_path / "mid-epoch-2"
    port = _free_port()
    first = [
        _worker(out, tmp_path / "unused0.npz", "data_parallel", _env(2, 0, port), epochs="3"),
        _worker(
            out,
            tmp_path / "unused1.npz",
            "data_parallel",
            _env(2, 1, port),
            "--marker",
            str(marker),
            epochs="3",
        ),
    ]
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert all(p.poll() is None for p in first), "\n".join(p.communicate()[0] for p in first)
        assert time.monotonic() < deadline, "process 1 never reached the middle of epoch 2"
        time.sleep(0.2)
    first[1].send_signal(signal.SIGKILL)
    first[1].wait(timeout=30)
    first[0].kill()  # the survivor waits on its dead peer: the launcher restarts the whole job
    first[0].communicate(timeout=30)
    states = [out / "state" / "state.json", out / "state" / "worker-1" / "state.json"]
    assert [json.loads(s.read_text())["epoch"] for s in states] == [1, 1]

    outputs = _finish(dict(enumerate(_pair(out, tmp_path / "final", epochs="3"))))
    for output in outputs.values():
        assert "STATUS resumed" in output and "ITERATIONS 12" in output, output  # 3 epochs x 4 steps
    for a, b in zip(_weights(tmp_path / "final0.npz"), _weights(tmp_path / "final1.npz"), strict=True):
        np.testing.assert_array_equal(a, b)
    history = (out / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2", "3"]
    for state in states:  # finished: the weights kept for a roll back are gone too
        assert os.listdir(state.parent) == ["state.json"] or sorted(os.listdir(state.parent)) == [
            "state.json",
            "worker-1",
        ]


def _cli(env, out):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT, **env)
    command = [sys.executable, "-m", "keras_residual.cli", "train", "--data", "synthetic", "--image-size", "8",
               "--epochs", "1", "--strategy", "data_parallel", "--out", str(out)]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_job_that_cannot_form_fails_in_one_line(tmp_path):
    """No coordinator at the address, or two processes told the job has three: exit 2 within the timeout."""
    timeout = {data_parallel.TIMEOUT_VAR: "4"}
    port = _free_port()
    alone = _cli(_env(2, 1, _free_port(), **timeout), tmp_path / "alone")
    too_few = [_cli(_env(3, i, port, **timeout), tmp_path / "too-few") for i in range(2)]
    for process in [alone, *too_few]:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2, out + err
        # TensorFlow's start-up log lines may come first (tf.data is imported on every backend); then ours
        ours = [line for line in err.splitlines() if line.startswith("keras-residual")]
        assert len(ours) == 1 and ours[0] == err.strip().splitlines()[-1], err  # one line, the last
        assert "could not form the job" in ours[0] and "within 4 s" in ours[0], err
        assert "Traceback" not in err and "Check failure" not in err
    assert not list(tmp_path.rglob("*.json"))  # no run started


@pytest.mark.parametrize(
    "env, message",
    [
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "two"}, "KERAS_DISTRIBUTION_NUM_PROCESSES"),
        (
            {
                "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                "KERAS_DISTRIBUTION_PROCESS_ID": "2",
                "KERAS_DISTRIBUTION_JOB_ADDRESSES": "h:1",
            },
            "an integer in \\[0, 1\\]",
        ),
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, "host:port of process 0"),
        (
            {"KERAS_DISTRIBUTION_NUM_PROCESSES": "3", "KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1,b:2"},
            "3 addresses",
        ),
        (
            {"KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_JOB_ADDRESSES": "nohostport"},
            "host:port",
        ),
        ({"KERAS_RESIDUAL_DISTRIBUTION_TIMEOUT": "0"}, "KERAS_RESIDUAL_DISTRIBUTION_TIMEOUT"),
    ],
)
def test_bad_cluster_variables(env, message):
    with pytest.raises(ValueError, match=message):
        data_parallel.cluster_from_env(env)


def test_cluster_variables_parsed_like_keras():
    cluster = data_parallel.cluster_from_env(
        {
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": "127.0.0.2:1234,127.0.0.3:2345",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
            "KERAS_DISTRIBUTION_PROCESS_ID": "1",
            "KERAS_RESIDUAL_DISTRIBUTION_TIMEOUT": "30",
        }
    )
    assert cluster == data_parallel.Cluster("127.0.0.2:1234", 2, 1, 30.0) and not cluster.is_chief
    assert data_parallel.cluster_from_env({}) == data_parallel.Cluster(None, 1, 0, 300.0)
