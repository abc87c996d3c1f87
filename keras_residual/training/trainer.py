"""``train()``: the Python API behind ``keras-residual train``."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import time
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from keras_residual import precision as precision_lib
from keras_residual._validation import check_bool, check_int, check_optional_int, fail
from keras_residual.models import ResNet
from keras_residual.training import distributed
from keras_residual.training.data import ImageDataset, from_arrays, load_dataset
from keras_residual.training.multi_worker import fit_multi_worker
from keras_residual.training.pipeline import (
    eval_loss_scale,
    make_pipeline,
    padded_eval_pipeline,
    recipe_augmenter,
    shard_batches,
)
from keras_residual.training.recipe import Recipe, build_loss, build_optimizer, build_schedule
from keras_residual.training.run_dir import BestCheckpointCallback, RunDirectory, StateCallback
from keras_residual.weights import is_weights_name

DEFAULT_PRESET = "resnet20_cifar"


@dataclasses.dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        model: The trained model (weights of the last epoch; ``out/model.keras`` holds the best).
        metrics: The contents of ``out/metrics.json``.
        history: One dict per epoch (the rows of ``out/history.csv``).
        class_names: Class names of the dataset (also in ``out/class_names.json``).
        out: The run directory.
        status: ``"fresh"``, ``"resumed"`` or ``"finished"`` (nothing left to train).
    """

    model: keras.Model | None
    metrics: dict
    history: list
    class_names: list
    out: str
    status: str


def _build_model(model, weights, input_shape, num_classes, norm_momentum):
    if callable(model) and not isinstance(model, str):
        built = model(input_shape=input_shape, num_classes=num_classes)
        if not isinstance(built, keras.Model):
            fail(
                "model", "a builder that returns a keras.Model", f"a builder returning {type(built).__name__}"
            )
        return built
    # Named weights bring their own normalization (ResNet.from_preset); a local file is torchvision's.
    normalization = {} if is_weights_name(weights) else {"preprocessing": "imagenet" if weights else "unit"}
    return ResNet.from_preset(
        model,
        weights=weights,
        input_shape=input_shape,
        num_classes=num_classes,
        norm_momentum=norm_momentum,
        **normalization,
    )


def _check_model_input(model: keras.Model, image_shape):
    expected = tuple(model.input_shape[1:])
    if len(expected) != 3:
        raise ValueError(
            f"the model takes inputs of shape {model.input_shape}; training needs (None, H, W, C) images"
        )
    if expected[-1] != image_shape[-1]:
        raise ValueError(
            f"mismatched channels: the data has {image_shape[-1]} channel(s) per image but the model expects "
            f"{expected[-1]}"
        )
    for got, want in zip(image_shape[:2], expected[:2], strict=True):
        if want is not None and want != got:
            raise ValueError(f"the data has images of {image_shape[:2]} but the model expects {expected[:2]}")


def _as_dataset(data, image_size, class_names) -> ImageDataset:
    if isinstance(data, ImageDataset):
        return data
    if isinstance(data, (tuple, list)):
        if len(data) == 5 and class_names is None:
            *arrays, class_names = data
        elif len(data) == 4:
            arrays = data
        else:
            raise ValueError("data as arrays must be (x_train, y_train, x_val, y_val[, class_names])")
        return from_arrays(*arrays, class_names=class_names)
    return load_dataset(data, image_size=image_size)


