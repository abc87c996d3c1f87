"""The TF Serving client: import cost, and predict latency over gRPC and REST against in-process.

Imports: ``import keras_residual.client`` (grpcio, protobuf, numpy; the package's own wire
messages) against ``import tensorflow_serving.apis.predict_pb2``, which the former client needed
and which imports TensorFlow; each in fresh interpreters, medians of 5.

Latency: the package's own export of ``resnet20_cifar`` (32x32 inputs, 10 classes) is served on
loopback by the test suite's stand-in server in its own process (TF1 session loader, like TF
Serving; its REST side is Python's http.server and JSON, slower than TF Serving's C++ one). Inputs
are whole-number pixels in float32, as decoded images are. For batch 1 and batch 32 the
gRPC client, the REST client and the same signature called in-process (the anchor) are timed in
rotation, so the rows show what each wire and the server loop cost.

Run as a script: ``python benchmarks/client_latency.py [--quick] [--markdown] [--record]`` (``--record``
writes ``benchmarks/records/client_latency_<device class>.json``, which RESULTS.md's Client section is
rendered from).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # the stand-in server lives in tests/client
    sys.path.insert(0, str(_ROOT))

MODEL = "resnet20_cifar"


def _percentiles(seconds: list[float], batch: int) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {
        "batch": batch,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "img_per_s": round(batch * len(seconds) / float(np.sum(seconds)), 1),
    }


@contextlib.contextmanager
def _server_process(base: Path):
    """The stand-in server in its own process (as TF Serving is): yields its gRPC and REST targets."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.client.serve_stub", str(base), MODEL],
        cwd=_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the stand-in server exited with {proc.wait()}")
        yield json.loads(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _serve_and_time(base: Path, reps: dict[int, int], local) -> list[dict]:
    """Interleave the gRPC client, the REST client and the in-process signature, per batch size."""
    import tensorflow as tf

    from keras_residual.client import ServingClient

    rows: list[dict] = []
    rng = np.random.default_rng(0)
    with (
        _server_process(base) as targets,
        ServingClient(targets["grpc"], MODEL, timeout=120.0) as grpc_client,
        ServingClient(targets["rest"], MODEL, timeout=120.0) as rest_client,
    ):
        for batch, n in reps.items():
            # decoded image pixels: whole numbers in float32, as `predict` gets them from an image file
            images = rng.integers(0, 256, size=(batch, 32, 32, 3)).astype("float32")
            tensor = tf.constant(images)
            calls = {
                "grpc": lambda images=images: grpc_client.predict(images),
                "rest": lambda images=images: rest_client.predict(images),
                "local": lambda tensor=tensor: local(images=tensor)["probabilities"].numpy(),
            }
            timings: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(3):  # warm-up: metadata fetch, graph caches, kept-alive connections
                for fn in calls.values():
                    fn()
            order = list(calls.items())
            for rep in range(n):
                for name, fn in order[rep % 3 :] + order[: rep % 3]:  # rotate who goes first
                    start = time.perf_counter()
                    fn()
                    timings[name].append(time.perf_counter() - start)
            rows.append(
                {"name": f"grpc client -> stand-in server ({MODEL})", **_percentiles(timings["grpc"], batch)}
            )
            rows.append(
                {"name": f"rest client -> stand-in server ({MODEL})", **_percentiles(timings["rest"], batch)}
            )
            rows.append(
                {
                    "name": f"in-process signature, no server ({MODEL})",
                    **_percentiles(timings["local"], batch),
                }
            )
    return rows


def measure(quick: bool = False) -> list[dict]:
    """Time batch-1 and batch-32 predict over gRPC, over REST, and in-process.

    Args:
        quick: fewer repetitions (a smoke run of a few seconds after the export).

    Returns:
        Rows with keys ``name``, ``batch``, ``p50_ms``, ``p99_ms``, ``img_per_s``: for each batch
        size a ``grpc client`` row, a ``rest client`` row (both to the same stand-in server) and
        an ``in-process signature`` anchor row.

    Example:
        ```python
        # skip-test: exports a model and runs for about a minute
        from benchmarks.client_latency import measure

        for row in measure(quick=True):
            print(row)
        ```
    """
    import tensorflow as tf

    from keras_residual.export import export_saved_model
    from keras_residual.models import ResNet

    reps = {1: 30, 32: 8} if quick else {1: 300, 32: 40}
    with tempfile.TemporaryDirectory(prefix="client-latency-") as tmp:
        model = ResNet.from_preset(MODEL, input_shape=(32, 32, 3), num_classes=10, preprocessing="unit")
        base = Path(tmp) / MODEL
        export_saved_model(model, base, version=1, class_names=[str(i) for i in range(10)], warmup=False)
        local = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
        return _serve_and_time(base, reps, local)


_PROBE = (
    "import time, resource; start = time.perf_counter(); import {module}; took = time.perf_counter() - start; "
    "print(took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
)
IMPORTS = {
    "import keras_residual.client (grpcio + protobuf + numpy)": "keras_residual.client",
    "import tensorflow_serving.apis.predict_pb2 (the former TF-backed client)": "tensorflow_serving.apis.predict_pb2",
}


def measure_imports(runs: int = 5, python: str = sys.executable) -> list[dict]:
    """Import time and peak RSS of the light client against the former TensorFlow-backed import.

    Each import runs in a fresh interpreter ``runs`` times, interleaved; medians are reported with
    the ratio to the TF-backed import.

    Returns:
        Rows with ``name``, ``import_s``, ``process_s`` (interpreter start included), ``peak_rss_mib``.
    """
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in IMPORTS}
    for _ in range(runs):
        for name, module in IMPORTS.items():
            start = time.perf_counter()
            done = subprocess.run(
                [python, "-c", _PROBE.format(module=module)], capture_output=True, text=True, check=True
            )
            wall = time.perf_counter() - start
            took, rss = map(float, done.stdout.split()[-2:])
            samples[name].append((took, wall, rss))
    rows = []
    for name, values in samples.items():
        took, wall, rss = (statistics.median(column) for column in zip(*values, strict=True))
        rows.append(
            {
                "name": name,
                "import_s": round(took, 3),
                "process_s": round(wall, 3),
                "peak_rss_mib": round(rss, 1),
            }
        )
    return rows


