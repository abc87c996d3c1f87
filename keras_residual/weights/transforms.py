"""A weight set's evaluation transforms applied to image files: resize the shorter side, center crop.

This is torchvision's ``ImageClassification`` geometry (``resize_size`` on the shorter side with
bilinear interpolation, then a centered ``crop_size`` square) done with Pillow; the pixel
normalization is not done here, it is inside the model (``ResNet(preprocessing=...)``), so the
arrays returned are raw 0..255 RGB pixels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from keras_residual._validation import check_int
from keras_residual.weights.registry import Transforms


def _pillow():
    try:
        from PIL import Image  # optional extra [data]
    except ImportError as err:
        raise ImportError("Reading image files needs Pillow: pip install 'keras-residual[data]'") from err
    return Image


def resize_and_crop(image, transforms: Transforms) -> np.ndarray:
    """One Pillow image as a ``(crop, crop, 3)`` float32 array of raw pixels.

    Example:
        >>> from PIL import Image
        >>> resize_and_crop(Image.new("RGB", (64, 48)), Transforms(resize=36, crop=32)).shape
        (32, 32, 3)
    """
    pil = _pillow()
    resize = check_int("resize", transforms.resize)
    crop = check_int("crop", transforms.crop)
    if crop > resize:
        raise ValueError(f"`crop` must be <= resize={resize}; received crop={crop}.")
    image = image.convert("RGB")
    width, height = image.size
    scale = resize / min(width, height)
    size = (max(crop, round(width * scale)), max(crop, round(height * scale)))
    image = image.resize(size, pil.BILINEAR)
    left = int(round((size[0] - crop) / 2.0))
    top = int(round((size[1] - crop) / 2.0))
    return np.asarray(image.crop((left, top, left + crop, top + crop)), dtype="float32")


def load_images(paths: Sequence[str | os.PathLike], transforms: Transforms) -> np.ndarray:
    """Image files as one ``(N, crop, crop, 3)`` batch of raw pixels, after ``transforms``.

    Raises:
        ValueError: a file is not an image Pillow can read (the message names it).
        FileNotFoundError: a file does not exist.
    """
    pil = _pillow()
    arrays = []
    for path in paths:
        try:
            with pil.open(path) as image:
                arrays.append(resize_and_crop(image, transforms))
        except pil.UnidentifiedImageError:
            raise ValueError(f"{os.fspath(path)!r} is not an image file Pillow can read") from None
    return np.stack(arrays) if arrays else np.zeros((0, transforms.crop, transforms.crop, 3), "float32")
