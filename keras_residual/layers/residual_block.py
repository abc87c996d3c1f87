"""ResidualBlock: the ResNet basic/bottleneck block, post-activation (v1/v1.5) or pre-activation (v2)."""

from __future__ import annotations

import keras

from keras_residual._validation import check_bool, check_choice, check_int, check_positive_float, check_rate
from keras_residual.layers._common import (
    AVG_POOL_CLASSES,
    NORMS,
    channel_axis,
    check_activation,
    check_data_format,
    check_initializer,
    check_input_shape,
    check_regularizer,
    make_conv,
    make_norm,
    serialize_activation,
    spatial_axes,
    symmetric_pad,
)
from keras_residual.layers._empty_batch import call_on_empty_batch, is_empty_batch
from keras_residual.layers.drop_path import DropPath
from keras_residual.layers.squeeze_excite import SqueezeExcite

BLOCKS = ("basic", "bottleneck")
SHORTCUTS = ("auto", "conv", "avg_down", "identity")
STRIDE_POSITIONS = ("3x3", "1x1")
SUBLAYER_NAMES = (
    "preact_bn",
    "conv1",
    "bn1",
    "conv2",
    "bn2",
    "conv3",
    "bn3",
    "se",
    "drop_path",
    "shortcut_pool",
    "shortcut_conv",
    "shortcut_bn",
)