def train(
    model: str | Callable[..., keras.Model] = DEFAULT_PRESET,
    data="digits",
    *,
    out="runs/train",
    epochs: int = 6,
    batch_size: int = 64,
    lr: float | None = None,
    image_size: int | None = None,
    precision: str = "auto",
    weights: str | None = None,
    resume: str = "auto",
    strategy: str = "auto",
    xla: bool = False,
    recipe: Recipe | None = None,
    class_names=None,
    seed: int | None = 0,
    verbose: int | str = "auto",
) -> TrainResult:
    """Train a ResNet (or any Keras image classifier) and write the run directory ``out``.

    Args:
        model: A ResNet preset name (``keras_residual.models.list_presets()``) or a callable
            ``builder(input_shape=(H, W, C), num_classes=K) -> keras.Model`` taking raw 0..255 pixels.
            The model is built inside the distribution strategy's scope under the chosen precision.
        data: ``"digits"`` (default, embedded), ``"synthetic"``, an image folder, TFRecord files (see
            ``keras_residual.training.data.load_dataset``), an ``ImageDataset``, or arrays
            ``(x_train, y_train, x_val, y_val[, class_names])``.
        out: Run directory (see ``keras_residual.training.run_dir``).
        epochs: Total number of epochs (a resumed run trains only the missing ones).
        batch_size: Global batch size (split across replicas).
        lr: Peak learning rate; default ``recipe.base_lr * batch_size / 256``.
        image_size: Image height and width; default per dataset (32 for digits).
        precision: ``"auto"``, ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        weights: Pretrained weights for a preset: ``None``, ``"imagenet"`` or a weights name
            (downloaded and verified, see ``keras_residual.weights``; the backbone comes from the
            weights, the classifier is fresh for the dataset's classes and the model normalizes
            pixels as the weights expect), or a local file (a torchvision/timm checkpoint
            ``.pth``/``.pt``/``.bin``/``.safetensors``, or a Keras ``.weights.h5``; see
            ``ResNet.from_preset``).
        resume: ``"auto"``, ``"yes"`` or ``"no"`` (see ``run_dir.RESUME_MODES``).
        strategy: ``"auto"``, ``"default"``, ``"mirrored"``, ``"multi_worker"`` (TensorFlow) or
            ``"data_parallel"`` (JAX); see ``keras_residual.training.distributed``.
        xla: Compile the train step with XLA (``jit_compile=True``).
        recipe: Training recipe; default ``Recipe()``.
        class_names: Class names for array data.
        seed: Seed for weights initialisation and shuffling (``None``: not seeded).
        verbose: Keras verbosity: ``"auto"``/1 progress bars, 2 one line per epoch, 0 silent.

    Returns:
        A ``TrainResult``.

    Raises:
        ValueError: Any bad argument or bad data, with a message naming it.

    Example:
        ```python
        import keras
        from keras_residual.training import train

        def tiny(input_shape, num_classes):
            inputs = keras.Input(input_shape)
            x = keras.layers.Rescaling(1 / 255)(inputs)
            x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
            x = keras.layers.GlobalAveragePooling2D()(x)
            return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))

        result = train(tiny, "synthetic", out="runs/tiny", epochs=1, image_size=16, verbose=0)
        print(sorted(result.metrics))
        ```
    """
    _check_arguments(model, epochs, batch_size, xla, seed, verbose, recipe)
    recipe = recipe or Recipe()
    if lr is not None:
        recipe = dataclasses.replace(recipe, lr=lr)
    strategy_name = distributed.resolve_strategy_name(strategy)
    # The strategy comes first: MultiWorkerMirroredStrategy must set up collectives before other TF work.
    tf_strategy = distributed.make_strategy(strategy_name)
    policy = precision_lib.resolve_precision(precision)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    dataset = _as_dataset(data, image_size, class_names)
    plan = _Plan(
        model, weights, dataset, recipe, policy, strategy_name, tf_strategy, epochs, batch_size, xla, seed
    )
    is_chief, worker_index = distributed.worker_role(tf_strategy)
    run = RunDirectory(out, plan.run_config(), is_chief=is_chief, worker_index=worker_index)
    status = run.start(resume)
    if strategy_name == "data_parallel":
        run.keep_previous = tf_strategy.cluster.num_processes > 1
        tf_strategy.agree_on_start(run, status == "finished")
        run.write_context = tf_strategy.outside
    if status == "finished":
        return TrainResult(None, run.read_metrics(), run.history, dataset.class_names, run.out, status)
    run.write_class_names(dataset.class_names)
    net = _build_and_compile(plan, run)
    start = time.perf_counter()
    _fit_run(net, plan, run, is_chief, verbose)
    metrics = run.finish(
        {
            "precision": policy,
            "strategy": strategy_name,
            "num_replicas": tf_strategy.num_replicas_in_sync,
            "wall_time_this_session": round(time.perf_counter() - start, 3),
            "num_train": dataset.num_train,
            "num_val": dataset.num_val,
        }
    )
    return TrainResult(net, metrics, run.history, dataset.class_names, run.out, status)


