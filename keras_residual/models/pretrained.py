"""Load a named weight set (``keras_residual.weights``) into a ResNet: fetch, convert once, cache, copy.

The first load fetches the verified file (see :func:`keras_residual.weights.fetch`), imports it
into the preset's canonical model (the preset with the set's classifier, float32) with the importer
its format names (torchvision/timm: :func:`~keras_residual.models.load_torch_checkpoint`; keras:
the keras.applications model plus :meth:`ResNet.from_keras_applications`), and writes the result
as Keras weights beside the download (:func:`keras_residual.weights.converted_path`, atomically).
Every later load reads only that file: no download, no conversion.
"""

from __future__ import annotations

import keras

from keras_residual import _atomic
from keras_residual.models.finetune import HEAD_LAYER_NAMES
from keras_residual.models.keras_applications import convert_keras_application
from keras_residual.models.presets import preset_config
from keras_residual.models.torch_checkpoint import load_torch_checkpoint
from keras_residual.weights import WeightSet, converted_path, fetch

KERAS_APPLICATIONS = {
    "resnet50_v1": "ResNet50",
    "resnet101_v1": "ResNet101",
    "resnet152_v1": "ResNet152",
    "resnet50_v2": "ResNet50V2",
    "resnet101_v2": "ResNet101V2",
    "resnet152_v2": "ResNet152V2",
}
"""The keras.applications model whose weight files fit each preset (``format: keras`` sets)."""


def canonical_config(entry: WeightSet) -> dict:
    """The ResNet arguments the weight file was published for: the preset, its classifier, float32."""
    config = preset_config(entry.preset)
    config.update(entry.overrides)
    config.update(include_top=True, num_classes=entry.num_classes, pooling="avg", dtype="float32")
    config.update(input_shape=None, preprocessing=None, name=f"{entry.preset}_{entry.name}")
    return config


def _import_keras_file(cls, entry: WeightSet, path):
    if entry.preset not in KERAS_APPLICATIONS:
        raise ValueError(
            f"{entry.qualified_name}: format 'keras' (keras.applications files) fits presets "
            f"{sorted(KERAS_APPLICATIONS)}, not {entry.preset!r}."
        )
    builder = getattr(keras.applications, KERAS_APPLICATIONS[entry.preset])
    source = builder(weights=None, include_top=True, classes=entry.num_classes, classifier_activation=None)
    try:
        source.load_weights(str(path))
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{entry.qualified_name}: {path} is not a keras.applications weights file: {error}") from None
    return convert_keras_application(cls, source, name=canonical_config(entry)["name"])


def _convert(cls, entry: WeightSet, progress: bool):
    """The canonical model with the set's weights, written to the converted cache."""
    path = fetch(entry, progress=progress)
    if entry.format == "keras":
        canonical = _import_keras_file(cls, entry, path)  # same layers and weights as the canonical model
    else:
        canonical = cls(**canonical_config(entry))
        load_torch_checkpoint(canonical, path)
    target = converted_path(entry)
    with _atomic.atomic_path(target) as tmp:  # the temporary keeps the ".weights.h5" Keras insists on
        canonical.save_weights(tmp)
    return canonical


def _copy_matching(model, canonical) -> bool:
    """Copy every layer's weights by name; the head only where it fits. True if the head was copied."""
    head_copied = False
    for layer in model.layers:
        if not layer.weights:
            continue
        source = canonical.get_layer(layer.name)
        values = source.get_weights()
        if layer.name in HEAD_LAYER_NAMES:
            if [tuple(v.shape) for v in values] != [tuple(w.shape) for w in layer.weights]:
                continue
            head_copied = True
        layer.set_weights(values)
    return head_copied


def load_pretrained(model, entry: WeightSet, progress: bool = True) -> None:
    """Give ``model`` (built from ``entry.preset``) the weights of ``entry``, in place.

    The backbone always comes from the weights; the classifier too when the model has one with
    ``entry.num_classes`` outputs, and then ``model.pretrained_weights = entry`` (its class names
    are the labels, see :func:`keras_residual.weights.class_names_of`). A model with another
    number of classes keeps its fresh classifier (fine-tuning).

    Raises:
        keras_residual.weights.WeightsUnavailableError: not cached and not downloadable.
        keras_residual.weights.IntegrityError: the download does not have the publisher's hash.
    """
    cls = type(model)
    cached = converted_path(entry)
    if cached.is_file():
        canonical = cls(**canonical_config(entry))
        canonical.load_weights(str(cached))
    else:
        canonical = _convert(cls, entry, progress)
    if _copy_matching(model, canonical):
        model.pretrained_weights = entry
