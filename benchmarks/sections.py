"""Markdown rendered from records: the RESULTS.md sections and the docs' generated parts that are not the CPU
suite's own tables (those are in :mod:`benchmarks.report`).

Each function takes the parsed JSON and returns lines; nothing here measures or writes. Figures are printed
with :func:`fmt`, the one rounding rule the figure audit (``tests/bench/test_figures.py``) matches against.
"""

from __future__ import annotations

import statistics


def fmt(value: float | None, digits: int = 1) -> str:
    """A figure as pages print it: thousands separators and no decimals from 100 up, else ``digits`` decimals.

    Example:
        >>> fmt(2670.7), fmt(12.24), fmt(0.456, 2)
        ('2,671', '12.2', '0.46')
    """
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def _load(load: list | None) -> str:
    return "/".join(f"{v:g}" for v in load) if load else "not recorded"


def record_header(record: dict) -> list[str]:
    """The bullet lines every record section starts with: date, machine, versions, load, command."""
    m = record["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in record["versions"].items())
    return [
        f"- Date: {record['date']}; record `benchmarks/records/{record['name']}.json`",
        f"- Machine: {m['cpu']}, {m['cores']} logical / {m.get('physical_cores', m['cores'])} physical cores, "
        f"class {m['device_class']}; flags {', '.join(m['flags'])}",
        f"- Load average (1/5/15 min): {_load(record['load']['start'])} at the start, "
        f"{_load(record['load']['end'])} at the end",
        f"- Versions: {versions}",
        f"- Command: `{record['command']}`",
    ]


# --- Runtimes (benchmarks/runtimes.json: the issue-15 runs of bench_runtimes.py) ---------------------------


def _quietest(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["machine"]["load_average_start"][0])


def runtimes_section(data: dict, notes: str = "") -> list[str]:
    """``## Runtimes``: the quietest run's table and every run's ratios to ONNX Runtime float32."""
    from benchmarks.bench_runtimes import markdown

    runs = data["runs"]
    first, quiet = runs[0]["machine"], _quietest(runs)
    qm = quiet["machine"]
    out = [
        "## Runtimes",
        "",
        f"ResNet-50 (`{runs[0]['model']}`, random weights, {runs[0]['image']}x{runs[0]['image']}, raw pixels "
        "in) in ONNX Runtime, OpenVINO, LiteRT and TensorFlow; record `benchmarks/runtimes.json` "
        f"(`{data['command']}`), {len(runs)} runs.",
        "",
        f"- Dates: {', '.join(r['machine']['date'] for r in runs)}",
        f"- Machine: {first['cpu']}, {first['cores']} logical cores; flags {', '.join(first['flags'])}",
        f"- Platform: {first['platform']}",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in first['versions'].items())}",
        "- Threads: each runtime's default (all cores)",
        "",
        "Method: every contender runs in one process on the same image batch, in interleaved rounds (A..I, "
        "then I..A), warm-up calls excluded; each figure is the median images/s with min-max over its rounds; "
        "the ratio is to ONNX Runtime float32 at the same batch in the same rounds; the 1-minute load average "
        "is sampled after every timed call.",
        "",
        f"### Quietest run ({qm['date']}, load at start {qm['load_average_start']}, at end "
        f"{qm.get('load_average_end')}; {quiet['rows'][0]['n']} rounds, {quiet['wall_seconds']:.0f} s)",
        "",
        markdown(quiet),
        "",
        "### Ratio to ONNX Runtime float32 in each run",
        "",
    ]
    out += _ratio_table(runs)
    exported = next((r["export_seconds"] for r in runs if r.get("export_seconds")), None)
    if exported:
        from benchmarks.bench_runtimes import LABELS

        parts = ", ".join(f"{LABELS[k]} {v:.0f}" for k, v in exported.items())
        out += ["", f"Export times of the first run (seconds): {parts}."]
    out += ["", "File sizes were not recorded with these runs, so they are not quoted here."]
    if notes:
        out += ["", notes.rstrip()]
    return out + [""]


