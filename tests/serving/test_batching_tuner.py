"""tune-batching: the choice is a pure function of the recorded curve, the file parses as BatchingParameters,
and on a tiny export the chosen batch beats batch 1 by >= 2x within the target (checked on the recording)."""

import json
from pathlib import Path

import pytest

from keras_residual.cli import main
from keras_residual.export.saved_model import WARMUP_BATCH
from keras_residual.serving.batching import (
    CURVE_JSON,
    batch_sizes,
    choose_parameters,
    find_saved_model,
    format_table,
    render_parameters,
)
from keras_residual.serving.serving_config import parse_serving_config
from tests.client.tiny_export import write_tiny_export


def _point(batch, p50, p99):
    return {
        "batch": batch,
        "n": 30,
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_ms": p50,
        "img_per_s": 1000 * batch / p50,
    }


def _record(points, target, concurrent=None):
    return {"p99_target_ms": target, "curve": points, "concurrent": concurrent}


CURVE = [
    _point(1, 2.0, 3.0),
    _point(2, 2.5, 4.0),
    _point(4, 4.0, 6.0),
    _point(8, 6.0, 9.0),
    _point(16, 10.0, 20.0),
]


def test_highest_throughput_within_the_target_wins():
    params = choose_parameters(_record(CURVE, 25.0))
    assert params["max_batch_size"] == 16  # 1600 img/s, p99 20 < 25
    assert params["allowed_batch_sizes"] == [1, 2, 4, 8, 16]
    assert params["batch_timeout_micros"] == 5000  # min(p50 10, 25 - 20) ms
    assert params["expected_p99_ms"] <= 25.0 and params["num_batch_threads"] == 1
    tight = choose_parameters(_record(CURVE, 12.0))
    assert tight["max_batch_size"] == 8 and tight["batch_timeout_micros"] == 3000


def test_near_equal_throughput_prefers_the_smaller_batch():
    flat = [_point(1, 2.0, 3.0), _point(8, 8.0, 9.0), _point(16, 16.5, 18.0)]  # 1000 vs 970 img/s
    assert choose_parameters(_record(flat, 50.0))["max_batch_size"] == 8


def test_more_batch_threads_only_when_measured_faster_within_target():
    single = choose_parameters(_record(CURVE, 40.0))
    faster = {**_point(16, 12.0, 24.0), "threads": 2, "img_per_s": 1.5 * single["expected_img_per_s"]}
    assert choose_parameters(_record(CURVE, 40.0, faster))["num_batch_threads"] == 2
    assert choose_parameters(_record(CURVE, 30.0, faster))["num_batch_threads"] == 1  # 24 + timeout > 30
    slower = {**faster, "img_per_s": 1.05 * single["expected_img_per_s"]}
    assert choose_parameters(_record(CURVE, 40.0, slower))["num_batch_threads"] == 1


def test_a_target_batch_one_misses_is_an_error():
    with pytest.raises(ValueError, match="`p99_ms` must be above the measured batch-1 p99"):
        choose_parameters(_record(CURVE, 2.5))


def test_sizes_and_export_lookup(tmp_path):
    assert batch_sizes(1) == [1] and batch_sizes(128)[-2:] == [64, 128] and batch_sizes(24)[-1] == 24
    with pytest.raises(ValueError, match="`max_batch` must be an integer >= 1"):
        batch_sizes(0)
    with pytest.raises(ValueError, match="`export_dir` must be a SavedModel folder"):
        find_saved_model(tmp_path)


