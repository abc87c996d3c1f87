"""The ``keras-residual`` command line.

Each sub-command lives in its own module with a ``register(subparsers)`` function that adds its
parser and sets ``func`` (called with the parsed ``argparse.Namespace``; its return value is the
exit code). Heavy imports happen inside ``func`` so ``keras-residual --help`` and ``--version``
import neither TensorFlow nor Keras. Commands in ``TENSORFLOW_COMMANDS`` start TensorFlow first,
quietly unless ``--verbose`` (see ``keras_residual.cli._runtime``). A user's mistake (a bad
argument, a missing or unwritable path, a file that is not what it should be, a missing extra) is
one line on stderr naming the file or argument, with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from keras_residual import __version__
from keras_residual.cli._runtime import CLIError, start_tensorflow

TENSORFLOW_COMMANDS = frozenset({"train", "export", "bench", "tune-batching", "evaluate"})
"""Sub-commands that need TensorFlow and Keras (the others run in a client-only install)."""


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level ``keras-residual`` parser with every sub-command registered."""
    from keras_residual.cli import (
        bench,
        deploy,
        evaluate,
        export_formats,
        export_litert,
        export_onnx,
        export_openvino,
        export_saved_model,
        info,
        predict,
        train,
        tune_batching,
        weights,
    )

    parser = argparse.ArgumentParser(
        prog="keras-residual",
        description="Residual networks for Keras 3: train, export, serve, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"keras-residual {__version__}")
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's C++ log lines (hidden by default)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.register(sub)
    export = sub.add_parser("export", help="Export a trained model (SavedModel for TF Serving, ONNX, LiteRT or OpenVINO).")
    export_sub = export.add_subparsers(dest="export_format", required=True, metavar="FORMAT")
    export_saved_model.register(export_sub)
    export_onnx.register(export_sub)
    export_litert.register(export_sub)
    export_openvino.register(export_sub)
    export_formats.register(export_sub)  # saved_model and every other registered format: FORMAT MODEL OUT
    predict.register(sub)
    bench.register(sub)
    info.register(sub)
    tune_batching.register(sub)
    deploy.register(sub)
    weights.register(sub)
    evaluate.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``keras-residual`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in TENSORFLOW_COMMANDS:
            start_tensorflow(verbose=args.verbose)
        code = args.func(args)
    except (CLIError, ValueError) as err:  # user mistakes: one clear line, no traceback
        return _fail(args, str(err))
    except OSError as err:  # a path that is missing, unreadable or unwritable
        return _fail(args, _describe_os_error(err))
    except ImportError as err:  # a missing optional extra: the library's message names it
        return _fail(args, str(err))
    except KeyboardInterrupt:
        print(f"keras-residual {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def _fail(args: argparse.Namespace, message: str) -> int:
    print(f"keras-residual {args.command}: error: {message}", file=sys.stderr)
    return 2


def _describe_os_error(err: OSError) -> str:
    reason = err.strerror or str(err)
    if err.filename is None:
        return reason
    return f"{err.filename}: {reason}"
