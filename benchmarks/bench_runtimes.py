"""Which runtime on which CPU: ResNet-50 images/s in ONNX Runtime, OpenVINO, LiteRT and TensorFlow, one run.

Every variant is exported once from the same Keras model (random weights: speed does not depend on
them; INT8 ranges are calibrated on digits), then all of them run in interleaved rounds (A B C ..., then
the reverse) on the same image batch, at batch 1 and 16. Each figure carries the 1-minute load average
sampled after each of its timed calls, and the ratio to ONNX Runtime float32 at the same batch.

    python benchmarks/bench_runtimes.py                      # ResNet-50, 224x224
    python benchmarks/bench_runtimes.py --image 64 --reps 3  # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_inference import images
from benchmarks.machine import describe
from benchmarks.models import build_ours
from benchmarks.timing import interleaved

ANCHOR = "ort_fp32"
LABELS = {
    "ort_fp32": "ONNX Runtime float32",
    "ort_int8": "ONNX Runtime INT8 (QDQ)",
    "ov_fp32": "OpenVINO float32 (hint f32)",
    "ov_bf16": "OpenVINO bfloat16 (hint bf16)",
    "ov_int8": "OpenVINO INT8 (NNCF)",
    "litert_fp32": "LiteRT float32 (XNNPACK)",
    "litert_dynamic": "LiteRT dynamic-range INT8 (XNNPACK)",
    "litert_int8": "LiteRT full INT8 (XNNPACK)",
    "tf": "TensorFlow tf.function",
    "tf_sm_fp32": "TF SavedModel float32 (TF1 session loader)",
    "tf_sm_bf16": "TF SavedModel bfloat16 (TF1 session loader)",
}
DEFAULT_RUNTIMES = tuple(name for name in LABELS if not name.startswith("tf_sm"))
"""The contenders of the ratio table (issue 15); the SavedModel ones are in ``serving_per_core.py``."""
PACKAGES = ("tensorflow", "keras", "onnxruntime", "openvino", "nncf", "ai-edge-litert", "numpy")


def export_all(
    model, work: Path, calibration, reuse: bool = False, names: tuple[str, ...] | None = None
) -> tuple[dict[str, Path], dict[str, float]]:
    """Write every file variant (or those in ``names``, keeping existing ones with ``reuse``); returns
    ``(paths, export seconds)``. ``ort_int8`` needs ``ort_fp32``'s file."""
    from keras_residual.export import export_litert, export_onnx, export_openvino, export_saved_model
    from keras_residual.export.onnx_quantize import quantize_int8

    jobs = {
        "ort_fp32": lambda p: export_onnx(model, p, verify=False),
        "ort_int8": lambda p: quantize_int8(work / "ort_fp32.onnx", p, "images", calibration),
        "ov_fp32": lambda p: export_openvino(model, p, verify=False),
        "ov_bf16": lambda p: export_openvino(model, p, precision="bfloat16", verify=False),
        "ov_int8": lambda p: export_openvino(
            model, p, precision="int8", calibration_data=calibration, verify=False
        ),
        "litert_fp32": lambda p: export_litert(model, p, verify=False),
        "litert_dynamic": lambda p: export_litert(model, p, quantize="dynamic", verify=False),
        "litert_int8": lambda p: export_litert(
            model, p, quantize="int8", calibration_data=calibration, verify=False
        ),
        "tf_sm_fp32": lambda p: export_saved_model(model, p, version=1, warmup=False, overwrite=True),
        "tf_sm_bf16": lambda p: export_saved_model(
            model, p, version=1, compute_dtype="bfloat16", warmup=False, overwrite=True
        ),
    }
    if names is not None:
        if "ort_int8" in names and "ort_fp32" not in names:
            names = ("ort_fp32", *names)
        jobs = {name: job for name, job in jobs.items() if name in names}
    suffix = {"ort": ".onnx", "ov": ".xml", "litert": ".tflite", "tf": ""}
    paths, seconds = {}, {}
    for name, job in jobs.items():
        paths[name] = work / f"{name}{suffix[name.split('_')[0]]}"
        done = paths[name] / "1" / "saved_model.pb" if name.startswith("tf_sm") else paths[name]
        if reuse and done.is_file():
            continue
        started = time.perf_counter()
        job(paths[name])
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"exported {name} in {seconds[name]} s", flush=True)
    return paths, seconds


