"""Real images the package ships or reads: the embedded digits, sklearn's sample photos, image folders.

A neutral floor under both ``training/`` and ``export/``: training uses the digits as its default
dataset, export uses the same images to verify and calibrate ONNX files. Every loader returns
float32 NHWC batches of raw 0..255 pixels (the model's own preprocessing layer does the scaling).

The digits and the sample photos ship inside scikit-learn (``pip install 'keras-residual[data]'``),
so nothing is downloaded. Resizing uses TensorFlow and folder reading uses Pillow; both are
imported by the functions that need them, so ``load_digits_arrays`` runs without TensorFlow.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from keras_residual._validation import check_int, fail

DIGITS_VAL_SIZE = 360
"""Number of validation images in the fixed digits split (1,797 images: 1,437 train / 360 validation)."""

DIGITS_SPLIT_SEED = 0
"""Seed of the fixed, stratified digits split (the same split on every machine and every call)."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
"""File name suffixes read as images by `folder_images`."""


def _needs_sklearn(what: str):
    """Import scikit-learn's datasets module or raise an ImportError naming the extra."""
    try:
        from sklearn import datasets  # optional extra [data]: only the loaders below need it
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise ImportError(f"{what} needs scikit-learn: pip install 'keras-residual[data]'") from err
    return datasets


def _linear_resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Matrix ``A`` (size_out x size_in) so that ``A @ v`` resizes ``v`` linearly with half-pixel centers.

    This is the sampling of ``tf.image.resize(method="bilinear")`` (and PIL/OpenCV's bilinear
    upscaling): output pixel ``i`` samples input coordinate ``(i + 0.5) * size_in / size_out - 0.5``,
    clamped to the edges.
    """
    coords = (np.arange(size_out, dtype=np.float64) + 0.5) * size_in / size_out - 0.5
    coords = np.clip(coords, 0.0, size_in - 1)
    low = np.floor(coords).astype(np.int64)
    high = np.minimum(low + 1, size_in - 1)
    frac = coords - low
    matrix = np.zeros((size_out, size_in), dtype=np.float64)
    rows = np.arange(size_out)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def _split_digits(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the fixed, stratified digits split, each sorted."""
    from sklearn.model_selection import train_test_split  # optional extra [data], checked by the caller

    index = np.arange(len(labels))
    train_idx, val_idx = train_test_split(
        index, test_size=DIGITS_VAL_SIZE, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    return np.sort(train_idx), np.sort(val_idx)


def load_digits_arrays(image_size: int = 32):
    """Load scikit-learn's handwritten digits as RGB images with a fixed train/validation split.

    The 1,797 8x8 greyscale digits (values 0..16) ship inside scikit-learn, so this works offline.
    Pixels are scaled by 255/16 to 0..255, upscaled to ``image_size`` x ``image_size`` with bilinear
    interpolation (half-pixel centers, the sampling of ``tf.image.resize(method="bilinear")``),
    and repeated to 3 channels. The split is stratified by class and fixed (1,437 train /
    360 validation, seed ``DIGITS_SPLIT_SEED``): every call returns the same images in the same order.

    Args:
        image_size: Output height and width in pixels (>= 8).

    Returns:
        ``(x_train, y_train, x_val, y_val, class_names)``: ``x_*`` float32 arrays of shape
        ``(N, image_size, image_size, 3)`` with raw pixels in 0..255, ``y_*`` int32 labels 0..9,
        and ``class_names == ["0", "1", ..., "9"]``.

    Raises:
        ImportError: scikit-learn is not installed (``pip install 'keras-residual[data]'``).
        ValueError: ``image_size`` is not an integer >= 8.

    Example:
        ```python
        from keras_residual.datasets import load_digits_arrays

        x_train, y_train, x_val, y_val, class_names = load_digits_arrays(image_size=32)
        print(x_train.shape, x_val.shape, class_names[:3])  # (1437, 32, 32, 3) (360, 32, 32, 3) ['0', '1', '2']
        ```
    """
    image_size = check_int("image_size", image_size, minimum=8)
    digits = _needs_sklearn("The digits dataset").load_digits()
    images = digits.images.astype(np.float64) * (255.0 / 16.0)  # (N, 8, 8), 0..255
    labels = digits.target.astype(np.int32)
    resize = _linear_resize_matrix(images.shape[1], image_size)
    # Separable bilinear resize: rows then columns, one matrix product each.
    images = np.einsum("hi,nij,wj->nhw", resize, images, resize)
    images = np.clip(images, 0.0, 255.0).astype(np.float32)
    images = np.repeat(images[..., None], 3, axis=-1)
    train_idx, val_idx = _split_digits(labels)
    class_names = [str(i) for i in range(10)]
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx], class_names


