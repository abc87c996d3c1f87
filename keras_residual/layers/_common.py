"""Private helpers shared by the residual layers: Keras-dependent checks and conv/norm/pool factories.

The checks that need no Keras (integers, rates, choices, booleans) live in
`keras_residual._validation`; the ones here resolve Keras objects (data formats, activations,
initializers, regularizers, input shapes) and raise in the same style: "`name` must be ...;
received name=...". Only ``keras`` is used here so the layers run on every Keras backend.
"""

from __future__ import annotations

import keras

from keras_residual._validation import check_choice, fail

CONV_CLASSES = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
AVG_POOL_CLASSES = {
    1: keras.layers.AveragePooling1D,
    2: keras.layers.AveragePooling2D,
    3: keras.layers.AveragePooling3D,
}
NORMS = ("batch", "group", "layer")
DATA_FORMATS = ("channels_last", "channels_first")


def check_data_format(data_format):
    """Return the standardized data format; ``None`` means ``keras.config.image_data_format()``."""
    if data_format is None:
        return keras.config.image_data_format()
    return check_choice("data_format", data_format, DATA_FORMATS)


def _resolve(getter, name, allowed, value):
    """``getter(value)`` (a Keras ``*.get``), or the standard ValueError naming ``name``."""
    try:
        return getter(value)
    except (ValueError, TypeError):
        fail(name, allowed, value)


def check_activation(name, value):
    """Return ``value`` unchanged if Keras can resolve it to an activation function."""
    allowed = "a Keras activation name (e.g. 'relu', 'gelu', 'swish') or a registered callable"
    if _resolve(keras.activations.get, name, allowed, value) is None:
        fail(name, allowed, value)
    return value


def serialize_activation(value):
    """Activation for ``get_config``: strings stay strings, callables are serialized by Keras."""
    if isinstance(value, str):
        return value
    return keras.activations.serialize(keras.activations.get(value))


def check_initializer(name, value):
    """Return the Keras initializer ``value`` resolves to."""
    return _resolve(keras.initializers.get, name, "a Keras initializer name or instance", value)


def check_regularizer(name, value):
    """Return the Keras regularizer ``value`` resolves to (``None`` stays ``None``)."""
    return _resolve(keras.regularizers.get, name, "None or a Keras regularizer", value)


def channel_axis(data_format):
    return -1 if data_format == "channels_last" else 1


def spatial_axes(rank, data_format):
    """Axes of the spatial dimensions of a ``rank``-D feature map (batch axis included in the count)."""
    if data_format == "channels_last":
        return tuple(range(1, rank + 1))
    return tuple(range(2, rank + 2))


def check_input_shape(layer_name, input_shape, rank, data_format):
    """Validate a feature-map input shape at build time and return its channel count."""
    expected = rank + 2
    if len(input_shape) != expected:
        raise ValueError(
            f"Layer '{layer_name}' with rank={rank} expects inputs of rank {expected} "
            f"(batch, {rank} spatial dims, channels); received input_shape={tuple(input_shape)}."
        )
    channels = input_shape[channel_axis(data_format)]
    if channels is None:
        raise ValueError(
            f"Layer '{layer_name}' needs a known channel dimension; received input_shape={tuple(input_shape)}."
        )
    return int(channels)


def group_count(channels, max_groups=32):
    """Largest divisor of ``channels`` that is <= ``max_groups`` (the GroupNorm group count)."""
    for groups in range(min(max_groups, channels), 0, -1):
        if channels % groups == 0:
            return groups
    return 1


def make_conv(
    rank,
    filters,
    kernel_size,
    *,
    name,
    data_format,
    dtype,
    strides=1,
    padding="same",
    dilation_rate=1,
    groups=1,
    use_bias=False,
    kernel_initializer="he_normal",
    kernel_regularizer=None,
):
    return CONV_CLASSES[rank](
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        groups=groups,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        data_format=data_format,
        dtype=dtype,
        name=name,
    )


def make_norm(kind, channels, *, name, data_format, dtype, epsilon, momentum, gamma_initializer="ones"):
    """Normalization over the channel axis.

    ``"batch"`` is BatchNormalization; ``"group"`` is GroupNormalization with the largest
    divisor of the channel count that is <= 32 groups; ``"layer"`` is LayerNormalization over the
    channel axis only (per position, as in ConvNeXt).
    """
    axis = channel_axis(data_format)
    if kind == "batch":
        return keras.layers.BatchNormalization(
            axis=axis,
            epsilon=epsilon,
            momentum=momentum,
            gamma_initializer=gamma_initializer,
            dtype=dtype,
            name=name,
        )
    if kind == "group":
        return keras.layers.GroupNormalization(
            groups=group_count(channels),
            axis=axis,
            epsilon=epsilon,
            gamma_initializer=gamma_initializer,
            dtype=dtype,
            name=name,
        )
    layer_cls = keras.layers.LayerNormalization if axis == -1 else ChannelsFirstLayerNorm
    return layer_cls(axis=-1, epsilon=epsilon, gamma_initializer=gamma_initializer, dtype=dtype, name=name)


class ChannelsFirstLayerNorm(keras.layers.LayerNormalization):
    """LayerNormalization over axis 1, computed on a channels-last view.

    Keras's torch backend mishandles ``LayerNormalization(axis=1)`` (it normalizes the wrong
    axes or raises), so channels_first blocks move the channel axis last, normalize, and move it
    back. Weights (``gamma``, ``beta``) are the same as a plain LayerNormalization's. Only used
    inside the residual layers, which rebuild it from their own config.
    """

    def build(self, input_shape):
        super().build(tuple(input_shape[:1]) + tuple(input_shape[2:]) + (input_shape[1],))

    def call(self, inputs):
        return keras.ops.moveaxis(super().call(keras.ops.moveaxis(inputs, 1, -1)), -1, 1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def symmetric_pad(x, rank, data_format, amount):
    """Zero-pad every spatial axis by ``amount`` on both sides (torch-style conv padding)."""
    pads = [[0, 0]] * (rank + 2)
    for axis in spatial_axes(rank, data_format):
        pads[axis] = [amount, amount]
    return keras.ops.pad(x, pads)


def conv_output_length(length, kernel_size, stride, dilation, padding):
    """Spatial output length of a conv with 'same' or symmetric-explicit (an int) padding."""
    if length is None:
        return None
    if padding == "same":
        return (length + stride - 1) // stride
    effective = dilation * (kernel_size - 1) + 1
    return (length + 2 * padding - effective) // stride + 1
