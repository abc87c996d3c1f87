"""Row 3b evidence: float32 vs mixed_bfloat16 training steps of ours and keras.applications, in one run, with a
TensorFlow profile of each step summarised by op type.

All four contenders (ours / anchor x float32 / mixed_bfloat16) and the FP32 matmul run in the same interleaved
rounds, so the bf16-vs-float32 ratio of each model and the ours-vs-anchor ratio of each policy are measured
under the same load. Then one traced step per contender is written with the TF profiler and summarised as
milliseconds per op type (from the trace's XPlane, TF op events only), saved as a small text file; the
trace itself is deleted.

    python benchmarks/precision_gap.py [--image-size 224] [--batch 16] [--reps 3]
        [--summary benchmarks/profiles/train_ops_<device class>.txt] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

POLICIES = ("float32", "mixed_bfloat16")


_OP_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _phase(op_name: str) -> str:
    if op_name.startswith("gradient_tape/"):
        return "phase: backward"
    if op_name.split("/", 1)[0] in ("sgd", "SGD") or "/sgd/" in op_name:
        return "phase: optimizer"
    return "phase: forward"


def op_times(trace_dir: str) -> dict[str, float]:
    """Milliseconds per TF op type in the profiler trace under ``trace_dir``, plus per phase (forward,
    backward, optimizer). TF op events are the ``name:Type`` events on the executor's ``tf_Compute`` lines."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals: dict[str, float] = collections.Counter()
    for path in Path(trace_dir).rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            names = {key: meta.name for key, meta in plane.event_metadata.items()}
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):
                    continue
                for event in line.events:
                    name = names.get(event.metadata_id, "")
                    op_name, _, op_type = name.rpartition(":")
                    if op_name and "::" not in name and _OP_TYPE.match(op_type):  # not ExecutorState::Process
                        totals[op_type] += event.duration_ps / 1e9
                        totals[_phase(op_name)] += event.duration_ps / 1e9
    return dict(totals)


def profile_step(step, steps: int = 1) -> dict[str, float]:
    """Trace ``steps`` calls of ``step`` and return ms per op type per call."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="kr-profile-") as trace:
        tf.profiler.experimental.start(trace)
        for _ in range(steps):
            step()
        tf.profiler.experimental.stop()
        return {k: v / steps for k, v in op_times(trace).items()}


def summary_text(result: dict, top: int = 25) -> str:
    """The measured ratios and the top op types of each contender's traced step, as plain text."""
    m = result["machine"]
    lines = [
        f"# Training-step profile by op type ({result['date']})",
        f"# {m['cpu']}, {m['cores']} cores, flags {', '.join(m['flags'])}; oneDNN "
        f"{'on' if m['hardware']['onednn']['enabled'] else 'off'}; load {result['load']}",
        f"# batch {result['batch']}, {result['image_size']}x{result['image_size']}, train_on_batch, SGD momentum",
        "",
        "img/s, median (min-max) of interleaved rounds:",
    ]
    for name, stat in result["stats"].items():
        lines.append(
            f"  {name:<22} {stat['median']:.2f} ({stat['min']:.2f}-{stat['max']:.2f}, n={stat['n']})"
        )
    lines += ["", "ratios:"] + [f"  {k}: {v:.3f}" for k, v in result["ratios"].items()] + [""]
    for name, ops in result["ops"].items():
        phases = {k: v for k, v in ops.items() if k.startswith("phase: ")}
        ops = {k: v for k, v in ops.items() if k not in phases}
        total = sum(ops.values())
        split = ", ".join(f"{k[7:]} {v:.0f} ms" for k, v in phases.items())
        lines.append(
            f"{name}: {total:.0f} ms of TF op time (summed over threads) in one traced step ({split})"
        )
        for op, ms in sorted(ops.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"  {op:<40} {ms:10.1f} ms  {100 * ms / total:5.1f}%")
        lines.append("")
    return "\n".join(lines)


def _render_saved(args: argparse.Namespace) -> int:
    """Re-render a saved result, dropping the executor's own ``ExecutorState::Process`` events that an early
    version of :func:`op_times` counted as an op type (and as forward time)."""
    from keras_residual._atomic import write_text
    from keras_residual.hardware import detect_cpu

    result = json.loads(args.from_json.read_text())
    for ops in result["ops"].values():
        process = ops.pop("Process", 0.0)
        ops["phase: forward"] = ops.get("phase: forward", 0.0) - process
    text = summary_text(result)
    print(text)
    summary = args.summary or REPO / "benchmarks" / "profiles" / f"train_ops_{detect_cpu().device_class}.txt"
    write_text(summary, text + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--summary", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--from-json", type=Path, default=None, help="only re-render the summary of a saved --json result"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        return _render_saved(args)

    import keras
    import numpy as np

    from benchmarks import machine, peak
    from benchmarks.bench_inference import images
    from benchmarks.bench_training import train_step
    from benchmarks.models import build_anchor, build_ours
    from benchmarks.timing import interleaved
    from keras_residual._atomic import write_text
    from keras_residual.hardware import detect_cpu

    info = machine.describe(("tensorflow", "keras"))
    x = images(args.batch, args.image_size)
    y = np.random.default_rng(1).integers(0, 1000, args.batch).astype("int32")
    contenders = {}
    for policy in POLICIES:
        keras.config.set_dtype_policy(policy)
        contenders[f"ours_{policy}"] = train_step(build_ours(args.image_size), x, y)
        contenders[f"anchor_{policy}"] = train_step(build_anchor(args.image_size), x, y)
    keras.config.set_dtype_policy("float32")
    contenders["peak"] = peak.matmul_callables(2048)["numpy"]
    items = {
        name: (peak.flops_per_matmul(2048) / 1e9 if name == "peak" else args.batch) for name in contenders
    }
    stats = interleaved(contenders, warmup=1, reps=args.reps, items=items)
    med = {k: v["median"] for k, v in stats.items()}
    result = {
        "date": info["date"],
        "machine": info,
        "batch": args.batch,
        "image_size": args.image_size,
        "stats": {k: {kk: v[kk] for kk in ("median", "min", "max", "n")} for k, v in stats.items()},
        "ratios": {
            "ours bf16 / ours float32": med["ours_mixed_bfloat16"] / med["ours_float32"],
            "anchor bf16 / anchor float32": med["anchor_mixed_bfloat16"] / med["anchor_float32"],
            "row 3a ours / anchor, float32": med["ours_float32"] / med["anchor_float32"],
            "row 3b ours / anchor, mixed_bfloat16": med["ours_mixed_bfloat16"] / med["anchor_mixed_bfloat16"],
        },
        "ops": {name: profile_step(step) for name, step in contenders.items() if name != "peak"},
    }
    result["load"] = [info["load_average_start"], machine.load_average()]
    text = summary_text(result)
    print(text)
    summary = args.summary or REPO / "benchmarks" / "profiles" / f"train_ops_{detect_cpu().device_class}.txt"
    summary.parent.mkdir(parents=True, exist_ok=True)
    write_text(summary, text + "\n")
    if args.json:
        write_text(args.json, json.dumps(result, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
