"""CPU serving per physical core, beside MLPerf: ResNet-50 224x224 through every runtime we export.

Contenders (files from ``bench_runtimes.export_all``): TF SavedModel float32 and bfloat16 through the TF1
session loader TF Serving uses, ONNX Runtime float32 and INT8, OpenVINO float32, bf16 and INT8, LiteRT INT8.
Every runtime gets as many intra-op threads as the machine has physical cores
(:attr:`keras_residual.hardware.CpuInfo.physical_cores`).

For each contender:

1. A latency curve: batch 1, 2, 4, ... (stopping after the first batch whose p99 misses the target), each
   called ``--curve-reps`` times.
2. The batch the batching tuner picks from that curve for the p99 target (100 ms by default):
   :func:`keras_residual.serving.batching.choose_parameters`, the rule ``keras-residual tune-batching`` applies
   (highest throughput whose p99 plus batch timeout fits; within 5% the smaller batch wins).
3. Rows at batch 1 and at that batch: img/s, img/s per physical core, p50/p99 latency, and images per
   CPU-second this process was given (``getrusage``: on a shared machine the share of the cores we actually
   got; spinning runtime threads count as used, so this is a lower bound of per-core speed).

OpenVINO INT8 is then tuned (``--tune``): performance hint, streams, async infer-request queue depth and batch,
each served with that many infer requests in flight (throughput = images / wall time; latency = start to completion), and
profiled (per-layer ``PERF_COUNT``: time by primitive type, so it shows whether AMX kernels ran).

    python benchmarks/serving_per_core.py --workdir /tmp/bench_runtimes [--reuse] [--tune] [--name NAME]
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_inference import images
from benchmarks.bench_runtimes import LABELS, compile_openvino, export_all, load

CONTENDERS = (
    "tf_sm_fp32",
    "tf_sm_bf16",
    "ort_fp32",
    "ort_int8",
    "ov_fp32",
    "ov_bf16",
    "ov_int8",
    "litert_int8",
)
"""Every runtime and precision the package exports to, in the table's order."""

PACKAGES = ("tensorflow", "keras", "onnxruntime", "openvino", "nncf", "ai-edge-litert", "numpy")

MLPERF = (
    {
        "key": "mlperf/v3.0-8480",
        "system": "2x Intel Xeon Platinum 8480+ (112 cores), PyTorch INT8 with AMX",
        "round": "MLPerf Inference v3.0 Datacenter, closed, ResNet-50 Offline",
        "img_per_s": 20579,
        "cores": 112,
        "source": "https://mlcommons.org/benchmarks/inference-datacenter/ (v3.0 results, Intel submission)",
    },
    {
        "key": "mlperf/v4.0-8592",
        "system": "2x Intel Xeon Platinum 8592+ (128 cores), PyTorch INT8 with AMX",
        "round": "MLPerf Inference v4.0 Datacenter, closed, ResNet-50 Offline",
        "img_per_s": 25290,
        "cores": 128,
        "source": "https://mlcommons.org/benchmarks/inference-datacenter/ (v4.0 results, Intel submission)",
    },
)
"""The industry's per-core anchor: MLPerf Inference ResNet-50 Offline on Xeons with AMX, INT8."""

TARGET_PER_CORE = 150.0
"""The goal for the best INT8 path on an AMX CPU, img/s per physical core (0.75 of MLPerf v4.0's 198)."""


def cpu_seconds() -> float:
    """User plus system CPU time of this process, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_calls(call, batch: int, reps: int, warmup: int = 1) -> dict:
    """Call ``call`` ``reps`` times after ``warmup``; latency percentiles, throughput, CPU use and load."""
    for _ in range(warmup):
        call()
    latencies, cpu0, wall0 = [], cpu_seconds(), time.perf_counter()
    for _ in range(reps):
        start = time.perf_counter()
        call()
        latencies.append(1000.0 * (time.perf_counter() - start))
    return _summary(latencies, batch * reps, time.perf_counter() - wall0, cpu_seconds() - cpu0)


def _summary(latencies_ms: list[float], images_done: int, wall: float, cpu: float) -> dict:
    import numpy as np

    values = np.asarray(latencies_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "img_per_s": round(images_done / wall, 2),
        "img_per_cpu_s": round(images_done / cpu, 2) if cpu > 0 else None,
        "cpu_share": round(cpu / wall, 2),
        "n": len(latencies_ms),
        "latencies_ms": [round(v, 2) for v in latencies_ms],
        "load1": round(os.getloadavg()[0], 2),
    }


def curve(make_call, target_ms: float, reps: int, max_batch: int) -> list[dict]:
    """Latency per batch size 1, 2, 4, ... up to ``max_batch``, stopping after the first that misses the
    target; points as the batching tuner records them (``batch``, ``p50_ms``, ``p99_ms``, ``img_per_s``)."""
    points, batch = [], 1
    while batch <= max_batch:
        point = {"batch": batch, **time_calls(make_call(batch), batch, reps)}
        point["img_per_s"] = round(1000.0 * batch / point["p50_ms"], 2)  # the tuner's definition
        points.append(point)
        if point["p99_ms"] >= target_ms:
            break
        batch *= 2
    return points


def tuner_batch(points: list[dict], target_ms: float) -> int | None:
    """The batch ``tune-batching``'s rule picks from a curve for the p99 target (None: batch 1 misses it)."""
    from keras_residual.serving.batching import choose_parameters

    try:
        return choose_parameters({"p99_target_ms": target_ms, "curve": points, "concurrent": None})[
            "max_batch_size"
        ]
    except ValueError:
        return None


