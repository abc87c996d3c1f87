"""ResNet-50 training throughput: Keras (JAX by default) under float32 / mixed_bfloat16 / mixed_float16, with
torchvision's resnet50 (AMP, channels_last) as the anchor in the same process.

Synthetic data is generated on the device once; each timed window runs ``--steps`` optimizer steps (SGD with
momentum, sparse cross-entropy) and ends synchronised. Warm-up steps (compilation, autotuning) are excluded; the
table gives the median images/s over ``--windows`` windows with min and max.

    KERAS_BACKEND=jax python benchmarks/gpu_train.py               # on a GPU machine: prints one table
    KERAS_BACKEND=jax python benchmarks/gpu_train.py --record      # ... and records it into benchmarks/RESULTS.md
    python benchmarks/gpu_train.py --tiny                          # CPU smoke test (32x32, batch 2)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX and torch share the GPU in one run
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
MODELS = ("ours", "torchvision", "keras_applications")
MODEL_LABELS = {
    "ours": "keras_residual resnet50",
    "keras_applications": "keras.applications.ResNet50",
    "torchvision": "torchvision resnet50",
}


def _default_backend() -> str:
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    try:
        import jax  # noqa: F401
    except ImportError:
        return "tensorflow"
    return "jax"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        default=None,
        choices=("jax", "torch", "tensorflow"),
        help="Keras backend (default: $KERAS_BACKEND, else jax when installed, else tensorflow)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument(
        "--warmup", type=int, default=5, help="untimed steps per row (compilation, autotuning)"
    )
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per timed window")
    parser.add_argument("--windows", type=int, default=3, help="timed windows per row (median reported)")
    parser.add_argument(
        "--policies", default=",".join(POLICIES), help=f"comma-separated subset of {POLICIES}"
    )
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {MODELS}")
    parser.add_argument(
        "--time-budget",
        type=float,
        default=480.0,
        help="seconds; rows not started by then are reported as skipped",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="CPU smoke test: 32x32 images, batch 2, 1 warm-up, 2 windows of 2 steps, models with one block per stage",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument(
        "--record",
        action="store_true",
        help="store the results in benchmarks/gpu_results.json and re-render benchmarks/RESULTS.md",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=REPO / "benchmarks",
        help="where --record writes gpu_results.json and RESULTS.md (default benchmarks/)",
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.batch_size, args.image_size, args.warmup, args.steps, args.windows = 2, 32, 1, 2, 2
    args.policies = _subset(args.policies, POLICIES, "--policies")
    args.models = _subset(args.models, MODELS, "--models")
    for name in ("batch_size", "image_size", "steps", "windows"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.image_size < 32:
        parser.error(f"--image-size must be >= 32 (ResNet-50 downsamples 32x), got {args.image_size}")
    return args


def _subset(text: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    picked = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in picked if p not in allowed]
    if bad or not picked:
        raise SystemExit(f"gpu_train.py: error: {flag}={text!r}; allowed values: {', '.join(allowed)}")
    return picked


# ----------------------------------------------------------------------------------------------- Keras rows
def _build_keras_model(name: str, image_size: int, tiny: bool = False):
    import keras

    if tiny:  # the CPU smoke test: one bottleneck block per stage, the same layers and code path
        from benchmarks.models import build_anchor, build_ours

        return build_ours(image_size, tiny=True) if name == "ours" else build_anchor(image_size, tiny=True)
    shape = (image_size, image_size, 3)
    if name == "ours":
        import keras_residual

        return keras_residual.ResNet.from_preset("resnet50", input_shape=shape, num_classes=1000)
    return keras.applications.ResNet50(weights=None, input_shape=shape, classes=1000)


def keras_row(name: str, policy: str, args: argparse.Namespace) -> dict:
    """Train ``name`` under ``policy`` on device-resident synthetic data; return images/s per window."""
    import keras

    keras.backend.clear_session()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = _build_keras_model(name, args.image_size, args.tiny)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(),
        )
        b, s = args.batch_size, args.image_size
        x = keras.random.uniform(
            (b, s, s, 3), 0.0, 255.0, seed=1
        )  # created on the default (accelerator) device
        y = keras.random.randint((b,), 0, 1000, seed=2)
        step = lambda: model.train_on_batch(x, y)  # noqa: E731  (returns a Python float: synchronised)
        return _time_steps(step, args, sync=lambda: None)
    finally:
        keras.config.set_dtype_policy("float32")
        import gc

        gc.collect()


# ----------------------------------------------------------------------------------------------- torch anchor
def torch_row(policy: str, args: argparse.Namespace) -> dict:
    """torchvision resnet50, channels_last, SGD momentum; AMP autocast to bf16/fp16 (GradScaler for fp16)."""
    import torch
    import torchvision

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")  # TF32 like XLA's default float32 precision on GPUs
    amp_dtype = {"float32": None, "mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}[policy]
    if args.tiny:  # the CPU smoke test: one bottleneck block per stage
        from torchvision.models.resnet import Bottleneck, ResNet

        model = ResNet(Bottleneck, [1, 1, 1, 1], num_classes=1000)
    else:
        model = torchvision.models.resnet50(num_classes=1000)
    model = model.to(device, memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16)
    b, s = args.batch_size, args.image_size
    x = (torch.rand(b, 3, s, s, device=device) * 255.0).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (b,), device=device)
    last = {}

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        last["loss"] = loss.detach()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    out = _time_steps(step, args, sync=sync)
    out["final_loss"] = float(last["loss"])
    return out


def _release_torch_memory() -> None:
    """Give the torch caching allocator's blocks back so the next JAX row has the whole GPU."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


