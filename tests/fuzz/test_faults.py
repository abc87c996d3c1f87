"""Faults a client can send on purpose: one undecodable image in a batch, an empty batch."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fuzz.conftest import IMAGE_SIZE, NUM_CLASSES
from tests.fuzz.images import MAGIC, reference_images

# One served export per pytest process; with `--dist loadgroup` xdist keeps these tests on one worker.
pytestmark = pytest.mark.xdist_group("fuzz-server")


def _undecodable() -> dict[str, bytes]:
    """Bytes that are not a decodable image, one per way of failing."""
    jpeg, png, gif, bmp = (sample.data for sample in reference_images())
    noise = np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8).tobytes()
    return {
        "empty string": b"",
        "text": b"this is not an image",
        "random bytes": noise,
        "png signature then noise": MAGIC["png"] + noise,
        "jpeg cut in half": jpeg[: len(jpeg) // 2],
        "png without its last chunk": png[:-12],
        "gif header only": gif[:13],
        "bmp missing its pixels": bmp[:60],
        "jpeg signature on png bytes": MAGIC["jpeg"] + png[len(MAGIC["png"]) :],
    }


def test_one_undecodable_image_fails_the_whole_batch(predictor):
    """As TF Serving answers: INVALID_ARGUMENT for the request, wherever the bad image sits."""
    goods = [sample.data for sample in reference_images()]
    control = predictor.encoded(goods)
    assert control.code == "OK", control.message
    assert control.outputs["probabilities"].shape == (len(goods), NUM_CLASSES)
    wrong = []
    for name, bad in _undecodable().items():
        for slot in (0, 2, len(goods)):
            outcome = predictor.encoded([*goods[:slot], bad, *goods[slot:]])
            if outcome.code != "INVALID_ARGUMENT" or not outcome.message:
                wrong.append(f"{name} at slot {slot}: {outcome.code} {outcome.message[:200]!r}")
    assert wrong == [], "\n".join(wrong)


def test_empty_batches_answer_empty_outputs(predictor):
    """Both signatures take a batch of 0 and answer ``(0, num_classes)`` probabilities."""
    encoded = predictor.encoded([])
    pixels = predictor.pixels(np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32))
    for outcome in (encoded, pixels):
        assert outcome.code == "OK", outcome.message
        assert outcome.outputs["probabilities"].shape == (0, NUM_CLASSES)
        assert outcome.outputs["top_k_indices"].shape == (0, 3)
