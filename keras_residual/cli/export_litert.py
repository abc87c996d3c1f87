"""``keras-residual export litert MODEL OUT --precision P``, and the deprecated ``--output`` form of 0.2."""

from __future__ import annotations

import argparse

from keras_residual.cli import _export_options as options
from keras_residual.cli._runtime import CLIError


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
    options.add_export_arguments(parser, "litert", ())
    deprecated = options.add_deprecated_output(parser, ".tflite file")
    deprecated.add_argument(
        "--quantize",
        choices=("float16", "dynamic", "int8"),
        default=None,
        help="now --precision float16 / dynamic_int8 / int8",
    )
    deprecated.add_argument(
        "--int8-io", choices=("uint8", "int8"), default=None, help="now --option int8_io=uint8"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """``export litert MODEL OUT`` (the pipeline), or the 0.2 form with ``--output`` and ``--quantize``.

    Raises:
        ValueError: a missing model file, an option that does not apply, or an export that fails
            its checks (printed as one error line by the ``keras-residual`` entry point).
    """
    code = options.dispatch(args, "litert", ("--quantize", "--int8-io"))
    if code is not None:
        return code
    if args.precision != "float32":
        raise CLIError("--precision goes with OUT; the deprecated --output form takes --quantize")

    from keras_residual.export import export_litert

    print(
        export_litert(
            options.load_model(args.model),
            args.output,
            quantize=args.quantize,
            int8_io=args.int8_io,
            **options.check_arguments(args),
        )
    )
    return 0
