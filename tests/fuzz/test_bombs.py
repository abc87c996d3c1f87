"""Decompression bombs of every format are refused before decoding, naming their size."""

from __future__ import annotations

import pytest

from keras_residual.contract import CONFIG_MAX_PIXELS, DEFAULT_MAX_PIXELS
from tests.fuzz.conftest import RSS_GROWTH_LIMIT, assert_same_answer
from tests.fuzz.images import bombs, real_jpeg, reference_images

WIRE_LIMIT = 1 << 20
MB = 1 << 20

# One served export per pytest process; with `--dist loadgroup` xdist keeps these tests on one worker.
pytestmark = pytest.mark.xdist_group("fuzz-server")


def test_bombs_are_invalid_argument_naming_their_size(
    fuzz_export, served, predictor, reference_request, capsys
):
    """Alone and inside a batch of valid images; memory and answers unchanged afterwards."""
    max_pixels = fuzz_export[1].get(CONFIG_MAX_PIXELS)
    assert max_pixels == DEFAULT_MAX_PIXELS, "the export config must record the pixel limit it enforces"
    goods = [sample.data for sample in reference_images()]
    before = reference_request(predictor)
    rss_before = served.rss()
    problems = []
    sent = bombs()
    for bomb in sent:
        assert len(bomb.data) < WIRE_LIMIT and bomb.pixels > max_pixels, bomb.name
        for where, blobs in (("alone", [bomb.data]), ("in a batch", [*goods[:2], bomb.data, *goods[2:]])):
            outcome = predictor.encoded(blobs)
            named = str(bomb.width) in outcome.message and str(bomb.height) in outcome.message
            if outcome.code != "INVALID_ARGUMENT" or not named:
                problems.append(f"{bomb.name} {where}: {outcome.code} {outcome.message[:200]!r}")
    rss_after = served.rss()
    with capsys.disabled():  # the figures for the docs; never asserted
        sizes = ", ".join(f"{bomb.name} {len(bomb.data):,} B" for bomb in sent)
        print(
            f"\n[bombs] {len(sent)} bombs x 2 requests, {len(problems)} not refused; server RSS "
            f"{rss_before / MB:.0f} -> {rss_after / MB:.0f} MB ({(rss_after - rss_before) / MB:+.1f} MB); {sizes}"
        )
    assert served.alive(), served.log_tail()
    assert problems == [], "\n".join(problems)
    assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)
    assert_same_answer(before, reference_request(predictor))


def test_a_large_image_under_the_limit_is_served(predictor):
    """The limit refuses only what exceeds it: a real 3000x2000 JPEG (6 megapixels) is answered."""
    outcome = predictor.encoded([real_jpeg(3000, 2000)])
    assert outcome.code == "OK", outcome.message
    assert outcome.outputs["probabilities"].shape == (1, 10)
