"""The one ``keras-residual export FORMAT MODEL OUT --precision P`` form, shared by every format's parser.

``export onnx``, ``export litert`` and ``export openvino`` keep their 0.2 options (``--output``,
``--quantize``, ...) as a deprecated form beside this one: a second positional (``OUT``) selects the
new form, ``--output`` the old one. ``export saved-model`` stays as it was; ``export saved_model``
and any format registered later get the new form only (`keras_residual.cli.export`).
"""

from __future__ import annotations

import argparse
import json

from keras_residual.cli._runtime import CLIError, check_output_dir, check_output_file, load_keras_model
from keras_residual.precision import FORMAT_PRECISIONS


def add_check_options(parser: argparse.ArgumentParser, atol_help: str, agreement_help: str | None = None) -> None:
    """Add ``--calibration``, ``--no-verify``, ``--atol`` and (with ``agreement_help``) ``--min-agreement``."""
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="digits|PATH",
        help="calibration / held-out images: 'digits' (default) or a folder of images",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the comparison with Keras on real images"
    )
    parser.add_argument("--atol", type=float, default=None, help=atol_help)
    if agreement_help is not None:
        parser.add_argument("--min-agreement", type=float, default=None, metavar="FRACTION", help=agreement_help)


def add_export_arguments(parser: argparse.ArgumentParser, fmt: str, legacy_precisions: tuple | None = None) -> None:
    """``MODEL [OUT] --precision P --option KEY=VALUE`` plus the check options, for format ``fmt``.

    With ``legacy_precisions`` (the format's 0.2 parser), ``OUT`` is optional: without it the
    deprecated ``--output`` form runs.
    """
    parser.add_argument("model", metavar="MODEL.keras", help="trained model saved with model.save()")
    parser.add_argument(
        "out", nargs=None if legacy_precisions is None else "?", metavar="OUT",
        help="target file (a directory for saved_model: the model's base path)",
    )
    supported = FORMAT_PRECISIONS.get(fmt)
    choices = None if supported is None else tuple(dict.fromkeys((*supported, *(legacy_precisions or ()))))
    parser.add_argument(
        "--precision", choices=choices, default="float32",
        help="what the file computes in" + (f": {', '.join(supported)}" if supported else "") + " (default float32)",
    )
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="a format option (value read as JSON when it parses, else text), e.g. opset=15, version=3",
    )
    add_check_options(
        parser,
        "relative parity bound (default 1e-4 for float32; reduced precisions are held to --min-agreement)",
        "least top-1 agreement with float32 Keras on held-out images for reduced precisions (default 0.99)",
    )


def add_deprecated_output(parser: argparse.ArgumentParser, what: str):
    """The 0.2 form's ``--output PATH``, in its own help group; returns the group for its other options."""
    group = parser.add_argument_group("deprecated form (0.2): MODEL --output PATH")
    group.add_argument("--output", "-o", default=None, metavar="PATH", help=f"target {what}")
    return group


def dispatch(args: argparse.Namespace, fmt: str, legacy_flags: tuple[str, ...] = ()) -> int | None:
    """Run the new form when ``OUT`` is given and return its exit code; ``None`` means: run the 0.2 form.

    Raises:
        CLIError: the 0.2 form's options mixed into the new form, or no target at all.
    """
    if args.out is not None:
        used = [flag for flag in legacy_flags if getattr(args, flag.lstrip("-").replace("-", "_"))]
        if used:
            raise CLIError(
                f"{', '.join(used)} belong to the deprecated --output form; use --precision and --option KEY=VALUE"
            )
        return run_export(args, fmt)
    if args.output is None:
        raise CLIError(f"the target is missing: export {fmt} MODEL OUT (or the deprecated --output PATH)")
    return None


def format_options(pairs: list[str]) -> dict:
    """``["opset=15", "device=CPU"]`` -> ``{"opset": 15, "device": "CPU"}`` (JSON values where they parse)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"--option takes KEY=VALUE; received --option {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def run_export(args: argparse.Namespace, fmt: str) -> int:
    """The new form: load ``MODEL``, ``export(model, OUT, fmt, ...)``, print the report."""
    if getattr(args, "output", None) is not None:
        raise CLIError("give OUT or --output (deprecated), not both")
    options = format_options(args.option)
    from keras_residual.export import formats  # needs TensorFlow (started by the CLI before this runs)

    if formats.get(fmt).SUFFIX is None:  # a folder: a SavedModel base path, a Triton repository
        check_output_dir(args.out, "OUT")
    else:
        check_output_file(args.out, "OUT")
    model = load_model(args.model)

    from keras_residual.export import export  # needs TensorFlow and the format's extra

    report = export(
        model, args.out, fmt, precision=args.precision, calibration_data=args.calibration,
        min_agreement=args.min_agreement, verify=not args.no_verify, atol=args.atol, **options,
    )
    print(report)
    return 0


def load_model(path: str):
    """Load ``MODEL.keras`` with the package's layers registered (one-line errors, see ``_runtime``)."""
    return load_keras_model(path, "MODEL.keras")


def check_arguments(args: argparse.Namespace) -> dict:
    """The keyword arguments of the options `add_check_options` added, for the deprecated ``export_*``."""
    return {
        "calibration_data": args.calibration,
        "verify": not args.no_verify,
        "atol": args.atol,
        "min_agreement": args.min_agreement,
    }
