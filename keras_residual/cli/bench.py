"""``keras-residual bench``: run the benchmark suite of a source checkout (``benchmarks/run.py``).

The suite compares our ResNet-50 with keras.applications and the other anchors in one process and writes
``benchmarks/RESULTS.md``, ``benchmarks/results.json`` and the docs plot; ``--quick`` is the CI smoke run
(tiny sizes, results under ``benchmarks/out/quick``); ``--gpu`` runs ``benchmarks/gpu_train.py`` instead.
The benchmarks are not part of the installed package: the command looks for them in the current
directory and beside the package sources (an editable install). ``--precision-probe`` needs no checkout: it
times a few training steps of your model (a preset or a saved .keras file) under each dtype policy on this
machine and says whether ``--precision auto`` would pick the fastest.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def find_benchmarks(start: Path | None = None) -> Path:
    """The ``benchmarks/`` folder of the source checkout: under ``start`` (the current directory) or beside
    the package sources.

    Raises:
        ValueError: no ``benchmarks/run.py`` was found.

    Example:
        >>> find_benchmarks().name  # doctest: +SKIP
        'benchmarks'
    """
    candidates = [(start or Path.cwd()) / "benchmarks", Path(__file__).resolve().parents[2] / "benchmarks"]
    for folder in candidates:
        if (folder / "run.py").is_file():
            return folder
    raise ValueError(
        "benchmarks/run.py not found in the current directory or beside the package sources: "
        "`keras-residual bench` runs the suite of a source checkout (git clone, then run it in the repository root)"
    )


def register(subparsers) -> None:
    """Add the ``bench`` sub-command."""
    parser = subparsers.add_parser(
        "bench",
        help="Run the benchmark suite (ratios against keras.applications, ONNX Runtime, serving signatures).",
        description=__doc__.split("\n\n")[1].replace("``", ""),
    )
    parser.add_argument(
        "--quick", action="store_true", help="CI smoke run: tiny sizes, results in benchmarks/out/"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for results.json and RESULTS.md")
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="run benchmarks/gpu_train.py (ResNet-50 training throughput, float32 vs mixed) instead; "
        "with --quick it is the tiny CPU smoke run",
    )
    probe = parser.add_argument_group("precision probe (--precision-probe)")
    probe.add_argument(
        "--precision-probe",
        action="store_true",
        help="time training steps of your model under each dtype policy here; print the table and "
        "whether auto picks the fastest",
    )
    probe.add_argument("--preset", default="resnet20_cifar", help="preset to probe (default resnet20_cifar)")
    probe.add_argument(
        "--model", type=Path, default=None, help="a saved .keras model to probe instead of --preset"
    )
    probe.add_argument("--image-size", type=int, default=32, help="input size for --preset (default 32)")
    probe.add_argument("--batch", type=int, default=32, help="images per step (default 32)")
    probe.add_argument("--steps", type=int, default=5, help="timed steps per policy (default 5)")
    probe.add_argument(
        "--policies",
        default=None,
        help="comma-separated training policies to time (default: float32,mixed_bfloat16,mixed_float16 with a "
        "GPU; float32,mixed_bfloat16 on a CPU, where TensorFlow emulates float16 (resnet20_cifar measured about 1/280 of float32 on an AMX Xeon))",
    )
    parser.set_defaults(func=run)


def command(args: argparse.Namespace, folder: Path) -> list[str]:
    """The subprocess command line ``run`` executes for the parsed ``args``."""
    if args.gpu:
        cmd = [sys.executable, str(folder / "gpu_train.py")]
        if args.quick:
            cmd.append("--tiny")
        if args.out is not None:
            cmd += ["--json", str(Path(args.out) / "gpu_results.json")]
        return cmd
    cmd = [sys.executable, str(folder / "run.py")]
    if args.quick:
        cmd.append("--quick")
    if args.out is not None:
        cmd += ["--out", str(args.out)]
    return cmd


def precision_probe(args: argparse.Namespace) -> int:
    """Run :func:`keras_residual.training.precision_probe.probe` for the parsed flags and print its report."""
    import json

    from keras_residual.training.precision_probe import CANDIDATES, format_probe, probe

    model = None
    if args.model is not None:
        if not args.model.is_file():
            raise ValueError(f"`--model` must be a saved .keras file; received --model={str(args.model)!r}")
        import keras

        model = keras.saving.load_model(args.model)
    if args.policies is None:
        from keras_residual.hardware import detect_gpus

        policies = CANDIDATES if detect_gpus() else tuple(p for p in CANDIDATES if p != "mixed_float16")
    else:
        policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    report = probe(
        preset=None if model is not None else args.preset,
        model=model,
        policies=policies,
        image_size=args.image_size,
        batch=args.batch,
        steps=args.steps,
    )
    print(format_probe(report))
    if args.out is not None:
        from keras_residual._atomic import write_text

        args.out.mkdir(parents=True, exist_ok=True)
        write_text(args.out / "precision_probe.json", json.dumps(report, indent=1) + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the suite in a child process (its output streams through) and return its exit code, or the
    precision probe in this process."""
    if args.precision_probe:
        return precision_probe(args)
    folder = find_benchmarks()
    return subprocess.call(command(args, folder), cwd=folder.parent)
