"""Fixtures of the fuzz and fault suite: a tiny classifier exported by the package, served in a child process.

The export is the package's own `export_saved_model` (the decompression-bomb guard and the decoding
checks live in its graph); the server is the TF Serving stand-in, run in its own process
(`tests.fuzz.served`) so its resident memory can be measured. Knobs, from the environment:

- ``KERAS_RESIDUAL_FUZZ_CASES``: mutated images sent by the fuzz run (default 2000; ``make soak``
  sets 20000);
- ``KERAS_RESIDUAL_FUZZ_SEED``: the seed of the image pool, the mutations and the batching.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

from keras_residual.contract import ASSETS_DIR, EXPORT_CONFIG_FILE
from tests.fuzz.images import reference_images
from tests.fuzz.rpc import Predictor
from tests.fuzz.served import ServerProcess

MODEL = "fuzz"
NUM_CLASSES = 10
IMAGE_SIZE = 32
CLASS_NAMES = [f"class_{i}" for i in range(NUM_CLASSES)]
FUZZ_CASES = int(os.environ.get("KERAS_RESIDUAL_FUZZ_CASES", "2000"))
FUZZ_SEED = int(os.environ.get("KERAS_RESIDUAL_FUZZ_SEED", "20261130"))
RSS_GROWTH_LIMIT = 100 << 20


def tiny_classifier() -> keras.Model:
    """Rescaling, a conv/BN/ReLU stem, global pooling and a softmax head on 32x32x3 raw pixels."""
    layers = keras.layers
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="images")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, activation="softmax")(x))


@pytest.fixture(scope="session")
def fuzz_export(tmp_path_factory):
    """``(base_path, export_config)`` of the tiny classifier's SavedModel, version 1."""
    from keras_residual.export import export_saved_model

    keras.utils.set_random_seed(FUZZ_SEED)
    base = tmp_path_factory.mktemp("fuzz-export") / MODEL
    version_dir = export_saved_model(tiny_classifier(), base, version=1, class_names=CLASS_NAMES, top_k=3)
    config = json.loads((version_dir / ASSETS_DIR / EXPORT_CONFIG_FILE).read_text())
    return base, config


@pytest.fixture(scope="session")
def served(fuzz_export, tmp_path_factory):
    """The stand-in server process serving the export."""
    log = tmp_path_factory.mktemp("fuzz-server") / "server.log"
    with ServerProcess(fuzz_export[0], MODEL, log) as server:
        yield server


@pytest.fixture(scope="session")
def predictor(served):
    client = Predictor(served.target, MODEL)
    yield client
    client.close()


@pytest.fixture(scope="session")
def reference_request():
    """A fixed valid request (one image per format, plus raw pixels) and a function answering it."""
    blobs = [sample.data for sample in reference_images()]
    pixels = np.random.default_rng(7).uniform(0, 255, (3, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)

    def answer(client: Predictor) -> dict[str, np.ndarray]:
        encoded, raw = client.encoded(blobs), client.pixels(pixels)
        assert (encoded.code, raw.code) == ("OK", "OK"), (encoded.message, raw.message)
        return {
            **{f"bytes/{k}": v for k, v in encoded.outputs.items()},
            **{f"pixels/{k}": v for k, v in raw.outputs.items()},
        }

    return answer


def assert_same_answer(
    before: dict[str, np.ndarray], after: dict[str, np.ndarray], atol: float = 1e-6
) -> None:
    """Float outputs within ``atol``, every other output (indices, labels) exactly equal."""
    assert sorted(before) == sorted(after)
    for key, value in before.items():
        if value.dtype.kind == "f":
            np.testing.assert_allclose(after[key], value, rtol=0, atol=atol, err_msg=key)
        else:
            np.testing.assert_array_equal(after[key], value, err_msg=key)
