"""The CPU benchmark suite (``make bench``): our ResNet-50 against the anchors, measured in one process.

Rows (see issue 9 and benchmarks/RESULTS.md): 1 inference vs keras.applications (tf.function and XLA, batch 1
and 16); 2 ONNX Runtime on our export vs keras.applications' export, float16 and INT8; 3 training step, float32
and mixed_bfloat16; 4 serving_bytes vs serving_default through the TF1 session loader; 5 achieved GFLOP/s vs the
FP32 matmul peak measured in the same rounds; plus the gRPC client latency rows when benchmarks/client_latency.py
is present.

    python benchmarks/run.py            # full suite: writes benchmarks/RESULTS.md, results.json, docs plot
    python benchmarks/run.py --quick    # CI smoke: 32x32 images, tiny batches, into benchmarks/out/quick/
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from keras_residual._atomic import write_text  # noqa: E402  (after the path setup above)

GROUPS = ("inference", "training", "onnx", "serving", "client")
PACKAGES = ("tensorflow", "keras", "onnxruntime", "tf2onnx", "onnx", "numpy", "keras-residual")
PLOT = REPO / "docs" / "assets" / "benchmarks.png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="CI smoke run: tiny sizes, results under benchmarks/out/"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for results.json and RESULTS.md (default: benchmarks/, or benchmarks/out/quick)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        help=f"PNG to draw (default: {PLOT.relative_to(REPO)}, or OUT/benchmarks.png with --quick)",
    )
    parser.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated subset of {GROUPS}")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="only re-render RESULTS.md and the plot from the JSON files in --out",
    )
    parser.add_argument(
        "--train-policies",
        default="float32,mixed_bfloat16",
        help="dtype policies of the training rows (3a float32, 3b mixed_bfloat16)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        metavar="DIR",
        help="combine the results.json of partial runs (e.g. --groups subsets run side by side) into --out",
    )
    args = parser.parse_args(argv)
    args.groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    bad = [g for g in args.groups if g not in GROUPS]
    if bad or not args.groups:
        parser.error(f"--groups={','.join(args.groups)!r}: allowed values are {', '.join(GROUPS)}")
    if args.out is None:
        args.out = REPO / "benchmarks" / ("out/quick" if args.quick else "")
    if args.plot is None:
        args.plot = args.out / "benchmarks.png" if args.quick else PLOT
    return args


def _log(message: str, start: float) -> None:
    print(f"[{time.perf_counter() - start:6.0f} s] {message}", flush=True)


def _client_rows(quick: bool) -> list[dict] | dict:
    try:
        from benchmarks.client_latency import measure
    except ImportError as err:
        return {"status": f"skipped: benchmarks/client_latency.py not importable ({err})"}
    try:
        return measure(quick=quick)
    except Exception as err:  # the CPU rows stand on their own
        return {"status": f"error: {type(err).__name__}: {str(err).splitlines()[0][:200]}"}


def _load_caveat(load: list[float] | None, cores: int | None) -> str:
    if not load or not cores or load[0] < 0.5 * cores:
        return ""
    return (
        f"the machine was shared while this ran (1-minute load average {load[0]} on {cores} cores): absolute "
        "figures are depressed and noisy; the ratios of interleaved medians are the comparable figures. "
        "Rerun `make bench` on an idle machine for absolute numbers."
    )


def run_suite(args: argparse.Namespace) -> dict:
    """Measure every selected group; return the results dict that results.json holds.

    Over 60 lines on purpose: the measurement order (machine, peak, models, groups) reads top to bottom in one
    place, and each step is a call into its own module."""
    start = time.perf_counter()
    from benchmarks import bench_inference, bench_onnx, bench_serving, bench_training, machine, models, peak
    from benchmarks.rows import FULL, QUICK, Context, efficiency_rows

    sizes = QUICK if args.quick else FULL
    info = machine.describe(PACKAGES)
    import tensorflow as tf

    info["threads"] = (
        f"TensorFlow intra-op {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}"
        f" / inter-op {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}; "
        "ONNX Runtime and NumPy BLAS defaults (all cores)"
    )
    _log(f"machine: {info['cpu']}, load {info['load_average_start']}", start)
    peak_result = peak.measure_peak(sizes.matmul_n, warmup=sizes.warmup, reps=sizes.reps)
    peak_fn = peak.matmul_callables(sizes.matmul_n)[peak_result["best"]]
    _log(
        f"FP32 matmul peak: { {k: round(v['median'], 1) for k, v in peak_result['gflops'].items()} } GFLOP/s",
        start,
    )

    built = {
        "ours": models.build_ours(sizes.image, tiny=sizes.tiny),
        "anchor": models.build_anchor(sizes.image, tiny=sizes.tiny),
    }
    if not args.quick and "inference" in args.groups:  # the same-layout comparison (row 1e), full suite only
        built["ours_v1"] = models.build_ours(sizes.image, preset="resnet50_v1")
    labels = {"ours": models.OURS, "ours_v1": models.OURS_V1, "anchor": models.ANCHOR}
    if sizes.tiny:
        labels = {k: f"{v} (tiny: 1 block per stage)" for k, v in labels.items()}
    model_info = {k: {"label": labels[k], **models.describe_model(m, sizes.image)} for k, m in built.items()}
    results = {
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python benchmarks/run.py", *sys.argv[1:]]),
        "machine": info,
        "load_caveat": _load_caveat(info["load_average_start"], info["cores"]),
        "sizes": dataclasses.asdict(sizes),
        "peak": peak_result,
        "models": model_info,
        "rows": [],
        "client_latency": None,
        "complete": False,
        "wall_s": time.perf_counter() - start,
    }
    with tempfile.TemporaryDirectory(prefix="keras-residual-bench-") as work:
        ctx = Context(
            sizes=sizes,
            workdir=Path(work),
            models=built,
            model_info=model_info,
            peak_fn=peak_fn,
            peak_gflop_per_call=peak.flops_per_matmul(sizes.matmul_n) / 1e9,
            train_policies=tuple(p.strip() for p in args.train_policies.split(",") if p.strip()),
        )
        modules = {
            "inference": bench_inference,
            "training": bench_training,
            "onnx": bench_onnx,
            "serving": bench_serving,
        }
        for group in args.groups:
            if group in modules:
                _log(f"group {group} ...", start)
                new = modules[group].run(ctx)
                stamp, load = machine.describe(())["date"], machine.load_average()
                for row in new:
                    row["measured_at"] = stamp
                    row["load_average"] = load
                    ratio = f"ratio {row['ratio']:.2f}" if "ratio" in row else row["status"]
                    _log(f"  {row['id']} {row['title']}: {ratio}", start)
                results["rows"] += new
            else:
                _log("group client latency ...", start)
                results["client_latency"] = _client_rows(args.quick)
            results["wall_s"] = time.perf_counter() - start
            info["load_average_end"] = machine.load_average()
            _save_json(results, args.out)  # partial results survive an interrupted run
    results["rows"] += efficiency_rows(results["rows"])
    results["complete"] = True
    return results


def _save_json(results: dict, out: Path) -> None:
    from benchmarks import report

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / report.CPU_JSON, json.dumps(results, indent=2, default=str) + "\n")


def merge(folders: list[Path]) -> dict:
    """Combine the results.json of several partial runs (``--groups`` subsets run side by side) into one.

    Each row keeps the anchor it was measured against in its own process, so rows stay comparable; the
    machine description is the first run's, with every run's command and load averages listed.
    """
    from benchmarks import report
    from benchmarks.rows import efficiency_rows

    parts = [
        json.loads((Path(f) / report.CPU_JSON).read_text())
        for f in folders
        if (Path(f) / report.CPU_JSON).exists()
    ]
    if not parts:
        raise ValueError(f"--merge: none of {[str(f) for f in folders]} holds a {report.CPU_JSON}")
    merged = dict(parts[0])
    by_id = {r["id"]: r for p in parts for r in p["rows"] if not r["id"].startswith("5")}  # later runs win
    merged["rows"] = sorted(by_id.values(), key=lambda r: r["id"])
    merged["rows"] += efficiency_rows(merged["rows"])
    merged["client_latency"] = next((p["client_latency"] for p in parts if p.get("client_latency")), None)
    merged["models"] = {k: v for p in parts for k, v in p["models"].items()}
    merged["command"] = " ; ".join(p["command"] for p in parts) + " (run side by side, then --merge)"
    merged["wall_s"] = max(p["wall_s"] for p in parts)
    merged["complete"] = all(p.get("complete") for p in parts)
    loads = [(p["machine"]["load_average_start"], p["machine"].get("load_average_end")) for p in parts]
    merged["machine"] = {
        **parts[0]["machine"],
        "load_average_start": max((s for s, _ in loads if s), default=None),
        "load_average_end": max((e for _, e in loads if e), default=None),
    }
    heaviest = max(
        (x for x in (merged["machine"]["load_average_start"], merged["machine"]["load_average_end"]) if x),
        default=None,
    )
    merged["load_caveat"] = _load_caveat(heaviest, merged["machine"]["cores"])
    return merged


def write_outputs(results: dict | None, out: Path, plot_path: Path) -> None:
    """Write results.json and this machine's ``machines/<cpu>.json`` (when given), then re-render RESULTS.md and
    the plot (one panel per CPU machine, side by side) from the JSON files in ``out``."""
    from benchmarks import plot, report

    out.mkdir(parents=True, exist_ok=True)
    if results is not None:
        _save_json(results, out)
        (out / report.MACHINES).mkdir(exist_ok=True)
        write_text(
            out / report.MACHINES / f"{report.machine_key(results)}.json",
            json.dumps(results, indent=2, default=str) + "\n",
        )
    md = report.render_results_md(out)
    cpus, gpu = report.cpu_records(out), report._load(out / report.GPU_JSON)
    if cpus or gpu:
        plot.plot(cpus, gpu, plot_path)
    print(f"wrote {md} and {plot_path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        results = merge(args.merge)
    else:
        results = None if args.render_only else run_suite(args)
    write_outputs(results, args.out, args.plot)
    if results is None:
        return 0
    errors = [r for r in results["rows"] if r.get("status") != "ok"]
    for row in errors:
        print(f"row {row['id']} failed: {row['status']}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
