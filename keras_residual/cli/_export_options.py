"""Options shared by ``keras-residual export onnx``, ``export litert`` and ``export openvino``."""

from __future__ import annotations

import argparse

from keras_residual.cli._runtime import load_keras_model


def add_check_options(parser: argparse.ArgumentParser, atol_help: str, agreement_help: str | None = None) -> None:
    """Add ``--calibration``, ``--no-verify``, ``--atol`` and (with ``agreement_help``) ``--min-agreement``."""
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="digits|PATH",
        help="INT8 calibration images: 'digits' (default) or a folder of images",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the comparison with Keras on real images"
    )
    parser.add_argument("--atol", type=float, default=None, help=atol_help)
    if agreement_help is not None:
        parser.add_argument("--min-agreement", type=float, default=None, metavar="FRACTION", help=agreement_help)


def load_model(path: str):
    """Load ``MODEL.keras`` with the package's layers registered (one-line errors, see ``_runtime``)."""
    return load_keras_model(path, "MODEL.keras")


def check_arguments(args: argparse.Namespace) -> dict:
    """The keyword arguments of the options `add_check_options` added, for ``export_litert``/``export_openvino``."""
    return {
        "calibration_data": args.calibration,
        "verify": not args.no_verify,
        "atol": args.atol,
        "min_agreement": args.min_agreement,
    }
