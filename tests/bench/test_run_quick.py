"""`benchmarks/run.py --quick` (what `make bench` runs, with tiny sizes) produces well-formed outputs.

The smoke run builds both contenders tiny (one bottleneck block per stage, ``benchmarks/models.py``): every
group's code path runs once (inference and XLA, ONNX export, float16 and INT8, training steps under both
policies, both serving signatures, the client rows) at a fraction of ResNet-50's cost; the full-size suite
is ``make bench``. Every row must have run (status ok) with positive, ordered statistics; timings themselves
are not asserted.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"1a", "1b", "2a", "2b", "2c", "2d", "3a", "3b", "4a", "4b"}


def _check_stat(stat):
    assert stat["n"] >= 1
    assert 0 < stat["min"] <= stat["median"] <= stat["max"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_quick_suite_outputs(tmp_path):
    plot = tmp_path / "plot.png"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "run.py"),
        "--quick",
        "--out",
        str(tmp_path),
        "--plot",
        str(plot),
    ]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mode"] == "quick"
    assert results["sizes"]["image"] == 32
    for name in ("ours", "anchor"):
        info = results["models"][name]
        assert 0 < info["params"] < 1_000_000 and info["gmacs"] > 0 and "tiny" in info["label"]
    for stat in results["peak"]["gflops"].values():
        _check_stat(stat)

    rows = {row["id"]: row for row in results["rows"]}
    assert EXPECTED <= set(rows)
    for row_id in EXPECTED:
        row = rows[row_id]
        assert row["status"] == "ok", row
        _check_stat(row["ours"])
        _check_stat(row["anchor"])
        assert row["ratio"] == pytest.approx(row["ours"]["median"] / row["anchor"]["median"])
        if row["target"] is not None:
            assert row["met"] == (row["ratio"] >= row["target"])
    efficiency = [row for row in results["rows"] if row["id"].startswith("5")]
    assert {row["source_row"] for row in efficiency} >= {"1a", "1b", "2a", "3a"}
    for row in efficiency:
        assert row["achieved_gflops"] > 0 and row["peak_gflops"] > 0 and row["ratio"] > 0

    client = results["client_latency"]
    if isinstance(client, list):
        assert {r["batch"] for r in client} == {1, 32}
        for r in client:
            assert r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"] and r["img_per_s"] > 0
    else:  # benchmarks/client_latency.py is optional; when absent the report says so
        assert client["status"].startswith("skipped")

    md = (tmp_path / "RESULTS.md").read_text()
    for row_id in EXPECTED:
        assert f"| {row_id} |" in md
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
