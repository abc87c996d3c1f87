"""Residual: wrap any layer (or list of layers) as ``x + f(x)``."""

from __future__ import annotations

import keras
from keras import ops

from keras_residual._validation import check_choice, check_positive_float, check_rate
from keras_residual.layers._common import channel_axis, check_data_format
from keras_residual.layers._empty_batch import call_on_empty_batch, is_empty_batch
from keras_residual.layers.drop_path import DropPath

PROJECTIONS = ("auto", "always", "none")


def _as_layer_list(layer):
    layers = list(layer) if isinstance(layer, (list, tuple)) else [layer]
    if not layers or not all(isinstance(item, keras.layers.Layer) for item in layers):
        raise ValueError(
            f"`layer` must be a keras.layers.Layer or a non-empty list of them; received layer={layer!r}."
        )
    return layers


def _is_attention(layer):
    return isinstance(layer, keras.layers.MultiHeadAttention)


def _output_shape(layer, shape):
    """Output shape of one branch layer (self-attention for MultiHeadAttention)."""
    args = (shape, shape) if _is_attention(layer) else (shape,)
    try:
        return tuple(layer.compute_output_shape(*args))
    except NotImplementedError:
        specs = [keras.KerasTensor(item) for item in args]
        return tuple(layer.compute_output_spec(*specs).shape)


