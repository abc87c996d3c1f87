"""The SavedModel format: a versioned directory that TF Serving loads and serves, checked as it loads it.

The export is written with ``keras.export.ExportArchive`` into a hidden temporary directory beside
the target and renamed into place (``keras_residual._atomic``), so TF Serving (which polls the base
path for integer-named directories) never sees a half-written version. The serving graph itself
(signatures, shape guard, decompression-bomb guard, batch 0) is in
``keras_residual.export.serving_graph``; the names it promises are in ``keras_residual.contract``.
Before the rename, the version is loaded through the TF1 session loader (`load`) and compared with
float32 Keras. One format module of `keras_residual.export.formats`: `check_options`, `convert`,
`load`, `publish`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_residual import __version__, _atomic, _validation, contract
from keras_residual.contract import (
    CLASS_NAMES_FILE,
    EXPORT_CONFIG_FILE,
    INPUT_BYTES,
    INPUT_IMAGES,
    SIGNATURE_BYTES,
    SIGNATURE_IMAGES,
    WARMUP_FILE,
)
from keras_residual.export.formats import Artifact, file_size, take_options
from keras_residual.export.report import ExportError
from keras_residual.export.serving_graph import ServingSpec, build_archive
from keras_residual.hardware import detect_cpu
from keras_residual.models import list_presets
from keras_residual.models.rebuild import policy_names, rebuild_with_policy
from keras_residual.precision import FORMAT_PRECISIONS
from keras_residual.precision_table import serving_dtype
from keras_residual.weights import class_names_of

__all__ = [
    "CLASS_NAMES_FILE",
    "EXPORT_CONFIG_FILE",
    "INPUT_BYTES",
    "INPUT_IMAGES",
    "SIGNATURE_BYTES",
    "SIGNATURE_IMAGES",
    "WARMUP_FILE",
    "auto_serving_dtype",
    "next_version",
]

NAME = "saved_model"
PRECISIONS = FORMAT_PRECISIONS[NAME]
SUFFIX = None  # the target is the model's base directory; the version goes below it
CHANNELS_FIRST_OK = True  # clients send NHWC; the graph transposes for a channels-first model
WARMUP_BATCH = 8
_DEFAULTS = {
    "version": None,
    "class_names": None,
    "top_k": 5,
    "image_size": None,
    "resize": "bilinear",
    "warmup": True,
    "overwrite": False,
    "max_pixels": contract.DEFAULT_MAX_PIXELS,
}
_RESIZE_METHODS = (
    "bilinear",
    "nearest",
    "bicubic",
    "area",
    "lanczos3",
    "lanczos5",
    "gaussian",
    "mitchellcubic",
)


def next_version(base_path: str | os.PathLike) -> int:
    """The version TF Serving would see as newest plus one (1 for an empty or missing base path).

    Only integer-named directories count; hidden temporary directories are ignored.

    Example:
        ```python
        import tempfile
        from keras_residual.export.saved_model import next_version

        assert next_version(tempfile.mkdtemp()) == 1
        ```
    """
    base = Path(base_path)
    if not base.is_dir():
        return 1
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def check_options(model, path: Path, precision: str, options: dict) -> tuple[Path, dict]:
    """Check the SavedModel options; returns ``(base_path/<version>, options)``.

    Options: ``version`` (a non-negative integer; ``None`` takes the next one), ``class_names``
    (one label per class, served as ``top_k_labels``; default: the class names of the model's
    pretrained weights when its classifier came from them, `keras_residual.weights.class_names_of`),
    ``top_k`` (default 5, capped at the class count), ``image_size`` (``(height, width)`` or one
    int; required when the model accepts any size), ``resize`` (the ``tf.image.resize`` method of ``serving_bytes``), ``warmup`` (write
    ``assets.extra/tf_serving_warmup_requests``, needs tensorflow-serving-api), ``overwrite``
    (replace an existing version) and ``max_pixels`` (largest image a header may claim).

    Raises:
        ValueError: a bad option or model.
        FileExistsError: the version exists and ``overwrite`` is False.
    """
    options = take_options(NAME, options, _DEFAULTS)
    _check_backend()
    _check_arguments(model, options["top_k"], options["resize"], options["version"], options["max_pixels"])
    _validation.check_bool("warmup", options["warmup"])
    _validation.check_bool("overwrite", options["overwrite"])
    plan = _plan(model, options["class_names"], options["top_k"], options["image_size"], options["resize"],
                 options["max_pixels"])
    if options["warmup"]:
        _require_serving_api()
    base = _prepare_base(path)
    version = next_version(base) if options["version"] is None else options["version"]
    target = base / str(version)
    if target.exists() and not options["overwrite"]:
        raise FileExistsError(
            f"version {version} already exists at {target}; to replace it, overwrite it "
            "(overwrite=True; --overwrite on the command line)"
        )
    return target, {**options, "version": version, "plan": plan, "image_size": (plan.height, plan.width)}


def convert(job, work: Path) -> Artifact:
    """Write the version directory (SavedModel, assets, warmup requests) into the staging folder."""
    plan, dtype = job.options["plan"], "bfloat16" if job.precision == "bfloat16" else "float32"
    serving_model = _serving_model(job.model, dtype)
    config = _export_config(job.model, serving_model, version=job.options["version"], spec=plan, compute_dtype=dtype)
    # The staging folder itself becomes the version directory (renamed into place by publish).
    _write_version(work, serving_model, plan, config, job.options["warmup"], model_name=job.target.parent.name)
    return Artifact(
        path=work,
        converter="keras.export.ExportArchive (serving_default + serving_bytes signatures)",
        file_size=file_size(work),
        details={"version": job.options["version"]},
        reference=_softmax if plan.apply_softmax else None,
    )


def load(artifact: Artifact, job):
    """Load the version through the TF1 session loader, as TF Serving does; returns ``run(images)``.

    TF Serving's C++ ``LoadSavedModel`` restores the ``serve`` tag set into a session and runs the
    signature's tensors by name: ``tf.compat.v1.saved_model.loader.load`` does the same from Python
    (bfloat16 signatures included), so the check runs the graph the server will run.
    """
    from tensorflow.python.util import deprecation  # the TF1 loader is what TF Serving runs: no warning

    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    with graph.as_default(), deprecation.silence():
        meta = tf.compat.v1.saved_model.loader.load(session, [tf.saved_model.SERVING], str(artifact.path))
    missing = {SIGNATURE_IMAGES, SIGNATURE_BYTES} - set(meta.signature_def)
    if missing:
        raise ExportError(f"the SavedModel lacks the signatures {sorted(missing)}. Nothing was written.")
    signature = meta.signature_def[SIGNATURE_IMAGES]
    output = contract.OUTPUT_FEATURES if contract.OUTPUT_FEATURES in signature.outputs else contract.OUTPUT_PROBABILITIES
    feed, fetch = signature.inputs[INPUT_IMAGES].name, signature.outputs[output].name
    graph_def = graph.as_graph_def()
    nodes = [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]
    artifact.op_counts = dict(Counter(node.op for node in nodes).most_common())
    artifact.runtime = f"tensorflow {tf.__version__} TF1 session loader (as TF Serving loads it)"

    def run(images: np.ndarray, batch_size: int = 16) -> list[np.ndarray]:
        chunks = [session.run(fetch, {feed: images[i : i + batch_size]}) for i in range(0, len(images), batch_size)]
        return [np.concatenate(chunks).astype("float32")]

    return run


def publish(artifact: Artifact, job) -> None:
    """Rename the verified version directory to ``base_path/<version>`` (``_atomic.publish_dir``)."""
    _atomic.publish_dir(artifact.path, job.target, job.options["overwrite"])


def _softmax(outputs: list[np.ndarray]) -> list[np.ndarray]:
    """What the serving graph returns for a logits model: the softmax of Keras's outputs."""
    logits = outputs[0].astype("float64")
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return [(exp / exp.sum(axis=-1, keepdims=True)).astype("float32")]


