"""Named pretrained weight sets: the built-in catalog plus private registries, and their lookup.

A weight set is one published file for one preset. It is known by ``name`` within its preset
(``"torchvision_v2"``) or by its qualified name ``"<preset>.<name>"`` (``"resnet50.torchvision_v2"``).
Nothing here imports TensorFlow or Keras: ``keras-residual weights list`` reads it in well under a
second.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from keras_residual._validation import fail
from keras_residual.weights.catalog import BUILTIN, format_defaults
from keras_residual.weights.imagenet_classes import IMAGENET_CLASSES

REGISTRY_ENV = "KERAS_RESIDUAL_WEIGHTS_REGISTRY"
"""Environment variable naming a JSON file of private weight sets."""

FORMATS = ("torchvision", "timm", "keras")
"""Checkpoint layouts a weight set can have: the importer that reads it."""

MODES = ("imagenet", "caffe", "tf", "unit")
"""Pixel normalizations (:class:`~keras_residual.models.preprocessing.ImagePreprocessing` modes)."""

WEIGHTS_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".h5")
"""Suffixes that make a ``weights`` string a file path rather than a weights name."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclass(frozen=True)
class Transforms:
    """How images are prepared for a weight set (the publisher's evaluation transforms).

    Attributes:
        resize: the shorter side is resized to this many pixels ...
        crop: ... then the center ``crop`` x ``crop`` square is taken.
        interpolation: resize interpolation (``"bilinear"``).
        mode: pixel normalization inside the model: ``"imagenet"`` (x/255, then torchvision's
            mean/std), ``"caffe"`` (RGB to BGR, ImageNet mean subtracted, keras.applications v1),
            ``"tf"`` (x/127.5 - 1, keras.applications v2) or ``"unit"`` (x/255).
    """

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    mode: str = "imagenet"

    def as_dict(self) -> dict:
        """The transforms as a JSON-ready dict."""
        return {"resize": self.resize, "crop": self.crop, "interpolation": self.interpolation, "mode": self.mode}


