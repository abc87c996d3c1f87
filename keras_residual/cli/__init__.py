"""The ``keras-residual`` command line.

Each sub-command lives in its own module with a ``register(subparsers)`` function that adds its
parser and sets ``func`` (called with the parsed ``argparse.Namespace``; its return value is the
exit code). Heavy imports happen inside ``func`` so ``keras-residual --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from keras_residual import __version__


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level ``keras-residual`` parser with every sub-command registered."""
    from keras_residual.cli import bench, export_onnx, export_saved_model, info, predict, train
    from keras_residual.cli import export_litert, export_openvino
    from keras_residual.cli import tune_batching

    parser = argparse.ArgumentParser(
        prog="keras-residual",
        description="Residual networks for Keras 3: train, export, serve, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"keras-residual {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.register(sub)
    export = sub.add_parser("export", help="Export a trained model (SavedModel for TF Serving, or ONNX).")
    export_sub = export.add_subparsers(dest="export_format", required=True, metavar="FORMAT")
    export_saved_model.register(export_sub)
    export_onnx.register(export_sub)
    export_litert.register(export_sub)
    export_openvino.register(export_sub)
    predict.register(sub)
    bench.register(sub)
    info.register(sub)
    tune_batching.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``keras-residual`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except ValueError as err:  # user mistakes: one clear line, no traceback
        print(f"keras-residual {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(code or 0)
