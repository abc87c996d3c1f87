"""Time a few training steps of your model under each dtype policy, on this machine.

``resolve_precision("auto")`` is a table lookup (:mod:`keras_residual.precision_table`); this probe is the
measurement that checks it for your model: it builds the model once per policy (a preset, or a saved
``.keras`` model rebuilt with the same weights), compiles it identically (SGD with momentum, sparse
cross-entropy), runs untimed warm-up steps (tracing, allocator growth), then times the policies in
interleaved rounds (one step of each per round, the order reversed every round) so a busy machine slows
them alike. It reports images per second per policy, the ratio to float32, the policy ``auto`` picks and
whether the measurement disagrees (another policy more than 5% faster than ``auto``'s pick).

Example:
    ```python
    # skip-test: builds and trains a ResNet under three policies
    from keras_residual.training.precision_probe import format_probe, probe

    print(format_probe(probe(preset="resnet20_cifar", image_size=32, batch=64, steps=5)))
    ```
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from keras_residual._validation import check_int
from keras_residual.hardware import describe
from keras_residual.precision import TRAINING_PRECISIONS, check_precision, dtype_policy, resolve_precision
from keras_residual.precision_table import TIE

CANDIDATES = tuple(p for p in TRAINING_PRECISIONS if p != "auto")
"""The policies probed by default."""


def _model_for(policy: str, preset: str | None, model, image_size: int, num_classes: int):
    if preset is not None:
        from keras_residual.models import ResNet

        with dtype_policy(policy):
            return ResNet.from_preset(
                preset, input_shape=(image_size, image_size, 3), num_classes=num_classes
            )
    from keras_residual.models.rebuild import rebuild_with_policy

    if policy == "mixed_float16":
        raise ValueError(
            "`policies` may hold mixed_float16 only with a preset (a saved model is rebuilt in float32 or "
            "bfloat16); received policies with mixed_float16 and a saved model"
        )
    return rebuild_with_policy(model, "bfloat16" if policy == "mixed_bfloat16" else "float32")


def _train_step(model, x, y):
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    return lambda: model.train_on_batch(x, y)


def probe(
    *,
    preset: str | None = None,
    model=None,
    policies: tuple[str, ...] = CANDIDATES,
    image_size: int = 32,
    batch: int = 32,
    steps: int = 5,
    warmup: int = 2,
) -> dict:
    """Measure training steps per policy; see the module docstring.

    Args:
        preset: A ``ResNet`` preset name (built at ``image_size`` with 10 classes), or None with ``model``.
        model: A built Keras classifier (its input shape and class count are used) instead of a preset.
        policies: Training policies to time (names from ``TRAINING_PRECISIONS`` other than ``auto``).
        image_size: Input size for a preset.
        batch: Images per step.
        steps: Timed steps per policy.
        warmup: Untimed steps per policy first.

    Returns:
        ``{"rows": [{"policy", "img_per_s", "min", "max", "vs_float32"}], "auto", "fastest", "disagrees",
        "batch", "steps", "machine", "load_average"}`` (``machine``: :func:`keras_residual.hardware.describe`).

    Raises:
        ValueError: neither or both of ``preset`` and ``model``, or a bad count or policy name.
    """
    if (preset is None) == (model is None):
        raise ValueError(f"`preset` must be given, or `model`, not both; received preset={preset!r}")
    for policy in policies:
        check_precision("policies", policy, CANDIDATES)
    batch, steps, warmup = (
        check_int("batch", batch),
        check_int("steps", steps),
        check_int("warmup", warmup, 0),
    )
    if model is not None:
        image_size = int(model.input_shape[1])
    num_classes = int(model.output_shape[-1]) if model is not None else 10
    rng = np.random.default_rng(0)
    channels = int(model.input_shape[-1]) if model is not None else 3
    x = rng.uniform(0, 255, (batch, image_size, image_size, channels)).astype("float32")
    y = rng.integers(0, num_classes, batch).astype("int32")
    steps_of = {p: _train_step(_model_for(p, preset, model, image_size, num_classes), x, y) for p in policies}
    for step in steps_of.values():
        for _ in range(warmup):
            step()
    seconds: dict[str, list[float]] = {p: [] for p in policies}
    for round_ in range(steps):
        for policy in policies if round_ % 2 == 0 else policies[::-1]:
            start = time.perf_counter()
            steps_of[policy]()
            seconds[policy].append(time.perf_counter() - start)
    report = summarize(seconds, batch, resolve_precision("auto"))
    report["machine"] = describe()
    report["load_average"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return report


def summarize(seconds: dict[str, list[float]], batch: int, auto: str) -> dict:
    """Turn step times per policy into the probe's report (pure; see :func:`probe` for the keys)."""
    rows = []
    for policy, times in seconds.items():
        rates = [batch / t for t in times]
        rows.append(
            {"policy": policy, "img_per_s": statistics.median(rates), "min": min(rates), "max": max(rates)}
        )
    base = next((r["img_per_s"] for r in rows if r["policy"] == "float32"), None)
    for row in rows:
        row["vs_float32"] = row["img_per_s"] / base if base else None
    fastest = max(rows, key=lambda r: r["img_per_s"])
    auto_rate = next((r["img_per_s"] for r in rows if r["policy"] == auto), None)
    disagrees = auto_rate is not None and auto_rate < (1 - TIE) * fastest["img_per_s"]
    return {
        "rows": rows,
        "auto": auto,
        "fastest": fastest["policy"],
        "disagrees": disagrees,
        "batch": batch,
        "steps": len(next(iter(seconds.values()))),
    }


def format_probe(report: dict) -> str:
    """The probe's table and verdict as text."""
    lines = [f"{'policy':<16} {'img/s':>10} {'min-max':>17} {'vs float32':>10}"]
    for row in report["rows"]:
        ratio = f"{row['vs_float32']:.2f}x" if row["vs_float32"] else ""
        lines.append(
            f"{row['policy']:<16} {row['img_per_s']:>10.2f} {row['min']:>8.2f}-{row['max']:<8.2f} {ratio:>10}"
        )
    verdict = (
        f"the measurement disagrees: {report['fastest']} was more than {TIE:.0%} faster here; "
        f"train with --precision {report['fastest']}"
        if report["disagrees"]
        else f"the measurement agrees (no policy more than {TIE:.0%} faster than auto's pick)"
    )
    lines.append(
        f"auto picks {report['auto']}; fastest measured: {report['fastest']} "
        f"(batch {report['batch']}, {report['steps']} interleaved steps each); {verdict}"
    )
    return "\n".join(lines)