def row(key: str, label: str, stats: dict, batch: int, cores: int, **extra) -> dict:
    """A record row: img/s as the headline value, per physical core beside it."""
    return {
        "key": key,
        "label": label,
        "unit": "img/s",
        "value": stats["img_per_s"],
        "per_core": round(stats["img_per_s"] / cores, 2),
        "batch": batch,
        **{k: v for k, v in stats.items() if k != "img_per_s"},
        **extra,
    }


def measure_contender(name: str, path: Path, args, cores: int) -> list[dict]:
    """Curve, tuner batch, then the batch-1 and tuner-batch rows of one runtime (synchronous calls)."""

    infer = load(name, path, threads=cores)

    def make_call(batch: int):
        x = images(batch, args.image)
        return lambda: infer(x)

    points = curve(make_call, args.p99_ms, args.curve_reps, args.max_batch)
    chosen = tuner_batch(points, args.p99_ms)
    curve_note = [{k: p[k] for k in ("batch", "p50_ms", "p99_ms", "img_per_s")} for p in points]
    rows = []
    for batch in sorted({1, chosen or 1}):
        stats = time_calls(make_call(batch), batch, args.reps if batch == 1 else max(args.reps // 2, 4))
        rows.append(
            row(f"{name}/b{batch}", LABELS[name], stats, batch, cores, tuner_batch=chosen, curve=curve_note)
        )
        print(f"{LABELS[name]:<45} batch {batch:>3}: {stats['img_per_s']:8.1f} img/s, "
              f"p99 {stats['p99_ms']:7.1f} ms, load {stats['load1']}", flush=True)  # fmt: skip
    return rows


def serve_async(compiled, batch: int, image: int, depth: int, requests: int) -> dict:
    """Serve ``requests`` batches through ``depth`` infer requests kept in flight (the pattern of OpenVINO's
    ``benchmark_app``: start every request, then wait for them in turn and restart each as it finishes).
    Throughput is all images over the wall time; latency is start to observed completion per request.

    No Python callbacks: an ``AsyncInferQueue`` callback needs the GIL on OpenVINO's thread, and this
    benchmark hung there with several requests in flight."""
    x = images(batch, image)
    pool = [compiled.create_infer_request() for _ in range(depth)]
    for request in pool:  # warm every request once
        request.infer({"images": x})
    started, latencies = [0.0] * depth, []
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    for slot, request in enumerate(pool[:requests]):
        started[slot] = time.perf_counter()
        request.start_async({"images": x})
    submitted = min(depth, requests)
    for done in range(requests):
        slot = done % depth
        pool[slot].wait()
        latencies.append(1000.0 * (time.perf_counter() - started[slot]))
        if submitted < requests:
            started[slot] = time.perf_counter()
            pool[slot].start_async({"images": x})
            submitted += 1
    return _summary(latencies, batch * requests, time.perf_counter() - wall0, cpu_seconds() - cpu0)


TUNING = (
    # (hint, streams or None for the hint's choice, queue depth, batch)
    ("LATENCY", None, 1, 1),
    ("THROUGHPUT", None, 2, 1),
    ("THROUGHPUT", None, 4, 1),
    ("THROUGHPUT", 1, 2, 1),
    ("THROUGHPUT", 2, 2, 1),
    ("THROUGHPUT", 2, 4, 1),
    ("THROUGHPUT", None, 2, 4),
    ("THROUGHPUT", None, 2, 8),
    ("THROUGHPUT", None, 2, 16),
    ("LATENCY", None, 1, 16),
)
"""The OpenVINO INT8 settings tried: performance hint, streams, infer-request queue depth, batch."""


def tune_openvino(path: Path, args, cores: int, name: str = "ov_int8") -> list[dict]:
    """Serve the OpenVINO INT8 IR under every :data:`TUNING` setting; one row per setting."""
    rows = []
    for hint, streams, depth, batch in TUNING:
        config = {"PERFORMANCE_HINT": hint}
        if streams is not None:
            config["NUM_STREAMS"] = str(streams)
        compiled = compile_openvino(name, path, cores, config)
        chosen = int(compiled.get_property("NUM_STREAMS"))
        requests = max(depth * 4, (args.reps * 4) // batch)
        stats = serve_async(compiled, batch, args.image, depth, requests)
        label = f"{LABELS[name]}, hint {hint}, {chosen} stream(s), {depth} request(s) in flight"
        rows.append(
            row(f"tune/{name}/{hint.lower()}-s{streams or 'auto'}-q{depth}-b{batch}", label, stats, batch, cores,
                hint=hint, streams=chosen, queue_depth=depth)
        )  # fmt: skip
        print(f"{label:<80} batch {batch:>3}: {stats['img_per_s']:8.1f} img/s, p99 {stats['p99_ms']:7.1f} ms, "
              f"{stats['img_per_cpu_s']} img/CPU-s, load {stats['load1']}", flush=True)  # fmt: skip
    return rows


def profile_openvino(
    path: Path, image: int, cores: int, batch: int = 1, calls: int = 20, name: str = "ov_int8"
):
    """Per-layer time of the IR by primitive type (``PERF_COUNT``), summed over ``calls`` batch-``batch``
    inferences: ``{"by_exec_type": {type: ms per call}, "top_layers": [...], "total_ms": ...}``."""
    compiled = compile_openvino(name, path, cores, {"PERF_COUNT": "YES", "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    x = images(batch, image)
    request.infer({"images": x})
    by_type, by_layer = collections.Counter(), collections.Counter()
    for _ in range(calls):
        request.infer({"images": x})
        for info in request.get_profiling_info():
            ms = info.real_time.total_seconds() * 1000.0
            by_type[f"{info.node_type} / {info.exec_type}"] += ms / calls
            by_layer[f"{info.node_name} ({info.node_type}, {info.exec_type})"] += ms / calls
    total = sum(by_type.values())
    return {
        "batch": batch,
        "calls": calls,
        "total_ms": round(total, 3),
        "by_exec_type": {k: round(v, 3) for k, v in by_type.most_common()},
        "top_layers": [[k, round(v, 3)] for k, v in by_layer.most_common(15)],
    }


def anchor_rows() -> list[dict]:
    """MLPerf's per-core figures as record rows (published, not measured here)."""
    return [
        {"key": m["key"], "label": m["system"], "unit": "img/s per core", "value": round(m["img_per_s"] / m["cores"], 1),
         "img_per_s": m["img_per_s"], "cores": m["cores"], "round": m["round"], "source": m["source"],
         "kind": "published"}
        for m in MLPERF
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Export (or reuse) the files, measure every contender, tune and profile OpenVINO INT8, write the record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--p99-ms", type=float, default=100.0, help="latency target for the tuner's batch")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--curve-reps", type=int, default=10, help="calls per batch size on the curve")
    parser.add_argument("--reps", type=int, default=40, help="calls per batch-1 row (half at larger batches)")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--tune", action="store_true", help="also tune and profile OpenVINO INT8")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_runtimes"))
    parser.add_argument("--reuse", action="store_true", help="keep files already in --workdir")
    parser.add_argument("--calibration", type=int, default=32)
    parser.add_argument("--name", default=None, help="record name (default serving_per_core_<class>)")
    parser.add_argument("--out", type=Path, default=None, help="record path (default benchmarks/records/)")
    args = parser.parse_args(argv)

    from benchmarks import records
    from benchmarks.models import build_ours
    from keras_residual.datasets import digits_images
    from keras_residual.hardware import detect_cpu

    cpu = detect_cpu()
    record = records.start(
        args.name or f"serving_per_core_{cpu.device_class}",
        f"ResNet-50 {args.image}x{args.image} CPU serving per physical core, every exported runtime",
        PACKAGES,
        argv,
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
    calibration, _ = digits_images(args.image, args.image, 3, train_count=args.calibration, held_out_count=0)
    paths, record["export_seconds"] = export_all(
        build_ours(args.image), args.workdir, calibration, args.reuse, tuple(args.contenders)
    )
    cores = cpu.physical_cores
    record["threads"] = f"{cores} intra-op threads per runtime (physical cores); inter-op 1 where settable"
    record["p99_target_ms"] = args.p99_ms
    for name in args.contenders:
        record["rows"] += measure_contender(name, paths[name], args, cores)
    if args.tune and "ov_int8" in paths:
        record["rows"] += tune_openvino(paths["ov_int8"], args, cores)
        record["profile"] = {
            f"b{b}": profile_openvino(paths["ov_int8"], args.image, cores, b) for b in (1, 16)
        }
    record["rows"] += anchor_rows()
    print(records.finish(record, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
