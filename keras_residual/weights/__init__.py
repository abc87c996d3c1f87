"""Pretrained weights by name: a verified registry, downloads with integrity checks, cache and mirrors.

```python
from keras_residual.models import ResNet

model = ResNet.from_preset("resnet50", weights="imagenet")  # torchvision IMAGENET1K_V2, 80.858% top-1
```

:func:`list_weights` lists the known sets (torchvision and keras.applications built in, private
ones from ``KERAS_RESIDUAL_WEIGHTS_REGISTRY``); :func:`fetch` downloads one into the cache and checks
the publisher's hash. Nothing in this package imports TensorFlow or Keras when it is imported (a
download imports ``keras.utils.get_file``), and it imports nothing from ``keras_residual.models``:
the models floor turns a verified file into weights (see ``keras_residual.models.pretrained``).
"""

from keras_residual.weights.download import (
    CACHE_ENV,
    MIRROR_ENV,
    IntegrityError,
    WeightsUnavailableError,
    cache_dir,
    cached_path,
    converted_path,
    fetch,
    file_digest,
    source_url,
    verify,
)
from keras_residual.weights.imagenet_classes import IMAGENET_CLASSES
from keras_residual.weights.registry import (
    REGISTRY_ENV,
    Transforms,
    WeightSet,
    best_weights,
    get_weights,
    is_weights_name,
    list_weights,
    presets_with_weights,
    private_sets,
)


def class_names_of(model):
    """The class names a model's pretrained weights carry, or None.

    ``ResNet.from_preset(..., weights=<registry name>)`` records the chosen :class:`WeightSet` on
    the model (``model.pretrained_weights``) when the classifier comes from the weights; exporters
    use these names as the SavedModel's top-k labels when no ``class_names`` are given.

    Example:
        >>> class _Model:  # any object with the attribute from_preset sets
        ...     pretrained_weights = get_weights("resnet18.torchvision_v1")
        >>> class_names_of(_Model())[:2]
        ('tench', 'goldfish')
    """
    entry = getattr(model, "pretrained_weights", None)
    return None if entry is None else entry.class_names


__all__ = [
    "CACHE_ENV",
    "IMAGENET_CLASSES",
    "MIRROR_ENV",
    "REGISTRY_ENV",
    "IntegrityError",
    "Transforms",
    "WeightSet",
    "WeightsUnavailableError",
    "best_weights",
    "cache_dir",
    "cached_path",
    "class_names_of",
    "converted_path",
    "fetch",
    "file_digest",
    "get_weights",
    "is_weights_name",
    "list_weights",
    "presets_with_weights",
    "private_sets",
    "source_url",
    "verify",
]
