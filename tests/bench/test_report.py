"""RESULTS.md, results.json and the plot are rendered from what was measured (no model involved)."""

import json

import pytest

from benchmarks import machine, report
from benchmarks.gpu_train import format_table
from benchmarks.rows import compare, efficiency_rows, failed
from benchmarks.run import write_outputs


def _stats(ours, anchor, peak=None):
    out = {
        "ours": {"median": ours, "min": ours * 0.9, "max": ours * 1.1, "n": 3},
        "anchor": {"median": anchor, "min": anchor * 0.9, "max": anchor * 1.1, "n": 3},
    }
    if peak is not None:
        out["peak"] = {"median": peak, "min": peak, "max": peak, "n": 3}
    return out


@pytest.fixture()
def cpu_results():
    met = compare(
        "1b",
        "1. Inference (TensorFlow)",
        "tf.function, batch 16",
        _stats(15.0, 12.0, peak=150.0),
        "ours",
        "anchor",
        ours_label="ours-model",
        anchor_label="anchor-model",
        target=1.0,
    )
    met["ours_gflops"] = 120.0
    missed = compare(
        "2d",
        "2. ONNX Runtime (CPU)",
        "INT8 vs float32",
        _stats(20.0, 16.0),
        "ours",
        "anchor",
        ours_label="int8",
        anchor_label="fp32",
        target=1.5,
    )
    rows = [met, missed, failed("4a", "4. Serving", "export / load", RuntimeError("boom\nsecond line"))]
    rows += efficiency_rows(rows)
    info = machine.describe(("numpy",))
    info["load_average_end"] = machine.load_average()
    return {
        "mode": "quick",
        "command": "python benchmarks/run.py --quick",
        "machine": info,
        "load_caveat": "",
        "peak": {"n": 256, "gflops": {"numpy": _stats(150.0, 1)["ours"]}, "best": "numpy"},
        "models": {"ours": {"label": "ours-model", "params": 25_557_032, "gmacs": 4.09}},
        "rows": rows,
        "wall_s": 12.0,
        "client_latency": [{"name": "grpc", "batch": 1, "p50_ms": 3.0, "p99_ms": 5.0, "img_per_s": 300.0}],
    }


def test_compare_ratio_and_target():
    row = compare(
        "x", "g", "t", _stats(30.0, 20.0), "ours", "anchor", ours_label="a", anchor_label="b", target=1.6
    )
    assert row["ratio"] == pytest.approx(1.5)
    assert row["met"] is False
    assert (
        compare("x", "g", "t", _stats(30.0, 20.0), "ours", "anchor", ours_label="a", anchor_label="b")["met"]
        is None
    )


def test_efficiency_rows_share_of_peak(cpu_results):
    (eff,) = [r for r in cpu_results["rows"] if r["id"].startswith("5")]
    assert eff["source_row"] == "1b"
    assert eff["ratio"] == pytest.approx(120.0 / 150.0)


def test_results_markdown_json_and_plot(tmp_path, cpu_results):
    plot_path = tmp_path / "plot.png"
    write_outputs(cpu_results, tmp_path, plot_path)
    saved = json.loads((tmp_path / report.CPU_JSON).read_text())
    assert [r["id"] for r in saved["rows"]] == ["1b", "2d", "4a", "5a"]
    md = (tmp_path / report.RESULTS_MD).read_text()
    assert (
        "| 1b | 1. Inference (TensorFlow): tf.function, batch 16 | ours-model | 15.0 (13.5-16.5, n=3)" in md
    )
    assert "| 1.25 | >= 1.00 | met |" in md
    assert "| 1.25 | >= 1.50 | **missed** |" in md  # 20 / 16
    assert "error: RuntimeError: boom |" in md
    assert "| 5a |" in md and "| 80% |" in md
    assert "| grpc | 1 | 3.00 | 5.00 | 300.0 |" in md
    assert "## GPU" in md and "Not run yet" in md  # no gpu_results.json in this folder
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gpu_section_ratios(tmp_path):
    def row(key, model, policy, rate):
        return {
            "key": key,
            "model": model,
            "policy": policy,
            "framework": "f",
            "status": "ok",
            "img_s": {"median": rate, "min": rate, "max": rate, "n": 1},
            "warmup_s": 1.0,
            "final_loss": 2.0,
        }

    gpu = {
        "machine": {
            **machine.describe(()),
            "device": "Test GPU",
            "command": "python benchmarks/gpu_train.py",
        },
        "batch_size": 8,
        "image_size": 32,
        "warmup": 1,
        "steps": 2,
        "windows": 1,
        "wall_s": 3.0,
        "rows": [
            row("ours", "ours-m", "float32", 100.0),
            row("torchvision", "tv", "float32", 80.0),
            row("ours", "ours-m", "mixed_bfloat16", 250.0),
            {
                "key": "torchvision",
                "model": "tv",
                "policy": "mixed_bfloat16",
                "framework": "f",
                "status": "skipped: No module named 'torchvision'",
            },
        ],
    }
    table = format_table(gpu)
    assert "| ours-m | f | float32 | 100.0 | 100.0 | 100.0 | 1.00x | 1.25 |" in table
    assert "| ours-m | f | mixed_bfloat16 | 250.0 | 250.0 | 250.0 | 2.50x |  |" in table
    assert "skipped: No module named 'torchvision'" in table
    (tmp_path / report.GPU_JSON).write_text(json.dumps(gpu))
    md = report.render_results_md(tmp_path).read_text()
    assert "Device: Test GPU" in md and "## CPU suite" in md and "Not run yet: `make bench`" in md


