"""The training recipe: optimizer, learning-rate schedule, loss and BatchNorm momentum.

The defaults are the classic ResNet recipe tuned for short runs: SGD with Nesterov momentum 0.9,
peak learning rate 0.4 per 256 images (linear scaling rule: 0.1 for a batch of 64), linear warmup
then cosine decay to zero, label smoothing 0.1, weight decay 5e-5 on convolution and dense kernels
only, BatchNorm momentum 0.9 so the moving statistics settle within a few hundred steps, and no
crop augmentation (it slows convergence in runs of a few epochs; turn it on for long runs).
"""

from __future__ import annotations

import dataclasses

import keras

from keras_residual._validation import (
    check_choice,
    check_float,
    check_positive_float,
    check_rate,
    fail,
)
from keras_residual.models.schedules import WarmupCosineDecay  # its home: models/ (registered with them)

OPTIMIZERS = ("sgd", "adamw")
"""Values accepted by ``Recipe.optimizer``."""

REFERENCE_BATCH_SIZE = 256
"""Batch size that ``Recipe.base_lr`` refers to (the linear scaling rule)."""


@dataclasses.dataclass
class Recipe:
    """Hyper-parameters of a training run; the defaults train a ResNet well without tuning.

    Attributes:
        optimizer: ``"sgd"`` (SGD with Nesterov momentum, the ResNet default) or ``"adamw"``.
        base_lr: Peak learning rate for a global batch of ``REFERENCE_BATCH_SIZE`` (256) images.
            The peak learning rate is ``base_lr * global_batch / 256`` (linear scaling rule,
            Goyal et al. 2017) unless ``lr`` is given.
        lr: Peak learning rate used as is (no scaling), or ``None`` to apply the scaling rule.
        momentum: SGD momentum (Nesterov).
        weight_decay: Decoupled weight decay; applied to kernels only, never to BatchNorm
            gamma/beta or biases (every variable with fewer than 2 dimensions is excluded).
        warmup_epochs: Epochs of linear warmup from 0 to the peak learning rate; capped at a
            tenth of the run so short runs spend most steps learning.
        label_smoothing: Label smoothing of the cross-entropy loss.
        norm_momentum: BatchNorm momentum of the model (0.9, the torch convention). Keras's
            own default 0.99 needs thousands of steps before the moving statistics are usable:
            on 6 epochs of digits it leaves validation accuracy near chance.
        ema_decay: Keep an exponential moving average of the weights with this decay and
            evaluate and save the averaged weights; ``None`` disables it.
        random_resized_crop: Smallest crop area, as a fraction of the image, for random resized
            crops during training; ``None`` (default) or ``1.0`` disables them. Measured on digits,
            6 epochs: 99.7% validation accuracy without crops, 98.1% with ``0.35``. Use ``0.25`` to
            ``0.35`` for long runs from scratch on natural images.
        flip: Random horizontal flips: ``True``, ``False`` or ``"auto"`` (on, except for datasets
            whose classes are not mirror-symmetric, such as digits).
        mixup_alpha: Mixup strength (Beta distribution parameter); ``0`` disables it.
        cutmix_alpha: CutMix strength; ``0`` disables it. When both are on, each batch uses one
            of them at random.

    Example:
        ```python
        from keras_residual.training.recipe import Recipe

        recipe = Recipe(optimizer="adamw", base_lr=1e-3, weight_decay=0.05)
        print(recipe.peak_lr(global_batch_size=64))  # 0.00025
        ```
    """

    optimizer: str = "sgd"
    base_lr: float = 0.4
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-5
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    norm_momentum: float = 0.9
    ema_decay: float | None = None
    random_resized_crop: float | None = None
    flip: bool | str = "auto"
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive_float("base_lr", self.base_lr)
        if self.lr is not None:
            check_positive_float("lr", self.lr)
        check_rate("momentum", self.momentum)
        check_float("weight_decay", self.weight_decay, 0.0, 1.0)
        check_float("warmup_epochs", self.warmup_epochs, 0.0)
        check_rate("label_smoothing", self.label_smoothing)
        check_rate("norm_momentum", self.norm_momentum)
        if self.ema_decay is not None:
            check_float("ema_decay", self.ema_decay, 0.0, 1.0, min_inclusive=False, max_inclusive=False)
        if self.random_resized_crop is not None:
            check_float("random_resized_crop", self.random_resized_crop, 0.0, 1.0, min_inclusive=False)
        if not (isinstance(self.flip, bool) or self.flip == "auto"):
            fail("flip", "True, False or 'auto'", self.flip)
        check_float("mixup_alpha", self.mixup_alpha, 0.0)
        check_float("cutmix_alpha", self.cutmix_alpha, 0.0)

    def peak_lr(self, global_batch_size: int) -> float:
        """Peak learning rate for ``global_batch_size``: ``lr`` if set, else the scaling rule."""
        if self.lr is not None:
            return float(self.lr)
        return self.base_lr * global_batch_size / REFERENCE_BATCH_SIZE

    def to_dict(self) -> dict:
        """The recipe as a JSON-ready dict (written to the run's ``config.json``)."""
        return dataclasses.asdict(self)


def build_schedule(recipe: Recipe, global_batch_size: int, steps_per_epoch: int, epochs: int):
    """The recipe's warmup + cosine schedule for a run of ``epochs`` x ``steps_per_epoch`` steps.

    Example:
        ```python
        from keras_residual.training.recipe import Recipe, build_schedule

        schedule = build_schedule(Recipe(), global_batch_size=64, steps_per_epoch=23, epochs=6)
        print(schedule.peak_lr, schedule.warmup_steps, schedule.total_steps)
        ```
    """
    total = max(int(steps_per_epoch) * int(epochs), 1)
    warmup = min(int(round(recipe.warmup_epochs * steps_per_epoch)), total // 10)
    return WarmupCosineDecay(recipe.peak_lr(global_batch_size), total_steps=total, warmup_steps=warmup)


def build_optimizer(recipe: Recipe, model: keras.Model, schedule) -> keras.optimizers.Optimizer:
    """Build the recipe's optimizer for ``model``, with weight decay on kernels only.

    Variables with fewer than two dimensions (BatchNorm gamma and beta, biases) are excluded from
    weight decay, the usual practice for ResNets.

    Args:
        recipe: The training recipe.
        model: The built model whose trainable variables the optimizer will update.
        schedule: Learning rate or ``LearningRateSchedule`` (see ``build_schedule``).

    Example:
        ```python
        import keras
        from keras_residual.training.recipe import Recipe, build_optimizer

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        optimizer = build_optimizer(Recipe(), model, schedule=0.1)
        print(type(optimizer).__name__, optimizer.nesterov)  # SGD True
        ```
    """
    ema = {"use_ema": True, "ema_momentum": recipe.ema_decay} if recipe.ema_decay else {}
    if recipe.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            learning_rate=schedule,
            momentum=recipe.momentum,
            nesterov=True,
            weight_decay=recipe.weight_decay or None,
            **ema,
        )
    else:
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay, **ema)
    no_decay = [v for v in model.trainable_variables if len(v.shape) < 2]
    if no_decay and recipe.weight_decay:
        optimizer.exclude_from_weight_decay(var_list=no_decay)
    return optimizer


def build_loss(recipe: Recipe) -> keras.losses.Loss:
    """Cross-entropy on one-hot (or mixed) labels with the recipe's label smoothing, computed in float32.

    Example:
        ```python
        from keras_residual.training.recipe import Recipe, build_loss

        print(build_loss(Recipe(label_smoothing=0.1)).label_smoothing)  # 0.1
        ```
    """
    return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing, dtype="float32")
