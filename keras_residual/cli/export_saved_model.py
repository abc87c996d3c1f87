"""``keras-residual export saved-model``: a trained ``.keras`` model to a TF Serving version directory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from keras_residual import contract, precision
from keras_residual.cli._runtime import CLIError, check_output_dir, load_keras_model


def register(subparsers) -> None:
    """Add the ``saved-model`` parser under ``keras-residual export``."""
    parser = subparsers.add_parser(
        "saved-model",
        help="Export a .keras model as a versioned SavedModel for TF Serving.",
        description=(
            "Write BASE_PATH/<version>/ (saved_model.pb, variables/, assets/, assets.extra/ warmup requests) "
            "atomically, with signatures serving_default (float32 images) and serving_bytes (encoded images)."
        ),
    )
    parser.add_argument("model", type=Path, help="the trained model (.keras)")
    parser.add_argument(
        "--base-path", type=Path, required=True, help="the model's base directory for TF Serving"
    )
    parser.add_argument("--version", type=int, default=None, help="version number (default: the next one)")
    parser.add_argument("--overwrite", action="store_true", help="replace the version if it exists")
    parser.add_argument(
        "--class-names",
        type=Path,
        default=None,
        help="JSON list of class names (default: class_names.json beside MODEL, when present)",
    )
    parser.add_argument("--top-k", type=int, default=5, help="how many top classes to return (default 5)")
    parser.add_argument(
        "--image-size", type=int, nargs="+", default=None, metavar="N", help="serving size: N or H W"
    )
    parser.add_argument(
        "--compute-dtype",
        choices=precision.SAVED_MODEL_PRECISIONS,
        default="float32",
        help="serving graph precision: float32 (default), bfloat16 (= mixed_bfloat16), or auto: the "
        "dtype measured fastest for serving on this machine's CPU class (bfloat16 with AMX)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=contract.DEFAULT_MAX_PIXELS,
        help="largest height x width an image header may claim in serving_bytes (default 40 megapixels)",
    )
    parser.add_argument(
        "--resize", default="bilinear", help="resize method for serving_bytes (default bilinear)"
    )
    parser.add_argument(
        "--no-warmup", action="store_true", help="skip assets.extra/tf_serving_warmup_requests"
    )
    parser.add_argument(
        "--serving-config", type=Path, default=None, help="models.config file to add the export to"
    )
    parser.add_argument(
        "--model-name", default=None, help="model name in models.config (default: base path name)"
    )
    parser.add_argument(
        "--serving-base-path",
        default=None,
        help="base path as the server sees it, written to models.config (default: /models/<model name>)",
    )
    parser.add_argument(
        "--label", choices=("stable", "canary"), default=None, help="version label in models.config"
    )
    parser.set_defaults(func=run)


def _class_names(args: argparse.Namespace) -> list[str] | None:
    path = args.class_names
    if path is None:
        beside = args.model.parent / contract.CLASS_NAMES_FILE
        if not beside.exists():
            return None
        path = beside
    try:
        names = json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise CLIError(f"--class-names {str(path)!r}: no such file") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CLIError(f"--class-names {str(path)!r}: not JSON: {err}") from err
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CLIError(f"--class-names {str(path)!r}: must hold a JSON list of strings")
    return names


def run(args: argparse.Namespace) -> int:
    """Load the model, export it, optionally register it in models.config; print the version path."""
    if args.image_size is not None and len(args.image_size) not in (1, 2):
        raise CLIError(f"--image-size takes N or H W; received --image-size {args.image_size}")
    check_output_dir(args.base_path, "--base-path")
    class_names = _class_names(args)
    model = load_keras_model(args.model, "MODEL")

    from keras_residual.export import export_saved_model  # needs TensorFlow

    image_size = None
    if args.image_size is not None:
        image_size = args.image_size[0] if len(args.image_size) == 1 else tuple(args.image_size)
    path = export_saved_model(
        model,
        args.base_path,
        version=args.version,
        class_names=class_names,
        top_k=args.top_k,
        image_size=image_size,
        resize=args.resize,
        compute_dtype=args.compute_dtype,
        warmup=not args.no_warmup,
        overwrite=args.overwrite,
        max_pixels=args.max_pixels,
    )
    print(f"exported {args.model} -> {path}")
    if args.serving_config is not None:
        from keras_residual.serving.serving_config import update_models_config

        name = args.model_name or args.base_path.resolve().name
        server_path = args.serving_base_path or f"/models/{name}"
        update_models_config(args.serving_config, name, server_path, int(path.name), label=args.label)
        print(f"models.config: {args.serving_config} serves {name} version {path.name} from {server_path}")
    return 0