VERBOSITIES = ("auto", 0, 1, 2)
"""Values accepted by ``train(verbose=...)`` (Keras's ``fit`` verbosity)."""


def _check_arguments(model, epochs, batch_size, xla, seed, verbose, recipe) -> None:
    """Check the arguments ``train`` does not hand to a module that checks them itself."""
    if not (callable(model) or (isinstance(model, str) and model)):
        fail("model", "a preset name or a builder callable", model)
    check_int("epochs", epochs)
    check_int("batch_size", batch_size)
    check_bool("xla", xla)
    check_optional_int("seed", seed, minimum=0)
    if isinstance(verbose, bool) or verbose not in VERBOSITIES:
        fail("verbose", f"one of {list(VERBOSITIES)}", verbose)
    if recipe is not None and not isinstance(recipe, Recipe):
        fail("recipe", "None or a Recipe", recipe)


@dataclasses.dataclass
class _Plan:
    """What one ``train`` call has settled before it touches the run directory."""

    model: Any
    weights: str | None
    dataset: ImageDataset
    recipe: Recipe
    policy: str
    strategy_name: str
    strategy: Any
    epochs: int
    batch_size: int
    xla: bool
    seed: int | None

    @property
    def steps_per_epoch(self) -> int:
        """Training steps per epoch (the last batch may be short; ``data_parallel`` drops it)."""
        if not self.dataset.num_train:
            raise ValueError(
                f"cannot tell the size of dataset {self.dataset.name!r}; steps per epoch are needed"
            )
        if self.strategy_name == "data_parallel":
            return self.strategy.check_batch_size(self.batch_size, self.dataset.num_train)
        return max(1, math.ceil(self.dataset.num_train / self.batch_size))

    def run_config(self) -> dict:
        """The run's ``config.json``: what must match for a run directory to be resumed."""
        model, dataset = self.model, self.dataset
        workers = 1
        if self.strategy_name == "multi_worker":
            workers = max(1, distributed.num_workers_in_tf_config())
        elif self.strategy_name == "data_parallel":
            workers = self.strategy.cluster.num_processes
        return {
            "model": model if isinstance(model, str) else getattr(model, "__name__", "custom"),
            "weights": self.weights,
            "data": dataset.name,
            "image_shape": list(dataset.image_shape),
            "class_names": dataset.class_names,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "precision": self.policy,
            "xla": bool(self.xla),
            "strategy": self.strategy_name,
            "num_workers": workers,
            "num_replicas": self.strategy.num_replicas_in_sync,
            "recipe": self.recipe.to_dict(),
            "peak_lr": self.recipe.peak_lr(self.batch_size),
            "seed": self.seed,
        }


def _build_and_compile(plan: _Plan, run: RunDirectory) -> keras.Model:
    """Build the model under the precision policy, compile it and restore saved state, all in scope."""
    dataset, recipe = plan.dataset, plan.recipe
    with plan.strategy.scope():
        with precision_lib.dtype_policy(plan.policy):
            net = _build_model(
                plan.model, plan.weights, dataset.image_shape, dataset.num_classes, recipe.norm_momentum
            )
        _check_model_input(net, dataset.image_shape)
        schedule = build_schedule(recipe, plan.batch_size, plan.steps_per_epoch, plan.epochs)
        # data_parallel pads the validation set with weight-0 examples: its accuracy must be weighted.
        accuracy = "weighted_metrics" if plan.strategy_name == "data_parallel" else "metrics"
        net.compile(
            optimizer=build_optimizer(recipe, net, schedule),
            loss=build_loss(recipe),
            **{accuracy: [keras.metrics.CategoricalAccuracy(name="accuracy")]},
            # JAX compiles every step with XLA anyway; without jit it would run op by op.
            jit_compile=bool(plan.xla) or keras.backend.backend() == "jax",
        )
        run.restore(net)  # inside the scope: building the optimizer's slots creates distributed variables
    return net


