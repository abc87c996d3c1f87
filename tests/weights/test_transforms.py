"""The normalizations and geometry a weight set's transforms name, against their publishers' code."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_residual.models.preprocessing import ImagePreprocessing
from keras_residual.weights import Transforms


@pytest.mark.parametrize(
    ("mode", "reference"),
    [
        ("caffe", keras.applications.resnet.preprocess_input),
        ("tf", keras.applications.resnet_v2.preprocess_input),
    ],
)
def test_keras_modes_equal_keras_preprocess_input(mode, reference):
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 4, 3)).astype("float32")
    expected = reference(pixels.copy())
    got = keras.ops.convert_to_numpy(ImagePreprocessing(mode)(pixels))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    first = ImagePreprocessing(mode, data_format="channels_first")(np.transpose(pixels, (0, 3, 1, 2)))
    np.testing.assert_allclose(np.transpose(keras.ops.convert_to_numpy(first), (0, 2, 3, 1)), expected, atol=1e-4)


def test_resize_shorter_side_then_center_crop():
    Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install 'keras-residual[data]'")
    from keras_residual.weights.transforms import resize_and_crop

    # A 80x40 (width x height) image whose columns count 0..79: the shorter side 40 -> 20 halves every
    # length, so the 16-wide center crop of the 40x20 result covers source columns 24..55.
    columns = np.tile(np.arange(80, dtype="uint8"), (40, 1))
    image = Image.fromarray(np.stack([columns] * 3, axis=-1))
    out = resize_and_crop(image, Transforms(resize=20, crop=16))
    assert out.shape == (16, 16, 3)
    assert 23 <= out[0, 0, 0] <= 26 and 53 <= out[0, -1, 0] <= 56
    with pytest.raises(ValueError, match="`crop` must be <= resize=20"):
        resize_and_crop(image, Transforms(resize=20, crop=24))