def test_rendered_file_parses_with_a_warmup_size(tmp_path):
    record = _record(CURVE, 25.0)
    record.update(
        date="2026-01-01 00:00 UTC",
        saved_model="m/1",
        signature="serving_default",
        load_average=[0.1, 0.1, 0.1],
        machine={"cpu": {"model": "cpu", "cores": 2, "flags": ["avx2"]}},
    )
    params = choose_parameters(record)
    path = tmp_path / "batching_parameters.txt"
    path.write_text(render_parameters(record, params))
    parsed = parse_serving_config(path, "batching")
    assert list(parsed.allowed_batch_sizes) == [1, 2, 4, 8, 16] and parsed.max_batch_size.value == 16
    assert parsed.max_enqueued_batches.value == 1  # (25 - 5) // 20 batches finish within the target
    assert WARMUP_BATCH in parsed.allowed_batch_sizes  # the export's warmup requests hit a real shape
    assert "<- chosen" in format_table(record, params)


def test_tiny_export_end_to_end_replays(tmp_path, capsys):
    base = tmp_path / "tiny"
    write_tiny_export(base)
    out = tmp_path / "conf" / "batching_parameters.txt"
    argv = [
        "tune-batching",
        str(base),
        "--p99-ms",
        "2000",
        "--max-batch",
        "32",
        "--reps",
        "6",
        "-o",
        str(out),
    ]
    assert main([*argv, "--plot"]) == 0
    printed = capsys.readouterr().out
    assert "<- chosen" in printed and "batching_curve.png" in printed

    params = parse_serving_config(out, "batching")
    sizes = list(params.allowed_batch_sizes)
    assert sizes == sorted(sizes) and sizes[-1] == params.max_batch_size.value and sizes[0] == 1
    assert params.batch_timeout_micros.value >= 1 and params.num_batch_threads.value >= 1

    record = json.loads((out.parent / CURVE_JSON).read_text())
    replayed = choose_parameters(record)
    assert replayed == record["parameters"]  # the file follows from the recording alone
    assert replayed["max_batch_size"] == params.max_batch_size.value
    assert replayed["batch_timeout_micros"] == params.batch_timeout_micros.value
    by_batch = {p["batch"]: p for p in record["curve"]}
    assert all(len(p["latencies_ms"]) == 6 for p in record["curve"])
    chosen = by_batch[replayed["max_batch_size"]]
    assert chosen["img_per_s"] >= 2 * by_batch[1]["img_per_s"]
    assert chosen["p99_ms"] + replayed["batch_timeout_micros"] / 1000 <= record["p99_target_ms"]
    assert (out.parent / "batching_curve.png").stat().st_size > 0


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    base = tmp_path / "tiny"
    write_tiny_export(base)
    assert main(["tune-batching", str(base), "--p99-ms", "-1"]) == 2
    assert "`p99_ms` must be a number > 0.0" in capsys.readouterr().err
    assert main(["tune-batching", str(base), "--signature", "nope", "-o", str(tmp_path / "b.txt")]) == 2
    assert "`signature` must be one of" in capsys.readouterr().err
    assert not (tmp_path / "b.txt").exists()


RECORDED = Path(__file__).resolve().parents[2] / "benchmarks" / "tune_batching"


@pytest.mark.parametrize("record_path", sorted(RECORDED.glob("*.json")), ids=lambda p: p.stem)
def test_recorded_resnet_measurements_replay(record_path):
    """Regression test (a golden replay): the recorded resnet20_cifar curve, replayed, gives the written
    parameters, the file parses, and the chosen batch is >= 2x batch 1 within the p99 target.

    It checks the choice rule on recorded data, not the measuring code: test_tuner_measure.py does that.
    """
    record = json.loads(record_path.read_text())
    params = choose_parameters(record)
    assert params == record["parameters"]
    by_batch = {p["batch"]: p for p in record["curve"]}
    assert by_batch[params["max_batch_size"]]["img_per_s"] >= 2 * by_batch[1]["img_per_s"]
    assert params["expected_p99_ms"] <= record["p99_target_ms"]
    parsed = parse_serving_config(
        record_path.with_name(f"{record_path.stem}_batching_parameters.txt"), "batching"
    )
    assert parsed.max_batch_size.value == params["max_batch_size"]
    assert list(parsed.allowed_batch_sizes) == params["allowed_batch_sizes"]
