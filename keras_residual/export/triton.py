"""The Triton model repository format: ``DIR/NAME/config.pbtxt`` and ``DIR/NAME/<version>/model.onnx``
(or ``model.xml`` + ``model.bin``), for Triton Inference Server's ONNX Runtime or OpenVINO backend.

Triton's TensorFlow backend is deprecated since release 25.03, so this repository holds the ONNX or
OpenVINO file that the ``onnx`` / ``openvino`` formats write: their conversion makes the file and their
loader runs it for the checks (the pipeline compares it with float32 Keras before anything appears).
The ``config.pbtxt`` names the backend, the ``images`` input and the outputs with their dims (batch
excluded), ``max_batch_size`` and ``dynamic_batching``. With the batching tuner's record
(``batching_curve.json`` of ``keras-residual tune-batching``), the batch size, the preferred sizes and the
queue delay are the ones the tuner chose from its measured curve (TF Serving's ``max_batch_size``,
``allowed_batch_sizes`` and ``batch_timeout_micros`` mean the same as Triton's ``max_batch_size``,
``preferred_batch_size`` and ``max_queue_delay_microseconds``); the tuner measured the SavedModel in
TensorFlow, so re-tune for the Triton backend's own speed when it matters.

Options (``export(model, DIR, format="triton", ...)``): ``backend`` (``"onnxruntime"``, default, or
``"openvino"``), ``model_name`` (default: the model's name), ``version`` (default 1), ``batching`` (the
tuner's record: a path or its dict), ``max_batch_size`` (default 8 without a record), ``instances`` (CPU
model instances, default 1), ``opset`` (ONNX) and ``device`` (OpenVINO). One format module of
`keras_residual.export.formats`: `check_options`, `convert`, `load`, `publish`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

from keras_residual._atomic import publish_dir, write_text
from keras_residual._validation import check_choice, check_int, fail
from keras_residual.contract import INPUT_IMAGES
from keras_residual.export import formats
from keras_residual.export.formats import Artifact, take_options
from keras_residual.precision import FORMAT_PRECISIONS

NAME = "triton"
BACKENDS = {"onnxruntime": "onnx", "openvino": "openvino"}
"""Triton backend -> the format whose file it runs."""
PRECISIONS = FORMAT_PRECISIONS[NAME]
"""Every precision of either backend's format (`check_options` holds each backend to its own row)."""
SUFFIX = None  # the target is the model repository (a directory)
MODEL_FILES = {"onnxruntime": ("model.onnx",), "openvino": ("model.xml", "model.bin")}
DEFAULT_MAX_BATCH = 8
_OPTIONS = {
    "backend": "onnxruntime",
    "model_name": None,
    "version": 1,
    "batching": None,
    "max_batch_size": None,
    "instances": 1,
    "opset": None,
    "device": None,
}


