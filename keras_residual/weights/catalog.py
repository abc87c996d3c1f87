"""The published ImageNet-1k weight sets this package knows by name (a fact table, no code of theirs).

* torchvision: every ``IMAGENET1K_V1`` / ``IMAGENET1K_V2`` set of torchvision 0.29's ResNet, ResNeXt and
  Wide ResNet ``Weights`` enums for our eight matching presets: URL (the file name carries the first
  hex digits of the file's sha256, which torch.hub checks), acc@1, acc@5, num_params, file size and
  the evaluation transforms (resize, 224 center crop, bilinear, ImageNet mean/std).
  ``tests/weights`` compares every entry with torchvision's own source.
* keras.applications: the ResNet50/101/152 and ResNet50V2/101V2/152V2 sets (URL and md5 from Keras's
  ``WEIGHTS_HASHES``; top-1/top-5 and size from the keras.io applications table; num_params counted
  on the Keras models). ``tests/weights`` compares URL and md5 with the installed Keras.
* timm: none. timm's Hugging Face files are checked by a full sha256 that could not be read from a
  verifiable source here (no internet), so no timm set is registered; timm-format files can be
  served by name through a private registry (``KERAS_RESIDUAL_WEIGHTS_REGISTRY``).
"""

from __future__ import annotations

TORCHVISION_VERSION = "0.29.1"
"""The torchvision release the torchvision facts were read from."""

TORCHVISION_BASE = "https://download.pytorch.org/models/"
KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"

TORCHVISION_LICENSE = "BSD-3-Clause (torchvision)"
KERAS_LICENSE = "Apache-2.0 (Keras)"

# preset: ((version, file name, acc@1, acc@5, num_params, file size in MB, resize), ...)
_TORCHVISION = {
    "resnet18": (("v1", "resnet18-f37072fd.pth", 69.758, 89.078, 11689512, 44.661, 256),),
    "resnet34": (("v1", "resnet34-b627a593.pth", 73.314, 91.420, 21797672, 83.275, 256),),
    "resnet50": (
        ("v1", "resnet50-0676ba61.pth", 76.130, 92.862, 25557032, 97.781, 256),
        ("v2", "resnet50-11ad3fa6.pth", 80.858, 95.434, 25557032, 97.790, 232),
    ),
    "resnet101": (
        ("v1", "resnet101-63fe2227.pth", 77.374, 93.546, 44549160, 170.511, 256),
        ("v2", "resnet101-cd907fc2.pth", 81.886, 95.780, 44549160, 170.530, 232),
    ),
    "resnet152": (
        ("v1", "resnet152-394f9c45.pth", 78.312, 94.046, 60192808, 230.434, 256),
        ("v2", "resnet152-f82ba261.pth", 82.284, 96.002, 60192808, 230.474, 232),
    ),
    "resnext50_32x4d": (
        ("v1", "resnext50_32x4d-7cdf4587.pth", 77.618, 93.698, 25028904, 95.789, 256),
        ("v2", "resnext50_32x4d-1a0047aa.pth", 81.198, 95.340, 25028904, 95.833, 232),
    ),
    "resnext101_32x8d": (
        ("v1", "resnext101_32x8d-8ba56ff5.pth", 79.312, 94.526, 88791336, 339.586, 256),
        ("v2", "resnext101_32x8d-110c445d.pth", 82.834, 96.228, 88791336, 339.673, 232),
    ),
    "wide_resnet50_2": (
        ("v1", "wide_resnet50_2-95faca4d.pth", 78.468, 94.086, 68883240, 131.820, 256),
        ("v2", "wide_resnet50_2-9ba9bcbe.pth", 81.602, 95.758, 68883240, 263.124, 232),
    ),
}

# preset: (Keras weights name, md5 of the include_top file, top-1, top-5, num_params, size in MB)
_KERAS = {
    "resnet50_v1": ("resnet50", "2cb95161c43110f7111970584f804107", 74.9, 92.1, 25636712, 98),
    "resnet101_v1": ("resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", 76.4, 92.8, 44707176, 171),
    "resnet152_v1": ("resnet152", "100835be76be38e30d865e96f2aaae62", 76.6, 93.1, 60419944, 232),
    "resnet50_v2": ("resnet50v2", "3ef43a0b657b3be2300d5770ece849e0", 76.0, 93.0, 25613800, 98),
    "resnet101_v2": ("resnet101v2", "6343647c601c52e1368623803854d971", 77.2, 93.8, 44675560, 171),
    "resnet152_v2": ("resnet152v2", "a49b44d1979771252814e80f8ec446f9", 78.0, 94.2, 60380648, 232),
}

KERAS_EPSILON = 1.001e-5
"""BatchNorm epsilon of the keras.applications ResNets (their weights are evaluated with it)."""


def format_defaults(fmt: str, preset: str) -> tuple[str, dict]:
    """``(normalization mode, ResNet overrides)`` a checkpoint format implies for a preset.

    keras.applications files are evaluated with Keras's ``preprocess_input`` ("caffe": BGR minus the
    ImageNet mean for v1; "tf": [-1, 1] for v2) and a BatchNorm epsilon of 1.001e-5; torchvision and
    timm files with torchvision's ImageNet mean/std and the torch epsilon (the presets' default).
    """
    if fmt == "keras":
        return ("tf" if preset.endswith("_v2") else "caffe"), {"norm_epsilon": KERAS_EPSILON}
    return "imagenet", {}


def _torchvision_entries():
    for preset, sets in _TORCHVISION.items():
        for version, file_name, top1, top5, num_params, size_mb, resize in sets:
            yield {
                "name": f"torchvision_{version}",
                "preset": preset,
                "url": TORCHVISION_BASE + file_name,
                "format": "torchvision",
                "hash_algorithm": "sha256-prefix",
                "file_hash": file_name.rsplit("-", 1)[1].split(".")[0],
                "source": f"torchvision {TORCHVISION_VERSION} IMAGENET1K_{version.upper()}",
                "license": TORCHVISION_LICENSE,
                "top1": top1,
                "top5": top5,
                "num_params": num_params,
                "size_mb": size_mb,
                "transforms": {"resize": resize, "crop": 224, "interpolation": "bilinear", "mode": "imagenet"},
            }


def _keras_entries():
    for preset, (weights_name, md5, top1, top5, num_params, size_mb) in _KERAS.items():
        file_name = f"{weights_name}_weights_tf_dim_ordering_tf_kernels.h5"
        yield {
            "name": "keras",
            "preset": preset,
            "url": KERAS_BASE + file_name,
            "format": "keras",
            "hash_algorithm": "md5",
            "file_hash": md5,
            "source": "keras.applications",
            "license": KERAS_LICENSE,
            "top1": top1,
            "top5": top5,
            "num_params": num_params,
            "size_mb": size_mb,
            # The usual single 224 center crop of a 256 resize (Keras does not publish its evaluation
            # resize); the normalization is the format's (see keras_format_defaults).
            "transforms": {"resize": 256, "crop": 224, "interpolation": "bilinear"},
        }


BUILTIN = tuple(_torchvision_entries()) + tuple(_keras_entries())
"""Every built-in weight set as a plain dict (see :class:`~keras_residual.weights.WeightSet`)."""