def _fit_run(net, plan: _Plan, run: RunDirectory, is_chief: bool, verbose) -> None:
    """Train the epochs left: Keras ``fit`` (default, mirrored, data_parallel) or the ``strategy.run``
    loop (multi-worker)."""
    dataset, recipe = plan.dataset, plan.recipe
    augment = recipe_augmenter(recipe, dataset.mirror_symmetric)
    if plan.strategy_name == "multi_worker":
        fit_multi_worker(
            net, plan.strategy, dataset, run, plan.epochs, plan.batch_size, augment, plan.seed, verbose
        )
        return
    callbacks = [StateCallback(run)]
    if plan.strategy_name == "data_parallel":
        train_ds, val_ds, loss_scale = _data_parallel_pipelines(plan, augment)
        callbacks.insert(0, ScaleValLossCallback(loss_scale))
        scope = plan.strategy.scope()
    else:
        train_ds = make_pipeline(
            dataset.train, dataset.num_classes, plan.batch_size, True, augment, seed=plan.seed
        )
        val_ds = make_pipeline(dataset.val, dataset.num_classes, plan.batch_size, False)
        scope = contextlib.nullcontext()
    if recipe.ema_decay:
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks.append(BestCheckpointCallback(run))
    if is_chief and _tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(run.path("logs"), update_freq="epoch"))
    with scope:
        _fit(net, train_ds, val_ds, plan.epochs, run.initial_epoch, callbacks, verbose, plan.steps_per_epoch)


def _data_parallel_pipelines(plan: _Plan, augment):
    """This process's share of every global batch, and the factor that corrects the padded val loss."""
    dataset, cluster = plan.dataset, plan.strategy.cluster
    shards, index = cluster.num_processes, cluster.process_id
    train_ds = make_pipeline(
        dataset.train,
        dataset.num_classes,
        plan.batch_size,
        True,
        augment,
        seed=plan.seed,
        drop_remainder=True,
    )
    devices = plan.strategy.num_replicas_in_sync
    val_ds = padded_eval_pipeline(dataset.val, dataset.num_val, dataset.num_classes, plan.batch_size, devices)
    return (
        shard_batches(train_ds, shards, index),
        shard_batches(val_ds, shards, index),
        eval_loss_scale(dataset.num_val, devices),
    )


class ScaleValLossCallback(keras.callbacks.Callback):
    """Multiply the epoch's ``val_loss`` by ``scale`` before later callbacks read it.

    ``data_parallel`` pads the validation set with weight-0 examples to a multiple of the device
    count; Keras averages the loss over the padded count (``pipeline.eval_loss_scale``).
    """

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "val_loss" in logs and self.scale != 1.0:
            logs["val_loss"] = float(logs["val_loss"]) * self.scale


def _fit(net, train_ds, val_ds, epochs, initial_epoch, callbacks, verbose, steps_per_epoch=None):
    try:
        # With steps_per_epoch, Keras opens one iterator per epoch (without it, two), so epoch k
        # sees the k-th shuffle order, like the multi-worker loop does.
        net.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            shuffle=False,  # the tf.data pipeline shuffles
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )
    except tf.errors.InvalidArgumentError as err:
        # Data checks inside the input pipeline (TFRecord labels, image bytes) name the file.
        raise ValueError(f"bad training data: {data_error_summary(err.message or str(err))}") from None


def data_error_summary(message: str) -> str:
    """The useful line of a TensorFlow input-pipeline error: the failed check, or the first error line."""
    match = re.search(r"assertion failed: \[(.*?)\](?:\s|$)", message)
    if match:
        return match.group(1).replace('\\"', "")
    lines = [
        line.strip() for line in message.splitlines() if line.strip() and "Graph execution error" not in line
    ]
    return lines[0][:500] if lines else message


def _tensorboard_available() -> bool:
    try:  # TensorBoard is optional: without it the run writes no logs/
        import tensorboard  # noqa: F401
    except ImportError:
        print(
            "keras-residual train: TensorBoard is not installed (pip install tensorboard); no logs/ written"
        )
        return False
    return True


def default_out_dir(preset: str, data: str) -> str:
    """The CLI's default run directory, ``runs/<preset>-<data name>``."""
    name = os.path.basename(os.path.normpath(str(data))) or "data"
    return os.path.join("runs", f"{preset}-{name}")