def machine() -> dict:
    """CPU model, the SIMD flags that matter, cores, load average, date (for the RESULTS section)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), ""
    )
    flags_line = next((line.split(":", 1)[1] for line in info.splitlines() if line.startswith("flags")), "")
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "flags": [f for f in wanted if f in flags_line.split()],
        "cores": os.cpu_count(),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def _table(rows: list[dict]) -> str:
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'name':<{width}}  batch   p50_ms   p99_ms  img_per_s"]
    for r in rows:
        lines.append(
            f"{r['name']:<{width}}  {r['batch']:>5}  {r['p50_ms']:>7.2f}  {r['p99_ms']:>7.2f}  {r['img_per_s']:>9.1f}"
        )
    return "\n".join(lines)


def markdown(latency: list[dict], imports: list[dict], info: dict, command: str) -> str:
    """The self-contained ``## Client`` section of RESULTS.md."""
    anchor = next(r for r in imports if "tensorflow_serving" in r["name"])
    lines = [
        "## Client",
        "",
        f"- Measured {info['date']} on {info['cpu']} ({info['cores']} cores; flags {' '.join(info['flags'])}); "
        f"load average {info['load'][0]:.1f} / {info['load'][1]:.1f} / {info['load'][2]:.1f} at the end "
        "(a shared machine: absolute times are inflated, the rows of one run compare).",
        f"- Command: `{command}`.",
        "",
        "| import (fresh interpreter, median of 5) | import s | process s | peak RSS MiB | RSS vs TF-backed |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in imports:
        lines.append(
            f"| {r['name']} | {r['import_s']:.2f} | {r['process_s']:.2f} | {r['peak_rss_mib']:.0f} "
            f"| {r['peak_rss_mib'] / anchor['peak_rss_mib']:.2f}x |"
        )
    lines += [
        "",
        "| predict path | batch | p50 ms | p99 ms | img/s | p50 vs in-process |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in latency:
        local = next(x for x in latency if x["batch"] == r["batch"] and x["name"].startswith("in-process"))
        lines.append(
            f"| {r['name']} | {r['batch']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['img_per_s']:.1f} "
            f"| {r['p50_ms'] / local['p50_ms']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--markdown", action="store_true", help="print the RESULTS.md section")
    parser.add_argument(
        "--record", action="store_true", help="write benchmarks/records/client_latency_<class>.json"
    )
    args = parser.parse_args()
    if args.record:
        from benchmarks import records
        from keras_residual.hardware import detect_cpu

        record = records.start(
            f"client_latency_{detect_cpu().device_class}",
            "TF Serving client: import cost, and predict latency over gRPC and REST against in-process",
            ("grpcio", "protobuf", "numpy", "tensorflow", "keras"),
        )
    import_rows = measure_imports()
    latency_rows = measure(quick=args.quick)
    if args.record:
        record["rows"] = [
            {"key": f"{r['name'].split()[0]}/b{r['batch']}", "label": r["name"], "unit": "img/s",
             "value": round(r["img_per_s"], 1), **{k: v for k, v in r.items() if k not in ("name", "img_per_s")}}
            for r in latency_rows
        ] + [
            {"key": f"import/{IMPORTS[r['name']]}", "label": r["name"], "unit": "s", "value": r["import_s"],
             **{k: v for k, v in r.items() if k not in ("name", "import_s")}}
            for r in import_rows
        ]  # fmt: skip
        print(records.finish(record))
    if args.markdown:
        command = "python benchmarks/client_latency.py --markdown" + (" --quick" if args.quick else "")
        print(markdown(latency_rows, import_rows, machine(), command))
    else:
        print(_table(latency_rows))
        for row in import_rows:
            print(row)
