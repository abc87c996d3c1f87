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
}
PACKAGES = ("tensorflow", "keras", "onnxruntime", "openvino", "nncf", "ai-edge-litert", "numpy")


def export_all(
    model, work: Path, calibration, reuse: bool = False
) -> tuple[dict[str, Path], dict[str, float]]:
    """Write every file variant (keeping existing ones with ``reuse``); returns ``(paths, export seconds)``."""
    from keras_residual.export import export_litert, export_onnx, export_openvino
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
    }
    suffix = {"ort": ".onnx", "ov": ".xml", "litert": ".tflite"}
    paths, seconds = {}, {}
    for name, job in jobs.items():
        paths[name] = work / f"{name}{suffix[name.split('_')[0]]}"
        if reuse and paths[name].is_file():
            continue
        started = time.perf_counter()
        job(paths[name])
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"exported {name} in {seconds[name]} s", flush=True)
    return paths, seconds


def runner(name: str, path: Path | None, model, x):
    """A zero-argument callable running one inference of batch ``x`` in the named runtime."""
    if name.startswith("ort"):
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda: session.run(None, {"images": x})
    if name.startswith("ov"):
        import openvino as ov

        hint = {
            "ov_fp32": {"INFERENCE_PRECISION_HINT": "f32"},
            "ov_bf16": {"INFERENCE_PRECISION_HINT": "bf16"},
        }
        compiled = ov.Core().compile_model(str(path), "CPU", hint.get(name, {}))
        request = compiled.create_infer_request()
        return lambda: request.infer({"images": x})
    if name.startswith("litert"):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
        runner_fn = interpreter.get_signature_runner()
        detail = runner_fn.get_input_details()["images"]
        feed = x if detail["dtype"] == x.dtype else x.astype(detail["dtype"])
        return lambda: runner_fn(images=feed)
    import tensorflow as tf

    fn = tf.function(lambda t: model(t, training=False))
    tensor = tf.constant(x)
    return lambda: fn(tensor).numpy()


def with_load(fn, samples: list[float]):
    """Wrap ``fn`` so each call appends the 1-minute load average afterwards to ``samples``."""

    def call():
        fn()
        samples.append(os.getloadavg()[0])

    return call


def measure(paths, model, size: int, batch: int, warmup: int, reps: int) -> list[dict]:
    """One interleaved round-robin over every runtime at ``batch``; rows with ratios to ONNX Runtime float32."""
    x = images(batch, size)
    loads = {name: [] for name in LABELS}
    contenders = {name: with_load(runner(name, paths.get(name), model, x), loads[name]) for name in LABELS}
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
    names = list(LABELS)[::-1]
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
    paths, result["export_seconds"] = export_all(model, args.workdir, calibration, args.reuse)
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
