"""Why a row misses: per-op evidence for our ResNet-50 vs keras.applications.ResNet50.

    python benchmarks/investigate.py onnx  [--image-size 224] [--batch 16]   # ONNX graphs + ORT per-op profile
    python benchmarks/investigate.py tf    [--image-size 224] [--batch 16]   # TF graph op counts + TF profiler

``onnx`` exports both models (ours with ``export_onnx``, the anchor with Keras's ``model.export``), prints the
node counts by op type and the ONNX Runtime profiler's time per op type. ``tf`` prints the op types of both
models' inference graphs and, with ``--trace DIR``, writes a TensorFlow profiler trace of a few calls of each
(open it in TensorBoard's profile tab).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def ort_profile(path: str, x, runs: int) -> dict[str, float]:
    """Milliseconds per call spent in each ONNX op type, from ONNX Runtime's own profiler."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(path).with_suffix(""))
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    session.run(None, feed)  # warm-up, excluded below by dividing the steady-state total
    for _ in range(runs):
        session.run(None, feed)
    trace = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = collections.Counter()
    for event in trace:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"] / 1e3 / (runs + 1)
    return dict(per_op)


def onnx_evidence(image_size: int, batch: int, runs: int) -> dict:
    """Node counts and per-op-type ORT time of our export, our v1-layout preset's export and the anchor's."""
    import onnx

    from benchmarks.bench_inference import images
    from benchmarks.models import build_anchor, build_ours
    from keras_residual.export import export_onnx
    from keras_residual.export.onnx import node_counts

    x = images(batch, image_size)
    out = {}
    with tempfile.TemporaryDirectory() as work:
        paths = {
            "ours": f"{work}/ours.onnx",
            "ours_v1": f"{work}/ours_v1.onnx",
            "anchor": f"{work}/anchor.onnx",
        }
        export_onnx(build_ours(image_size), paths["ours"], verify=False)
        export_onnx(build_ours(image_size, preset="resnet50_v1"), paths["ours_v1"], verify=False)
        anchor = build_anchor(image_size)
        anchor(x[:1])  # Keras's ONNX export needs a model that has been called once
        anchor.export(paths["anchor"], format="onnx", verbose=False)
        for name, path in paths.items():
            out[name] = {
                "nodes": node_counts(onnx.load(path)),
                "ms_per_op_type": ort_profile(path, x, runs),
            }
    return out


def onnx_summary(result: dict, gmacs: dict[str, float], header: str) -> str:
    """Side-by-side text table: ONNX node counts and ONNX Runtime ms per op type for each export, with the
    totals per image and per GMAC (equal ms per GMAC = equal speed per FLOP)."""
    names = list(result)
    ops = sorted({op for r in result.values() for op in (*r["nodes"], *r["ms_per_op_type"])})
    lines = [header, "", "| op type | " + " | ".join(f"{n} nodes | {n} ms" for n in names) + " |"]
    lines.append("|---|" + "---:|---:|" * len(names))
    order = sorted(ops, key=lambda op: -max(r["ms_per_op_type"].get(op, 0.0) for r in result.values()))
    for op in order:
        cells = [
            f"{result[n]['nodes'].get(op, 0)} | {result[n]['ms_per_op_type'].get(op, 0.0):.1f}" for n in names
        ]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    totals = {n: sum(r["ms_per_op_type"].values()) for n, r in result.items()}
    lines.append("| **total ms per batch** | " + " | ".join(f" | {totals[n]:.1f}" for n in names) + " |")
    lines += [""] + [
        f"{n}: {gmacs[n]:.3f} GMACs/image, {totals[n]:.1f} ms per batch, {totals[n] / gmacs[n]:.1f} ms per GMAC"
        for n in names
    ]
    return "\n".join(lines) + "\n"


def tf_evidence(image_size: int, batch: int, trace_dir: str | None) -> dict:
    """Op types in each model's tf.function inference graph; optionally a TF profiler trace of a few calls."""
    import tensorflow as tf

    from benchmarks.bench_inference import images
    from benchmarks.models import build_anchor, build_ours

    x = tf.constant(images(batch, image_size))
    out = {}
    for name, model in (("ours", build_ours(image_size)), ("anchor", build_anchor(image_size))):
        fn = tf.function(lambda t, m=model: m(t, training=False))
        graph = fn.get_concrete_function(x).graph
        ops = collections.Counter(op.type for op in graph.get_operations())
        out[name] = {"ops": dict(ops.most_common())}
        if trace_dir:
            fn(x)
            tf.profiler.experimental.start(str(Path(trace_dir) / name))
            for _ in range(3):
                fn(x).numpy()
            tf.profiler.experimental.stop()
    return out


def _onnx_summary_file(result: dict, args: argparse.Namespace) -> str:
    from benchmarks import machine
    from benchmarks.models import build_anchor, build_ours, describe_model
    from keras_residual._atomic import write_text

    size = args.image_size
    builders = {
        "ours": build_ours,
        "ours_v1": lambda s: build_ours(s, preset="resnet50_v1"),
        "anchor": build_anchor,
    }
    gmacs = {name: describe_model(builders[name](size), size)["gmacs"] for name in result}
    m = machine.describe(("onnxruntime",))
    header = (
        f"# ONNX Runtime per op type, batch {args.batch}, {size}x{size}, {args.runs} profiled runs ({m['date']})\n"
        f"# {m['cpu']}, {m['cores']} cores, flags {', '.join(m['flags'])}; load {m['load_average_start']}; "
        f"onnxruntime {m['versions'].get('onnxruntime')}"
    )
    text = onnx_summary(result, gmacs, header)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.summary, text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("onnx", "tf"))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--trace", default=None, help="tf: write a TensorFlow profiler trace under this folder"
    )
    parser.add_argument("--summary", type=Path, default=None, help="onnx: write the side-by-side table here")
    args = parser.parse_args(argv)
    if args.what == "onnx":
        result = onnx_evidence(args.image_size, args.batch, args.runs)
        if args.summary:
            summary = _onnx_summary_file(result, args)
            print(summary)
    else:
        result = tf_evidence(args.image_size, args.batch, args.trace)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