def runner(name: str, path: Path | None, model, x, threads: int | None = None, config: dict | None = None):
    """A zero-argument callable running one inference of batch ``x`` in the named runtime (see :func:`load`)."""
    infer = load(name, path, model, threads, config)
    if name == "tf":
        import tensorflow as tf

        x = tf.constant(x)
    return lambda: infer(x)


def load(name: str, path: Path | None, model=None, threads: int | None = None, config: dict | None = None):
    """Load the named runtime's file once; return ``infer(batch)`` for any batch size.

    ``threads``: the runtime's intra-op thread count (None: its default, all cores). ``config``: extra
    OpenVINO ``compile_model`` properties (a performance hint, streams). ``model``: the Keras model, for ``tf``.
    """
    if name.startswith("ort"):
        return _ort(path, threads)
    if name.startswith("ov"):
        request = compile_openvino(name, path, threads, config).create_infer_request()
        return lambda x: request.infer({"images": x})
    if name.startswith("litert"):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count())
        runner_fn = interpreter.get_signature_runner()
        dtype = runner_fn.get_input_details()["images"]["dtype"]
        return lambda x: runner_fn(images=x if x.dtype == dtype else x.astype(dtype))
    if name.startswith("tf_sm"):
        return _tf_session(path, threads)
    import tensorflow as tf

    fn = tf.function(lambda t: model(t, training=False))
    return lambda x: fn(x).numpy()


def _ort(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"images": x})


def compile_openvino(name: str, path: Path, threads: int | None = None, config: dict | None = None):
    """Compile an IR for the CPU with the row's precision hint (``ov_fp32``: f32, ``ov_bf16``: bf16), the
    thread count and any further properties in ``config``."""
    import openvino as ov

    properties = {
        "ov_fp32": {"INFERENCE_PRECISION_HINT": "f32"},
        "ov_bf16": {"INFERENCE_PRECISION_HINT": "bf16"},
    }
    properties = dict(properties.get(name, {}))
    if threads:
        properties["INFERENCE_NUM_THREADS"] = threads
    properties.update(config or {})
    return ov.Core().compile_model(str(path), "CPU", properties)


def _tf_session(path: Path, threads: int | None):
    """``serving_default`` of a SavedModel through the TF1 session loader, as TF Serving loads it, with
    TF Serving's thread flags (``--tensorflow_intra_op_parallelism``, ``--tensorflow_inter_op_parallelism``)."""
    import tensorflow as tf

    from keras_residual.serving.batching import find_saved_model

    config = tf.compat.v1.ConfigProto()
    if threads:
        config.intra_op_parallelism_threads = threads
        config.inter_op_parallelism_threads = 1
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=config)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(find_saved_model(path)))
    signature = meta.signature_def["serving_default"]
    feed, fetch = signature.inputs["images"].name, signature.outputs["probabilities"].name
    return lambda x: session.run(fetch, {feed: x})


def with_load(fn, samples: list[float]):
    """Wrap ``fn`` so each call appends the 1-minute load average afterwards to ``samples``."""

    def call():
        fn()
        samples.append(os.getloadavg()[0])

    return call


