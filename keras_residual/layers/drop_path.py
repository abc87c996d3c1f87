"""DropPath: per-sample stochastic depth for residual branches."""

from __future__ import annotations

import keras
from keras import ops

from keras_residual._validation import check_int, check_rate


@keras.saving.register_keras_serializable(package="keras_residual")
class DropPath(keras.layers.Layer):
    """Drops the whole input of a sample with probability ``rate`` (stochastic depth).

    Put it on a residual branch, before the addition: in training each sample's branch is zeroed
    with probability ``rate`` and kept samples are scaled by ``1 / (1 - rate)`` so the expected
    value is unchanged; at inference the layer is the identity. Huang et al., "Deep Networks with
    Stochastic Depth" (2016).

    Args:
        rate: drop probability in ``[0, 1)``. ``0`` makes the layer the identity.
        seed: optional int seed for the dropout noise.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Example:

    >>> import numpy as np, keras
    >>> layer = DropPath(0.5, seed=1)
    >>> x = np.ones((4, 3), "float32")
    >>> bool((keras.ops.convert_to_numpy(layer(x, training=False)) == x).all())
    True
    >>> sorted(set(keras.ops.convert_to_numpy(layer(x, training=True)).ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        if seed is not None:
            seed = check_int("seed", seed, minimum=0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        batch = ops.shape(inputs)[0]
        noise_shape = (batch,) + (1,) * (len(inputs.shape) - 1)
        mask = keras.random.uniform(noise_shape, seed=self.seed_generator, dtype="float32") < keep
        scale = ops.cast(mask, inputs.dtype) / ops.cast(keep, inputs.dtype)
        return inputs * scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
