"""``keras-residual export onnx MODEL OUT --precision P``, and the deprecated ``--output`` form of 0.2."""

from __future__ import annotations

import argparse

from keras_residual import precision
from keras_residual.cli._export_options import (
    add_deprecated_output,
    add_export_arguments,
    dispatch,
    load_model,
)
from keras_residual.cli._runtime import CLIError, check_output_file


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``onnx`` parser to the ``export`` sub-command's ``subparsers``."""
    parser = subparsers.add_parser(
        "onnx",
        help="Export a .keras model to ONNX (tf2onnx), checked in ONNX Runtime against Keras.",
        description=(
            "Convert MODEL.keras to ONNX with input 'images' (float32 NHWC raw pixels, dynamic batch). "
            "Mixed-precision models are exported from a float32 rebuild. The file is written only after "
            "onnx.checker, an ONNX Runtime session and (unless --no-verify) a comparison with Keras on "
            "real images passed. Prints the export report."
        ),
    )
    add_export_arguments(parser, "onnx", precision.ONNX_PRECISIONS)
    deprecated = add_deprecated_output(parser, ".onnx file")
    deprecated.add_argument("--opset", type=int, default=None, help="ONNX opset, 13-18 (default 17)")
    deprecated.add_argument(
        "--quantize", choices=("int8",), default=None, help="static INT8 (QDQ); now --precision int8"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Load the model, export it and print the report; returns the exit code.

    Raises:
        ValueError: a missing model file, ``--calibration`` without ``--quantize``, or an export
            that fails its checks (printed as one error line by the ``keras-residual`` entry point).
    """
    code = dispatch(args, "onnx", ("--quantize", "--opset"))
    if code is not None:
        return code
    if args.calibration is not None and args.quantize is None:
        raise CLIError("--calibration only applies with --quantize int8")
    check_output_file(args.output, "--output")
    model = load_model(args.model)

    from keras_residual.export import export_onnx  # needs TensorFlow and the onnx extra

    report = export_onnx(
        model,
        args.output,
        opset=args.opset,
        precision=args.precision,
        quantize=args.quantize,
        calibration_data=args.calibration,
        verify=not args.no_verify,
        atol=args.atol,
    )
    print(report)
    return 0
