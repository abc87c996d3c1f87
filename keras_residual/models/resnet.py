"""ResNet: the whole family (v1, v1.5, C/D variants, v2, ResNeXt, Wide, SE, CIFAR) as one Keras model."""

from __future__ import annotations

import inspect
import os

import keras

from keras_residual._validation import (
    check_bool,
    check_choice,
    check_int,
    check_positive_float,
    check_rate,
    fail,
    is_int,
)
from keras_residual.layers import ResidualBlock
from keras_residual.layers._common import check_data_format
from keras_residual.layers._empty_batch import EmptyBatchSafeModel
from keras_residual.models import finetune
from keras_residual.models.features import feature_model
from keras_residual.models.keras_applications import convert_keras_application
from keras_residual.models.preprocessing import ImagePreprocessing
from keras_residual.models.presets import preset_config
from keras_residual.models.pretrained import load_pretrained
from keras_residual.models.stages import DOWNSAMPLE_POSITIONS, OUTPUT_STRIDES, block_specs
from keras_residual.models.stem import STEM_STRIDES, STEMS, apply_stem
from keras_residual.models.torch_checkpoint import load_torch_checkpoint
from keras_residual.weights import get_weights, is_weights_name

POOLINGS = (None, "avg", "max")
PREPROCESSINGS = (None, "unit", "imagenet", "caffe", "tf")
HEAD_LAYERS = ("avg_pool", "max_pool", "predictions")
CONFIG_KEYS = (
    "stage_blocks",
    "block",
    "stem",
    "stem_width",
    "stage_widths",
    "preact",
    "stride_on",
    "shortcut",
    "downsample_at",
    "groups",
    "base_width",
    "se_ratio",
    "drop_path_rate",
    "zero_init_last",
    "output_stride",
    "include_top",
    "num_classes",
    "pooling",
    "input_shape",
    "preprocessing",
    "classifier_activation",
    "head_dtype",
    "norm_momentum",
    "norm_epsilon",
    "data_format",
)
"""The architecture arguments of ``ResNet`` (its config less ``name``, ``trainable`` and ``dtype``)."""

_SHARED_BLOCK_ARGS = (
    "block",
    "preact",
    "stride_on",
    "groups",
    "base_width",
    "se_ratio",
    "zero_init_last",
    "norm_epsilon",
    "norm_momentum",
    "data_format",
)
"""``ResNet`` arguments every ``ResidualBlock`` receives unchanged (the rest come from its ``BlockSpec``)."""


def _check_widths(name, values, count=None):
    ok = isinstance(values, (list, tuple)) and len(values) > 0 and all(is_int(v) and v >= 1 for v in values)
    if not ok:
        fail(name, "a non-empty list of positive integers", values)
    if count is not None and len(values) != count:
        fail(name, f"a list with one entry per stage ({count}, the length of `stage_blocks`)", values)
    return [int(v) for v in values]


def _check_input_shape(input_shape, data_format):
    if input_shape is None:
        return (None, None, 3) if data_format == "channels_last" else (3, None, None)
    ok = isinstance(input_shape, (list, tuple)) and len(input_shape) == 3
    ok = ok and all(dim is None or (is_int(dim) and dim >= 1) for dim in input_shape)
    if ok:
        ok = (input_shape[-1] if data_format == "channels_last" else input_shape[0]) is not None
    if not ok:
        fail(
            "input_shape",
            "None or (height, width, channels) (channels first for data_format='channels_first') with "
            "positive ints or None for height/width",
            input_shape,
        )
    return tuple(input_shape)


def _check_blocks(config):
    """Check the arguments that shape the stem and the blocks (in ``config``, in place)."""
    config["stage_blocks"] = _check_widths("stage_blocks", config["stage_blocks"])
    config["stage_widths"] = _check_widths(
        "stage_widths", config["stage_widths"], len(config["stage_blocks"])
    )
    check_choice("block", config["block"], ("basic", "bottleneck"))
    check_choice("stem", config["stem"], STEMS)
    config["stem_width"] = check_int("stem_width", config["stem_width"])
    check_bool("preact", config["preact"])
    check_choice("stride_on", config["stride_on"], ("3x3", "1x1"))
    check_choice("shortcut", config["shortcut"], ("auto", "avg_down"))
    check_choice("downsample_at", config["downsample_at"], DOWNSAMPLE_POSITIONS)
    config["groups"] = check_int("groups", config["groups"])
    config["base_width"] = check_int("base_width", config["base_width"])
    config["se_ratio"] = check_rate("se_ratio", config["se_ratio"])
    config["drop_path_rate"] = check_rate("drop_path_rate", config["drop_path_rate"])
    check_bool("zero_init_last", config["zero_init_last"])
    if not (is_int(config["output_stride"]) and config["output_stride"] in OUTPUT_STRIDES):
        fail("output_stride", f"one of {list(OUTPUT_STRIDES)}", config["output_stride"])


