"""Held-out digits accuracy of float32 against mixed_bfloat16 training, over several seeds: the accuracy
evidence behind training's ``auto`` precision on a CPU class (``keras_residual/precision_table.py``).

Each (seed, policy) pair is one ``keras-residual train`` run of the default digits recipe (resnet20_cifar, 6
epochs, batch 64) in its own process, so nothing carries over between runs. The policies alternate within a
seed (the order reversed every seed) so a busy machine slows them alike. The record holds, per policy, the
final and best-epoch held-out accuracy of every seed, their mean and standard deviation, and the load before
and after each run.

    python benchmarks/precision_seeds.py [--seeds 0 1 2 3 4] [--epochs 6] [--name precision_seeds_<class>]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

POLICIES = ("float32", "mixed_bfloat16")


def train_once(seed: int, policy: str, epochs: int, out: Path) -> dict:
    """One training run in a child process; its final and best held-out accuracy, wall time and load."""
    from benchmarks import machine

    load_before = machine.load_average()
    start = time.perf_counter()
    command = [
        sys.executable, "-m", "keras_residual.cli", "train", "--preset", "resnet20_cifar", "--data", "digits",
        "--epochs", str(epochs), "--precision", policy, "--seed", str(seed), "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    with open(out / "history.csv", newline="") as fh:
        history = list(csv.DictReader(fh))
    accuracy = [float(row["val_accuracy"]) for row in history]
    return {
        "seed": seed,
        "policy": policy,
        "final": accuracy[-1],
        "best": max(accuracy),
        "wall_s": round(wall, 1),
        "load": [load_before, machine.load_average()],
    }


def summarize(runs: list[dict]) -> list[dict]:
    """Record rows: per policy, mean final and best held-out accuracy (percent) with their spread."""
    rows = []
    for policy in POLICIES:
        mine = [r for r in runs if r["policy"] == policy]
        for which in ("final", "best"):
            values = [100 * r[which] for r in mine]
            rows.append(
                {
                    "key": f"{policy}/{which}",
                    "label": f"{policy}, {which}-epoch held-out accuracy, mean of {len(values)} seeds",
                    "unit": "%",
                    "value": round(statistics.mean(values), 2),
                    "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
                    "min": round(min(values), 2),
                    "max": round(max(values), 2),
                    "runs": [round(v, 2) for v in values],
                    "seeds": [r["seed"] for r in mine],
                    "load": [r["load"] for r in mine],
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--name", default=None, help="record name (default precision_seeds_<device class>)")
    args = parser.parse_args(argv)

    from benchmarks import records
    from keras_residual.hardware import detect_cpu

    name = args.name or f"precision_seeds_{detect_cpu().device_class}"
    record = records.start(
        name,
        "Digits held-out accuracy, resnet20_cifar trained 6 epochs (default recipe), float32 vs mixed_bfloat16",
        ("tensorflow", "keras"),
        argv,
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="kr-seeds-") as tmp:
        for index, seed in enumerate(args.seeds):
            for policy in POLICIES if index % 2 == 0 else POLICIES[::-1]:
                run = train_once(seed, policy, args.epochs, Path(tmp) / f"{policy}-{seed}")
                print(json.dumps(run), flush=True)
                runs.append(run)
    record["rows"] = summarize(runs)
    record["runs"] = runs
    print(records.finish(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
