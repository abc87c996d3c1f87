"""``keras-residual export openvino``: convert a saved ``.keras`` model to verified OpenVINO IR."""

from __future__ import annotations

import argparse

from keras_residual.cli._export_options import add_check_options, check_arguments, load_model
from keras_residual.precision import OPENVINO_PRECISIONS


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
    parser.add_argument("model", metavar="MODEL.keras", help="trained model saved with model.save()")
    parser.add_argument("--output", "-o", required=True, metavar="PATH", help="target .xml file")
    parser.add_argument(
        "--precision",
        choices=OPENVINO_PRECISIONS,
        default="float32",
        help="float32, bfloat16 (fp16-compressed weights, bf16 inference) or NNCF int8 (default float32)",
    )
    add_check_options(
        parser,
        "relative float32 parity bound (default 1e-4)",
        "refuse bfloat16/INT8 IR whose top-1 agreement with Keras is below this fraction",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Load the model, export it and print the report; returns the exit code.

    Raises:
        ValueError: a missing model file, an option that does not apply, or an export that fails
            its checks (printed as one error line by the ``keras-residual`` entry point).
    """
    from keras_residual.export import export_openvino

    print(
        export_openvino(
            load_model(args.model), args.output, precision=args.precision, **check_arguments(args)
        )
    )
    return 0
