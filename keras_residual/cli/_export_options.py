"""Options and model loading shared by ``keras-residual export litert`` and ``export openvino``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_check_options(parser: argparse.ArgumentParser, atol_help: str, agreement_help: str) -> None:
    """Add ``--calibration``, ``--no-verify``, ``--atol`` and ``--min-agreement`` to ``parser``."""
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
    parser.add_argument("--min-agreement", type=float, default=None, metavar="FRACTION", help=agreement_help)


def load_model(path: str):
    """Load a ``.keras`` file with the package's layers registered (no compile).

    Raises:
        ValueError: ``path`` is not an existing file.
    """
    model_path = Path(path)
    if not model_path.is_file():
        raise ValueError(f"`MODEL.keras` must be an existing file; received MODEL.keras={str(model_path)!r}.")

    import keras

    import keras_residual  # noqa: F401  (registers the package's layers and models for load_model)

    return keras.saving.load_model(model_path, compile=False)


def check_arguments(args: argparse.Namespace) -> dict:
    """The keyword arguments of the options `add_check_options` added, for ``export_litert``/``export_openvino``."""
    return {
        "calibration_data": args.calibration,
        "verify": not args.no_verify,
        "atol": args.atol,
        "min_agreement": args.min_agreement,
    }
