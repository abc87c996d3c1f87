"""The ResNet family (keras only; runs on every Keras backend).

Public API: :class:`ResNet`, :func:`list_presets`, :func:`feature_model`, :func:`count_macs`,
:class:`ImagePreprocessing`, :class:`WarmupCosineDecay` (the training recipe's schedule), and
the checkpoint helpers :func:`load_torch_checkpoint` /
:func:`torch_state_dict`.
"""

from keras_residual.models.features import feature_model
from keras_residual.models.flops import count_macs
from keras_residual.models.preprocessing import ImagePreprocessing
from keras_residual.models.presets import list_presets
from keras_residual.models.resnet import ResNet
from keras_residual.models.schedules import WarmupCosineDecay
from keras_residual.models.torch_checkpoint import load_torch_checkpoint, torch_state_dict

__all__ = [
    "ImagePreprocessing",
    "ResNet",
    "WarmupCosineDecay",
    "count_macs",
    "feature_model",
    "list_presets",
    "load_torch_checkpoint",
    "torch_state_dict",
]
