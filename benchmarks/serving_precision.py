"""float32 vs bfloat16 SavedModel serving on this CPU: speed through the TF1 session loader (as TF Serving runs it)
and top-1 agreement on the held-out digits.

A resnet20_cifar is trained on the digits (``keras_residual.training.train``), exported twice with
``export_saved_model(compute_dtype="float32" | "bfloat16")``, and both exports' ``serving_default`` are
timed in the same interleaved rounds at batch 1 and 32; the 360 held-out digits go through both to count
top-1 agreement (the export default may change only where agreement >= 99.5%). With ``--resnet50`` the same
speed comparison runs on a random-weight ResNet-50 at 224x224 (speed only: agreement needs trained weights).

    python benchmarks/serving_precision.py [--epochs 6] [--resnet50] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

AGREEMENT_TARGET = 0.995
DTYPES = ("float32", "bfloat16")


def export_both(model, work: Path) -> dict:
    """Export ``model`` as a float32 and a bfloat16 SavedModel; return dtype -> :class:`SessionRunner`."""
    from keras_residual.export import export_saved_model
    from keras_residual.serving.batching import SessionRunner

    runners = {}
    for dtype in DTYPES:
        path = export_saved_model(model, work / dtype, version=1, compute_dtype=dtype, warmup=False)
        runners[dtype] = SessionRunner(path)
    return runners


def top1(runner, images, batch: int = 60):
    """Top-1 class of every image through the signature's ``probabilities`` output."""
    import numpy as np

    from keras_residual.contract import OUTPUT_PROBABILITIES

    index = runner.output_keys.index(OUTPUT_PROBABILITIES)
    out = []
    for start in range(0, len(images), batch):
        feed = {runner.input_name: images[start : start + batch]}
        out.append(np.argmax(runner.session.run(runner.fetches, feed)[index], axis=-1))
    return np.concatenate(out)


def speed(runners: dict, batches: tuple[int, ...], reps: int) -> dict:
    """Interleaved img/s of both exports per batch size, with the load average after each."""
    from benchmarks import machine
    from benchmarks.timing import interleaved

    out = {}
    for batch in batches:
        contenders = {dtype: runner.caller(batch) for dtype, runner in runners.items()}
        stats = interleaved(contenders, warmup=2, reps=reps, items=batch)
        out[str(batch)] = {
            "img_per_s": {k: {kk: v[kk] for kk in ("median", "min", "max", "n")} for k, v in stats.items()},
            "bfloat16_vs_float32": stats["bfloat16"]["median"] / stats["float32"]["median"],
            "load_average": machine.load_average(),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--resnet50", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from benchmarks import machine
    from benchmarks.models import build_ours
    from keras_residual._atomic import write_text
    from keras_residual.datasets import load_digits_arrays
    from keras_residual.training import train

    result = {"machine": machine.describe(("tensorflow", "keras"))}
    with tempfile.TemporaryDirectory(prefix="kr-serving-precision-") as work:
        work = Path(work)
        trained = train(
            "resnet20_cifar", "digits", out=work / "run", epochs=args.epochs, precision="float32", verbose=0
        )
        _, _, x_val, y_val, _ = load_digits_arrays(32)
        runners = export_both(trained.model, work / "digits")
        preds = {dtype: top1(runner, x_val) for dtype, runner in runners.items()}
        agreement = float((preds["float32"] == preds["bfloat16"]).mean())
        result["digits_resnet20"] = {
            "held_out": len(y_val),
            "accuracy": {dtype: float((p == y_val).mean()) for dtype, p in preds.items()},
            "top1_agreement": agreement,
            "agreement_ok": agreement >= AGREEMENT_TARGET,
            "speed": speed(runners, (1, 32), args.reps),
        }
        if args.resnet50:
            runners50 = export_both(build_ours(224), work / "resnet50")
            result["resnet50_224"] = {"speed": speed(runners50, (1, 16), max(3, args.reps // 3))}
    result["load_average_end"] = machine.load_average()
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.json:
        write_text(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