# ----------------------------------------------------------------------------------------------- timing
def _time_steps(step, args: argparse.Namespace, sync) -> dict:
    from benchmarks.timing import summarize

    start = time.perf_counter()
    for _ in range(args.warmup):
        loss = step()
    sync()
    warmup_s = time.perf_counter() - start
    rates = []
    for _ in range(args.windows):
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        sync()
        rates.append(args.batch_size * args.steps / (time.perf_counter() - start))
    out = {"img_s": summarize(rates), "warmup_s": round(warmup_s, 1)}
    if isinstance(loss, (int, float)):
        out["final_loss"] = float(loss)
    return out


def device_name(backend: str) -> str:
    """A human name for the accelerator the run used (or the CPU model)."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    if backend == "jax":
        import jax

        dev = jax.devices()[0]
        if dev.platform != "cpu":
            return dev.device_kind
    from benchmarks.machine import cpu_model

    return f"CPU: {cpu_model()}"


def run(args: argparse.Namespace) -> dict:
    """Run every (policy, model) row, interleaving Keras and torch per policy; return the results dict."""
    os.environ["KERAS_BACKEND"] = args.backend or _default_backend()
    import keras

    from benchmarks.machine import describe, load_average

    backend = keras.backend.backend()
    info = describe(("keras", "jax", "jaxlib", "torch", "torchvision", "tensorflow", "numpy"))
    info["device"] = device_name(backend)
    info["keras_backend"] = backend
    info["command"] = (
        f"KERAS_BACKEND={backend} python benchmarks/gpu_train.py {_replayable(sys.argv[1:])}".strip()
    )
    results = {
        "machine": info,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "warmup": args.warmup,
        "steps": args.steps,
        "windows": args.windows,
        "rows": [],
    }
    begin = time.perf_counter()
    # Ours and the torchvision anchor first, interleaved per policy; keras.applications (a diagnostic) last.
    plan = [(p, n) for p in args.policies for n in args.models if n != "keras_applications"]
    plan += [(p, n) for p in args.policies for n in args.models if n == "keras_applications"]
    for policy, name in plan:
        row = {
            "model": MODEL_LABELS[name],
            "key": name,
            "policy": policy,
            "framework": "torch eager (AMP)" if name == "torchvision" else f"keras/{backend}",
        }
        if time.perf_counter() - begin > args.time_budget:
            row["status"] = f"skipped: time budget of {args.time_budget:.0f} s spent"
        else:
            try:
                row.update(
                    torch_row(policy, args) if name == "torchvision" else keras_row(name, policy, args)
                )
                row["status"] = "ok"  # a non-finite loss is shown in the table; the throughput still stands
            except ImportError as err:
                row["status"] = f"skipped: {err}"
            except Exception as err:  # one failing row must not lose the others
                row["status"] = f"error: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
        if name == "torchvision":
            _release_torch_memory()
        results["rows"].append(row)
        _print_row(row)
        if args.json:
            _write_json(args.json, results)
    results["wall_s"] = round(time.perf_counter() - begin, 1)
    info["load_average_end"] = load_average()
    return results


def _replayable(argv: list[str]) -> str:
    """The command-line arguments without the output options (--record, --json PATH, --results-dir PATH)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--json", "--results-dir"):
            skip = True
        elif arg != "--record" and not arg.startswith(("--json=", "--results-dir=")):
            out.append(arg)
    return " ".join(out)