def auto_serving_dtype() -> str:
    """What ``compute_dtype="auto"`` exports: the dtype measured fastest for serving on this CPU's class.

    ``"bfloat16"`` on CPUs with AMX (a ResNet-50 SavedModel served 2.11x faster at batch 16, with
    top-1 agreement kept on all 360 held-out digits), ``"float32"`` on every class without such a
    measurement (``keras_residual.precision_table.serving_dtype``). It describes the exporting
    machine: export on a machine of the kind that will serve, or name the dtype.
    """
    return serving_dtype(detect_cpu().device_class)


def _check_backend() -> None:
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"a SavedModel export needs the TensorFlow backend, the Keras backend is "
            f"{keras.backend.backend()!r}: run with KERAS_BACKEND=tensorflow"
        )


def _check_arguments(model, top_k, resize, version, max_pixels) -> None:
    if len(model.inputs or []) != 1:
        raise ValueError(
            f"`model` must have exactly one image input; received a model with {len(model.inputs or [])} inputs."
        )
    if len(model.outputs or []) != 1:
        raise ValueError(
            f"`model` must have exactly one output; received a model with {len(model.outputs or [])} outputs."
        )
    _validation.check_int("top_k", top_k, 1)
    _validation.check_choice("resize", resize, _RESIZE_METHODS)
    _validation.check_optional_int("version", version, 0)
    _validation.check_int("max_pixels", max_pixels, 1)


