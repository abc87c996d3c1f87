"""``keras-residual tune-batching``: measure an export and write TF Serving batching parameters for a p99 target."""

from __future__ import annotations

import argparse
from pathlib import Path

from keras_residual.contract import SIGNATURE_IMAGES


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``tune-batching`` sub-command."""
    parser = subparsers.add_parser(
        "tune-batching",
        help="Measure a SavedModel at batch sizes 1..N and write batching_parameters.txt for a p99 target.",
        description=(
            "Load EXPORT_DIR with the TF1 session loader (as TF Serving does), time its signature at batch sizes "
            "1, 2, 4, ... up to --max-batch in interleaved rounds, and write the TF Serving BatchingParameters "
            "(max_batch_size, batch_timeout_micros, allowed_batch_sizes, num_batch_threads, max_enqueued_batches) "
            "with the highest throughput whose timeout + p99 fits --p99-ms. Prints the measured curve; the raw "
            "measurement goes to batching_curve.json beside the output."
        ),
    )
    parser.add_argument("export_dir", metavar="EXPORT_DIR", help="SavedModel folder or TF Serving base path")
    parser.add_argument("--p99-ms", type=float, default=50.0, help="latency target per request (default 50)")
    parser.add_argument(
        "--max-batch", type=int, default=128, help="largest batch size measured (default 128)"
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=Path("batching_parameters.txt"),
        help="parameters file to write (default ./batching_parameters.txt)",
    )
    parser.add_argument(
        "--signature", default=SIGNATURE_IMAGES, help=f"signature to measure (default {SIGNATURE_IMAGES})"
    )
    parser.add_argument("--reps", type=int, default=30, help="timed calls per batch size (default 30)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per batch size (default 2)")
    parser.add_argument(
        "--plot",
        action="store_true",
        help="also draw batching_curve.png beside the output (needs matplotlib)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Measure, choose, write, print; returns the exit code (bad input raises ValueError)."""
    from keras_residual.serving.batching import format_table, plot_curve, tune_batching

    result = tune_batching(
        args.export_dir,
        args.output,
        p99_ms=args.p99_ms,
        max_batch=args.max_batch,
        signature=args.signature,
        reps=args.reps,
        warmup=args.warmup,
    )
    print(format_table(result.record, result.parameters))
    params = result.parameters
    print(
        f"chosen: max_batch_size {params['max_batch_size']}, batch_timeout_micros {params['batch_timeout_micros']}, "
        f"num_batch_threads {params['num_batch_threads']}, max_enqueued_batches {params['max_enqueued_batches']}: "
        f"{params['expected_img_per_s']:.1f} img/s, p99 <= {params['expected_p99_ms']:.1f} ms"
    )
    print(f"wrote {result.parameters_path} and {result.record_path}")
    if args.plot:
        print(f"wrote {plot_curve(result.record, result.parameters_path.parent / 'batching_curve.png')}")
    return 0
