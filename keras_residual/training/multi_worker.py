"""Training loop for ``tf.distribute.MultiWorkerMirroredStrategy``.

Keras 3 ``Model.fit`` fails under this strategy ("Attempt to convert a value (PerReplica...)",
keras-team/keras#20585), so this loop runs the Keras model and the Keras optimizer inside
``strategy.run`` itself, with the same features the ``fit`` path has: the recipe's optimizer and
schedule, loss scaling under ``mixed_float16``, per-epoch resume state on every worker, the best
checkpoint, history, TensorBoard scalars and a progress bar on the chief.

Every worker builds the same global batch (same data, same shuffle seed) and keeps its own slice
of it, so each step trains on exactly the batch a single-process run with the same global batch
size would see; gradients are summed across workers by the optimizer.
"""

from __future__ import annotations

import time

import keras
import tensorflow as tf

from keras_residual.training.pipeline import make_pipeline, shard_batches


def _check_same_epoch(strategy, epoch: int) -> None:
    def value():
        return tf.constant([1, epoch, epoch * epoch], tf.int64)

    # ReduceOp has only SUM and MEAN: the epochs are all equal iff (sum e)^2 == n * sum e^2.
    count, total, squares = strategy.reduce(
        tf.distribute.ReduceOp.SUM, strategy.run(value), axis=None
    ).numpy()
    if total * total != count * squares:
        raise ValueError(
            f"workers hold resume state from different epochs (this worker: {epoch}); remove the newer state "
            "folders (OUT/state/...) so every worker resumes from the same epoch"
        )


def fit_multi_worker(model, strategy, dataset, run, epochs, batch_size, augment, seed, verbose="auto"):
    """Train ``model`` (compiled inside ``strategy.scope()``) for the epochs ``run`` has left.

    Args:
        model: Compiled Keras model; its optimizer, loss and recipe come from ``compile``.
        strategy: A ``tf.distribute.MultiWorkerMirroredStrategy``.
        dataset: The ``ImageDataset`` (every worker loads the same one).
        run: The worker's ``RunDirectory`` (already started and restored).
        epochs: Total number of epochs.
        batch_size: Global batch size (a multiple of the number of replicas).
        augment: Batch augmentation function or ``None``.
        seed: Shuffle seed; must be the same on every worker (``None`` is refused).
        verbose: 0 silences the chief's progress bar.

    Raises:
        ValueError: Batch size not divisible by the replicas, too few examples for one step,
            no shuffle seed, EMA requested, or workers resuming from different epochs.
    """
    steps = _check_run(model, strategy, dataset, run, batch_size, seed)
    train_data = _distributed_train_data(strategy, dataset, batch_size, augment, seed)
    val_data = make_pipeline(dataset.val, dataset.num_classes, batch_size, False)
    train_step, eval_step = _step_functions(model, strategy, batch_size)
    writer = _summary_writer(run)
    show = run.is_chief and verbose not in (0, False)
    for epoch in range(run.initial_epoch, epochs):
        start = time.perf_counter()
        if show:
            print(f"Epoch {epoch + 1}/{epochs}")
        progress = keras.utils.Progbar(steps, stateful_metrics=["loss", "accuracy"]) if show else None
        logs = _train_epoch(train_step, iter(train_data), steps, batch_size, progress)
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        if run.is_chief:  # only the chief evaluates and writes outputs
            totals = sum(eval_step(x, y).numpy() for x, y in val_data)
            logs["val_loss"] = float(totals[0] / totals[2])
            logs["val_accuracy"] = float(totals[1] / totals[2])
            if show:
                print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
            _write_scalars(writer, epoch + 1, logs)
        run.save_state(model, epoch + 1, logs, time.perf_counter() - start)
        run.maybe_save_best(model, epoch + 1, logs)


def _check_run(model, strategy, dataset, run, batch_size, seed) -> int:
    """Check what the loop needs and that every worker resumes the same epoch; return steps per epoch."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"batch_size {batch_size} must be a multiple of the {replicas} replicas")
    if seed is None:
        raise ValueError("multi-worker training needs a seed so every worker shuffles the same way")
    if getattr(model.optimizer, "use_ema", False):
        raise ValueError(
            "ema_decay is not supported with strategy 'multi_worker'; use the default or mirrored"
        )
    steps = dataset.num_train // batch_size
    if steps < 1:
        raise ValueError(
            f"{dataset.num_train} training examples are fewer than one global batch of {batch_size}"
        )
    _check_same_epoch(strategy, run.initial_epoch)
    return steps


def _distributed_train_data(strategy, dataset, batch_size, augment, seed):
    """Every worker builds the same global batches and keeps its own slice of each."""
    replicas = strategy.num_replicas_in_sync
    base = make_pipeline(
        dataset.train, dataset.num_classes, batch_size, True, augment, seed=seed, drop_remainder=True
    )

    def dataset_fn(context):
        replica = context.input_pipeline_id if replicas == context.num_input_pipelines else None
        if replica is None:  # several GPUs per worker: slice by global replica id
            raise ValueError("multi_worker training supports one replica per worker process")
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return shard_batches(base, replicas, replica).with_options(options)

    return strategy.distribute_datasets_from_function(dataset_fn)


def _step_functions(model, strategy, batch_size):
    """``(train_step, eval_step)``: one distributed optimizer step, and one validation batch's sums."""
    loss_config = model.loss.get_config()
    loss_config["reduction"] = None
    per_example_loss = type(model.loss).from_config(loss_config)
    optimizer = model.optimizer

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            per_example = per_example_loss(labels, predictions)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch_size)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return tf.stack([loss, _correct(labels, predictions)])

    @tf.function
    def train_step(iterator):
        per_replica = strategy.run(replica_step, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    @tf.function
    def eval_step(images, labels):
        predictions = model(images, training=False)
        loss = tf.reduce_sum(per_example_loss(labels, predictions))
        return tf.stack([loss, _correct(labels, predictions), tf.cast(tf.shape(labels)[0], tf.float32)])

    return train_step, eval_step


def _correct(labels, predictions):
    """Number of examples whose top-1 prediction is the (one-hot) label."""
    return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(predictions, -1), tf.argmax(labels, -1)), tf.float32))


def _train_epoch(train_step, iterator, steps, batch_size, progress) -> dict:
    """Run ``steps`` training steps; return the epoch's mean loss and accuracy."""
    loss_sum = correct_sum = 0.0
    for step in range(steps):
        loss, correct = train_step(iterator).numpy()
        loss_sum += loss
        correct_sum += correct
        if progress:
            progress.update(
                step + 1,
                [("loss", loss_sum / (step + 1)), ("accuracy", correct_sum / ((step + 1) * batch_size))],
            )
    return {"loss": loss_sum / steps, "accuracy": correct_sum / (steps * batch_size)}


def _summary_writer(run):
    """The chief's TensorBoard writer for ``logs/``, or ``None`` (other workers, or no TensorBoard)."""
    if not run.is_chief:
        return None
    try:  # TensorBoard is optional: without it the run writes no logs/
        import tensorboard  # noqa: F401
    except ImportError:
        return None
    return tf.summary.create_file_writer(run.path("logs"))


def _write_scalars(writer, step: int, logs: dict) -> None:
    if writer is None:
        return
    with writer.as_default(step=step):
        for name, value in logs.items():
            tf.summary.scalar(f"epoch_{name}", value)
    writer.flush()
