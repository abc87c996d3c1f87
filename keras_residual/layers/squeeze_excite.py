"""SqueezeExcite: channel attention (Hu et al., "Squeeze-and-Excitation Networks", 2018)."""

from __future__ import annotations

import keras
from keras import ops

from keras_residual._validation import check_float, check_int, check_optional_int
from keras_residual.layers._common import (
    check_activation,
    check_data_format,
    check_input_shape,
    serialize_activation,
    spatial_axes,
)


@keras.saving.register_keras_serializable(package="keras_residual")
class SqueezeExcite(keras.layers.Layer):
    """Rescales each channel by a gate computed from the global average of the feature map.

    ``y = x * gate(expand(act(reduce(mean_spatial(x)))))``: the spatial mean of each channel
    (squeeze) goes through a bottleneck of two dense layers (excitation) and a sigmoid gate that
    multiplies the input channel-wise. Output shape equals input shape.

    Sublayers (stable names, for weight mapping): ``reduce`` (Dense, ``channels -> reduced``, with
    bias) and ``expand`` (Dense, ``reduced -> channels``, with bias). A torch ``Conv2d(C, R, 1)``
    kernel of shape ``(R, C, 1, 1)`` maps onto ``reduce.kernel`` as ``w[:, :, 0, 0].T``.

    Args:
        ratio: reduced width as a fraction of the input channels, in ``(0, 1]``
            (``reduced = max(1, round(channels * ratio))``).
        reduced_channels: explicit reduced width; overrides ``ratio`` when given.
        activation: activation between the two dense layers.
        gate: gating activation (``"sigmoid"`` or e.g. ``"hard_sigmoid"``).
        rank: number of spatial dimensions of the input (1, 2 or 3).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Example:

    >>> import numpy as np
    >>> se = SqueezeExcite(ratio=0.25)
    >>> tuple(se(np.ones((2, 8, 8, 16), "float32")).shape)
    (2, 8, 8, 16)
    """

    def __init__(
        self,
        ratio=0.25,
        reduced_channels=None,
        activation="relu",
        gate="sigmoid",
        rank=2,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.ratio = check_float("ratio", ratio, 0.0, 1.0, min_inclusive=False)
        self.reduced_channels = check_optional_int("reduced_channels", reduced_channels)
        self.activation = check_activation("activation", activation)
        self.gate = check_activation("gate", gate)
        self.rank = check_int("rank", rank, minimum=1, maximum=3)
        self.data_format = check_data_format(data_format)
        self._activation_fn = keras.activations.get(activation)
        self._gate_fn = keras.activations.get(gate)

    def build(self, input_shape):
        channels = check_input_shape(self.name, input_shape, self.rank, self.data_format)
        reduced = self.reduced_channels or max(1, int(round(channels * self.ratio)))
        self.reduce = keras.layers.Dense(reduced, dtype=self.dtype_policy, name="reduce")
        self.expand = keras.layers.Dense(channels, dtype=self.dtype_policy, name="expand")
        self.reduce.build((input_shape[0], channels))
        self.expand.build((input_shape[0], reduced))
        self.built = True

    def call(self, inputs):
        axes = spatial_axes(self.rank, self.data_format)
        squeezed = ops.mean(inputs, axis=axes)
        gate = self._gate_fn(self.expand(self._activation_fn(self.reduce(squeezed))))
        for axis in axes:
            gate = ops.expand_dims(gate, axis)
        return inputs * ops.cast(gate, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "reduced_channels": self.reduced_channels,
                "activation": serialize_activation(self.activation),
                "gate": serialize_activation(self.gate),
                "rank": self.rank,
                "data_format": self.data_format,
            }
        )
        return config
