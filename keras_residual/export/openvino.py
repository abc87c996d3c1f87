"""Export a Keras image model to OpenVINO IR (``.xml`` + ``.bin``), checked in OpenVINO Runtime first.

The graph comes from Keras's own ``model.export(format="openvino")`` (``openvino.convert_model`` of
the model's ``tf.function``, straight from TensorFlow: BatchNorm folded, grouped convolutions as
``GroupConvolution``). INT8 is NNCF post-training quantization of that graph, calibrated on real
images. Every file is compiled with ``openvino.Core().compile_model`` and compared with Keras before
it appears at the target.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from keras_residual._atomic import staging_dir
from keras_residual._validation import check_choice
from keras_residual.contract import INPUT_IMAGES
from keras_residual.export import runtime_check as rc
from keras_residual.precision import OPENVINO_PRECISIONS

RUNTIME_PRECISION = {"float32": "f32", "bfloat16": "bf16", "int8": None}
"""OpenVINO ``INFERENCE_PRECISION_HINT`` each variant is checked with (INT8: the device default)."""

RUNTIME_OPTIONS = ["runtime_options", "INFERENCE_PRECISION_HINT"]
"""Where the IR records the precision it was verified with (``rt_info``); see `compile_ir`."""

CONVERTER = "keras model.export(format='openvino') -> openvino.convert_model (TensorFlow frontend)"


def export_openvino(
    model,
    path,
    precision: str = "float32",
    calibration_data=None,
    verify: bool = True,
    atol: float | None = None,
    min_agreement: float | None = None,
    device: str = "CPU",
) -> rc.RuntimeExportReport:
    """Export an image model to OpenVINO IR, compile it in OpenVINO Runtime and compare it with Keras.

    The IR takes ``images`` (float32 ``[batch, H, W, C]`` raw pixels, dynamic batch, preprocessing
    inside) and returns ``probabilities`` (or ``features`` / ``outputs``). Mixed-precision models are
    first rebuilt in float32. ``path.bin`` is moved into place before ``path`` (the ``.xml``, which is
    what readers open), and only after the checks passed; an older ``.xml`` at ``path`` is removed
    first, so an interrupted export never leaves an ``.xml`` next to a ``.bin`` it does not describe.

    Args:
        model: A built Keras model with one NHWC image input.
        path: Target ``.xml`` file (the ``.bin`` goes beside it); parent folders are created.
        precision: ``"float32"`` (float32 weights, checked with ``INFERENCE_PRECISION_HINT=f32``),
            ``"bfloat16"`` (float16-compressed weights, half the file, checked with ``bf16``) or
            ``"int8"`` (NNCF post-training quantization, calibrated on real images).
        calibration_data: For ``"int8"``: ``None``/``"digits"`` (128 digits calibrate, 360 held-out
            digits measure top-1 agreement), a folder of images, or an NHWC array of raw pixels
            (first 3/4 calibrate, last 1/4 held out).
        verify: Compare with Keras on 16 real images and, for bfloat16/INT8, measure top-1
            agreement with float32 Keras on held-out images.
        atol: Relative float32 parity bound, ``max |ov - keras| <= atol * max(1, max |keras|)``
            (default 1e-4). bfloat16 and INT8 are judged by top-1 agreement.
        min_agreement: Refuse bfloat16/INT8 files whose top-1 agreement is below this fraction.
        device: OpenVINO device the checks compile for (``"CPU"``).

    Returns:
        A `RuntimeExportReport`; ``execution_precision`` is what the device actually ran (a CPU
        without native bfloat16 runs a ``bf16`` hint in float32).

    Raises:
        ValueError: an argument is out of range (the message names it).
        RuntimeExportError: layers OpenVINO cannot convert (listed), or a failed check. Nothing is written.
        ImportError: the ``openvino`` extra (``nncf`` too for INT8) is missing.

    Example:
        ```python
        import keras
        from keras_residual.export import export_openvino

        from keras_residual.models import ResNet

        model = ResNet.from_preset(
            "resnet20_cifar", stage_widths=(8, 8, 16), stem_width=8,
            input_shape=(32, 32, 3), num_classes=10,
        )
        report = export_openvino(model, "resnet20.xml")
        print(report.execution_precision, report.op_counts["Convolution"])
        ```
    """
    started = time.perf_counter()
    path = rc.check_target(path, ".xml")
    check_choice("precision", precision, OPENVINO_PRECISIONS)
    check_choice("device", device, _openvino().Core().available_devices)
    atol, min_agreement = rc.check_common(verify, atol, min_agreement)
    rc.check_calibration(calibration_data, precision == "int8")
    prepared = rc.prepare_source(model)
    source, size = prepared[0], prepared[2]
    converter = CONVERTER + (" + NNCF quantize" if precision == "int8" else "")
    report = rc.new_report("openvino", path, precision, model, prepared, converter)
    calibration, held_out = rc.calibration_for(
        report, calibration_data, size, precision == "int8", verify and precision != "float32"
    )
    path.parent.mkdir(parents=True, exist_ok=True)  # only once every argument passed
    with staging_dir(path) as work:
        ov_model = convert(source, report.output_names, work / "keras.xml")
        if precision == "int8":
            ov_model = quantize_int8(ov_model, calibration)
        if RUNTIME_PRECISION[precision]:
            ov_model.set_rt_info(RUNTIME_PRECISION[precision], RUNTIME_OPTIONS)
        staged = work / path.name
        _openvino().save_model(ov_model, str(staged), compress_to_fp16=precision == "bfloat16")
        compiled = compile_ir(staged, device)
        report.execution_precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        report.op_counts = dict(
            Counter(op.get_type_name() for op in ov_model.get_ordered_ops()).most_common()
        )
        report.file_size = staged.stat().st_size + staged.with_suffix(".bin").stat().st_size
        if verify:
            _verify(report, model, source, compiled, size, held_out, atol, min_agreement)
        _publish(staged, path)
    report.seconds = time.perf_counter() - started
    return report


def convert(source, names, raw_xml: Path):
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
        raise rc.RuntimeExportError(f"OpenVINO conversion failed: {type(err).__name__}: {err}") from err
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
    """Compile an IR written by `export_openvino` with the inference precision it was verified with.

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


def _verify(report, model, source, compiled, size, held_out, atol, min_agreement) -> None:
    """Float32 parity, or top-1 agreement for bfloat16 / INT8, of the compiled IR against Keras."""
    tolerance = (atol or rc.FLOAT32_TOLERANCE) if report.variant == "float32" else None
    rc.verify(
        report, model, source, lambda images: _run(compiled, images), size, held_out, tolerance, min_agreement
    )


def _run(compiled, images, batch_size: int = 16) -> list:
    import numpy as np

    request = compiled.create_infer_request()
    chunks = []
    for start in range(0, len(images), batch_size):
        result = request.infer({INPUT_IMAGES: images[start : start + batch_size]})
        chunks.append([np.array(result[out], dtype="float32") for out in compiled.outputs])
    return [np.concatenate(part) for part in zip(*chunks, strict=True)]


def _publish(staged: Path, path: Path) -> None:
    """Move the verified pair into place: drop an old ``.xml``, then the ``.bin``, then the ``.xml``."""
    path.unlink(missing_ok=True)
    os.replace(staged.with_suffix(".bin"), path.with_suffix(".bin"))
    os.replace(staged, path)


def _openvino():
    try:
        import openvino
    except ImportError as err:
        raise ImportError("OpenVINO export needs openvino: pip install 'keras-residual[openvino]'") from err
    return openvino
