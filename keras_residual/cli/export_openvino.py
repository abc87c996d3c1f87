"""``keras-residual export openvino MODEL OUT --precision P``, and the deprecated ``--output`` form of 0.2."""

from __future__ import annotations

import argparse

from keras_residual.cli import _export_options as options


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``openvino`` parser to the ``export`` sub-command's ``subparsers``."""
    parser = subparsers.add_parser(
        "openvino",
        help="Export a .keras model to OpenVINO IR (.xml/.bin), checked in OpenVINO Runtime against Keras.",
        description=(
            "Convert MODEL.keras to OpenVINO IR with Keras's OpenVINO exporter: input 'images' (float32 "
            "NHWC raw pixels, dynamic batch). Mixed-precision models are exported from a float32 rebuild; "
            "int8 is NNCF post-training quantization calibrated on real images. The .bin and then the "
            ".xml are written only after OpenVINO compiled the IR and (unless --no-verify) it matched "
            "Keras on real images. Prints the export report."
        ),
    )
    options.add_export_arguments(parser, "openvino", ())
    options.add_deprecated_output(parser, ".xml file")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """``export openvino MODEL OUT`` (the pipeline), or the 0.2 form with ``--output``; returns the exit code."""
    code = options.dispatch(args, "openvino")
    if code is not None:
        return code

    from keras_residual.export import export_openvino

    print(
        export_openvino(
            options.load_model(args.model), args.output, precision=args.precision, **options.check_arguments(args)
        )
    )
    return 0
