"""Image folders (one sub-folder per class) via ``keras.utils.image_dataset_from_directory``.

Every image is checked with Pillow before training starts, so an unreadable file is reported by
name instead of failing inside the input pipeline halfway through an epoch.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from keras_residual._validation import check_float
from keras_residual.training.image_dataset import ImageDataset

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
"""File extensions read from image folders (those ``image_dataset_from_directory`` reads)."""

VAL_FOLDER_NAMES = ("val", "validation")
"""Sub-folder names recognised as the validation split next to ``train/``."""


def _class_folders(root: str) -> list[str]:
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def check_image_folder(root: str) -> tuple[list[str], int]:
    """Check a class-per-sub-folder image tree; return ``(class_names, number_of_images)``.

    Raises:
        ValueError: No class sub-folders, a class folder without images, or a file Pillow cannot
            read as an image (the message names the folder or file).

    Example:
        ```python
        import os
        import numpy as np
        from PIL import Image
        from keras_residual.training.image_folder import check_image_folder

        for name in ("cat", "dog"):
            os.makedirs(f"pets/{name}", exist_ok=True)
            Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(f"pets/{name}/0.png")
        print(check_image_folder("pets"))  # (['cat', 'dog'], 2)
        ```
    """
    try:  # Pillow is the optional extra [data]: only folder checks need it
        from PIL import Image
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Image folders need Pillow: pip install 'keras-residual[data]'") from err

    classes = _class_folders(root)
    if not classes:
        raise ValueError(f"image folder {root!r} has no class sub-folders (expected {root}/<class>/<image>)")
    total = 0
    for name in classes:
        folder = os.path.join(root, name)
        files = []
        for dirpath, _, filenames in os.walk(folder):
            files.extend(os.path.join(dirpath, f) for f in filenames if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise ValueError(
                f"class folder {folder!r} holds no images (allowed extensions: {', '.join(IMAGE_EXTENSIONS)})"
            )
        for path in sorted(files):
            try:
                with Image.open(path) as image:
                    image.verify()
            except Exception as err:  # Pillow raises many types for broken files
                raise ValueError(f"unreadable image {path!r}: {err}") from None
        total += len(files)
    return classes, total


def load_image_folder(root: str, image_size: int, channels: int = 3, validation_split: float = 0.2, seed=0):
    """Load an image folder as an ``ImageDataset`` (images resized to ``image_size``, bilinear).

    ``root`` holds either one sub-folder per class (``validation_split`` of the images, chosen
    with ``seed``, become the validation set) or ``train/`` and ``val/`` (or ``validation/``)
    sub-folders that each hold the class folders. Grey images are converted to RGB when
    ``channels=3`` and RGB to grey when ``channels=1``.

    Raises:
        ValueError: See ``check_image_folder``; also when train and validation class folders differ.

    Example:
        ```python
        import os
        import numpy as np
        from PIL import Image
        from keras_residual.training.image_folder import load_image_folder

        for name in ("cat", "dog"):
            os.makedirs(f"animals/{name}", exist_ok=True)
            for i in range(5):
                Image.fromarray(np.full((8, 8, 3), 40 * i, "uint8")).save(f"animals/{name}/{i}.png")
        dataset = load_image_folder("animals", image_size=16)
        print(dataset.class_names, dataset.num_train, dataset.num_val)  # ['cat', 'dog'] 8 2
        ```
    """
    check_float("validation_split", validation_split, 0.0, 1.0, min_inclusive=False, max_inclusive=False)
    color_mode = "rgb" if channels == 3 else "grayscale"
    options = dict(
        labels="inferred",
        label_mode="int",
        color_mode=color_mode,
        batch_size=None,
        image_size=(image_size, image_size),
        interpolation="bilinear",
        verbose=False,
    )
    subfolders = set(_class_folders(root))
    val_name = next((n for n in VAL_FOLDER_NAMES if n in subfolders), None)
    if "train" in subfolders and val_name:
        train_root, val_root = os.path.join(root, "train"), os.path.join(root, val_name)
        class_names, num_train = check_image_folder(train_root)
        val_classes, num_val = check_image_folder(val_root)
        if val_classes != class_names:
            raise ValueError(
                f"class folders differ between {train_root!r} ({class_names}) and {val_root!r} ({val_classes})"
            )
        train = keras.utils.image_dataset_from_directory(
            train_root, class_names=class_names, shuffle=False, **options
        )
        val = keras.utils.image_dataset_from_directory(
            val_root, class_names=class_names, shuffle=False, **options
        )
    else:
        class_names, total = check_image_folder(root)
        if total < 2:
            raise ValueError(
                f"image folder {root!r} holds {total} image(s); need at least 2 to split off validation"
            )
        train, val = keras.utils.image_dataset_from_directory(
            root,
            class_names=class_names,
            shuffle=True,
            seed=seed,
            validation_split=validation_split,
            subset="both",
            **options,
        )
        num_val = int(validation_split * total)
        num_train = total - num_val

    def cast(image, label):
        return tf.cast(image, tf.float32), tf.cast(label, tf.int32)

    return ImageDataset(
        name=os.fspath(root),
        kind="folder",
        train=train.map(cast),
        val=val.map(cast),
        class_names=class_names,
        image_shape=(image_size, image_size, channels),
        num_train=num_train,
        num_val=num_val,
    )
