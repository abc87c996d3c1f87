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


def shard_batches(batches, num_shards: int, index: int):
    """Keep slice ``index`` of ``num_shards`` equal slices of every batch (each process's share).

    Every process builds the same global batches (same data and shuffle seed) and keeps its own
    slice, so the processes together train on exactly the global batch one process would. A batch
    whose size is not a multiple of ``num_shards`` loses its last ``size % num_shards`` examples.

    Example:
        ```python
        import tensorflow as tf
        from keras_residual.training.pipeline import shard_batches

        batches = tf.data.Dataset.from_tensors((tf.range(8), tf.range(8)))
        print(next(iter(shard_batches(batches, 2, 1)))[0].numpy())  # [4 5 6 7]
        ```
    """
    if num_shards == 1:
        return batches

    def take(*tensors):
        size = tf.shape(tensors[0])[0] // num_shards
        return tuple(t[index * size : (index + 1) * size] for t in tensors)

    return batches.map(take, num_parallel_calls=tf.data.AUTOTUNE)


def padded_eval_pipeline(examples, num_examples: int, num_classes: int, batch_size: int, multiple: int):
    """Validation batches whose sizes are all multiples of ``multiple`` (the number of devices).

    ``(-num_examples) % multiple`` blank examples with sample weight 0 complete the last batch;
    when any are added, batches are ``(images, one_hot_labels, weights)``, so accuracy counts the
    real examples only. The mean loss Keras reports is then ``num_examples / (num_examples + pad)``
    of the true mean (see :func:`eval_loss_scale`).

    Example:
        ```python
        import tensorflow as tf
        from keras_residual.training.pipeline import padded_eval_pipeline

        examples = tf.data.Dataset.from_tensor_slices((tf.zeros((5, 4, 4, 3)), tf.zeros(5, tf.int32)))
        batches = padded_eval_pipeline(examples, 5, 2, batch_size=4, multiple=2)
        print([len(x) for x, _, _ in batches])  # [4, 2]
        ```
    """
    pad = (-num_examples) % multiple
    if not pad:
        return make_pipeline(examples, num_classes, batch_size, False)
    image_spec = examples.element_spec[0]
    weighted = examples.map(lambda x, y: (x, y, tf.constant(1.0)))
    blank = (tf.zeros(image_spec.shape, image_spec.dtype), tf.constant(0, tf.int32), tf.constant(0.0))
    ds = weighted.concatenate(tf.data.Dataset.from_tensors(blank).repeat(pad)).batch(batch_size)
    ds = ds.map(lambda x, y, w: (x, tf.one_hot(y, num_classes, dtype=tf.float32), w))
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_loss_scale(num_examples: int, multiple: int) -> float:
    """Factor that turns Keras's mean loss over :func:`padded_eval_pipeline` batches into the true mean."""
    pad = (-num_examples) % multiple
    return (num_examples + pad) / num_examples