def synthetic_arrays(image_size=32, num_classes=10, num_train=512, num_val=128, channels=3, seed=0):
    """Random images whose class sets a brightness pattern (learnable, for benchmarks and tests).

    Returns ``(x_train, y_train, x_val, y_val, class_names)`` like ``load_digits_arrays``, with
    class names ``"class_0"``, ``"class_1"``, ...

    Example:
        ```python
        from keras_residual.datasets import synthetic_arrays

        x_train, y_train, x_val, y_val, names = synthetic_arrays(image_size=16, num_classes=3)
        print(x_train.shape, names)  # (512, 16, 16, 3) ['class_0', 'class_1', 'class_2']
        ```
    """
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0, 255, (num_classes, image_size, image_size, channels)).astype(np.float32)

    def make(n):
        labels = rng.integers(0, num_classes, n).astype(np.int32)
        noise = rng.normal(0, 40, (n, image_size, image_size, channels)).astype(np.float32)
        return np.clip(patterns[labels] + noise, 0, 255), labels

    x_train, y_train = make(num_train)
    x_val, y_val = make(num_val)
    return x_train, y_train, x_val, y_val, [f"class_{i}" for i in range(num_classes)]


def resize_images(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an NHWC batch to ``height`` x ``width`` (bilinear, antialiased), keeping float32 pixels.

    Example:
        >>> resize_images(np.zeros((2, 8, 8, 3), "float32"), 32, 32).shape
        (2, 32, 32, 3)
    """
    images = np.asarray(images, dtype="float32")
    if images.shape[1:3] == (height, width):
        return images
    import tensorflow as tf  # heavy: only a real resize needs it, and load_digits_arrays must not

    return tf.image.resize(images, (height, width), antialias=True).numpy().astype("float32")


def fit_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Convert an RGB or grayscale NHWC batch to ``channels`` (1 or 3) channels.

    Raises:
        ValueError: ``channels`` is not 1 or 3, or the batch has neither 1 nor 3 channels.

    Example:
        >>> fit_channels(np.ones((1, 4, 4, 3), "float32"), 1).shape
        (1, 4, 4, 1)
    """
    if channels not in (1, 3):
        fail("channels", "1 or 3 for real images (pass your own images for other channel counts)", channels)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        fail("images", "an NHWC batch with 1 or 3 channels", f"an array of shape {images.shape}")
    if images.shape[-1] == channels:
        return images
    if channels == 1:
        return images.mean(axis=-1, keepdims=True)
    return np.repeat(images, 3, axis=-1)


@functools.lru_cache(maxsize=1)
def _native_digits() -> tuple[np.ndarray, np.ndarray]:
    x_train, _, x_val, _, _ = load_digits_arrays(image_size=8)
    for array in (x_train, x_val):
        array.setflags(write=False)
    return x_train, x_val


def digits_images(
    height: int, width: int, channels: int, train_count: int | None = None, held_out_count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's digits as ``(train, held_out)`` image batches at a model's input size.

    The split is the fixed one of `load_digits_arrays` (1,437 training and 360 held-out
    images); only the first ``train_count`` / ``held_out_count`` images (all when ``None``) are
    resized, so large input sizes stay cheap.

    Example:
        >>> train, held_out = digits_images(32, 32, 3, train_count=128)
        >>> train.shape, held_out.shape
        ((128, 32, 32, 3), (360, 32, 32, 3))
    """
    x_train, x_val = _native_digits()
    return (
        fit_channels(resize_images(x_train[:train_count], height, width), channels),
        fit_channels(resize_images(x_val[:held_out_count], height, width), channels),
    )


def sample_photos(height: int, width: int, channels: int) -> np.ndarray:
    """sklearn's two sample photographs (china, flower), center-cropped square and resized.

    Example:
        >>> sample_photos(64, 64, 3).shape
        (2, 64, 64, 3)
    """
    _needs_sklearn("real verification images")
    return fit_channels(resize_images(_square_photos(), height, width), channels)


@functools.lru_cache(maxsize=1)
def _square_photos() -> np.ndarray:
    photos = np.stack(_needs_sklearn("real verification images").load_sample_images().images)
    photos = photos.astype("float32")  # (2, 427, 640, 3)
    side = min(photos.shape[1:3])
    top, left = (photos.shape[1] - side) // 2, (photos.shape[2] - side) // 2
    photos = np.ascontiguousarray(photos[:, top : top + side, left : left + side])
    photos.setflags(write=False)
    return photos


def folder_images(
    folder: str | Path, height: int, width: int, channels: int, name: str = "folder"
) -> np.ndarray:
    """Every image file in ``folder`` (sorted by name, sub-folders included) as one batch.

    Args:
        folder: The directory to read.
        height: Height the images are resized to.
        width: Width the images are resized to.
        channels: 1 (greyscale) or 3 (RGB).
        name: The argument name error messages use for ``folder`` (``"calibration_data"`` when
            the folder came from that argument).

    Raises:
        ValueError: ``folder`` is not a directory or holds no image file.

    Example:
        >>> images = folder_images("calibration/", 224, 224, 3)  # doctest: +SKIP
    """
    from PIL import Image  # Pillow comes with the [data] extra; only folder reading needs it

    folder = Path(folder)
    if not folder.is_dir():
        fail(name, "a directory of images", str(folder))
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        fail(name, f"a directory holding image files ({', '.join(IMAGE_SUFFIXES)})", str(folder))
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for file in files:
        with Image.open(file) as image:
            pixels = np.asarray(image.convert(mode).resize((width, height), Image.BILINEAR), "float32")
        arrays.append(pixels.reshape(height, width, -1))
    return fit_channels(np.stack(arrays), channels)