def _plan(model, class_names, top_k, image_size, resize, max_pixels) -> ServingSpec:
    """Everything the serving graph needs, checked against the model."""
    channels_first = _is_channels_first(model)
    height, width, channels = _serving_size(model, image_size, channels_first)
    features_only = _is_backbone(model)
    num_classes = None if features_only else int(model.output_shape[-1])
    if class_names is None and not features_only:  # a pretrained classifier serves its weights' labels
        class_names = class_names_of(model)
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        if features_only:
            raise ValueError("class_names were given but the model has no classifier (include_top=False)")
        if len(class_names) != num_classes:
            raise ValueError(
                f"class_names has {len(class_names)} entries but the model has {num_classes} classes"
            )
    return ServingSpec(
        height=height,
        width=width,
        channels=channels,
        channels_first=channels_first,
        class_names=class_names,
        top_k=min(top_k, num_classes) if num_classes else None,
        resize=resize,
        apply_softmax=not features_only and _outputs_logits(model),
        max_pixels=max_pixels,
    )


def _prepare_base(base_path: str | os.PathLike) -> Path:
    base = Path(base_path)
    if base.exists() and not base.is_dir():
        raise ValueError(f"`base_path` must be a directory; received base_path={str(base)!r}, a file.")
    base.mkdir(parents=True, exist_ok=True)
    _atomic.remove_stale_temporaries(base)
    return base


def _write_version(
    staging: Path, serving_model, spec: ServingSpec, config: dict, warmup: bool, model_name: str
):
    """Write the SavedModel, its assets and warmup records into the staging directory."""
    build_archive(serving_model, spec).write_out(str(staging), verbose=False)
    assets = staging / contract.ASSETS_DIR
    assets.mkdir(exist_ok=True)
    if spec.class_names is not None:
        (assets / CLASS_NAMES_FILE).write_text(json.dumps(spec.class_names, indent=1) + "\n")
    (assets / EXPORT_CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
    if warmup:
        _write_warmup(staging, model_name, (spec.height, spec.width, spec.channels))


# --- model inspection ---------------------------------------------------------------------------


def _model_config(model: keras.Model) -> dict[str, Any]:
    try:
        config = model.get_config()
    except Exception:  # noqa: BLE001  (a model without get_config still exports)
        return {}
    return config if isinstance(config, dict) else {}


def _is_channels_first(model: keras.Model) -> bool:
    data_format = getattr(model, "data_format", None) or _model_config(model).get("data_format")
    return data_format == "channels_first"


def _is_backbone(model: keras.Model) -> bool:
    include_top = getattr(model, "include_top", None)
    if include_top is None:
        include_top = _model_config(model).get("include_top")
    return include_top is False or len(model.output_shape) != 2


def _outputs_logits(model: keras.Model) -> bool:
    """True when the output layer has no activation (logits), so the graph applies a softmax."""
    config = _model_config(model)
    if "classifier_activation" in config:
        return config["classifier_activation"] in (None, "linear")
    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None) == "linear"


def _serving_size(
    model: keras.Model, image_size: int | Sequence[int] | None, channels_first: bool
) -> tuple[int, int, int]:
    shape = tuple(model.input_shape)
    if len(shape) != 4:
        raise ValueError(f"model must take 4-D image batches, its input_shape is {shape}")
    channels, height, width = (
        (shape[1], shape[2], shape[3]) if channels_first else (shape[3], shape[1], shape[2])
    )
    if channels is None:
        raise ValueError(f"`model` must have a known number of input channels; received input_shape={shape}.")
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
            raise ValueError(f"`image_size` must be a positive int or (height, width); received image_size={image_size!r}.")
        if height is not None and width is not None and size != (height, width):
            raise ValueError(
                f"image_size {size} does not match the model's fixed input size {(height, width)}"
            )
        height, width = size
    if height is None or width is None:
        raise ValueError(
            f"the model accepts any image size (input_shape {shape}); pass image_size=(height, width) "
            "to fix the serving size"
        )
    return int(height), int(width), int(channels)