def test_merge_partial_runs(tmp_path, cpu_results):
    from benchmarks.run import merge

    first, second = dict(cpu_results), dict(cpu_results)
    first["rows"] = [r for r in cpu_results["rows"] if r["id"] == "1b"]
    second["rows"] = [r for r in cpu_results["rows"] if r["id"] in ("2d", "4a")]
    second["client_latency"], first["client_latency"] = first["client_latency"], None
    for name, part in (("a", first), ("b", second)):
        (tmp_path / name).mkdir()
        (tmp_path / name / report.CPU_JSON).write_text(json.dumps(part))
    merged = merge([tmp_path / "a", tmp_path / "b"])
    assert [r["id"] for r in merged["rows"]] == ["1b", "2d", "4a", "5a"]  # efficiency recomputed once
    assert merged["client_latency"] == cpu_results["client_latency"]
    assert "--merge" in merged["command"]


def _as_machine(results, cpu, flags, date):
    data = json.loads(json.dumps(results))
    data["machine"].update(cpu=cpu, flags=flags, date=date)
    data["machine"].pop("hardware", None)
    bf16 = dict(
        data["rows"][0], id="3b", title="mixed_bfloat16, batch 16", note="fixed text that may be wrong"
    )
    data["rows"].append(bf16)
    return data


def test_one_section_per_machine_notes_from_flags_and_kept_sections(tmp_path, cpu_results):
    epyc = _as_machine(cpu_results, "AMD EPYC", ["avx2", "fma"], "2026-01-01 00:00 UTC")
    xeon = _as_machine(
        cpu_results, "Intel Xeon", ["avx2", "avx512f", "avx512_bf16", "amx_bf16"], "2026-02-01 00:00 UTC"
    )
    (tmp_path / report.MACHINES).mkdir()
    (tmp_path / report.MACHINES / "amd-epyc-cpu-avx2.json").write_text(json.dumps(epyc))
    (tmp_path / report.RESULTS_MD).write_text(
        f"old\n{report.KEEP_MARKER}\n\n## Runtimes (appended)\n\nkept text\n"
    )
    write_outputs(xeon, tmp_path, tmp_path / "plot.png")  # a new machine adds a section
    assert sorted(p.name for p in (tmp_path / report.MACHINES).iterdir()) == [
        "amd-epyc-cpu-avx2.json",
        "intel-xeon-cpu-amx.json",
    ]
    md = (tmp_path / report.RESULTS_MD).read_text()
    epyc_at, xeon_at = md.index("## CPU suite: AMD EPYC"), md.index("## CPU suite: Intel Xeon")
    assert epyc_at < xeon_at  # oldest first
    assert "| AMD EPYC (amd-epyc-cpu-avx2) | 2026-01-01 00:00 UTC | avx2, fma |" in md
    epyc_part, xeon_part = md[epyc_at:xeon_at], md[xeon_at:]
    assert "no native bfloat16 on this CPU (avx2, fma)" in epyc_part
    assert "this CPU has native bfloat16 (avx512_bf16, amx_bf16)" in xeon_part.split("## GPU")[0]
    assert "fixed text that may be wrong" not in md
    assert md.count(report.KEEP_MARKER) == 1 and md.rstrip().endswith("kept text")
    assert "old\n" not in md
    write_outputs(None, tmp_path, tmp_path / "plot.png")  # re-rendering keeps the appended section once
    assert (tmp_path / report.RESULTS_MD).read_text().count("kept text") == 1