@dataclass(frozen=True)
class WeightSet:
    """One published weight file for one preset, with what is needed to trust and use it.

    Attributes:
        name: name within the preset (``"torchvision_v2"``).
        preset: the :class:`~keras_residual.models.ResNet` preset the weights fit.
        url: where the publisher serves the file.
        format: ``"torchvision"``, ``"timm"`` or ``"keras"`` (the importer that reads it).
        hash_algorithm: ``"sha256-prefix"`` (torchvision: the hex digits in the file name start the
            file's sha256, what torch.hub checks), ``"md5"`` (keras.applications) or ``"sha256"``.
        file_hash: the expected digest (or its prefix for ``"sha256-prefix"``).
        source: who published it.
        license: the license of the weights as published.
        top1: the publisher's ImageNet-1k top-1 accuracy in percent (None if not published).
        top5: the publisher's ImageNet-1k top-5 accuracy in percent (None if not published).
        num_params: the publisher's parameter count (None if not published).
        size_mb: the file size in MB as published (None if not published).
        transforms: the evaluation :class:`Transforms`.
        num_classes: classifier outputs of the checkpoint.
        class_names: one label per class (the 1,000 ImageNet names for ImageNet sets), or None.
        overrides: ResNet constructor arguments the weights need (``norm_epsilon`` of Keras sets).
        private: True for a set from ``KERAS_RESIDUAL_WEIGHTS_REGISTRY``.
    """

    name: str
    preset: str
    url: str
    format: str
    hash_algorithm: str
    file_hash: str
    source: str = ""
    license: str = ""
    top1: float | None = None
    top5: float | None = None
    num_params: int | None = None
    size_mb: float | None = None
    transforms: Transforms = field(default_factory=Transforms)
    num_classes: int = 1000
    class_names: tuple[str, ...] | None = None
    overrides: dict = field(default_factory=dict)
    private: bool = False

    @property
    def qualified_name(self) -> str:
        """``"<preset>.<name>"``, unique across every preset."""
        return f"{self.preset}.{self.name}"

    @property
    def file_name(self) -> str:
        """The file name at the end of ``url`` (what a mirror serves)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def is_weights_name(weights) -> bool:
    """True if ``weights`` names a registry set (``"imagenet"``, ``"torchvision_v2"``), False for a path.

    A string is a path when it has a path separator or a weights file suffix, or exists on disk.

    Example:
        >>> is_weights_name("imagenet"), is_weights_name("ckpt/resnet50.pth"), is_weights_name(None)
        (True, False, False)
    """
    if not isinstance(weights, str) or not weights:
        return False
    looks_like_path = "/" in weights or os.sep in weights or weights.lower().endswith(WEIGHTS_FILE_SUFFIXES)
    return not looks_like_path and not os.path.exists(weights)


def _from_dict(data: dict, private: bool = False) -> WeightSet:
    data = dict(data)
    mode, overrides = format_defaults(data["format"], data["preset"])
    transforms = Transforms(**{"mode": mode, **data.pop("transforms", {})})
    data["overrides"] = {**overrides, **data.get("overrides", {})}
    class_names = data.pop("class_names", None)
    if class_names is None and data.get("num_classes", 1000) == 1000:
        class_names = IMAGENET_CLASSES
    return WeightSet(
        **data,
        transforms=transforms,
        class_names=tuple(class_names) if class_names is not None else None,
        private=private,
    )


_REQUIRED_PRIVATE = ("name", "preset", "url", "sha256", "format")
_OPTIONAL_PRIVATE = ("top1", "top5", "num_classes", "transforms", "class_names", "license", "num_params")


def _check_private(entry, index: int, where: str) -> dict:
    """One private entry as WeightSet fields, or a ValueError naming the file, entry and field."""
    label = f"{where}: weights[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{label} must be an object; received {entry!r}.")
    missing = [key for key in _REQUIRED_PRIVATE if not isinstance(entry.get(key), str) or not entry[key]]
    unknown = sorted(set(entry) - set(_REQUIRED_PRIVATE) - set(_OPTIONAL_PRIVATE))
    if missing or unknown:
        raise ValueError(f"{label} needs string fields {missing} and has unknown fields {unknown}.")
    if not _NAME.match(entry["name"]):
        raise ValueError(f"{label}: `name` must be letters, digits, '_' or '-'; received name={entry['name']!r}.")
    if entry["format"] not in FORMATS:
        raise ValueError(f"{label}: `format` must be one of {list(FORMATS)}; received format={entry['format']!r}.")
    if not _SHA256.match(entry["sha256"]):
        raise ValueError(f"{label}: `sha256` must be 64 lowercase hex digits; received sha256={entry['sha256']!r}.")
    transforms = entry.get("transforms", {})
    if not isinstance(transforms, dict) or set(transforms) - {"resize", "crop", "interpolation", "mode"}:
        raise ValueError(f"{label}: `transforms` must be an object with resize, crop, interpolation, mode.")
    if transforms.get("mode", "imagenet") not in MODES:
        raise ValueError(f"{label}: `transforms.mode` must be one of {list(MODES)}; received {transforms['mode']!r}.")
    num_classes = entry.get("num_classes", 1000)
    names = entry.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) != num_classes):
        raise ValueError(f"{label}: `class_names` must be a list of num_classes={num_classes} names.")
    fields = {key: entry[key] for key in _OPTIONAL_PRIVATE if key in entry}
    url = entry["url"]
    if "://" not in url and not os.path.isabs(url):  # a relative path is relative to the registry file
        url = os.path.join(os.path.dirname(os.path.abspath(where)), url)
    fields.update(name=entry["name"], preset=entry["preset"], url=url, format=entry["format"])
    fields.update(hash_algorithm="sha256", file_hash=entry["sha256"], source=f"private registry {where}")
    return fields


def private_sets(path: str | os.PathLike | None = None) -> list[WeightSet]:
    """The weight sets of a private registry file (default: the file ``KERAS_RESIDUAL_WEIGHTS_REGISTRY`` names).

    The file is ``{"weights": [{"name", "preset", "url", "sha256", "format", optional "top1",
    "top5", "num_classes", "transforms", "class_names", "license", "num_params"}, ...]}``. A ``url``
    without a scheme is a file path; a relative one is relative to the registry file.

    Raises:
        ValueError: the file is not such JSON (the message names the file and the entry).
        FileNotFoundError: the file does not exist.
    """
    path = path if path is not None else os.environ.get(REGISTRY_ENV)
    if not path:
        return []
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{REGISTRY_ENV}={where!r}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{REGISTRY_ENV}={where!r} is not JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("weights"), list):
        raise ValueError(f"{REGISTRY_ENV}={where!r} must hold {{\"weights\": [...]}}.")
    return [_from_dict(_check_private(entry, i, where), private=True) for i, entry in enumerate(data["weights"])]


def _all_sets() -> list[WeightSet]:
    builtin = [_from_dict(entry) for entry in BUILTIN]
    known = {entry.qualified_name for entry in builtin}
    private = private_sets()
    for entry in private:
        if entry.qualified_name in known:
            raise ValueError(
                f"{REGISTRY_ENV}: {entry.qualified_name!r} is defined twice (a private set cannot replace "
                "a built-in one; give it another name, or use KERAS_RESIDUAL_WEIGHTS_MIRROR to serve a copy)."
            )
        known.add(entry.qualified_name)
    return builtin + private


def presets_with_weights() -> list[str]:
    """The presets at least one known weight set fits, sorted."""
    return sorted({entry.preset for entry in _all_sets()})


def list_weights(preset: str | None = None) -> list[WeightSet]:
    """Every known weight set (built-in and private), or those that fit ``preset``.

    Args:
        preset: a preset name, or None for all.

    Returns:
        :class:`WeightSet` objects sorted by preset, then name.

    Raises:
        ValueError: ``preset`` has no published weights (the message lists the presets that have).

    Example:
        >>> [w.name for w in list_weights("resnet50")]
        ['torchvision_v1', 'torchvision_v2']
        >>> list_weights("resnet50")[1].top1
        80.858
    """
    sets = sorted(_all_sets(), key=lambda entry: (entry.preset, entry.name))
    if preset is None:
        return sets
    chosen = [entry for entry in sets if entry.preset == preset]
    if not chosen:
        fail("preset", f"a preset with published weights ({', '.join(presets_with_weights())})", preset)
    return chosen


def best_weights(preset: str) -> WeightSet:
    """The built-in set with the highest published top-1 for ``preset`` (what ``weights="imagenet"`` picks)."""
    published = [entry for entry in list_weights(preset) if not entry.private and entry.top1 is not None]
    if not published:
        raise ValueError(
            f"`weights` 'imagenet' has no published set for preset {preset!r}; name a private set: "
            f"{', '.join(entry.name for entry in list_weights(preset))}."
        )
    return max(published, key=lambda entry: entry.top1)


def get_weights(name: str, preset: str | None = None) -> WeightSet:
    """Look up a weight set by name.

    Args:
        name: ``"imagenet"`` (the preset's best published set), a name within ``preset``
            (``"torchvision_v1"``) or a qualified name (``"resnet50.torchvision_v1"``).
        preset: the preset the weights are for (needed unless ``name`` is qualified).

    Raises:
        ValueError: the name is unknown (the message lists the names known for the preset), or
            the weights fit another preset (the message says which).

    Example:
        >>> get_weights("imagenet", "resnet50").qualified_name
        'resnet50.torchvision_v2'
        >>> get_weights("resnet18.torchvision_v1").url
        'https://download.pytorch.org/models/resnet18-f37072fd.pth'
    """
    sets = _all_sets()
    if name == "imagenet" and preset is not None:
        return best_weights(preset)
    by_qualified = {entry.qualified_name: entry for entry in sets}
    entry = by_qualified.get(name) or by_qualified.get(f"{preset}.{name}")
    if entry is not None and (preset is None or entry.preset == preset):
        return entry
    if entry is not None:
        raise ValueError(
            f"`weights` {name!r} fit preset {entry.preset!r}, not {preset!r}; use "
            f"ResNet.from_preset({entry.preset!r}, weights={entry.name!r})."
        )
    if preset is None:
        fail("weights", "a qualified weights name such as 'resnet50.torchvision_v2' (see `keras-residual weights list`)", name)
    known = ", ".join(e.name for e in sets if e.preset == preset) or "none"
    fits = sorted(e.preset for e in sets if e.name == name)
    if fits:
        raise ValueError(
            f"`weights` {name!r} are not published for preset {preset!r} (its sets: imagenet, {known}); "
            f"{name!r} fits preset(s) {', '.join(fits)}."
        )
    fail("weights", f"'imagenet' or a weights name known for preset {preset!r} ({known})", name)
    return entry  # unreachable: fail() raises