@keras.saving.register_keras_serializable(package="keras_residual")
class Residual(keras.layers.Layer):
    """Adds a skip connection around any layer: ``out = shortcut(x) + scale * f(x)``.

    ``f`` is the wrapped layer, or the wrapped list of layers applied in order. A
    ``keras.layers.MultiHeadAttention`` in the list is called as self-attention
    (``layer(x, x)``), so a transformer sub-block is one line. The wrapped layers are serialized
    inside this layer's config, so a model using it saves and loads as ``.keras`` with no
    ``custom_objects`` (the wrapped layers themselves must be serializable).

    The shortcut is the identity when ``f`` keeps the channel dimension; when it changes it,
    ``projection="auto"`` adds a learned linear projection of ``x`` (a bias-free Dense on the
    channel axis, named ``projection``). All other dimensions of ``f(x)`` must equal those of ``x``.

    Output dtype: the sum is computed and returned in this layer's own compute dtype
    (``self.compute_dtype``: float16 under ``dtype="mixed_float16"``), whatever the policies of the
    wrapped layers, so the dtype Keras infers symbolically always equals the eager one. Give the
    wrapped layers the same ``dtype`` as the wrapper to keep the branch in that precision too.

    Args:
        layer: a ``keras.layers.Layer`` or a non-empty list of them (the residual branch).
        projection: ``"auto"`` (project only when the channel dims differ), ``"always"`` or
            ``"none"`` (a channel mismatch is a ValueError at build).
        drop_path_rate: stochastic depth on the branch, in ``[0, 1)`` (a ``DropPath`` named
            ``drop_path``).
        layer_scale: ``None`` or the initial value (> 0) of a learned per-channel scale applied
            to the branch (weight ``gamma``; CaiT/ConvNeXt "layer scale", e.g. ``1e-6``).
        data_format: which axis holds the channels: ``"channels_last"`` (last axis, also right for
            ``(batch, tokens, features)`` and ``(batch, features)``) or ``"channels_first"`` (axis 1).
            ``None`` uses ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Example:

    >>> import numpy as np, keras
    >>> block = Residual([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(16)])
    >>> tuple(block(np.zeros((4, 8), "float32")).shape)  # 8 -> 16 features: a projection is added
    (4, 16)
    """

    def __init__(
        self, layer, projection="auto", drop_path_rate=0.0, layer_scale=None, data_format=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.branch_layers = _as_layer_list(layer)
        self._single = not isinstance(layer, (list, tuple))
        self.projection_mode = check_choice("projection", projection, PROJECTIONS)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        if layer_scale is not None:
            layer_scale = check_positive_float("layer_scale", layer_scale)
        self.layer_scale = layer_scale
        self.data_format = check_data_format(data_format)
        self.projection = None
        self.drop_path = None
        self.gamma = None

    def _axis(self, ndim):
        return ndim - 1 if channel_axis(self.data_format) == -1 else 1

    def _branch_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.branch_layers:
            shape = _output_shape(layer, shape)
        return shape

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        shape = input_shape
        for layer in self.branch_layers:
            if not layer.built:
                layer.build(*((shape, shape) if _is_attention(layer) else (shape,)))
            shape = _output_shape(layer, shape)
        axis = self._axis(len(input_shape))
        same_rank = len(shape) == len(input_shape)
        others_match = same_rank and all(
            a is None or b is None or a == b
            for i, (a, b) in enumerate(zip(input_shape, shape, strict=True))
            if i != axis
        )
        if not others_match:
            raise ValueError(
                f"Layer '{self.name}': the residual branch must keep every non-channel dimension; input shape "
                f"{input_shape} became {shape}. Allowed: branches that change only the channel axis ({axis})."
            )
        in_channels, out_channels = input_shape[axis], shape[axis]
        if in_channels is None or out_channels is None:
            raise ValueError(
                f"Layer '{self.name}' needs a known channel dimension; received input_shape={input_shape}."
            )
        need = self.projection_mode == "always" or in_channels != out_channels
        if need and self.projection_mode == "none":
            raise ValueError(
                f"Layer '{self.name}': projection='none' but the branch maps {in_channels} channels to "
                f"{out_channels}. Use projection='auto' or 'always'."
            )
        if need:
            self.projection = keras.layers.Dense(
                out_channels, use_bias=False, dtype=self.dtype_policy, name="projection"
            )
            self.projection.build((None, in_channels))
        if self.drop_path_rate > 0:
            self.drop_path = DropPath(self.drop_path_rate, dtype=self.dtype_policy, name="drop_path")
        if self.layer_scale is not None:
            self.gamma = self.add_weight(
                shape=(out_channels,),
                initializer=keras.initializers.Constant(self.layer_scale),
                name="gamma",
            )
        self._out_shape_rank = len(shape)
        self.built = True

    def _channels_last_op(self, fn, x):
        if self.data_format == "channels_last":
            return fn(x)
        return ops.moveaxis(fn(ops.moveaxis(x, 1, -1)), -1, 1)

    def call(self, inputs, training=None):
        if is_empty_batch(inputs):  # batch 0: oneDNN convolutions would return a wrong shape
            return call_on_empty_batch(lambda x: self.call(x, training=training), inputs)
        y = inputs
        for layer in self.branch_layers:
            if _is_attention(layer):
                y = layer(y, y, training=training)
            else:
                y = layer(y, training=training)
        if self.gamma is not None:
            gamma = ops.cast(self.gamma, y.dtype)
            if self.data_format == "channels_first" and len(y.shape) > 2:
                gamma = ops.reshape(gamma, (-1,) + (1,) * (len(y.shape) - 2))
            y = y * gamma
        if self.drop_path is not None:
            y = self.drop_path(y, training=training)
        shortcut = inputs
        if self.projection is not None:
            shortcut = self._channels_last_op(self.projection, inputs)
        # The sum is in this layer's compute dtype whatever the wrapped layers' policies are, so the
        # eager output dtype equals the symbolic one Keras infers (``compute_output_spec``).
        return ops.cast(shortcut, self.compute_dtype) + ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return self._branch_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        serialized = [keras.saving.serialize_keras_object(layer) for layer in self.branch_layers]
        config.update(
            {
                "layer": serialized[0] if self._single else serialized,
                "projection": self.projection_mode,
                "drop_path_rate": self.drop_path_rate,
                "layer_scale": self.layer_scale,
                "data_format": self.data_format,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = config.pop("layer")
        if isinstance(layer, (list, tuple)):
            layer = [keras.saving.deserialize_keras_object(item) for item in layer]
        else:
            layer = keras.saving.deserialize_keras_object(layer)
        return cls(layer, **config)