def check_options(model, path: Path, precision: str, options: dict) -> tuple[Path, dict]:
    """Check the options; the export appears at ``path/MODEL_NAME`` (the repository's model folder)."""
    options = take_options(NAME, options, _OPTIONS)
    backend = check_choice("backend", options["backend"], tuple(BACKENDS))
    inner = BACKENDS[backend]
    if precision not in FORMAT_PRECISIONS[inner]:
        fail("precision", f"one of {list(FORMAT_PRECISIONS[inner])} for backend={backend!r}", precision)
    name = options["model_name"] or re.sub(r"[^A-Za-z0-9_.-]+", "_", model.name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        fail("model_name", "letters, digits, '_', '.' and '-' (a folder name)", options["model_name"])
    version = check_int("version", options["version"], minimum=1)
    if (path / name / str(version)).exists():
        fail("version", f"a version not yet in {str(path / name)!r}", version)
    batching = _batching(options["batching"], options["max_batch_size"])
    inner_options = {key: options[key] for key in ("opset", "device") if options[key] is not None}
    inner_target, inner_options = formats.get(inner).check_options(
        model, path / name / str(version) / MODEL_FILES[backend][0], precision, inner_options
    )
    checked = {
        "backend": backend,
        "model_name": name,
        "version": version,
        "batching": batching,
        "instances": check_int("instances", options["instances"], minimum=1),
        "inner": inner_options,
        "inner_target": inner_target,
    }
    return path / name, checked


def _batching(record, max_batch_size) -> dict:
    """``max_batch_size``, preferred sizes and queue delay: from the tuner's record, else the defaults."""
    if record is None:
        size = check_int("max_batch_size", DEFAULT_MAX_BATCH if max_batch_size is None else max_batch_size)
        return {"max_batch_size": size, "preferred": [], "delay_us": 0, "source": "defaults"}
    source = "record"
    if isinstance(record, (str, os.PathLike)):
        source = Path(record).name
        try:
            record = json.loads(Path(record).read_text())
        except (OSError, ValueError) as err:
            fail("batching", f"the batching tuner's JSON record ({type(err).__name__}: {err})", os.fspath(record))
    chosen = record.get("parameters") if isinstance(record, dict) else None
    if not isinstance(chosen, dict) or not record.get("curve") or "max_batch_size" not in chosen:
        shown = source if source != "record" else type(record).__name__
        fail("batching", "the tuner's record (batching_curve.json) with its curve and parameters", shown)
    size = check_int("max_batch_size", chosen["max_batch_size"] if max_batch_size is None else max_batch_size)
    preferred = sorted({int(s) for s in chosen.get("allowed_batch_sizes", []) if 1 < int(s) <= size})
    return {
        "max_batch_size": size,
        "preferred": preferred or [size],
        "delay_us": int(chosen.get("batch_timeout_micros", 0)),
        "source": source,
    }


def model_config(job) -> str:
    """The ``config.pbtxt`` text (Triton's ``ModelConfig`` text proto) for ``job``."""
    options = job.options
    batching = options["batching"]

    def dims(shape) -> str:
        return ", ".join(str(-1 if d is None else int(d)) for d in shape)

    lines = [
        f'name: "{options["model_name"]}"',
        f'backend: "{options["backend"]}"',
        f"max_batch_size: {batching['max_batch_size']}",
        f'input [\n  {{\n    name: "{INPUT_IMAGES}"\n    data_type: TYPE_FP32\n    dims: [ {dims(job.size)} ]\n  }}\n]',
    ]
    outputs = [
        f'  {{\n    name: "{name}"\n    data_type: TYPE_FP32\n    dims: [ {dims(tensor.shape[1:])} ]\n  }}'
        for name, tensor in zip(job.output_names, job.source.outputs, strict=True)
    ]
    lines.append("output [\n" + ",\n".join(outputs) + "\n]")
    sizes = "".join(f"\n  preferred_batch_size: {size}" for size in batching["preferred"])
    lines.append(f"dynamic_batching {{{sizes}\n  max_queue_delay_microseconds: {batching['delay_us']}\n}}")
    lines.append(f"instance_group [\n  {{\n    kind: KIND_CPU\n    count: {options['instances']}\n  }}\n]")
    lines.append('version_policy {\n  latest {\n    num_versions: 1\n  }\n}')
    if options["backend"] == "openvino" and job.precision == "bfloat16":  # the backend's bf16 switch
        lines.append('parameters {\n  key: "HINT_BF16"\n  value {\n    string_value: "YES"\n  }\n}')
    return "# batching from: " + str(batching["source"]) + "\n" + "\n".join(lines) + "\n"


def _inner(job) -> tuple[object, formats.Job]:
    """The ``onnx`` / ``openvino`` format module and the job it converts (its own options and file name)."""
    module = formats.get(BACKENDS[job.options["backend"]])
    return module, dataclasses.replace(job, options=job.options["inner"], target=job.options["inner_target"])


def convert(job, work: Path) -> Artifact:
    """The backend format's conversion, laid out as ``NAME/<version>/model.*`` beside ``config.pbtxt``."""
    module, inner_job = _inner(job)
    inner = module.convert(inner_job, work)
    folder = work / job.options["model_name"]
    version = folder / str(job.options["version"])
    version.mkdir(parents=True)
    files = MODEL_FILES[job.options["backend"]]
    sources = [inner.path] if len(files) == 1 else [inner.path, inner.path.with_suffix(".bin")]
    for source, file_name in zip(sources, files, strict=True):
        os.replace(source, version / file_name)
    inner.path = version / files[0]
    (folder / "config.pbtxt").write_text(model_config(job))
    return Artifact(
        path=folder,
        converter=f"{inner.converter} -> Triton repository ({job.options['backend']} backend)",
        op_counts=inner.op_counts,
        file_size=formats.file_size(folder),
        details={**inner.details, "triton_backend": job.options["backend"],
                 "max_batch_size": job.options["batching"]["max_batch_size"]},
        state=(module, inner_job, inner),
    )


def load(artifact: Artifact, job):
    """Run the repository's model file in the backend's runtime (the backend format's own loader)."""
    module, inner_job, inner = artifact.state
    run = module.load(inner, inner_job)
    artifact.runtime = f"{inner.runtime} (Triton {job.options['backend']} backend's runtime)"
    artifact.execution_precision = inner.execution_precision
    return run


def publish(artifact: Artifact, job) -> None:
    """Add the checked version folder to ``DIR/NAME``, then write ``config.pbtxt`` (both atomically).

    The version folder appears whole with one rename; the config, which Triton reads to load the
    model, is replaced last, so a reader never meets a config naming a file that is not there yet.
    """
    model_dir = job.target
    model_dir.mkdir(parents=True, exist_ok=True)
    version = str(job.options["version"])
    publish_dir(artifact.path / version, model_dir / version, overwrite=False)
    write_text(model_dir / "config.pbtxt", (artifact.path / "config.pbtxt").read_text())
