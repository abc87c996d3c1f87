"""Which real images check and calibrate an export: verification batches and INT8 calibration splits.

The images themselves (digits, sklearn's sample photos, image folders) come from
`keras_residual.datasets`. Every function returns float32 NHWC batches of raw 0..255 pixels at the
model's input size, the same contract as the exported ``images`` input (the model's own
preprocessing runs inside the graph).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_residual._validation import fail
from keras_residual.datasets import digits_images, fit_channels, folder_images, resize_images, sample_photos

CALIBRATION_IMAGES = 128  # digits training images used to calibrate INT8 ranges


def verification_images(height: int, width: int, channels: int, count: int = 16) -> np.ndarray:
    """``count`` real images for parity checks: the two sample photos, then held-out digits.

    Photos carry the full 0..255 range and natural textures; digits add many sparse, high-contrast
    images. Both are real pixels, unlike random noise, so they exercise the model as users do.

    Example:
        >>> verification_images(32, 32, 3).shape
        (16, 32, 32, 3)
    """
    photos = sample_photos(height, width, channels)
    _, held_out = digits_images(
        height, width, channels, train_count=0, held_out_count=max(0, count - len(photos))
    )
    return np.concatenate([photos, held_out])[:count]


def calibration_split(calibration_data, height: int, width: int, channels: int):
    """Split INT8 calibration data into ``(calibration, held_out, source)``.

    Args:
        calibration_data: ``None`` or ``"digits"`` (the first 128 digits training images calibrate;
            the 360 held-out digits measure agreement), a folder of images, or an NHWC array of raw
            pixels. Folders and arrays are split in order: the first three quarters calibrate, the
            last quarter is held out.
        height: Model input height.
        width: Model input width.
        channels: Model input channels.

    Raises:
        ValueError: unknown value, or fewer than 4 images.

    Example:
        >>> calibration, held_out, source = calibration_split("digits", 32, 32, 3)
        >>> len(calibration), len(held_out), source
        (128, 360, 'digits')
    """
    if calibration_data is None or (isinstance(calibration_data, str) and calibration_data == "digits"):
        train, held_out = digits_images(height, width, channels, train_count=CALIBRATION_IMAGES)
        return train, held_out, "digits"
    if isinstance(calibration_data, (str, Path)):
        images = folder_images(calibration_data, height, width, channels, name="calibration_data")
        source = str(calibration_data)
    elif isinstance(calibration_data, np.ndarray) and calibration_data.ndim == 4:
        images = fit_channels(resize_images(calibration_data, height, width), channels)
        source = "array"
    else:
        fail(
            "calibration_data",
            "None, 'digits', a folder of images or an NHWC array of raw pixels",
            calibration_data,
        )
    if len(images) < 4:
        fail("calibration_data", "at least 4 images (3/4 calibrate, 1/4 held out)", f"{len(images)} images")
    cut = (3 * len(images)) // 4
    return images[:cut], images[cut:], source
