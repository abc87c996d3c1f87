"""``keras-residual export litert``: convert a saved ``.keras`` model to a verified LiteRT ``.tflite`` file."""

from __future__ import annotations

import argparse

from keras_residual.cli._export_options import add_check_options, check_arguments, load_model


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``litert`` parser to the ``export`` sub-command's ``subparsers``."""
    parser = subparsers.add_parser(
        "litert",
        help="Export a .keras model to LiteRT (.tflite), checked in the LiteRT interpreter against Keras.",
        description=(
            "Convert MODEL.keras to a LiteRT flatbuffer with Keras's LiteRT exporter (builtin ops only): "
            "signature serving_default, input 'images' (float32 NHWC raw pixels, dynamic batch). "
            "Mixed-precision models are exported from a float32 rebuild. The file is written only after "
            "the ai-edge-litert interpreter ran it and (unless --no-verify) it matched Keras on real "
            "images. Prints the export report."
        ),
    )
    parser.add_argument("model", metavar="MODEL.keras", help="trained model saved with model.save()")
    parser.add_argument("--output", "-o", required=True, metavar="PATH", help="target .tflite file")
    parser.add_argument(
        "--quantize",
        choices=("float16", "dynamic", "int8"),
        default=None,
        help="float16 weights, dynamic-range INT8 weights, or full-integer INT8 (default: float32)",
    )
    parser.add_argument(
        "--int8-io",
        choices=("uint8", "int8"),
        default=None,
        help="with --quantize int8: integer input and output tensors (default: float32 I/O)",
    )
    add_check_options(
        parser,
        "relative parity bound (default 1e-4; float16 1e-2)",
        "refuse dynamic/INT8 files whose top-1 agreement with Keras is below this fraction",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Load the model, export it and print the report; returns the exit code.

    Raises:
        ValueError: a missing model file, an option that does not apply, or an export that fails
            its checks (printed as one error line by the ``keras-residual`` entry point).
    """
    from keras_residual.export import export_litert

    print(
        export_litert(
            load_model(args.model),
            args.output,
            quantize=args.quantize,
            int8_io=args.int8_io,
            **check_arguments(args),
        )
    )
    return 0
