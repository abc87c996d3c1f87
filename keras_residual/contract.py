"""The serving contract: the names an exported SavedModel promises and a client relies on.

The SavedModel exporter writes these signatures, tensor names and export-config keys; the TF
Serving client, the CLI and the docs read them from here. The module imports nothing heavy
(no TensorFlow, no Keras, no protobuf), so the TensorFlow-free client can use it.
"""

from __future__ import annotations

SIGNATURE_IMAGES = "serving_default"
"""Signature taking float32 NHWC raw pixels (0..255) under the input :data:`INPUT_IMAGES`."""

SIGNATURE_BYTES = "serving_bytes"
"""Signature taking a string batch of encoded JPEG/PNG/GIF/BMP images under :data:`INPUT_BYTES`."""

INPUT_IMAGES = "images"
INPUT_BYTES = "image_bytes"

OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_TOP_K_INDICES = "top_k_indices"
OUTPUT_TOP_K_SCORES = "top_k_scores"
OUTPUT_TOP_K_LABELS = "top_k_labels"
OUTPUT_FEATURES = "features"
"""The single output of a backbone export (a model without a classifier)."""

CLASSIFIER_OUTPUTS = (OUTPUT_PROBABILITIES, OUTPUT_TOP_K_INDICES, OUTPUT_TOP_K_SCORES)
"""Outputs of a classifier export; :data:`OUTPUT_TOP_K_LABELS` is added when class names are known."""

# Files inside a version directory.
CLASS_NAMES_FILE = "class_names.json"
EXPORT_CONFIG_FILE = "export_config.json"
WARMUP_FILE = "tf_serving_warmup_requests"
ASSETS_DIR = "assets"
ASSETS_EXTRA_DIR = "assets.extra"

# Keys of export_config.json.
CONFIG_FORMAT = "format"
CONFIG_FORMAT_VALUE = "keras-residual/saved-model"
CONFIG_VERSION = "version"
CONFIG_PRESET = "preset"
CONFIG_ARCHITECTURE = "architecture"
CONFIG_INPUT_SIZE = "input_size"
CONFIG_INPUT = "input"
CONFIG_PREPROCESSING = "preprocessing"
CONFIG_RESIZE = "resize"
CONFIG_MAX_PIXELS = "max_pixels"
CONFIG_PRECISION = "precision"
CONFIG_OUTPUTS = "outputs"
CONFIG_SIGNATURES = "signatures"
CONFIG_NUM_CLASSES = "num_classes"
CONFIG_TOP_K = "top_k"
CONFIG_CLASS_NAMES_FILE = "class_names_file"

DEFAULT_MAX_PIXELS = 40_000_000
"""Largest image (height x width, from its header) ``serving_bytes`` decodes by default: 40 megapixels."""
