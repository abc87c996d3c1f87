"""``keras-residual weights list`` and ``keras-residual weights download``: the named pretrained weights.

``list`` reads the registry only (no TensorFlow, no Keras). ``download`` fetches files into the cache
(or ``--to DIR``, e.g. to fill a mirror), checking each against its publisher's hash.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    """Add the ``weights`` command with its ``list`` and ``download`` sub-commands."""
    parser = subparsers.add_parser(
        "weights",
        help="List or download named pretrained weights (torchvision, keras.applications, private registries).",
        description=(
            "Named ImageNet weight sets for the presets. Private sets come from the JSON file named by "
            "KERAS_RESIDUAL_WEIGHTS_REGISTRY; KERAS_RESIDUAL_WEIGHTS_MIRROR (a base URL or a directory) "
            "replaces the publishers; the cache is KERAS_RESIDUAL_CACHE (default ~/.keras/keras_residual/weights)."
        ),
    )
    sub = parser.add_subparsers(dest="weights_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="Table of the known weight sets (name, preset, source, top-1, size, license).")
    listing.add_argument("--preset", default=None, help="only the sets that fit this preset")
    listing.add_argument("--json", action="store_true", help="print every field as JSON instead of a table")
    listing.set_defaults(func=run_list)
    download = sub.add_parser("download", help="Fetch weight files (verified) for offline machines and mirrors.")
    download.add_argument(
        "names", nargs="+", metavar="NAME", help="qualified names (resnet50.torchvision_v2), or names with --preset"
    )
    download.add_argument("--preset", default=None, help="the preset of unqualified NAMEs ('imagenet' allowed)")
    download.add_argument("--to", default=None, metavar="DIR", help="store the files here (default: the cache)")
    download.set_defaults(func=run_download)


def _row(entry) -> dict:
    return {
        "name": entry.name,
        "preset": entry.preset,
        "qualified_name": entry.qualified_name,
        "source": entry.source,
        "format": entry.format,
        "top1": entry.top1,
        "top5": entry.top5,
        "num_params": entry.num_params,
        "size_mb": entry.size_mb,
        "license": entry.license,
        "url": entry.url,
        "hash_algorithm": entry.hash_algorithm,
        "file_hash": entry.file_hash,
        "transforms": entry.transforms.as_dict(),
        "num_classes": entry.num_classes,
        "private": entry.private,
    }


def _table(entries) -> list[str]:
    header = ("name", "preset", "source", "top-1", "size MB", "license")
    rows = [
        (
            e.name,
            e.preset,
            e.source,
            "-" if e.top1 is None else f"{e.top1:g}",
            "-" if e.size_mb is None else f"{e.size_mb:.1f}",
            e.license or "-",
        )
        for e in entries
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]]


def run_list(args: argparse.Namespace) -> int:
    """Print the registry as a table (or JSON)."""
    from keras_residual.weights.registry import list_weights

    entries = list_weights(args.preset)
    if args.json:
        print(json.dumps([_row(entry) for entry in entries], indent=1))
    else:
        print("\n".join(_table(entries)))
    return 0


def run_download(args: argparse.Namespace) -> int:
    """Fetch and verify each named file; print where it is."""
    from keras_residual.cli._runtime import check_output_dir
    from keras_residual.weights.download import fetch
    from keras_residual.weights.registry import get_weights

    entries = [get_weights(name, args.preset) for name in args.names]  # every name checked before any download
    if args.to is not None:
        check_output_dir(args.to, "--to")
    for entry in entries:
        path = fetch(entry, folder=args.to)
        print(f"{entry.qualified_name}: {path}")
    return 0