def _check_head_and_input(config):
    """Check the head, input and normalization arguments (in ``config``, in place)."""
    check_bool("include_top", config["include_top"])
    config["num_classes"] = check_int("num_classes", config["num_classes"])
    check_choice("pooling", config["pooling"], POOLINGS)
    if config["include_top"] and config["pooling"] is None:
        fail("pooling", "'avg' or 'max' when include_top=True", None)
    check_choice("preprocessing", config["preprocessing"], PREPROCESSINGS)
    config["norm_momentum"] = check_rate("norm_momentum", config["norm_momentum"])
    config["norm_epsilon"] = check_positive_float("norm_epsilon", config["norm_epsilon"])
    data_format = config["data_format"] = check_data_format(config["data_format"])
    input_shape = config["input_shape"] = _check_input_shape(config["input_shape"], data_format)
    channels = input_shape[-1] if data_format == "channels_last" else input_shape[0]
    if config["preprocessing"] in ("imagenet", "caffe") and channels != 3:
        fail(
            "preprocessing",
            f"None, 'unit' or 'tf' for {channels} input channels ('imagenet' and 'caffe' need 3)",
            config["preprocessing"],
        )
    try:
        config["head_dtype"] = keras.dtype_policies.get(config["head_dtype"]).name
    except (ValueError, TypeError):
        fail("head_dtype", "a dtype name such as 'float32'", config["head_dtype"])


def _build_graph(config, specs, dtype):
    """``(inputs, outputs, pyramid)``: preprocessing, stem, stages, then the pooling/classifier head."""
    data_format = config["data_format"]
    axis = -1 if data_format == "channels_last" else 1

    def norm(layer_name):
        return keras.layers.BatchNormalization(
            axis=axis,
            momentum=config["norm_momentum"],
            epsilon=config["norm_epsilon"],
            dtype=dtype,
            name=layer_name,
        )

    inputs = keras.Input(shape=config["input_shape"], name="images")
    x = inputs
    if config["preprocessing"] is not None:
        x = ImagePreprocessing(config["preprocessing"], data_format=data_format, name="preprocessing")(x)
    x = apply_stem(
        x,
        stem=config["stem"],
        stem_width=config["stem_width"],
        preact=config["preact"],
        norm=norm,
        data_format=data_format,
        dtype=dtype,
    )
    x, pyramid = _build_stages(x, config, specs, dtype)
    if config["preact"]:
        x = norm("post_bn")(x)
        x = keras.layers.Activation("relu", dtype=dtype, name="post_relu")(x)
        pyramid[f"C{len(config['stage_blocks']) + 1}"] = x
    return inputs, _build_head(x, config), pyramid


def _build_stages(x, config, specs, dtype):
    """Apply one ``ResidualBlock`` per spec; the last block of each stage is a pyramid level."""
    pyramid = {}
    for spec in specs:
        x = ResidualBlock(
            spec.filters,
            strides=spec.strides,
            shortcut=spec.shortcut,
            dilation_rate=spec.dilation_rate,
            drop_path_rate=spec.drop_path_rate,
            dtype=dtype,
            name=spec.name,
            **{key: config[key] for key in _SHARED_BLOCK_ARGS},
        )(x)
        if spec.index == config["stage_blocks"][spec.stage - 1]:
            pyramid[f"C{spec.stage + 1}"] = x
    return x, pyramid


