"""Learning-rate schedules that a saved model's optimizer refers to.

They live beside the models, not in ``training/``, so that ``keras_residual.register_serializables()``
(which imports the layers and models, Keras only) registers them too: a ``model.keras`` written by
``keras-residual train`` then reloads with ``keras.saving.load_model`` and its optimizer, on any
backend, with no ``custom_objects`` and without importing the training stack (tf.data).
"""

from __future__ import annotations

import math

import keras

from keras_residual._validation import check_float, check_int


@keras.saving.register_keras_serializable(package="keras_residual")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to ``peak_lr`` over ``warmup_steps``, then cosine decay to 0 at ``total_steps``.

    Args:
        peak_lr: Learning rate at the end of the warmup.
        total_steps: Steps of the whole run (warmup included).
        warmup_steps: Steps of linear warmup.

    Example:
        ```python
        from keras_residual.models.schedules import WarmupCosineDecay

        schedule = WarmupCosineDecay(peak_lr=0.1, total_steps=100, warmup_steps=10)
        print([round(float(schedule(s)), 4) for s in (0, 10, 55, 100)])  # [0.01, 0.1, 0.05, 0.0]
        ```
    """

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int = 0):
        self.peak_lr = check_float("peak_lr", peak_lr, 0.0)
        self.total_steps = check_int("total_steps", total_steps)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, 0, self.total_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        # Step s trains with the rate at s + 1 during warmup, so the first step is not wasted at 0.
        warmup = self.peak_lr * (step + 1.0) / max(self.warmup_steps, 1)
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = keras.ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * self.peak_lr * (1.0 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}
