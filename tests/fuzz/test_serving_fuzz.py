"""Seeded mutation fuzzing of ``serving_bytes`` through a served export (2,000 cases; 20,000 in ``make soak``)."""

from __future__ import annotations

import os
import platform

import pytest

from keras_residual.contract import CONFIG_MAX_PIXELS
from tests.fuzz import campaign
from tests.fuzz.conftest import FUZZ_CASES, FUZZ_SEED, RSS_GROWTH_LIMIT, assert_same_answer
from tests.fuzz.images import valid_pool
from tests.fuzz.mutations import cases

MB = 1 << 20

# One served export per pytest process; with `--dist loadgroup` xdist keeps these tests on one worker.
pytestmark = pytest.mark.xdist_group("fuzz-server")


def _machine() -> str:
    """CPU model, usable cores and load: the figures are per machine and per load."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), ""
            )
    except OSError:
        pass
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model or platform.processor() or platform.machine()}, {cores} cores{load}"


@pytest.mark.slow
@pytest.mark.timeout(max(600, FUZZ_CASES // 10))
def test_mutated_images_get_ok_or_invalid_argument(
    fuzz_export, served, predictor, reference_request, tmp_path, capsys
):
    """Only OK or INVALID_ARGUMENT; the same answer afterwards; server memory bounded all along."""
    pool = valid_pool(FUZZ_SEED)
    expected = campaign.solo_answers(predictor, pool)  # also warms every decoder path up
    before = reference_request(predictor)
    rss_start = served.rss()
    campaign.raise_to_high_water(predictor, fuzz_export[1][CONFIG_MAX_PIXELS])
    rss_before = served.rss()

    report = campaign.run(
        predictor,
        cases(FUZZ_SEED, FUZZ_CASES, pool),
        pool,
        expected,
        seed=FUZZ_SEED + 1,
        keep_dir=tmp_path / "failures",
        rss=served.rss,
    )

    rss_after = served.rss()
    assert served.alive(), served.log_tail()
    after = reference_request(predictor)
    peak = max([rss_after, *report.rss_samples])
    codes = ", ".join(f"{code} {count}" for code, count in report.codes.most_common())
    with capsys.disabled():  # the figures for the docs; never asserted
        print(
            f"\n[fuzz] seed {FUZZ_SEED}: {report.cases} cases in {report.requests} requests, {codes}; "
            f"server RSS {rss_start / MB:.0f} MB, {rss_before / MB:.0f} MB after decoding images at the pixel "
            f"limit, {rss_after / MB:.0f} MB at the end ({(rss_after - rss_before) / MB:+.1f} MB, "
            f"sampled peak {(peak - rss_before) / MB:+.1f} MB); {report.wall_s:.1f} s wall "
            f"({report.cases / report.wall_s:.0f} cases/s); {_machine()}"
        )
    assert report.cases == FUZZ_CASES
    assert report.failures == [], "\n".join(report.failures[:20])
    assert set(report.codes) <= set(campaign.ALLOWED_CODES), report.codes
    assert_same_answer(before, after)
    assert peak - rss_before < RSS_GROWTH_LIMIT, (rss_before, report.rss_samples, rss_after)