def _add_ratios(results: dict) -> None:
    ok = {(r["key"], r["policy"]): r["img_s"]["median"] for r in results["rows"] if r.get("status") == "ok"}
    for r in results["rows"]:
        if r.get("status") != "ok":
            continue
        med = r["img_s"]["median"]
        if (r["key"], "float32") in ok:
            r["speedup_vs_float32"] = med / ok[(r["key"], "float32")]
        if r["key"] != "torchvision" and ("torchvision", r["policy"]) in ok:
            r["ratio_vs_torchvision"] = med / ok[("torchvision", r["policy"])]
        if r["key"] == "ours" and ("keras_applications", r["policy"]) in ok:
            r["ratio_vs_keras_applications"] = med / ok[("keras_applications", r["policy"])]


def _print_row(row: dict) -> None:
    if row.get("status") == "ok":
        s = row["img_s"]
        print(
            f"  {row['model']:<30} {row['policy']:<15} {s['median']:9.1f} img/s "
            f"(min {s['min']:.1f}, max {s['max']:.1f}; warm-up {row['warmup_s']} s)",
            flush=True,
        )
    else:
        print(f"  {row['model']:<30} {row['policy']:<15} {row['status']}", flush=True)


def format_table(results: dict) -> str:
    """The results as one Markdown table (also what the script prints at the end)."""
    _add_ratios(results)
    head = (
        "| model | framework | policy | img/s median | min | max | vs float32 | vs torchvision "
        "| vs keras.applications | final loss | status |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [head]
    for r in results["rows"]:
        if r.get("status") == "ok":
            s = r["img_s"]
            vs32 = f"{r['speedup_vs_float32']:.2f}x" if "speedup_vs_float32" in r else ""
            vst = f"{r['ratio_vs_torchvision']:.2f}" if "ratio_vs_torchvision" in r else ""
            vska = f"{r['ratio_vs_keras_applications']:.2f}" if "ratio_vs_keras_applications" in r else ""
            loss = f"{r['final_loss']:.3g}" if r.get("final_loss") is not None else ""
            lines.append(
                f"| {r['model']} | {r['framework']} | {r['policy']} | {s['median']:.1f} | {s['min']:.1f} "
                f"| {s['max']:.1f} | {vs32} | {vst} | {vska} | {loss} | ok |"
            )
        else:
            lines.append(f"| {r['model']} | {r['framework']} | {r['policy']} | | | | | | | | {r['status']} |")
    return "\n".join(lines)


def _write_json(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    m = results["machine"]
    print(
        f"\nResNet-50 training, batch {args.batch_size}, {args.image_size}x{args.image_size}, "
        f"{m['device']}, Keras backend {m['keras_backend']}, {m['date']}"
    )
    print(format_table(results))
    if args.json:
        _write_json(args.json, results)
    if args.record:
        from benchmarks import report

        _write_json(args.results_dir / "gpu_results.json", results)
        report.render_results_md(args.results_dir)
        print(f"recorded into {args.results_dir / 'RESULTS.md'}")
    return 0 if any(r.get("status") == "ok" for r in results["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
