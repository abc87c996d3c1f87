"""The batching tuner's measuring code, tested on what it measures (not on a recording).

- ``measure_curve`` times every size ``reps`` times, in interleaved rounds whose order reverses each round,
  after ``warmup`` untimed calls, and records each call's own latency (a call that sleeps a known time is
  recorded at least that long).
- ``measure_concurrent`` runs ``threads`` callers at once and counts every image of every call.
- ``SessionRunner.caller`` runs the real signature of a tiny export at the asked batch size.
- A target even batch 1 misses is an error that writes nothing.

Timings are not asserted: only lower bounds that a sleep guarantees and counts.
"""

import time

import numpy as np
import pytest

from keras_residual.serving import batching
from keras_residual.serving.batching import (
    CURVE_JSON,
    SessionRunner,
    measure_concurrent,
    measure_curve,
    summarize_latencies,
    tune_batching,
)
from tests.client.tiny_export import write_tiny_export


class SleepingRunner:
    """Stands in for :class:`SessionRunner`: a call of batch ``b`` sleeps ``b`` ms and is logged."""

    def __init__(self):
        self.calls = []

    def caller(self, batch, seed=0):
        def call():
            self.calls.append((batch, seed))
            time.sleep(batch / 1000.0)

        return call


def test_curve_interleaves_and_records_each_call():
    runner = SleepingRunner()
    curve = measure_curve(runner, [1, 4, 8], reps=4, warmup=2)
    warm, timed = runner.calls[:6], [batch for batch, _ in runner.calls[6:]]
    assert sorted(b for b, _ in warm) == [1, 1, 4, 4, 8, 8]
    assert timed == [1, 4, 8, 8, 4, 1, 1, 4, 8, 8, 4, 1]  # order reversed every round
    for point in curve:
        assert point["n"] == 4 and len(point["latencies_ms"]) == 4
        assert min(point["latencies_ms"]) >= point["batch"]  # each call slept `batch` ms
        assert point["p50_ms"] <= point["p99_ms"] <= max(point["latencies_ms"])
        assert point["img_per_s"] == pytest.approx(1000 * point["batch"] / point["p50_ms"])


def test_concurrent_counts_every_image_of_every_thread():
    runner = SleepingRunner()
    point = measure_concurrent(runner, batch=4, threads=3, reps=5)
    assert sorted({seed for _, seed in runner.calls}) == [0, 1, 2]  # one caller per thread
    assert len(runner.calls) == 3 * (5 + 1)  # one untimed call each, then the timed ones
    assert point["threads"] == 3 and point["n"] == 15 and min(point["latencies_ms"]) >= 4
    wall_upper = 15 * max(point["latencies_ms"]) / 1000  # the threads can take no longer than serially
    assert point["img_per_s"] >= 4 * 15 / wall_upper - 1e-9


def test_latency_summary():
    summary = summarize_latencies([1.0] * 98 + [50.0, 100.0], batch=2)
    assert summary["p50_ms"] == 1.0 and 50.0 <= summary["p99_ms"] <= 100.0
    assert summary["img_per_s"] == 2000.0 and summary["n"] == 100


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    base = tmp_path_factory.mktemp("tuner") / "tiny"
    write_tiny_export(base)
    return base


def test_session_runner_runs_the_real_signature_at_each_batch(tiny_export):
    runner = SessionRunner(batching.find_saved_model(tiny_export))
    try:
        for batch in (1, 3, 8):
            outputs = runner.caller(batch)()
            assert all(np.asarray(out).shape[0] == batch for out in outputs)
        curve = measure_curve(runner, [1, 2], reps=3, warmup=1)
        assert [p["batch"] for p in curve] == [1, 2] and all(p["p50_ms"] > 0 for p in curve)
    finally:
        runner.close()


def test_a_target_batch_one_misses_writes_nothing(tiny_export, tmp_path):
    out = tmp_path / "conf" / "batching_parameters.txt"
    with pytest.raises(ValueError, match="`p99_ms` must be above the measured batch-1 p99"):
        tune_batching(tiny_export, out, p99_ms=1e-6, max_batch=2, reps=2, warmup=0)
    assert not out.exists() and not (out.parent / CURVE_JSON).exists()
