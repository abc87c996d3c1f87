"""Render ``benchmarks/RESULTS.md`` and the docs' generated parts from the records under ``benchmarks/``.

Sources: the CPU suite's records (one per CPU model: ``machines/*.json``, plus the latest run's
``results.json``), ``gpu_results.json`` (GPU script), ``runtimes.json`` (``bench_runtimes.py``), every
schema record in ``records/`` (:mod:`benchmarks.records`: per-core serving, training accuracy over seeds,
other scripts' records) and the hand-written notes in ``analysis.md`` and ``notes/``. Every generated section
is regenerated; sections other scripts append below :data:`KEEP_MARKER` are kept as they are. Notes that depend
on the CPU (bfloat16, float16, INT8) are computed from the flags recorded with each run.

    python benchmarks/report.py           # rewrite RESULTS.md and the generated parts of docs/*.md
    python benchmarks/report.py --check   # exit 1 if any of them differs from its rendering (make test)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from keras_residual.hardware import cpu_flags_of, precision_note

CPU_JSON = "results.json"
GPU_JSON = "gpu_results.json"
RUNTIMES_JSON = "runtimes.json"
MACHINES = "machines"
ANALYSIS = "analysis.md"
RESULTS_MD = "RESULTS.md"
KEEP_MARKER = (
    "<!-- Sections below this line are appended by other scripts and kept when RESULTS.md is re-rendered. -->"
)
EXPECTED_ROWS = {  # the full suite's rows (issue 9), so a row missing from a partial run is visible
    "1a": "1. Inference (TensorFlow): tf.function, batch 1",
    "1b": "1. Inference (TensorFlow): tf.function, batch 16",
    "1e": "1. Inference (TensorFlow): tf.function, batch 16, same v1 layout as the anchor",
    "1c": "1. Inference (TensorFlow): XLA (jit_compile), batch 1",
    "1d": "1. Inference (TensorFlow): XLA (jit_compile), batch 16",
    "2a": "2. ONNX Runtime (CPU): float32, batch 16",
    "2b": "2. ONNX Runtime (CPU): float32 achieved GFLOP/s vs FP32 matmul peak",
    "2c": "2. ONNX Runtime (CPU): float16 vs float32",
    "2d": "2. ONNX Runtime (CPU): INT8 (static QDQ) vs float32",
    "3a": "3. Training step (TensorFlow): float32, batch 16",
    "3b": "3. Training step (TensorFlow): mixed_bfloat16, batch 16",
    "4a": "4. Serving signatures: serving_bytes vs serving_default, batch 1",
    "4b": "4. Serving signatures: serving_bytes vs serving_default, batch 32",
}


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _spread(stat: dict, digits: int = 1) -> str:
    return f"{_num(stat['median'], digits)} ({_num(stat['min'], digits)}-{_num(stat['max'], digits)}, n={stat['n']})"


def _met(row: dict) -> str:
    if row.get("met") is None:
        return ""
    return "met" if row["met"] else "**missed**"


def _target(row: dict) -> str:
    return "" if row.get("target") is None else f">= {row['target']:.2f}"


def machine_key(data: dict) -> str:
    """The file name stem of a run's machine record: CPU model and device class, e.g. ``amd-epyc-cpu-avx2``.

    Example:
        >>> machine_key({"machine": {"cpu": "AMD EPYC", "flags": ["avx2", "fma"]}})
        'amd-epyc-cpu-avx2'
    """
    m = data["machine"]
    device = (m.get("hardware") or {}).get("cpu", {}).get("device_class")
    if device is None:
        from keras_residual.hardware import CpuInfo

        device = CpuInfo("", "", 1, tuple(m.get("flags") or ())).device_class
    return re.sub(r"[^a-z0-9]+", "-", f"{m['cpu'].lower()} {device}").strip("-")


def cpu_records(bench_dir: Path) -> list[dict]:
    """Every CPU machine's latest record in ``bench_dir``, oldest first (``results.json`` replaces the record
    of its own machine in ``machines/``)."""
    records = {}
    for path in sorted((bench_dir / MACHINES).glob("*.json")):
        data = _load(path)
        records[machine_key(data)] = data
    latest = _load(bench_dir / CPU_JSON)
    if latest:
        records[machine_key(latest)] = latest
    return sorted(records.values(), key=lambda d: d["machine"]["date"])


def row_note(row: dict, machine: dict) -> str:
    """A row's note; the precision-dependent ones are computed from the recorded CPU flags."""
    flags = cpu_flags_of(machine)
    if row["id"] == "3b":
        return precision_note(flags, "bfloat16")
    if row["id"] == "2c":
        return f"no target (the float16 file is for GPU providers); {precision_note(flags, 'float16')}"
    if row["id"] == "2d":
        return precision_note(flags, "int8")
    return row.get("note", "")


