"""The fuzz run: mutated images sent in batches with valid ones, every answer checked.

Each request holds one fuzz case among 0 to 3 valid images from the pool, at a random position.
An OK answer must have one row per image, and the valid images' rows must equal their answers when
sent alone. An INVALID_ARGUMENT answer to a mixed batch must come again when the fuzz case is sent
alone (the valid images never cause it). Any other code is a failure; its bytes are kept.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.fuzz.images import Sample, jpeg_claiming
from tests.fuzz.mutations import Case
from tests.fuzz.rpc import Outcome, Predictor

ALLOWED_CODES = ("OK", "INVALID_ARGUMENT")
ROW_ATOL = 1e-5  # a valid image's row in a batch vs alone (batched kernels may round differently)


@dataclass
class Report:
    """What a run saw: codes per case, requests sent, and every failure with a reason."""

    cases: int = 0
    requests: int = 0
    codes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    rss_samples: list[int] = field(default_factory=list)


def raise_to_high_water(predictor: Predictor, max_pixels: int, rounds: int = 3) -> None:
    """Decode images at the pixel limit until the server's memory reaches its high-water mark.

    Any image within ``max_pixels`` is served, and a few hundred bytes suffice: libjpeg decodes a
    JPEG whose frame header claims 6324x6324 to a full 40-megapixel image, filling in what is
    missing. The memory one such decode needs stays with the server process afterwards (TensorFlow's
    pooled CPU allocator keeps it), so the run's memory bound is measured from this mark: growth
    beyond it is a leak.
    """
    side = math.isqrt(max_pixels)
    shapes = [(side, side), (max_pixels // 1000, 1000), (1000, max_pixels // 1000)]
    for _ in range(rounds):
        for width, height in shapes:
            outcome = predictor.encoded([jpeg_claiming(width, height)])
            assert outcome.code in ALLOWED_CODES, (width, height, outcome.code, outcome.message)


def solo_answers(predictor: Predictor, pool: list[Sample]) -> list[np.ndarray]:
    """Each valid image's ``probabilities`` row when sent alone."""
    rows = []
    for sample in pool:
        outcome = predictor.encoded([sample.data])
        if outcome.code != "OK":
            raise AssertionError(f"valid image {sample.variant} answered {outcome.code}: {outcome.message}")
        rows.append(outcome.outputs["probabilities"][0])
    return rows


def _check_ok(
    outcome: Outcome, size: int, goods: list[int], slots: list[int], expected: list[np.ndarray]
) -> str:
    probabilities = outcome.outputs.get("probabilities")
    if probabilities is None or probabilities.shape[0] != size:
        shape = None if probabilities is None else probabilities.shape
        return f"OK answer with probabilities of shape {shape} for a batch of {size}"
    for index, slot in zip(goods, slots, strict=True):
        if not np.allclose(probabilities[slot], expected[index], rtol=0, atol=ROW_ATOL):
            return f"valid image at slot {slot} answered differently inside the batch"
    return ""


def _keep(case: Case, number: int, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"case-{number:06d}-{case.fmt}-{case.kind.replace(':', '_').replace('+', '_')}.bin"
    path.write_bytes(case.data)
    return str(path)


def run(
    predictor: Predictor,
    cases: Iterable[Case],
    pool: list[Sample],
    expected: list[np.ndarray],
    seed: int,
    keep_dir: Path,
    rss: Callable[[], int] | None = None,
    rss_every: int = 1000,
) -> Report:
    """Send every case (batched with valid images drawn with ``seed``) and check every answer.

    ``rss``, when given, is sampled every ``rss_every`` cases (the server's memory over the run).
    """
    rng = np.random.default_rng(seed)
    report = Report()
    start = time.perf_counter()
    for number, case in enumerate(cases):
        goods = [int(i) for i in rng.integers(len(pool), size=int(rng.integers(0, 4)))]
        at = int(rng.integers(len(goods) + 1))
        blobs = [pool[i].data for i in goods]
        blobs.insert(at, case.data)
        slots = [slot for slot in range(len(blobs)) if slot != at]
        outcome = predictor.encoded(blobs)
        report.cases += 1
        report.requests += 1
        report.codes[outcome.code] += 1
        problem = ""
        if outcome.code == "OK":
            problem = _check_ok(outcome, len(blobs), goods, slots, expected)
        elif outcome.code == "INVALID_ARGUMENT" and goods:
            alone = predictor.encoded([case.data])
            report.requests += 1
            if alone.code != "INVALID_ARGUMENT":
                problem = (
                    f"the batch failed but the case alone answered {alone.code}: {outcome.message[:200]}"
                )
        elif outcome.code not in ALLOWED_CODES:
            problem = f"{outcome.code}: {outcome.message[:300]}"
        if rss is not None and report.cases % rss_every == 0:
            report.rss_samples.append(rss())
        if problem:
            report.failures.append(
                f"case {number} ({case.fmt}, {case.kind}) {problem} -> {_keep(case, number, keep_dir)}"
            )
    report.wall_s = time.perf_counter() - start
    return report