def _ratio_table(runs: list[dict]) -> list[str]:
    heads = [f"run {i} ({r['machine']['date'][11:16]}, load {r['machine']['load_average_start'][0]:g})"
             for i, r in enumerate(runs, 1)]  # fmt: skip
    out = [f"| batch | runtime | {' | '.join(heads)} |", "|---:|---|" + "---:|" * len(runs)]
    keys = [(row["batch"], row["runtime"], row["label"]) for row in runs[0]["rows"]]
    for batch, runtime, label in keys:
        cells = []
        for run in runs:
            row = next(r for r in run["rows"] if r["batch"] == batch and r["runtime"] == runtime)
            cells.append(f"{row['ratio_vs_ort_fp32']:.2f} (load {row['load1_median']:.1f})")
        out.append(f"| {batch} | {label} | {' | '.join(cells)} |")
    return out


# --- Serving per physical core (records/serving_per_core_<class>.json) ------------------------------------


def per_core_table(record: dict) -> list[str]:
    """One line per runtime and batch: img/s, per physical core, p99, images per CPU-second, load; then
    MLPerf's published per-core figures."""
    rows = [r for r in record["rows"] if "/b" in r["key"] and not r["key"].startswith("tune/")]
    cores = record["machine"].get("physical_cores", record["machine"]["cores"])
    out = [
        f"| runtime | batch | img/s ({cores} cores) | img/s per core | p50 ms | p99 ms | img per CPU-s "
        "| tuner batch (p99 target) | load 1-min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    target = record.get("p99_target_ms")
    for r in rows:
        chosen = r.get("tuner_batch")
        tuner = f"{chosen} ({target:g} ms)" if chosen else f"none: batch 1 p99 over {target:g} ms"
        out.append(
            f"| {r['label']} | {r['batch']} | {fmt(r['value'])} | {fmt(r['per_core'])} | {fmt(r['p50_ms'])} "
            f"| {fmt(r['p99_ms'])} | {fmt(r.get('img_per_cpu_s'))} | {tuner} | {r['load1']:g} |"
        )
    for r in record["rows"]:
        if r.get("kind") == "published":
            out.append(
                f"| MLPerf: {r['label']} ({r['round']}; [source]({r['source'].split(' ')[0]})) | offline "
                f"| {r['img_per_s']:,} ({r['cores']} cores) | {fmt(r['value'])} | | | | | |"
            )
    return out


def tuning_table(record: dict) -> list[str]:
    """The OpenVINO INT8 settings tried (hint, streams, queue depth, batch), one line each."""
    rows = [r for r in record["rows"] if r["key"].startswith("tune/")]
    if not rows:
        return []
    out = [
        "| hint | streams | requests in flight | batch | img/s | img/s per core | p99 ms | img per CPU-s | load 1-min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['hint']} | {r['streams']} | {r['queue_depth']} | {r['batch']} | {fmt(r['value'])} "
            f"| {fmt(r['per_core'])} | {fmt(r['p99_ms'])} | {fmt(r.get('img_per_cpu_s'))} | {r['load1']:g} |"
        )
    return out


def profile_lines(record: dict, top: int = 8) -> list[str]:
    """Where OpenVINO INT8's time goes: ms per call by layer type / primitive, per profiled batch."""
    out = []
    for prof in (record.get("profile") or {}).values():
        out += [
            f"OpenVINO INT8 profile, batch {prof['batch']} (`PERF_COUNT`, mean of {prof['calls']} calls, "
            f"{prof['total_ms']:.1f} ms of layer time per call):",
            "",
            "| layer type / primitive | ms per call | share |",
            "|---|---:|---:|",
        ]
        for kind, ms in list(prof["by_exec_type"].items())[:top]:
            out.append(f"| {kind} | {ms:.2f} | {100 * ms / prof['total_ms']:.0f}% |")
        out.append("")
    return out


def best_int8(record: dict) -> dict | None:
    """The measured INT8 row with the most img/s per core (tuned settings included)."""
    rows = [r for r in record["rows"] if r.get("kind") != "published" and "INT8" in r["label"]]
    return max(rows, key=lambda r: r["per_core"], default=None)


def verdict(record: dict, target: float = 150.0) -> list[str]:
    """One sentence: the best INT8 path per core against MLPerf's figures and the target."""
    best = best_int8(record)
    anchors = [r for r in record["rows"] if r.get("kind") == "published"]
    if best is None or not anchors:
        return []
    top = max(anchors, key=lambda r: r["value"])
    met = "met" if best["per_core"] >= target else "**missed**"
    return [
        f"**Best INT8 path: {best['label']}, batch {best['batch']}: {fmt(best['per_core'])} img/s per physical "
        f"core** ({fmt(best['value'])} img/s on {record['machine'].get('physical_cores')} cores, p99 "
        f"{fmt(best['p99_ms'])} ms, load {best['load1']:g}), {best['per_core'] / top['value']:.2f} of MLPerf's "
        f"{fmt(top['value'])} per core ({top['round']}); target {target:g} per core: {met}.",
        "",
    ]


def per_core_section(record: dict, notes: str = "") -> list[str]:
    """``### Serving per physical core``: the table, the tuning, the profile and the MLPerf comparison."""
    out = [f"### Serving per physical core against MLPerf ({record['date']})", "", *record_header(record)]
    out += [f"- Threads: {record.get('threads', 'runtime defaults')}", ""]
    out += verdict(record)
    out += per_core_table(record) + [""]
    tuning = tuning_table(record)
    if tuning:
        out += [
            "OpenVINO INT8 tuning (infer requests kept in flight, as OpenVINO's benchmark_app does):",
            "",
            *tuning,
            "",
        ]
    out += profile_lines(record)
    if notes:
        out += [notes.rstrip(), ""]
    return out


# --- Client latency (records/client_latency_<class>.json) -----------------------------------------------


def client_section(record: dict, notes: str = "") -> list[str]:
    """The client's import cost and predict latency over gRPC and REST against the in-process signature."""
    out = [f"### Client latency and import cost ({record['date']})", "", *record_header(record), ""]
    imports = [r for r in record["rows"] if r["key"].startswith("import/")]
    if imports:
        anchor = max(r["peak_rss_mib"] for r in imports)
        out += ["| import (fresh interpreter, median of 5) | import s | process s | peak RSS MiB | RSS vs TF-backed |",
                "|---|---:|---:|---:|---:|"]  # fmt: skip
        for r in imports:
            out.append(
                f"| {r['label']} | {r['value']:.2f} | {r['process_s']:.2f} | {r['peak_rss_mib']:.0f} "
                f"| {r['peak_rss_mib'] / anchor:.2f}x |"
            )
        out.append("")
    out += [
        "| predict path | batch | p50 ms | p99 ms | img/s | p50 vs in-process |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    latency = [r for r in record["rows"] if not r["key"].startswith("import/")]
    for r in latency:
        local = next(x for x in latency if x["batch"] == r["batch"] and x["key"].startswith("in-process"))
        out.append(
            f"| {r['label']} | {r['batch']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['value']:.1f} "
            f"| {r['p50_ms'] / local['p50_ms']:.2f}x |"
        )
    return out + ([""] + [notes.rstrip()] if notes else []) + [""]


# --- Training accuracy over seeds (records/precision_seeds_<class>.json) ----------------------------------


def seeds_section(record: dict) -> list[str]:
    """Held-out accuracy per policy over seeds: mean, standard deviation, range and every run."""
    out = [f"### Training accuracy, float32 against mixed_bfloat16, over seeds ({record['date']})", ""]
    out += [record["title"] + ".", "", *record_header(record), ""]
    out += ["| policy, epoch | mean % | std | min-max | runs (seeds " + _seeds(record) + ") |",
            "|---|---:|---:|---|---|"]  # fmt: skip
    for r in record["rows"]:
        out.append(
            f"| {r['key'].replace('/', ', ')} | {r['value']:.2f} | {r['std']:.2f} | {r['min']:.2f}-{r['max']:.2f} "
            f"| {', '.join(f'{v:.2f}' for v in r['runs'])} |"
        )
    walls = {p: statistics.median(x["wall_s"] for x in record["runs"] if x["policy"] == p)
             for p in {x["policy"] for x in record["runs"]}}  # fmt: skip
    out += [
        "",
        "Median wall time per run: " + ", ".join(f"{p} {w:.0f} s" for p, w in sorted(walls.items())),
        "",
    ]
    return out


def _seeds(record: dict) -> str:
    return ", ".join(str(s) for s in record["rows"][0]["seeds"])


# --- Records no other renderer knows (other scripts' records in the shared schema) ------------------------


def generic_section(record: dict) -> list[str]:
    """Any schema record: its header and one line per row (key, label, value, unit)."""
    out = [f"### {record['title']} ({record['date']})", "", *record_header(record), ""]
    out += ["| key | what | value | unit |", "|---|---|---:|---|"]
    for r in record["rows"]:
        out.append(f"| {r['key']} | {r.get('label', '')} | {fmt(r['value'], 2)} | {r.get('unit', '')} |")
    return out + [""]


# --- GPU training (gpu_results.json), for the docs ------------------------------------------------------


def gpu_docs_table(data: dict) -> list[str]:
    """The GPU training rows as the docs print them: img/s median and the ratios (``gpu_train.py``'s)."""
    from benchmarks.gpu_train import _add_ratios

    _add_ratios(data)
    out = [
        f"| model | framework | policy | images/s, batch {data['batch_size']} (median of {data['windows']} "
        "windows) | vs float32 | vs torchvision | vs keras.applications |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        if r.get("status") != "ok":
            continue
        vs32 = f"{r['speedup_vs_float32']:.2f}x" if "speedup_vs_float32" in r else ""
        vst = f"{r['ratio_vs_torchvision']:.2f}" if "ratio_vs_torchvision" in r else ""
        vska = f"{r['ratio_vs_keras_applications']:.2f}" if "ratio_vs_keras_applications" in r else ""
        out.append(
            f"| {r['model']} | {r['framework']} | {r['policy']} | {fmt(r['img_s']['median'])} | {vs32} "
            f"| {vst} | {vska} |"
        )
    return out


# --- Docs parts from the CPU suite's and the GPU script's own records ------------------------------------


def record_header_legacy(machine: dict, path: str) -> list[str]:
    """One line naming a pre-schema record (CPU suite, GPU script): file, date, machine and load."""
    device = f" on {machine['device']}" if machine.get("device") else ""
    end = f", {_load(machine['load_average_end'])} at the end" if machine.get("load_average_end") else ""
    return [
        f"Record `{path}`: {machine['date']}{device}, host {machine['cpu']} ({machine['cores']} logical cores), "
        f"load average {_load(machine.get('load_average_start'))} at the start{end}."
    ]


def cpu_docs_table(data: dict) -> list[str]:
    """The CPU suite's comparison rows (not row 5) as the docs print them: ours, anchor, ratio, target."""
    out = [
        "| row | measurement | ours | anchor | ratio (ours / anchor) | target | result |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in data["rows"]:
        if r["id"].startswith("5") or r.get("status") != "ok":
            continue
        target = "" if r.get("target") is None else f">= {r['target']:.2f}"
        met = "" if r.get("met") is None else ("met" if r["met"] else "missed")
        out.append(
            f"| {r['id']} | {r['group'].split('. ', 1)[-1]}: {r['title']} | {fmt(r['ours']['median'], 2)} {r['unit']} "
            f"| {fmt(r['anchor']['median'], 2)} {r['unit']} | {r['ratio']:.2f} | {target} | {met} |"
        )
    return out
