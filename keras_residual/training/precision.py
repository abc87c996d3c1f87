"""Mixed-precision policy for training: the names, the hardware rule and the build-time policy switch.

These live in `keras_residual.precision` (one vocabulary for training, every exporter and the CLI);
this module keeps the training names importable from here. Keras does the rest: under
``mixed_float16``, ``Model.compile`` wraps the optimizer in ``keras.optimizers.LossScaleOptimizer``
(dynamic loss scaling); variables stay float32; the ResNet classifier head computes in float32, and
the loss is computed in float32.
"""

from __future__ import annotations

from keras_residual.precision import TRAINING_PRECISIONS as PRECISIONS
from keras_residual.precision import dtype_policy, resolve_precision

__all__ = ["PRECISIONS", "dtype_policy", "resolve_precision"]