def measure(paths, model, size: int, batch: int, warmup: int, reps: int) -> list[dict]:
    """One interleaved round-robin over every runtime at ``batch``; rows with ratios to ONNX Runtime float32."""
    x = images(batch, size)
    loads = {name: [] for name in DEFAULT_RUNTIMES}
    contenders = {
        name: with_load(runner(name, paths.get(name), model, x), loads[name]) for name in DEFAULT_RUNTIMES
    }
    stats = interleaved(contenders, warmup=warmup, reps=reps, items=batch)
    anchor = stats[ANCHOR]["median"]
    rows = []
    for name, stat in stats.items():
        timed = loads[name][-reps:]
        rows.append(
            {
                "batch": batch,
                "runtime": name,
                "label": LABELS[name],
                "img_s": round(stat["median"], 2),
                "min": round(stat["min"], 2),
                "max": round(stat["max"], 2),
                "n": stat["n"],
                "ratio_vs_ort_fp32": round(stat["median"] / anchor, 2),
                "load1_median": round(statistics.median(timed), 2),
                "load1_range": [round(min(timed), 2), round(max(timed), 2)],
            }
        )
    return rows


def markdown(result: dict) -> str:
    """The runtime table as Markdown (one row per runtime and batch)."""
    lines = [
        "| batch | runtime | img/s median (min-max, n) | x ORT float32 | load 1-min median (range) |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['batch']} | {row['label']} | {row['img_s']:.1f} ({row['min']:.1f}-{row['max']:.1f}, "
            f"n={row['n']}) | {row['ratio_vs_ort_fp32']:.2f} | {row['load1_median']:.2f} "
            f"({row['load1_range'][0]:.2f}-{row['load1_range'][1]:.2f}) |"
        )
    return "\n".join(lines)


def plot(result: dict, path: Path) -> Path:
    """Horizontal bars of the ratios to ONNX Runtime float32, one bar per batch size and runtime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = sorted({row["batch"] for row in result["rows"]})
    names = list(DEFAULT_RUNTIMES)[::-1]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    height = 0.8 / len(batches)
    for i, batch in enumerate(batches):
        ratios = {r["runtime"]: r["ratio_vs_ort_fp32"] for r in result["rows"] if r["batch"] == batch}
        ys = [k + (len(batches) - 1 - i) * height for k in range(len(names))]
        ax.barh(ys, [ratios[n] for n in names], height, label=f"batch {batch}")
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.set_yticks([k + height * (len(batches) - 1) / 2 for k in range(len(names))])
    ax.set_yticklabels([LABELS[n] for n in names], fontsize=8)
    ax.set_xlabel("images/s relative to ONNX Runtime float32 (interleaved medians)")
    machine = result["machine"]
    load = machine.get("load_average_start", ["?"])[0]
    ax.set_title(
        f"ResNet-50 {result['image']}x{result['image']}, {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['date']}, load {load}",
        fontsize=8,
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> int:
    """Export, time, print the table and write the JSON (and the plot with ``--plot``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=int, default=224, help="input height and width (default 224)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16], help="batch sizes (default 1 16)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per runtime (default 2)")
    parser.add_argument("--reps", type=int, default=6, help="timed calls per runtime and batch (default 6)")
    parser.add_argument(
        "--calibration", type=int, default=32, help="digits images for INT8 ranges (default 32)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/bench_runtimes"), help="where the files go"
    )
    parser.add_argument("--reuse", action="store_true", help="keep files already in --workdir (same --image)")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument("--plot", type=Path, default=None, help="write the ratio chart here (PNG)")
    args = parser.parse_args(argv)

    from keras_residual.datasets import digits_images

    started = time.perf_counter()
    result = {"machine": describe(PACKAGES), "image": args.image, "model": "keras_residual resnet50"}
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = build_ours(args.image)
    calibration, _ = digits_images(args.image, args.image, 3, train_count=args.calibration, held_out_count=0)
    paths, result["export_seconds"] = export_all(
        model, args.workdir, calibration, args.reuse, DEFAULT_RUNTIMES
    )
    result["rows"] = []
    for batch in args.batches:
        result["rows"] += measure(paths, model, args.image, batch, args.warmup, args.reps)
        print(markdown({"rows": [r for r in result["rows"] if r["batch"] == batch]}), flush=True)
    result["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot(result, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