def machine_lines(m: dict) -> list[str]:
    """Markdown bullet lines describing the machine and software of a run."""
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    hardware = m.get("hardware") or {}
    onednn = hardware.get("onednn")
    lines = [
        f"- Date: {m['date']}",
        f"- Machine: {m['cpu']}, {m['cores']} logical cores, SIMD: {', '.join(m.get('flags', [])) or 'unknown'}",
        f"- Native bfloat16: {precision_note(cpu_flags_of(m), 'bfloat16')}; INT8: {precision_note(cpu_flags_of(m), 'int8')}",
        f"- Platform: {m.get('platform', '')}",
        f"- Load average (1/5/15 min) at start: {m.get('load_average_start')}"
        + (f", at end: {m['load_average_end']}" if m.get("load_average_end") else ""),
        f"- Versions: {versions}",
    ]
    if onednn:
        lines.append(f"- oneDNN: {'on' if onednn['enabled'] else 'off'} ({onednn['source']})")
    if m.get("threads"):
        lines.append(f"- Threads: {m['threads']}")
    if m.get("device"):
        lines.insert(1, f"- Device: {m['device']}")
    return lines


def _efficiency_table(efficiency: list[dict]) -> list[str]:
    out: list[str] = []
    if efficiency:
        out += [
            "### Row 5: achieved GFLOP/s vs the FP32 matmul peak measured in the same rounds",
            "",
            "Achieved = images/s x FLOPs per image (2 x MACs forward; 6 x MACs for a training step).",
            "",
            "| row | configuration | ours GFLOP/s | anchor GFLOP/s | peak GFLOP/s | ours share of peak |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for row in efficiency:
            out.append(
                f"| {row['id']} | {row['title']} | {_num(row['achieved_gflops'])} | {_num(row.get('anchor_gflops'))} "
                f"| {_num(row['peak_gflops'])} | {100 * row['ratio']:.0f}% |"
            )
        out.append("")
    return out


def _client_table(client) -> list[str]:
    out: list[str] = []
    if client:
        out += ["### Client latency (ServingClient over gRPC vs the same signature in-process)", ""]
        if isinstance(client, dict):
            out += [f"Not measured: {client.get('status', client)}", ""]
        else:
            out += ["| name | batch | p50 ms | p99 ms | img/s |", "|---|---:|---:|---:|---:|"]
            for r in client:
                out.append(
                    f"| {r['name']} | {r['batch']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                    f"| {r['img_per_s']:.1f} |"
                )
            out.append("")
    return out


def cpu_section(data: dict) -> list[str]:
    """The CPU suite: method, machine, models, the ratio table, efficiency and client-latency tables."""
    m = data["machine"]
    out = [f"## CPU suite: {m['cpu']} ({machine_key(data)}), {m['date']} ({data['mode']} mode)", ""]
    out += machine_lines(m)
    out += [f"- Command: `{data['command']}`; wall time {data['wall_s']:.0f} s", ""]
    out += [
        "Method: each row's contenders run in interleaved rounds (A B, B A, ...) in one process with the same "
        "input and thread settings; warm-up calls are excluded; figures are the median with min-max over the "
        "rounds; the ratio is ours / anchor of the medians. The FP32 matmul that defines the peak runs as one "
        "more contender in the same rounds, so it sees the same load.",
        "",
    ]
    if data.get("load_caveat"):
        out += [f"> Load caveat: {data['load_caveat']}", ""]
    peak = data.get("peak")
    if peak:
        parts = [f"{name} {_spread(s)}" for name, s in peak["gflops"].items()]
        out += [
            f"FP32 matmul peak at the start ({peak['n']}x{peak['n']}, GFLOP/s): {'; '.join(parts)}. "
            f"Rounds use the faster one ({peak['best']}).",
            "",
        ]
    if data.get("models"):
        out += ["| model | parameters | GMACs / image |", "|---|---:|---:|"]
        for info in data["models"].values():
            out.append(f"| {info['label']} | {info['params']:,} | {info['gmacs']:.3f} |")
        out.append("")
    out += [
        "| row | measurement | ours | ours median (min-max) | anchor | anchor median (min-max) | unit | ratio "
        "| target | result | note | load after |",
        "|---|---|---|---:|---|---:|---|---:|---|---|---|---|",
    ]
    efficiency = []
    for row in data["rows"]:
        if row.get("group", "").startswith("5."):
            efficiency.append(row)
            continue
        if row.get("status") != "ok":
            out.append(
                f"| {row['id']} | {row['group']}: {row['title']} | | | | | | | | {row['status']} | | |"
            )
            continue
        out.append(
            f"| {row['id']} | {row['group']}: {row['title']} | {row['ours_label']} | {_spread(row['ours'])} "
            f"| {row['anchor_label']} | {_spread(row['anchor'])} | {row['unit']} | {row['ratio']:.2f} "
            f"| {_target(row)} | {_met(row)} | {row_note(row, m)} | {(row.get('load_average') or [''])[0]} |"
        )
    have = {row["id"] for row in data["rows"]}
    for row_id, title in EXPECTED_ROWS.items():
        if data["mode"] == "full" and row_id not in have:
            out.append(f"| {row_id} | {title} | | | | | | | | not measured in this run | | |")
    out.append("")
    out += _efficiency_table(efficiency)
    out += _client_table(data.get("client_latency"))
    return out


def gpu_section(data: dict) -> list[str]:
    """The GPU training-throughput table recorded by ``gpu_train.py --record``."""
    from benchmarks.gpu_train import format_table

    m = data["machine"]
    out = ["## GPU: ResNet-50 training throughput (float32 vs mixed precision)", ""]
    out += machine_lines(m)
    out += [
        f"- Command: `{m['command']}`; wall time {data.get('wall_s', 0):.0f} s",
        f"- Batch {data['batch_size']}, {data['image_size']}x{data['image_size']}, synthetic data resident on the "
        f"device, SGD momentum 0.9, sparse cross-entropy; {data['warmup']} warm-up steps excluded; "
        f"median (min-max) over {data['windows']} windows of {data['steps']} steps.",
        "- float32 rows use the frameworks' GPU defaults (TF32 tensor cores for convolutions and matmuls). "
        "torchvision runs eagerly with channels_last and autocast (GradScaler for float16).",
        "",
        format_table(data),
        "",
    ]
    return out


def render_results_md(bench_dir: str | Path) -> Path:
    """Write ``RESULTS.md`` in ``bench_dir`` (:func:`results_markdown`).

    Example:
        >>> render_results_md("benchmarks")  # doctest: +SKIP
        PosixPath('benchmarks/RESULTS.md')
    """
    from keras_residual._atomic import write_text

    path = Path(bench_dir) / RESULTS_MD
    write_text(path, results_markdown(bench_dir))
    return path


def record_sections(bench_dir: Path, key: str | None, claimed: set[str] = frozenset()) -> list[str]:
    """The sections of the schema records in ``bench_dir/records`` measured on the CPU ``key``
    (:func:`machine_key`); with ``key=None``, those of records no CPU section in ``claimed`` shows, and every
    record of a kind without its own renderer (other scripts' records)."""
    from benchmarks import sections
    from benchmarks.records import all_records

    renderers = {
        "serving_per_core": lambda r: sections.per_core_section(r, _notes(bench_dir, "serving_per_core.md")),
        "precision_seeds": sections.seeds_section,
        "client_latency": lambda r: sections.client_section(r, _notes(bench_dir, "client.md")),
    }
    out = []
    for name, record in all_records(bench_dir / "records").items():
        m = record["machine"]
        mine = re.sub(r"[^a-z0-9]+", "-", f"{m['cpu'].lower()} {m['device_class']}").strip("-")
        render = next((fn for prefix, fn in renderers.items() if name.startswith(prefix)), None)
        if key is not None:
            out += render(record) if render and mine == key else []
        elif render is None:
            out += sections.generic_section(record)
        elif mine not in claimed:
            out += render(record)
    return out


def _notes(bench_dir: Path, name: str) -> str:
    path = bench_dir / "notes" / name
    return path.read_text() if path.exists() else ""


def results_markdown(bench_dir: str | Path) -> str:
    """RESULTS.md's text: one section per CPU machine (with its records), the GPU section, the runtimes,
    other records, ``analysis.md``, then whatever followed :data:`KEEP_MARKER` in the current file.

    Longer than 60 lines because the page reads top to bottom here, each section one call."""
    from benchmarks import sections

    bench_dir = Path(bench_dir)
    cpus, gpu = cpu_records(bench_dir), _load(bench_dir / GPU_JSON)
    out = [
        "# Benchmark results",
        "",
        "Generated: the CPU suite by `make bench` (`benchmarks/run.py`), one section per CPU model (each run "
        "replaces its own machine's section and keeps the others), the GPU section by "
        "`benchmarks/gpu_train.py --record`; the investigation notes come from `benchmarks/analysis.md`. "
        "Rerun rather than edit. Timings are never asserted by the tests; they live here.",
        "",
    ]
    if len(cpus) > 1:
        out += ["| CPU section | date | SIMD flags | load at start | rows met |", "|---|---|---|---|---:|"]
        for data in cpus:
            m = data["machine"]
            rated = [r for r in data["rows"] if r.get("met") is not None]
            out.append(
                f"| {m['cpu']} ({machine_key(data)}) | {m['date']} | {', '.join(m.get('flags', []))} "
                f"| {m.get('load_average_start')} | {sum(r['met'] for r in rated)}/{len(rated)} |"
            )
        out.append("")
    claimed = set()
    for data in cpus:
        out += cpu_section(data)
        claimed.add(machine_key(data))
        out += record_sections(bench_dir, machine_key(data))
    if not cpus:
        out += ["## CPU suite", "", "Not run yet: `make bench`.", ""]
    if gpu:
        out += gpu_section(gpu)
    else:
        out += [
            "## GPU",
            "",
            "Not run yet: `KERAS_BACKEND=jax python benchmarks/gpu_train.py --record` on a GPU.",
            "",
        ]
    runtimes = _load(bench_dir / RUNTIMES_JSON)
    if runtimes:
        out += sections.runtimes_section(runtimes, _notes(bench_dir, "runtimes.md"))
    others = record_sections(bench_dir, None, claimed)
    if others:
        out += ["## Other records", "", *others]
    analysis = bench_dir / ANALYSIS
    if not analysis.exists():
        analysis = Path(__file__).resolve().parent / ANALYSIS
    if analysis.exists():
        out += [analysis.read_text().rstrip(), ""]
    path = bench_dir / RESULTS_MD
    previous = path.read_text() if path.exists() else ""
    kept = previous.split(KEEP_MARKER, 1)[1].strip() if KEEP_MARKER in previous else ""
    out += [KEEP_MARKER, ""] + ([kept, ""] if kept else [])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Render RESULTS.md and the docs' generated parts, or with ``--check`` exit 1 if any differs."""
    import argparse
    import sys

    from benchmarks import pages

    parser = argparse.ArgumentParser(description="Render RESULTS.md and the docs' figures from the records.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when something is stale")
    args = parser.parse_args(argv)
    bench_dir = Path(__file__).resolve().parent
    stale = pages.update(check=args.check)
    results = bench_dir / RESULTS_MD
    if results.read_text() != results_markdown(bench_dir):
        stale.insert(0, "benchmarks/RESULTS.md")
        if not args.check:
            render_results_md(bench_dir)
    if args.check and stale:
        print("stale (rerun `python benchmarks/report.py`): " + "; ".join(stale), file=sys.stderr)
        return 1
    print(("up to date: " if args.check else "rendered: ") + ("; ".join(stale) or "nothing changed"))
    return 0


if __name__ == "__main__":
    import sys

    if __package__ in (None, ""):  # run as a script: make the repository importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