@keras.saving.register_keras_serializable(package="keras_residual")
class ResidualBlock(keras.layers.Layer):
    """A ResNet block: ``out = act(shortcut(x) + branch(x))`` (v1) or ``shortcut(x) + branch(x)`` (v2).

    Conventions follow torchvision/timm so their weights map one-to-one:

    * ``block="basic"``: two 3x3 convs; outputs ``filters`` channels.
    * ``block="bottleneck"``: 1x1 -> 3x3 -> 1x1; inner width
      ``int(filters * base_width / 64) * groups`` (ResNeXt/Wide as torchvision defines it);
      outputs ``filters * expansion`` channels. The stride sits on the 3x3 conv (v1.5) unless
      ``stride_on="1x1"`` (original v1, as in ``keras.applications.ResNet50``).
    * Convs followed by a norm have no bias; convs not followed by a norm (the last conv and the
      projection of a pre-activation block) have a bias.
    * A strided 3x3 conv pads ``dilation_rate`` zeros on each side then convolves ``valid``
      (torch-style symmetric padding); stride-1 convs use ``same``.
    * ``preact=True`` (v2, He et al. 2016): norm + activation before each conv, no activation
      after the addition; a projection shortcut reads the pre-activated input and has no norm.
    * Squeeze-excitation (``se_ratio > 0``) and stochastic depth (``drop_path_rate > 0``) act on
      the residual branch, in that order, before the addition.

    Shortcuts:

    * ``"auto"``: identity when ``strides == 1`` and the channel counts match, otherwise a
      projection: 1x1 conv with stride ``strides`` (+ norm in v1).
    * ``"conv"``: always the 1x1 projection.
    * ``"avg_down"``: like ``"auto"`` but the projection is ResNet-D's average pool
      (pool size and stride ``strides``, ``same`` padding, padding excluded from the mean) then a
      stride-1 1x1 conv (+ norm in v1).
    * ``"identity"``: never a projection. The channel counts must match (ValueError at build
      otherwise); with ``strides > 1`` the shortcut subsamples ``x[:, ::s, ::s]`` (the
      ``keras.applications`` ResNetV2 convention, a 1x1 max-pool with stride ``s``).

    Sublayer names (stable; reach them as attributes, e.g. ``block.conv1``, or all at once with
    ``named_sublayers``; absent ones are ``None``):

    | name | present when |
    |---|---|
    | ``preact_bn`` | ``preact=True`` (norm before conv1) |
    | ``conv1``, ``bn1`` | always (conv1 is 3x3 in basic, 1x1 in bottleneck) |
    | ``conv2`` | always |
    | ``bn2`` | v1, or v2 bottleneck (norm before conv3) |
    | ``conv3`` | bottleneck |
    | ``bn3`` | v1 bottleneck |
    | ``se`` | ``se_ratio > 0`` (``SqueezeExcite``) |
    | ``drop_path`` | ``drop_path_rate > 0`` (``DropPath``) |
    | ``shortcut_pool`` | ``avg_down`` projection with ``strides > 1`` |
    | ``shortcut_conv`` | projection shortcut |
    | ``shortcut_bn`` | projection shortcut in v1 |

    In v1, ``bnK`` follows ``convK``; in v2, ``bn1``/``bn2`` are the norms before ``conv2``/``conv3``
    (they still follow ``conv1``/``conv2``).

    Args:
        filters: inner width of the block (output channels of a basic block; a bottleneck outputs
            ``filters * expansion``).
        block: ``"basic"`` or ``"bottleneck"``.
        strides: spatial stride of the block (int >= 1).
        rank: spatial rank: 1 (signals, Conv1D), 2 (images, Conv2D) or 3 (volumes, Conv3D).
        preact: ``True`` for the pre-activation (v2) block.
        shortcut: ``"auto"``, ``"conv"``, ``"avg_down"`` or ``"identity"`` (see above).
        stride_on: ``"3x3"`` (v1.5, default) or ``"1x1"`` (v1): which bottleneck conv strides.
            Ignored by basic blocks.
        groups: conv groups of the 3x3 conv(s) (ResNeXt cardinality). In a basic block both 3x3
            convs are grouped, so ``filters`` and the input channels must divide by ``groups``.
        base_width: width per group of a bottleneck (64 = plain ResNet). Must be 64 for ``basic``.
        expansion: bottleneck output-channel multiplier (4 in ResNet).
        dilation_rate: dilation of the 3x3 convs (for output_stride); cannot combine with
            ``strides > 1``.
        se_ratio: squeeze-excitation reduction ratio in ``[0, 1)`` of the output channels; 0 = off.
        drop_path_rate: stochastic-depth drop probability in ``[0, 1)``; 0 = off.
        zero_init_last: start the last norm's gamma (v1) or the last conv's kernel (v2) at zero, so
            the block starts as ``act(shortcut(x))`` (v1) or ``shortcut(x)`` (v2).
        activation: activation name or registered callable (``"relu"``).
        norm: ``"batch"``, ``"group"`` (GroupNorm, largest divisor of the channels <= 32 groups) or
            ``"layer"`` (LayerNorm over the channel axis).
        norm_epsilon: norm epsilon (> 0); 1e-5 is the torch default.
        norm_momentum: BatchNorm moving-average momentum in ``[0, 1)``; 0.9 is the torch convention.
        kernel_initializer: conv kernel initializer.
        kernel_regularizer: optional conv kernel regularizer.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Example:

    >>> import numpy as np
    >>> block = ResidualBlock(16, block="bottleneck", strides=2)
    >>> tuple(block(np.zeros((2, 32, 32, 32), "float32")).shape)
    (2, 16, 16, 64)
    >>> sorted(block.named_sublayers)
    ['bn1', 'bn2', 'bn3', 'conv1', 'conv2', 'conv3', 'shortcut_bn', 'shortcut_conv']
    """

    def __init__(
        self,
        filters,
        block="basic",
        strides=1,
        rank=2,
        preact=False,
        shortcut="auto",
        stride_on="3x3",
        groups=1,
        base_width=64,
        expansion=4,
        dilation_rate=1,
        se_ratio=0.0,
        drop_path_rate=0.0,
        zero_init_last=False,
        activation="relu",
        norm="batch",
        norm_epsilon=1e-5,
        norm_momentum=0.9,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters)
        self.block = check_choice("block", block, BLOCKS)
        self.strides = check_int("strides", strides)
        self.rank = check_int("rank", rank, minimum=1, maximum=3)
        self.preact = check_bool("preact", preact)
        self.shortcut = check_choice("shortcut", shortcut, SHORTCUTS)
        self.stride_on = check_choice("stride_on", stride_on, STRIDE_POSITIONS)
        self.groups = check_int("groups", groups)
        self.base_width = check_int("base_width", base_width)
        self.expansion = check_int("expansion", expansion)
        self.dilation_rate = check_int("dilation_rate", dilation_rate)
        self.se_ratio = check_rate("se_ratio", se_ratio)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.zero_init_last = check_bool("zero_init_last", zero_init_last)
        self.activation = check_activation("activation", activation)
        self.norm = check_choice("norm", norm, NORMS)
        self.norm_epsilon = check_positive_float("norm_epsilon", norm_epsilon)
        self.norm_momentum = check_rate("norm_momentum", norm_momentum)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.kernel_regularizer = check_regularizer("kernel_regularizer", kernel_regularizer)
        self.data_format = check_data_format(data_format)
        self._initializer_config = keras.initializers.serialize(self.kernel_initializer)

        self.inner_filters, self.out_filters = self._check_widths()
        self._activation_fn = keras.activations.get(activation)
        for name in SUBLAYER_NAMES:
            setattr(self, name, None)
        self._identity_shortcut = True

    def _check_widths(self):
        """Check the arguments that only make sense together; return ``(inner_filters, out_filters)``."""
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(
                "`strides` and `dilation_rate` cannot both be > 1 (Keras convs do not support it); "
                f"received strides={self.strides!r}, dilation_rate={self.dilation_rate!r}. Allowed: "
                "strides=1 with any dilation_rate, or dilation_rate=1 with any strides."
            )
        if self.block == "basic":
            if self.base_width != 64:
                raise ValueError(
                    f"`base_width` applies to bottleneck blocks only; a basic block requires base_width=64; "
                    f"received base_width={self.base_width!r} with block='basic'."
                )
            if self.filters % self.groups:
                raise ValueError(
                    f"`filters` must be divisible by `groups` in a basic block; received "
                    f"filters={self.filters!r}, groups={self.groups!r}. Allowed: groups dividing {self.filters}."
                )
            return self.filters, self.filters
        width = int(self.filters * self.base_width / 64)
        if width < 1:
            raise ValueError(
                "`filters * base_width / 64` must be >= 1 (the bottleneck width per group); received "
                f"filters={self.filters!r}, base_width={self.base_width!r}."
            )
        return width * self.groups, self.filters * self.expansion

    # ------------------------------------------------------------------ helpers
    @property
    def named_sublayers(self):
        """A new dict ``{name: layer}`` of the sublayers this block has (see the class docstring)."""
        return {name: getattr(self, name) for name in SUBLAYER_NAMES if getattr(self, name) is not None}

    def _conv(self, name, filters, kernel_size, strides=1, groups=1, dilation=1, use_bias=False, zero=False):
        padding = "same" if (kernel_size == 1 or strides == 1) else "valid"
        return make_conv(
            self.rank,
            filters,
            kernel_size,
            name=name,
            data_format=self.data_format,
            dtype=self.dtype_policy,
            strides=strides,
            padding=padding,
            dilation_rate=dilation,
            groups=groups,
            use_bias=use_bias,
            kernel_initializer="zeros" if zero else keras.initializers.get(self._initializer_config),
            kernel_regularizer=self.kernel_regularizer,
        )

    def _norm(self, name, channels, zero=False):
        return make_norm(
            self.norm,
            channels,
            name=name,
            data_format=self.data_format,
            dtype=self.dtype_policy,
            epsilon=self.norm_epsilon,
            momentum=self.norm_momentum,
            gamma_initializer="zeros" if zero else "ones",
        )

    def _padded(self, shape, amount):
        shape = list(shape)
        for axis in spatial_axes(self.rank, self.data_format):
            if shape[axis] is not None:
                shape[axis] += 2 * amount
        return tuple(shape)

    def _needs_pad(self, conv):
        return conv.kernel_size[0] > 1 and conv.strides[0] > 1

    def _apply_conv(self, conv, x):
        if self._needs_pad(conv):
            x = symmetric_pad(
                x, self.rank, self.data_format, conv.dilation_rate[0] * (conv.kernel_size[0] // 2)
            )
        return conv(x)

    @staticmethod
    def _build_chain(layers, shape, pad_fn):
        for layer in layers:
            shape = pad_fn(layer, shape)
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        return shape

    # -------------------------------------------------------------------- build
    def build(self, input_shape):
        input_shape = tuple(input_shape)
        in_channels = self._check_input(input_shape)
        self._identity_shortcut = self._uses_identity_shortcut(in_channels, input_shape)
        chain = self._basic_branch() if self.block == "basic" else self._bottleneck_branch()
        if self.preact:
            self.preact_bn = self._norm("preact_bn", in_channels)
            self.preact_bn.build(input_shape)
        branch_shape = self._build_chain(chain, input_shape, self._pad_shape)
        if self.se_ratio > 0:
            self.se = SqueezeExcite(
                ratio=self.se_ratio,
                rank=self.rank,
                data_format=self.data_format,
                dtype=self.dtype_policy,
                name="se",
            )
            self.se.build(branch_shape)
        if self.drop_path_rate > 0:
            self.drop_path = DropPath(self.drop_path_rate, dtype=self.dtype_policy, name="drop_path")
        if not self._identity_shortcut:
            self._build_chain(self._projection_shortcut(), input_shape, self._pad_shape)
        self.built = True

    def _check_input(self, input_shape):
        """The input's channel count, checked against ``groups``."""
        in_channels = check_input_shape(self.name, input_shape, self.rank, self.data_format)
        if self.block == "basic" and in_channels % self.groups:
            raise ValueError(
                f"Layer '{self.name}': the input channels must be divisible by `groups` in a basic block; "
                f"received {in_channels} input channels with groups={self.groups}."
            )
        return in_channels

    def _uses_identity_shortcut(self, in_channels, input_shape):
        """Whether the shortcut is the input itself (else a projection; see ``shortcut``)."""
        matches = in_channels == self.out_filters
        if self.shortcut == "identity":
            if not matches:
                raise ValueError(
                    f"Layer '{self.name}': shortcut='identity' needs input channels == output channels; "
                    f"received {in_channels} input channels and {self.out_filters} output channels "
                    f"(input_shape={input_shape}). Use shortcut='auto', 'conv' or 'avg_down' instead."
                )
            return True
        if self.shortcut == "conv":
            return False
        return matches and self.strides == 1

    def _basic_branch(self):
        """Create the two 3x3 convs (and norms) of a basic block; return them in call order."""
        s, d, v2, zero = self.strides, self.dilation_rate, self.preact, self.zero_init_last
        self.conv1 = self._conv("conv1", self.inner_filters, 3, s, self.groups, d)
        self.bn1 = self._norm("bn1", self.inner_filters)
        self.conv2 = self._conv(
            "conv2", self.out_filters, 3, 1, self.groups, d, use_bias=v2, zero=zero and v2
        )
        if v2:
            return [self.conv1, self.bn1, self.conv2]
        self.bn2 = self._norm("bn2", self.out_filters, zero=zero)
        return [self.conv1, self.bn1, self.conv2, self.bn2]

    def _bottleneck_branch(self):
        """Create the 1x1 / 3x3 / 1x1 convs (and norms) of a bottleneck; return them in call order."""
        v2, zero = self.preact, self.zero_init_last
        s1, s3 = (self.strides, 1) if self.stride_on == "1x1" else (1, self.strides)
        width = self.inner_filters
        self.conv1 = self._conv("conv1", width, 1, s1)
        self.bn1 = self._norm("bn1", width)
        self.conv2 = self._conv("conv2", width, 3, s3, self.groups, self.dilation_rate)
        self.bn2 = self._norm("bn2", width)
        self.conv3 = self._conv("conv3", self.out_filters, 1, use_bias=v2, zero=zero and v2)
        chain = [self.conv1, self.bn1, self.conv2, self.bn2, self.conv3]
        if not v2:
            self.bn3 = self._norm("bn3", self.out_filters, zero=zero)
            chain.append(self.bn3)
        return chain

    def _projection_shortcut(self):
        """Create the projection shortcut (ResNet-D average pool when asked, 1x1 conv, norm) in call order."""
        chain = []
        conv_strides = self.strides
        if self.shortcut == "avg_down" and self.strides > 1:
            self.shortcut_pool = AVG_POOL_CLASSES[self.rank](
                pool_size=self.strides,
                strides=self.strides,
                padding="same",
                data_format=self.data_format,
                dtype=self.dtype_policy,
                name="shortcut_pool",
            )
            chain.append(self.shortcut_pool)
            conv_strides = 1
        self.shortcut_conv = self._conv(
            "shortcut_conv", self.out_filters, 1, conv_strides, use_bias=self.preact
        )
        chain.append(self.shortcut_conv)
        if not self.preact:
            self.shortcut_bn = self._norm("shortcut_bn", self.out_filters)
            chain.append(self.shortcut_bn)
        return chain

    def _pad_shape(self, layer, shape):
        """The shape ``layer`` sees: padded first when it is a strided conv with explicit padding."""
        if isinstance(layer, keras.layers.Layer) and hasattr(layer, "kernel_size") and self._needs_pad(layer):
            return self._padded(shape, layer.dilation_rate[0] * (layer.kernel_size[0] // 2))
        return shape

    # --------------------------------------------------------------------- call
    def _subsample(self, x):
        if self.strides == 1:
            return x
        index = [slice(None)] * (self.rank + 2)
        for axis in spatial_axes(self.rank, self.data_format):
            index[axis] = slice(None, None, self.strides)
        return x[tuple(index)]

    def call(self, inputs, training=None):
        if is_empty_batch(inputs):  # batch 0: oneDNN convolutions would return a wrong shape
            return call_on_empty_batch(lambda x: self.call(x, training=training), inputs)
        act = self._activation_fn
        x = inputs
        if self.preact:
            x = act(self.preact_bn(x, training=training))
        shortcut_input = x if self.preact else inputs
        if self._identity_shortcut:
            shortcut = self._subsample(inputs)
        else:
            shortcut = shortcut_input
            if self.shortcut_pool is not None:
                shortcut = self.shortcut_pool(shortcut)
            shortcut = self.shortcut_conv(shortcut)
            if self.shortcut_bn is not None:
                shortcut = self.shortcut_bn(shortcut, training=training)

        y = act(self.bn1(self._apply_conv(self.conv1, x), training=training))
        if self.block == "basic":
            y = self._apply_conv(self.conv2, y)
            if not self.preact:
                y = self.bn2(y, training=training)
        else:
            y = act(self.bn2(self._apply_conv(self.conv2, y), training=training))
            y = self.conv3(y)
            if not self.preact:
                y = self.bn3(y, training=training)
        if self.se is not None:
            y = self.se(y)
        if self.drop_path is not None:
            y = self.drop_path(y, training=training)
        out = shortcut + y
        return out if self.preact else act(out)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis in spatial_axes(self.rank, self.data_format):
            if shape[axis] is not None:
                shape[axis] = (shape[axis] + self.strides - 1) // self.strides
        shape[channel_axis(self.data_format)] = self.out_filters
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "block": self.block,
                "strides": self.strides,
                "rank": self.rank,
                "preact": self.preact,
                "shortcut": self.shortcut,
                "stride_on": self.stride_on,
                "groups": self.groups,
                "base_width": self.base_width,
                "expansion": self.expansion,
                "dilation_rate": self.dilation_rate,
                "se_ratio": self.se_ratio,
                "drop_path_rate": self.drop_path_rate,
                "zero_init_last": self.zero_init_last,
                "activation": serialize_activation(self.activation),
                "norm": self.norm,
                "norm_epsilon": self.norm_epsilon,
                "norm_momentum": self.norm_momentum,
                "kernel_initializer": self._initializer_config,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
                if self.kernel_regularizer is not None
                else None,
                "data_format": self.data_format,
            }
        )
        return config
