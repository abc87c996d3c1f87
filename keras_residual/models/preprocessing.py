"""ImagePreprocessing: input normalization inside the model, so exported models take raw pixels."""

from __future__ import annotations

import keras
from keras import ops

from keras_residual._validation import check_choice
from keras_residual.layers._common import check_data_format

# torchvision / timm ImageNet statistics on 0..1 pixels (RGB).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# keras.applications "caffe" mode: BGR channel means on 0..255 pixels (ResNet50/101/152 v1 weights).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
MODES = ("unit", "imagenet", "caffe", "tf")


@keras.saving.register_keras_serializable(package="keras_residual")
class ImagePreprocessing(keras.layers.Layer):
    """Maps raw 0..255 RGB pixels to the range the network was trained on.

    * ``mode="unit"``: ``x / 255`` (0..1).
    * ``mode="imagenet"``: ``(x / 255 - mean) / std`` with the torchvision ImageNet mean and std,
      per channel (what torchvision and timm checkpoints expect).
    * ``mode="caffe"``: RGB to BGR, then the ImageNet BGR mean subtracted, no scaling
      (``keras.applications.resnet.preprocess_input``: the keras.applications v1 weights).
    * ``mode="tf"``: ``x / 127.5 - 1`` (``keras.applications.resnet_v2.preprocess_input``).

    It has no weights; it always computes in float32 (raw pixels need the range), and the next
    layer casts to the model's compute dtype.

    Args:
        mode: ``"unit"``, ``"imagenet"``, ``"caffe"`` or ``"tf"``.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ...).

    Example:

    >>> import numpy as np
    >>> layer = ImagePreprocessing("unit")
    >>> float(layer(np.full((1, 2, 2, 3), 255.0, "float32")).numpy().max())
    1.0
    """

    def __init__(self, mode="imagenet", data_format=None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, MODES)
        self.data_format = check_data_format(data_format)
        self.built = True

    def call(self, inputs):
        shape = (1, 1, 1, 3) if self.data_format == "channels_last" else (1, 3, 1, 1)
        if self.mode == "tf":
            return ops.cast(inputs, "float32") / 127.5 - 1.0
        if self.mode == "caffe":
            axis = -1 if self.data_format == "channels_last" else 1
            bgr = ops.flip(ops.cast(inputs, "float32"), axis=axis)
            return bgr - ops.reshape(ops.convert_to_tensor(CAFFE_BGR_MEAN, "float32"), shape)
        x = ops.cast(inputs, "float32") / 255.0
        if self.mode == "unit":
            return x
        mean = ops.reshape(ops.convert_to_tensor(IMAGENET_MEAN, "float32"), shape)
        std = ops.reshape(ops.convert_to_tensor(IMAGENET_STD, "float32"), shape)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "data_format": self.data_format})
        return config