def _build_head(x, config):
    """Global pooling and the classifier, computing in ``head_dtype`` (float32 under mixed precision)."""
    pooling, head_dtype = config["pooling"], config["head_dtype"]
    if pooling is not None:
        pool_class = (
            keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.GlobalMaxPooling2D
        )
        x = pool_class(data_format=config["data_format"], dtype=head_dtype, name=f"{pooling}_pool")(x)
    if config["include_top"]:
        x = keras.layers.Dense(
            config["num_classes"],
            activation=config["classifier_activation"],
            dtype=head_dtype,
            name="predictions",
        )(x)
    return x


@keras.saving.register_keras_serializable(package="keras_residual")
class ResNet(EmptyBatchSafeModel, keras.Model):
    """A ResNet image classifier or backbone built from stages of :class:`ResidualBlock`.

    One class covers the family: basic/bottleneck blocks, v1 (stride on the 1x1) and v1.5 (stride
    on the 3x3), the deep ResNet-C stem and ResNet-D average-pool shortcut, pre-activation v2,
    ResNeXt groups, Wide widths, squeeze-excitation, stochastic depth, dilated (output stride 8/16)
    backbones and the CIFAR stem. Weights and layout follow torchvision/timm so checkpoints map
    one-to-one (see :meth:`from_preset` and :meth:`from_keras_applications`).

    Layer names: ``images`` (input), ``preprocessing``, ``stem_*`` (see
    :func:`~keras_residual.models.stem.apply_stem`), ``stage{s}_block{b}`` (1-based),
    ``post_bn``/``post_relu`` (pre-activation only), ``avg_pool``/``max_pool`` and ``predictions``.

    The configuration is exactly the constructor arguments (``get_config``/``from_config``
    round-trip through ``cls(**config)``), so ``.keras`` files load with ``safe_mode`` and no
    ``custom_objects`` after ``import keras_residual``.

    Args:
        stage_blocks: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        block: ``"basic"`` or ``"bottleneck"``.
        stem: ``"v1"`` (7x7/2 conv + max-pool), ``"deep"`` (ResNet-C: three 3x3 convs, the first
            stride 2, + max-pool) or ``"cifar"`` (one 3x3 stride-1 conv, no pool).
        stem_width: stem conv channels (the deep stem outputs ``2 * stem_width``).
        stage_widths: ``filters`` of each stage's blocks (a bottleneck outputs 4x this).
        preact: pre-activation (v2) blocks, with a final ``post_bn`` + ReLU.
        stride_on: ``"3x3"`` (v1.5) or ``"1x1"`` (v1) for bottleneck blocks.
        shortcut: ``"auto"`` (1x1 conv projection where shapes change) or ``"avg_down"`` (ResNet-D).
        downsample_at: ``"first"`` (stride on the first block of a stage; torchvision/timm) or
            ``"last"`` (on the last block of the previous stage with a subsampling identity
            shortcut; keras.applications ResNetV2).
        groups: groups of the 3x3 convs (ResNeXt cardinality).
        base_width: bottleneck width per group (64 plain, 4 for ResNeXt 32x4d, 128 for Wide-50-2).
        se_ratio: squeeze-excitation ratio (0 = off; 1/16 in SE-ResNet).
        drop_path_rate: stochastic-depth rate of the last block; it grows linearly from 0.
        zero_init_last: start each block's last norm gamma at zero.
        output_stride: 32 (no dilation), 16 or 8 (later strides replaced by dilation).
        include_top: add the pooling + dense classifier.
        num_classes: classifier outputs.
        pooling: ``"avg"``, ``"max"`` or ``None`` (backbone only; with ``include_top`` it must not
            be None).
        input_shape: ``(H, W, C)``; H and W may be None. Default ``(None, None, 3)``.
        preprocessing: ``None`` (the caller normalizes), ``"unit"`` (x / 255), ``"imagenet"``
            (torchvision mean/std on x / 255), ``"caffe"`` (BGR minus the ImageNet mean, the
            keras.applications v1 weights) or ``"tf"`` (x / 127.5 - 1, the keras.applications v2
            weights): raw 0..255 pixels in.
        classifier_activation: activation of the classifier (``"softmax"``, ``None`` for logits).
        head_dtype: dtype the pooling and classifier compute in (float32 under mixed precision).
        norm_momentum: BatchNorm momentum (0.9, the torch convention).
        norm_epsilon: BatchNorm epsilon (1e-5, the torch default).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses the Keras setting.
        dtype: dtype policy of the network (``None``: the global policy, recorded at construction).
        name: model name.

    Example:

    >>> import numpy as np
    >>> model = ResNet.from_preset("resnet20_cifar", input_shape=(32, 32, 3), preprocessing="unit")
    >>> model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape
    (2, 10)
    >>> sorted(model.pyramid_outputs)
    ['C2', 'C3', 'C4']
    """

    def __init__(
        self,
        stage_blocks,
        block="bottleneck",
        stem="v1",
        stem_width=64,
        stage_widths=(64, 128, 256, 512),
        preact=False,
        stride_on="3x3",
        shortcut="auto",
        downsample_at="first",
        groups=1,
        base_width=64,
        se_ratio=0.0,
        drop_path_rate=0.0,
        zero_init_last=False,
        output_stride=32,
        include_top=True,
        num_classes=1000,
        pooling="avg",
        input_shape=None,
        preprocessing=None,
        classifier_activation="softmax",
        head_dtype="float32",
        norm_momentum=0.9,
        norm_epsilon=1e-5,
        data_format=None,
        dtype=None,
        name="resnet",
        **kwargs,
    ):
        # The architecture arguments, by name, exactly as get_config returns them once checked.
        config = {key: value for key, value in locals().items() if key in CONFIG_KEYS}
        _check_blocks(config)
        _check_head_and_input(config)
        dtype = keras.dtype_policies.get(keras.config.dtype_policy() if dtype is None else dtype)
        specs = block_specs(
            config["stage_blocks"],
            config["stage_widths"],
            stem_stride=STEM_STRIDES[config["stem"]],
            downsample_at=config["downsample_at"],
            shortcut=config["shortcut"],
            output_stride=config["output_stride"],
            drop_path_rate=config["drop_path_rate"],
        )
        inputs, outputs, pyramid = _build_graph(config, specs, dtype)
        super().__init__(inputs=inputs, outputs=outputs, name=name, dtype=dtype, **kwargs)

        # Attributes after Functional.__init__: Keras tracks attributes from here on.
        self.pyramid_outputs = pyramid
        self._network_dtype = dtype
        self.block_specs = tuple(specs)
        config["input_shape"] = list(config["input_shape"])
        self._resnet_config = {key: config[key] for key in CONFIG_KEYS}

    # ------------------------------------------------------------------ config
    @property
    def resnet_config(self):
        """A new dict of the architecture arguments this model was built with."""
        config = dict(self._resnet_config)
        config["stage_blocks"] = list(config["stage_blocks"])
        config["stage_widths"] = list(config["stage_widths"])
        config["input_shape"] = list(config["input_shape"])
        return config

    def get_config(self):
        """The constructor arguments (plus ``name``, ``trainable`` and ``dtype``)."""
        config = self.resnet_config
        config.update(
            {
                "name": self.name,
                "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self._network_dtype),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuild with ``cls(**config)`` (not the generic Functional graph rebuild)."""
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        if config.get("input_shape") is not None:
            config["input_shape"] = tuple(config["input_shape"])
        return cls(**config)

    # ----------------------------------------------------------------- presets
    @classmethod
    def from_preset(cls, name, weights=None, **overrides):
        """Build a named preset, optionally with pretrained weights (by name) or from a local file.

        Args:
            name: a name from :func:`~keras_residual.models.list_presets`.
            weights: ``None`` (random init); ``"imagenet"`` (the preset's best published ImageNet
                set, see :func:`keras_residual.weights.list_weights`); a weight set's name
                (``"torchvision_v1"``, or qualified ``"resnet50.torchvision_v1"``), downloaded into
                the cache and checked against the publisher's hash; or a path: a torchvision/timm
                checkpoint (``.pth``, ``.pt``, ``.bin`` read with torch; ``.safetensors`` read
                without torch) or a Keras weights file (``.weights.h5``). A string with a path
                separator or one of those suffixes is a path.
            **overrides: constructor arguments replacing the preset's (``input_shape``,
                ``num_classes``, ``include_top``, ``preprocessing``, ``dtype``, ...).

        With named weights the model's ``preprocessing`` defaults to the set's normalization (raw
        0..255 pixels in) and ``num_classes`` to the set's; with another ``num_classes`` the
        backbone is pretrained and the classifier fresh (fine-tuning). When the classifier comes
        from the weights, ``model.pretrained_weights`` is the
        :class:`~keras_residual.weights.WeightSet` (its ``class_names`` and ``transforms``).

        Returns:
            A ``ResNet`` named ``name`` unless ``name=`` is overridden.

        Raises:
            ValueError: unknown preset (the message lists the valid names), unknown override,
                unsupported weights file, a checkpoint that does not fit the model (the message
                names the first missing or mismatched tensor and both shapes), an unknown weights
                name (the message lists the names known for the preset), weights for another
                preset (the message names it), or a download whose hash differs.
            OSError: named weights are neither cached nor downloadable (the message names the
                URL, ``KERAS_RESIDUAL_WEIGHTS_MIRROR`` and ``keras-residual weights download``).

        Example:

        >>> model = ResNet.from_preset("resnet20_cifar", input_shape=(32, 32, 3), num_classes=5)
        >>> model.output_shape
        (None, 5)
        """
        config = preset_config(name)
        allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
        unknown = sorted(set(overrides) - allowed - {"trainable"})
        if unknown:
            raise ValueError(
                f"Unknown ResNet argument(s) {unknown} for preset {name!r}. Allowed: {sorted(allowed)}."
            )
        entry = get_weights(weights, name) if is_weights_name(weights) else None
        if entry is not None:
            config.update(entry.overrides)
            config.update(preprocessing=entry.transforms.mode, num_classes=entry.num_classes)
        config.update(overrides)
        config.setdefault("name", name)
        model = cls(**config)
        if entry is not None:
            load_pretrained(model, entry)
        elif weights is not None:
            _load_weights_file(model, weights)
        return model

    @classmethod
    def from_keras_applications(cls, ka_model, **overrides):
        """Convert a ``keras.applications`` ResNet (50/101/152 or their V2) into a ``ResNet``.

        The architecture (depths, head, pooling, input size, data format) is read from the source
        model; conv biases of the v1 models are folded into the following BatchNorm's moving mean
        (exact), and the BatchNorm epsilon (1.001e-5) and momentum are kept. Outputs match the
        source model to float32 rounding. The returned model has ``preprocessing=None``: feed it
        what you fed the source (``keras.applications.resnet.preprocess_input`` or
        ``resnet_v2.preprocess_input``).

        Args:
            ka_model: a model from ``keras.applications.ResNet50`` (``ResNet101``, ``ResNet152``,
                ``ResNet50V2``, ``ResNet101V2``, ``ResNet152V2``), any input size and head.
            **overrides: constructor arguments that do not change the weights (``name``,
                ``dtype``, ``norm_momentum``, ...).

        Example:

        >>> import keras
        >>> source = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=3)
        >>> ResNet.from_keras_applications(source).count_params() > 0
        True
        """
        return convert_keras_application(cls, ka_model, **overrides)

    # ---------------------------------------------------------------- features
    def feature_model(self, levels=None):
        """A ``keras.Model`` sharing this model's layers whose outputs are the pyramid levels.

        See :func:`~keras_residual.models.feature_model`.
        """
        return feature_model(self, levels)

    # -------------------------------------------------------------- finetuning
    def freeze_backbone(self):
        """Freeze everything except the classifier head; see :func:`finetune.freeze_backbone`."""
        finetune.freeze_backbone(self)
        return self

    def unfreeze_stages(self, count, train_norm=False):
        """Unfreeze the last ``count`` stages; see :func:`finetune.unfreeze_stages`."""
        finetune.unfreeze_stages(self, count, train_norm=train_norm)
        return self

    def replace_head(self, num_classes, classifier_activation=None):
        """A new model with these backbone weights and a fresh classifier; see :func:`finetune.replace_head`."""
        return finetune.replace_head(self, num_classes, classifier_activation)


def _load_weights_file(model, weights):
    path = os.fspath(weights)
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file not found: {path!r}.")
    lower = path.lower()
    if lower.endswith(".weights.h5"):
        try:
            model.load_weights(path)
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(
                f"`weights` file {path!r} is not a Keras weights file for this model: {error}"
            ) from error
        return
    if lower.endswith((".pth", ".pt", ".bin", ".safetensors")):
        load_torch_checkpoint(model, path)
        return
    fail("weights", "None or a '.pth', '.pt', '.bin', '.safetensors' or '.weights.h5' file", path)
