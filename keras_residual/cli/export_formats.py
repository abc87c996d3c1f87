"""``keras-residual export FORMAT MODEL OUT --precision P``: every registered format, one form.

``onnx``, ``litert`` and ``openvino`` have their own modules (they also keep the deprecated 0.2
options); this registers the same form for every other format in
``keras_residual.export.formats.FORMATS`` (``saved_model``, and any format added later), so a new
format needs no CLI code: its options go through ``--option KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import functools

from keras_residual.cli._export_options import add_export_arguments, run_export


def register(subparsers) -> None:
    """Add a parser under ``keras-residual export`` for each registered format that has none yet."""
    from keras_residual.export.formats import FORMATS  # the registry only: no TensorFlow

    for name in FORMATS:
        if name in subparsers.choices:
            continue
        parser = subparsers.add_parser(
            name,
            help=f"Export a .keras model as {name}, checked in its runtime against Keras.",
            description=(
                f"Convert MODEL.keras to {name} at OUT with keras_residual.export.export: the file is "
                "loaded in its own runtime and compared with float32 Keras on real images (reduced "
                "precisions: top-1 agreement on held-out images) before it appears. Prints the report."
            ),
        )
        add_export_arguments(parser, name)
        parser.set_defaults(func=functools.partial(run, fmt=name))


def run(args: argparse.Namespace, fmt: str) -> int:
    """Export ``args.model`` to ``fmt`` at ``args.out`` and print the report; returns the exit code."""
    return run_export(args, fmt)
