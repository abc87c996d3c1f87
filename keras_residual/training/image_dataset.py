"""``ImageDataset``: what every dataset loader returns (a leaf module: it imports nothing of the package).

The loaders live beside it: `keras_residual.training.data` (digits, synthetic, arrays, dispatch by
name), `keras_residual.training.image_folder` and `keras_residual.training.tfrecords`.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class ImageDataset:
    """A train/validation pair of unbatched ``tf.data`` datasets and what training needs to know about them.

    Elements are ``(image, label)``: ``image`` float32 ``(H, W, C)`` raw pixels in 0..255, ``label``
    int32 in ``[0, len(class_names))``.

    Attributes:
        name: What was loaded (``"digits"``, ``"synthetic"``, or the folder / TFRecord path).
        kind: ``"digits"``, ``"synthetic"``, ``"arrays"``, ``"folder"`` or ``"tfrecord"``.
        train: Training examples (not shuffled, batched or augmented yet; see ``pipeline``).
        val: Validation examples.
        class_names: Class names; index ``i`` is the name of label ``i``.
        image_shape: ``(H, W, C)`` of every image.
        num_train: Number of training examples (``None`` when unknown without a full read).
        num_val: Number of validation examples (``None`` when unknown).
        mirror_symmetric: Whether left-right flips keep the class (``False`` for digits).
    """

    name: str
    kind: str
    train: Any
    val: Any
    class_names: list
    image_shape: tuple
    num_train: int | None
    num_val: int | None
    mirror_symmetric: bool = True

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)
