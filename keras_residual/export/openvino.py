"""The OpenVINO IR format (``.xml`` + ``.bin``), checked in OpenVINO Runtime.

The graph comes from Keras's own ``model.export(format="openvino")`` (``openvino.convert_model`` of
the model's ``tf.function``, straight from TensorFlow: BatchNorm folded, grouped convolutions as
``GroupConvolution``). INT8 is NNCF post-training quantization of that graph, calibrated on real
images. Every file is compiled with ``openvino.Core().compile_model`` and compared with Keras before
it appears at the target. One format module of `keras_residual.export.formats`: `check_options`,
`convert`, `load`, `publish`.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from keras_residual._atomic import atomic_path
from keras_residual._validation import check_choice
from keras_residual.contract import INPUT_IMAGES
from keras_residual.export import runtime_check as rc
from keras_residual.export.formats import Artifact, take_options
from keras_residual.export.report import ExportError
from keras_residual.precision import FORMAT_PRECISIONS

NAME = "openvino"
PRECISIONS = FORMAT_PRECISIONS[NAME]
SUFFIX = ".xml"

RUNTIME_PRECISION = {"float32": "f32", "bfloat16": "bf16", "int8": None}
"""OpenVINO ``INFERENCE_PRECISION_HINT`` each precision is checked with (INT8: the device default)."""

RUNTIME_OPTIONS = ["runtime_options", "INFERENCE_PRECISION_HINT"]
"""Where the IR records the precision it was verified with (``rt_info``); see `compile_ir`."""

CONVERTER = "keras model.export(format='openvino') -> openvino.convert_model (TensorFlow frontend)"


def check_options(model, path: Path, precision: str, options: dict) -> tuple[Path, dict]:
    """``device``: the OpenVINO device the checks compile for (default ``"CPU"``)."""
    options = take_options(NAME, options, {"device": "CPU"})
    check_choice("device", options["device"], _openvino().Core().available_devices)
    return path, options


def convert(job, work: Path) -> Artifact:
    """Keras's OpenVINO exporter, NNCF INT8 for ``int8``, float16-compressed weights for ``bfloat16``."""
    ov_model = convert_model(job.source, job.output_names, work / "keras.xml")
    if job.precision == "int8":
        ov_model = quantize_int8(ov_model, job.calibration)
    if RUNTIME_PRECISION[job.precision]:
        ov_model.set_rt_info(RUNTIME_PRECISION[job.precision], RUNTIME_OPTIONS)
    staged = work / job.target.name
    _openvino().save_model(ov_model, str(staged), compress_to_fp16=job.precision == "bfloat16")
    return Artifact(
        path=staged,
        converter=CONVERTER + (" + NNCF quantize" if job.precision == "int8" else ""),
        op_counts=dict(Counter(op.get_type_name() for op in ov_model.get_ordered_ops()).most_common()),
        file_size=staged.stat().st_size + staged.with_suffix(".bin").stat().st_size,
    )


def load(artifact: Artifact, job):
    """Compile the IR with the inference precision it records; returns ``run(images)``."""
    import numpy as np

    compiled = compile_ir(artifact.path, job.options["device"])
    artifact.execution_precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    artifact.runtime = f"openvino {_openvino().get_version()} ({job.options['device']})"
    request = compiled.create_infer_request()

    def run(images, batch_size: int = 16) -> list:
        chunks = []
        for start in range(0, len(images), batch_size):
            result = request.infer({INPUT_IMAGES: images[start : start + batch_size]})
            chunks.append([np.array(result[out], dtype="float32") for out in compiled.outputs])
        return [np.concatenate(part) for part in zip(*chunks, strict=True)]

    return run


def publish(artifact: Artifact, job) -> None:
    """Move the checked pair into place: drop an old ``.xml``, then the ``.bin``, then the ``.xml``.

    Readers open the ``.xml``; removing an old one first means an interrupted export never leaves an
    ``.xml`` beside a ``.bin`` it does not describe. Each file goes in with one atomic rename.
    """
    job.target.unlink(missing_ok=True)
    for suffix in (".bin", ".xml"):
        with atomic_path(job.target.with_suffix(suffix)) as tmp:
            os.replace(artifact.path.with_suffix(suffix), tmp)


def convert_model(source, names, raw_xml: Path):
    """Keras's OpenVINO exporter on a float32 model; returns the ``openvino.Model`` with our tensor names.

    Raises:
        RuntimeExportError: the TensorFlow frontend has no conversion for some ops (their layers listed).
    """
    ov = _openvino()
    try:
        source.export(str(raw_xml), format="openvino", verbose=False)
    except Exception as err:  # OpConversionFailure and friends
        marker = "No conversion rule found for operations:"
        if marker in str(err):
            ops = str(err).split(marker, 1)[1].splitlines()[0]
            raise rc.unsupported_error("OpenVINO", source, {op.strip() for op in ops.split(",")}) from err
        raise ExportError(f"OpenVINO conversion failed: {type(err).__name__}: {err}") from err
    ov_model = ov.Core().read_model(str(raw_xml))
    ov_model.inputs[0].get_tensor().set_names({INPUT_IMAGES})
    ov_model.inputs[0].get_node().set_friendly_name(INPUT_IMAGES)
    for output, name in zip(ov_model.outputs, names, strict=True):
        output.get_tensor().set_names({name})
    return ov_model


def quantize_int8(ov_model, images):
    """NNCF post-training INT8 quantization of ``ov_model``, ranges calibrated on ``images`` one at a time.

    NNCF's defaults for CPUs (symmetric per-channel INT8 weights, activations quantized where the
    CPU plugin has INT8 kernels) with its full bias correction instead of the fast one: on a
    digits-trained resnet20_cifar the fast one kept 96.7% top-1 agreement on held-out digits, the
    full one 98.6%, for about 2.5x the quantization time. Every calibration image is used.
    """
    try:
        import nncf
    except ImportError as err:
        raise ImportError("INT8 OpenVINO export needs nncf: pip install 'keras-residual[nncf]'") from err
    dataset = nncf.Dataset([images[i : i + 1] for i in range(len(images))])
    return nncf.quantize(ov_model, dataset, subset_size=len(images), fast_bias_correction=False)


def compile_ir(path, device: str = "CPU"):
    """Compile an IR written by ``export(format="openvino")`` with the inference precision it was verified with.

    OpenVINO's CPU plugin picks bfloat16 by default on CPUs with AMX or AVX512_BF16 and does not
    apply the hint the IR records in its ``rt_info``; this reads it and passes it to ``compile_model``.

    Example:
        >>> compiled = compile_ir("model.xml")  # doctest: +SKIP
        >>> probabilities = compiled(images)[0]  # doctest: +SKIP
    """
    ov = _openvino()
    core = ov.Core()
    ov_model = core.read_model(str(path))
    config = {}
    if ov_model.has_rt_info(RUNTIME_OPTIONS):
        config["INFERENCE_PRECISION_HINT"] = ov_model.get_rt_info(RUNTIME_OPTIONS).astype(str)
    return core.compile_model(ov_model, device, config)


def _openvino():
    try:
        import openvino
    except ImportError as err:
        raise ImportError("OpenVINO export needs openvino: pip install 'keras-residual[openvino]'") from err
    return openvino
