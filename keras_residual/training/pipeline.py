"""Input pipelines: shuffle, batch, one-hot labels, augment and prefetch an ``ImageDataset`` split."""

from __future__ import annotations

import tensorflow as tf

from keras_residual.training.augment import make_augmenter


def make_pipeline(
    examples,
    num_classes: int,
    batch_size: int,
    training: bool,
    augment=None,
    shuffle_buffer: int = 10_000,
    seed: int | None = None,
    drop_remainder: bool = False,
):
    """Turn unbatched ``(image, label)`` examples into batches of ``(images, one_hot_labels)``.

    Training pipelines are shuffled (reshuffled every epoch) and augmented after batching;
    validation pipelines keep their order and are never augmented.

    Args:
        examples: Unbatched ``tf.data.Dataset`` of ``(image float32 HWC, label int32)``.
        num_classes: Number of classes (depth of the one-hot labels).
        batch_size: Global batch size.
        training: Shuffle and augment when ``True``.
        augment: ``fn(images, labels) -> (images, labels)`` (see ``augment.make_augmenter``) or ``None``.
        shuffle_buffer: Shuffle buffer size in examples.
        seed: Shuffle seed (``None``: a new order each run).
        drop_remainder: Drop the last partial batch (the multi-worker loop needs equal batches).

    Example:
        ```python
        from keras_residual.training.data import load_dataset
        from keras_residual.training.pipeline import make_pipeline

        dataset = load_dataset("synthetic", image_size=16)
        batches = make_pipeline(dataset.val, dataset.num_classes, batch_size=32, training=False)
        images, labels = next(iter(batches))
        print(images.shape, labels.shape)  # (32, 16, 16, 3) (32, 10)
        ```
    """
    ds = examples
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(
        lambda x, y: (x, tf.one_hot(y, num_classes, dtype=tf.float32)), num_parallel_calls=tf.data.AUTOTUNE
    )
    if training and augment is not None:
        ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def recipe_augmenter(recipe, mirror_symmetric: bool = True):
    """The augmentation function a ``Recipe`` asks for (``flip="auto"`` follows ``mirror_symmetric``).

    Example:
        ```python
        from keras_residual.training.pipeline import recipe_augmenter
        from keras_residual.training.recipe import Recipe

        print(recipe_augmenter(Recipe(random_resized_crop=None, flip=False)))  # None
        ```
    """
    flip = mirror_symmetric if recipe.flip == "auto" else bool(recipe.flip)
    return make_augmenter(
        random_resized_crop_area=recipe.random_resized_crop,
        flip=flip,
        mixup_alpha=recipe.mixup_alpha,
        cutmix_alpha=recipe.cutmix_alpha,
    )
