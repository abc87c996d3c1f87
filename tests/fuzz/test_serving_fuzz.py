"""Seeded mutation fuzzing of ``serving_bytes`` through a served export (2,000 cases; 20,000 in ``make soak``)."""

from __future__ import annotations

import platform

import pytest

from tests.fuzz import campaign
from tests.fuzz.conftest import FUZZ_CASES, FUZZ_SEED, RSS_GROWTH_LIMIT, assert_same_answer
from tests.fuzz.images import valid_pool
from tests.fuzz.mutations import cases

MB = 1 << 20


def _machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), ""
            )
    except OSError:
        pass
    return model or platform.processor() or platform.machine()


@pytest.mark.slow
@pytest.mark.timeout(max(600, FUZZ_CASES // 10))
def test_mutated_images_get_ok_or_invalid_argument(served, predictor, reference_request, tmp_path, capsys):
    """Only OK or INVALID_ARGUMENT; the same answer afterwards; server memory bounded."""
    pool = valid_pool(FUZZ_SEED)
    expected = campaign.solo_answers(predictor, pool)  # also warms every decoder path up
    before = reference_request(predictor)
    rss_before = served.rss()

    report = campaign.run(
        predictor, cases(FUZZ_SEED, FUZZ_CASES, pool), pool, expected, FUZZ_SEED + 1, tmp_path / "failures"
    )

    rss_after = served.rss()
    assert served.alive(), served.log_tail()
    after = reference_request(predictor)
    codes = ", ".join(f"{code} {count}" for code, count in report.codes.most_common())
    with capsys.disabled():  # the figures for the docs; never asserted
        print(
            f"\n[fuzz] seed {FUZZ_SEED}: {report.cases} cases in {report.requests} requests, {codes}; "
            f"server RSS {rss_before / MB:.0f} -> {rss_after / MB:.0f} MB "
            f"({(rss_after - rss_before) / MB:+.1f} MB); {report.wall_s:.1f} s wall "
            f"({report.cases / report.wall_s:.0f} cases/s) on {_machine()}, {len(__import__('os').sched_getaffinity(0))} cores"
        )
    assert report.cases == FUZZ_CASES
    assert report.failures == [], "\n".join(report.failures[:20])
    assert set(report.codes) <= set(campaign.ALLOWED_CODES), report.codes
    assert_same_answer(before, after)
    assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)
