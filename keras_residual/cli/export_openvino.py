"""``keras-residual export openvino``: convert a saved ``.keras`` model to verified OpenVINO IR."""

from __future__ import annotations

import argparse
from pathlib import Path


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
        choices=("float32", "bfloat16", "int8"),
        default="float32",
        help="float32, bfloat16 (fp16-compressed weights, bf16 inference) or NNCF int8 (default float32)",
    )
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="digits|PATH",
        help="INT8 calibration images: 'digits' (default) or a folder of images",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the comparison with Keras on real images"
    )
    parser.add_argument(
        "--atol", type=float, default=None, help="relative float32 parity bound (default 1e-4)"
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        help="refuse bfloat16/INT8 IR whose top-1 agreement with Keras is below this fraction",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Load the model, export it and print the report; returns the exit code.

    Raises:
        ValueError: a missing model file, an option that does not apply, or an export that fails
            its checks (printed as one error line by the ``keras-residual`` entry point).
    """
    model_path = Path(args.model)
    if not model_path.is_file():
        raise ValueError(f"`MODEL.keras` must be an existing file; received MODEL.keras={str(model_path)!r}.")

    import keras

    import keras_residual  # noqa: F401  (registers the package's layers and models for load_model)
    from keras_residual.export.openvino import export_openvino

    model = keras.saving.load_model(model_path, compile=False)
    report = export_openvino(
        model,
        args.output,
        precision=args.precision,
        calibration_data=args.calibration,
        verify=not args.no_verify,
        atol=args.atol,
        min_agreement=args.min_agreement,
    )
    print(report)
    return 0