def _serving_model(model: keras.Model, compute_dtype: str) -> keras.Model:
    mixed = {name for name in policy_names(model) if name.startswith("mixed_")}
    if compute_dtype == "float32" and not mixed:
        return model
    if compute_dtype == "bfloat16" and mixed == {"mixed_bfloat16"}:
        return model
    return rebuild_with_policy(model, compute_dtype=compute_dtype)


# --- assets and warmup --------------------------------------------------------------------------


def _export_config(
    model: keras.Model, serving_model: keras.Model, *, version: int, spec: ServingSpec, compute_dtype: str
) -> dict[str, Any]:
    """The ``export_config.json`` describing the export (keys from ``keras_residual.contract``)."""
    config = _model_config(model)
    architecture = {"class_name": type(model).__name__, "name": model.name}
    for key, value in config.items():
        if key in ("layers", "input_layers", "output_layers", "name", "trainable"):
            continue
        try:
            json.dumps(value)
        except TypeError:
            continue
        architecture[key] = value
    if spec.top_k is None:
        outputs = [contract.OUTPUT_FEATURES]
    else:
        outputs = list(contract.CLASSIFIER_OUTPUTS)
        outputs += [contract.OUTPUT_TOP_K_LABELS] if spec.class_names else []
    return {
        contract.CONFIG_FORMAT: contract.CONFIG_FORMAT_VALUE,
        contract.CONFIG_VERSION: version,
        contract.CONFIG_PRESET: _preset_name(model, config),
        contract.CONFIG_ARCHITECTURE: architecture,
        contract.CONFIG_INPUT_SIZE: {"height": spec.height, "width": spec.width, "channels": spec.channels},
        contract.CONFIG_INPUT: "float32 NHWC raw pixels (0..255); the model's own preprocessing runs in the graph",
        contract.CONFIG_PREPROCESSING: config.get("preprocessing"),
        contract.CONFIG_RESIZE: spec.resize,
        contract.CONFIG_MAX_PIXELS: spec.max_pixels,
        contract.CONFIG_PRECISION: {
            "compute_dtype": compute_dtype,
            "trained_policies": _policies(model),
            "served_policies": _policies(serving_model),
        },
        contract.CONFIG_OUTPUTS: outputs,
        contract.CONFIG_SIGNATURES: {SIGNATURE_IMAGES: INPUT_IMAGES, SIGNATURE_BYTES: INPUT_BYTES},
        contract.CONFIG_NUM_CLASSES: None if spec.top_k is None else int(model.output_shape[-1]),
        contract.CONFIG_TOP_K: spec.top_k,
        contract.CONFIG_CLASS_NAMES_FILE: CLASS_NAMES_FILE if spec.class_names is not None else None,
        "keras_residual_version": __version__,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }


def _policies(model: keras.Model) -> list[str]:
    return sorted(policy_names(model))


def _preset_name(model: keras.Model, config: dict[str, Any]) -> str | None:
    """The preset a model was built from: its config's ``preset``, else its name when that is one."""
    if config.get("preset"):
        return str(config["preset"])
    return model.name if model.name in list_presets() else None


def _require_serving_api() -> None:
    try:
        import tensorflow_serving.apis.prediction_log_pb2  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "writing TF Serving warmup requests needs tensorflow-serving-api: "
            "pip install 'keras-residual[serving]' (or pass warmup=False)"
        ) from err


def _write_warmup(version_dir: Path, model_name: str, size: tuple[int, int, int]) -> None:
    """One PredictionLog per signature, each a batch of WARMUP_BATCH random images."""
    from tensorflow_serving.apis import (  # optional extra: checked by _require_serving_api
        predict_pb2,
        prediction_log_pb2,
    )

    height, width, channels = size
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (WARMUP_BATCH, height, width, channels)).astype(np.float32)
    encoded = [tf.io.encode_png(tf.constant(image.astype(np.uint8))).numpy() for image in images]
    requests = [
        (SIGNATURE_IMAGES, INPUT_IMAGES, tf.make_tensor_proto(images)),
        (SIGNATURE_BYTES, INPUT_BYTES, tf.make_tensor_proto(encoded, dtype=tf.string)),
    ]
    folder = version_dir / contract.ASSETS_EXTRA_DIR
    folder.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / WARMUP_FILE)) as writer:
        for signature, key, tensor in requests:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature
            request.inputs[key].CopyFrom(tensor)
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
