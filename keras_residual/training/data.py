"""Datasets for training: the embedded digits set, image folders, TFRecords and synthetic data.

The digits and synthetic arrays come from `keras_residual.datasets`; this module turns them (or an
image folder, or TFRecord files) into an ``ImageDataset`` of ``tf.data`` pipelines.

Every loader returns raw pixels (float32, 0..255, NHWC) and the class names, so the model's own
preprocessing layer does the scaling and the names travel with the trained model to export.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from keras_residual._validation import check_optional_int, fail, is_int

# The digits and synthetic arrays live in the neutral keras_residual.datasets (export/ uses them
# too); they stay importable from here, where training code and older examples look for them.
from keras_residual.datasets import DIGITS_SPLIT_SEED as DIGITS_SPLIT_SEED
from keras_residual.datasets import DIGITS_VAL_SIZE as DIGITS_VAL_SIZE
from keras_residual.datasets import load_digits_arrays, synthetic_arrays
from keras_residual.training import image_folder, tfrecords
from keras_residual.training.image_dataset import ImageDataset

DEFAULT_IMAGE_SIZE = {"digits": 32, "synthetic": 32, "folder": 224, "tfrecord": 224}
"""Image size used when ``image_size`` is not given, per kind of dataset."""


def from_arrays(x_train, y_train, x_val, y_val, class_names=None, name="arrays", mirror_symmetric=True):
    """Wrap NumPy arrays (raw pixels NHWC, integer labels) as an ``ImageDataset``, checking them first.

    Args:
        x_train: Training images, shape ``(N, H, W, C)``, raw pixel values.
        y_train: Training labels, integers in ``[0, num_classes)``, shape ``(N,)``.
        x_val: Validation images with the same ``(H, W, C)``.
        y_val: Validation labels.
        class_names: Names of the classes; default ``"0"``, ``"1"``, ... up to the largest label.
        name: Name recorded for the dataset.
        mirror_symmetric: Whether random flips are suitable.

    Raises:
        ValueError: Wrong ranks, mismatched shapes or counts, or a label outside ``[0, num_classes)``.

    Example:
        ```python
        import numpy as np
        from keras_residual.training.data import from_arrays

        x = np.random.uniform(0, 255, (8, 16, 16, 3)).astype("float32")
        y = np.arange(8) % 2
        dataset = from_arrays(x, y, x[:4], y[:4], class_names=["cat", "dog"])
        print(dataset.image_shape, dataset.num_classes)  # (16, 16, 3) 2
        ```
    """
    arrays = {}
    for split, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
        if x.ndim != 4:
            raise ValueError(f"x_{split} must have shape (N, H, W, C); got shape {x.shape}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"y_{split} must have shape ({x.shape[0]},) to match x_{split}; got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y_{split} must hold integer class labels; got dtype {y.dtype}")
        if x.shape[0] == 0:
            raise ValueError(f"x_{split} is empty")
        arrays[split] = (x, y.astype(np.int32))
    if arrays["train"][0].shape[1:] != arrays["val"][0].shape[1:]:
        raise ValueError(
            "training and validation images differ in shape (H, W, C): "
            f"{arrays['train'][0].shape[1:]} vs {arrays['val'][0].shape[1:]}"
        )
    if class_names is None:
        top = max(int(arrays["train"][1].max()), int(arrays["val"][1].max()))
        class_names = [str(i) for i in range(top + 1)]
    class_names = [str(c) for c in class_names]
    for split, (_, y) in arrays.items():
        bad = np.flatnonzero((y < 0) | (y >= len(class_names)))
        if bad.size:
            raise ValueError(
                f"y_{split}[{bad[0]}] = {y[bad[0]]} is out of range: labels must be in [0, {len(class_names)}) "
                f"for {len(class_names)} class names"
            )
    return ImageDataset(
        name=name,
        kind="arrays" if name == "arrays" else name,
        train=tf.data.Dataset.from_tensor_slices(arrays["train"]),
        val=tf.data.Dataset.from_tensor_slices(arrays["val"]),
        class_names=class_names,
        image_shape=tuple(int(d) for d in arrays["train"][0].shape[1:]),
        num_train=len(arrays["train"][1]),
        num_val=len(arrays["val"][1]),
        mirror_symmetric=mirror_symmetric,
    )


def load_dataset(data="digits", image_size=None, channels=3, validation_split=0.2, seed=0):
    """Load a dataset for training by name or path.

    Args:
        data: ``"digits"`` (the embedded default: scikit-learn's handwritten digits),
            ``"synthetic"``, a folder of images with one sub-folder per class (or with ``train/``
            and ``val/`` (or ``validation/``) sub-folders that each hold the class folders),
            or a folder / file / glob of TFRecord files of ``tf.train.Example`` with
            ``image/encoded`` and ``image/class/label`` (see ``keras_residual.training.tfrecords``).
        image_size: Height and width the images are resized to; default per kind
            (``DEFAULT_IMAGE_SIZE``).
        channels: Colour channels (1 or 3) for image folders and TFRecords.
        validation_split: Fraction held out for validation when an image folder has no
            ``val/`` split.
        seed: Seed of that split.

    Returns:
        An ``ImageDataset``.

    Raises:
        ValueError: Unknown name, missing path, or bad data (the message names the file or problem).

    Example:
        ```python
        from keras_residual.training.data import load_dataset

        dataset = load_dataset("digits")
        print(dataset.num_train, dataset.num_val, dataset.image_shape)  # 1437 360 (32, 32, 3)
        ```
    """
    if not (is_int(channels) and channels in (1, 3)):
        fail("channels", "1 or 3", channels)
    check_optional_int("image_size", image_size, minimum=8)
    data = os.fspath(data)
    if data == "digits":
        arrays = load_digits_arrays(image_size or DEFAULT_IMAGE_SIZE["digits"])
        return from_arrays(*arrays, name="digits", mirror_symmetric=False)
    if data == "synthetic":
        arrays = synthetic_arrays(image_size or DEFAULT_IMAGE_SIZE["synthetic"], channels=channels)
        return from_arrays(*arrays, name="synthetic")
    tfrecord_files = tfrecords.find_tfrecord_files(data)
    if tfrecord_files is not None:
        return tfrecords.load_tfrecords(
            data, tfrecord_files, image_size or DEFAULT_IMAGE_SIZE["tfrecord"], channels
        )
    if os.path.isdir(data):
        return image_folder.load_image_folder(
            data, image_size or DEFAULT_IMAGE_SIZE["folder"], channels, validation_split, seed
        )
    raise ValueError(
        f"data must be 'digits', 'synthetic', an image folder or TFRecord files; {data!r} is none of these "
        "(no such folder or file)"
    )
