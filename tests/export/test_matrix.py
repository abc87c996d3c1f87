"""The format x precision matrix: one `export()` call per supported pair on the trained digits model.

Each published file is run again here, in its own runtime, independently of the pipeline's checks:
float32 files must match Keras within 1e-4 x max(1, |Keras output|) on real images, reduced
precisions must agree with float32 Keras on >= 95% of the held-out digits (the pipeline itself
refuses them below 99%). Then, per format: an impossible `min_agreement`, an unknown or unsupported
precision, a failed check and a mixed-precision source. Adding a format means one row in `MATRIX`
and one runner in `RUNNERS`.
"""

import keras
import numpy as np
import pytest

from keras_residual import ResNet
from keras_residual.cli import main
from keras_residual.export import TOLERANCE, ExportError, ExportReport, export, formats
from keras_residual.export.images import calibration_split, verification_images
from keras_residual.precision import FORMAT_PRECISIONS, dtype_policy
from tests.export.runtime_helpers import IMAGE_SIZE, digits_resnet20, kill_mid_export, unsupported_model
from tests.export.test_onnx import randomize_norm_statistics
from tests.export.test_onnx_presets import PRESETS, SMALL

TARGETS = {"saved_model": "base", "onnx": "model.onnx", "litert": "model.tflite", "openvino": "model.xml"}
MATRIX = [(fmt, precision) for fmt in TARGETS for precision in FORMAT_PRECISIONS[fmt]]
OPTIONS = {"saved_model": {"warmup": False}}


def _run_onnx(path, images):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": images})[0]


def _run_litert(path, images):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    return np.concatenate([runner(images=images[i : i + 16])["probabilities"] for i in range(0, len(images), 16)])


def _run_openvino(path, images):
    from keras_residual.export.openvino import compile_ir

    return np.asarray(compile_ir(path)(images)[0])


def _run_saved_model(path, images):
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return serve(images=tf.constant(images))["probabilities"].numpy()


RUNNERS = {"saved_model": _run_saved_model, "onnx": _run_onnx, "litert": _run_litert, "openvino": _run_openvino}


@pytest.fixture(scope="module")
def digits():
    model, accuracy = digits_resnet20()
    assert accuracy > 0.85, f"the fixture model did not learn digits (val accuracy {accuracy:.3f})"
    _, held_out, _ = calibration_split("digits", IMAGE_SIZE, IMAGE_SIZE, 3)
    return model, held_out


@pytest.mark.xdist_group("digits_model")  # one worker trains the digits model, once
@pytest.mark.parametrize(("fmt", "precision"), MATRIX)
def test_every_format_and_precision_is_verified_in_its_runtime(tmp_path, digits, fmt, precision):
    model, held_out = digits
    # INT8 on this 8x8, 3-epoch model keeps 98.6% (ONNX, OpenVINO) to 100%: held to the acceptance
    # bound of 95%; float16 / bfloat16 to the default 99%.
    minimum = 0.95 if "int8" in precision else None
    report = export(model, tmp_path / TARGETS[fmt], fmt, precision=precision, min_agreement=minimum,
                    **OPTIONS.get(fmt, {}))
    assert isinstance(report, ExportReport) and report.format == fmt and report.precision == precision
    assert report.path.exists() and report.file_size > 0 and report.num_ops > 0 and report.runtime
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    run = RUNNERS[fmt]
    if precision == "float32":
        images = verification_images(IMAGE_SIZE, IMAGE_SIZE, 3)
        expected = keras.ops.convert_to_numpy(model(images))
        bound = TOLERANCE * max(1.0, float(np.max(np.abs(expected))))
        assert report.max_abs_diff <= bound and report.top1_agreement is None
        assert float(np.max(np.abs(run(report.path, images) - expected))) <= bound
    else:
        expected = keras.ops.convert_to_numpy(model(held_out)).argmax(-1)
        agreement = float(np.mean(run(report.path, held_out).argmax(-1) == expected))
        assert report.top1_agreement >= 0.95 and report.heldout_images == len(held_out) == 360
        assert agreement >= 0.95 and report.min_agreement == (minimum or 0.99)


def _tiny():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("fmt", TARGETS)
def test_impossible_min_agreement_is_a_value_error_and_writes_nothing(tmp_path, fmt):
    reduced = FORMAT_PRECISIONS[fmt][1]
    with pytest.raises(ValueError, match=r"`min_agreement` must be .*received min_agreement=1\.01"):
        export(_tiny(), tmp_path / TARGETS[fmt], fmt, precision=reduced, min_agreement=1.01, **OPTIONS.get(fmt, {}))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", TARGETS)
def test_precisions_name_the_supported_ones(tmp_path, fmt):
    supported, target = FORMAT_PRECISIONS[fmt], tmp_path / "new" / TARGETS[fmt]  # no folder is made either
    with pytest.raises(ValueError, match=r"`precision` must be one of .*" + ".*".join(supported)):
        export(_tiny(), target, fmt, precision="int4")
    unsupported = next(p for p in ("float16", "bfloat16", "dynamic_int8") if p not in supported)
    with pytest.raises(ValueError, match=f"received precision='{unsupported}'"):
        export(_tiny(), target, fmt, precision=unsupported)
    with pytest.raises(ValueError, match="`format` must be one of"):
        export(_tiny(), tmp_path / "x", "tensorrt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", TARGETS)
def test_failed_check_raises_and_leaves_nothing(tmp_path, fmt, monkeypatch):
    module = formats.get(fmt)
    load = module.load

    def wrong(artifact, job):
        run = load(artifact, job)
        return lambda images: [out + 0.5 for out in run(images)]

    monkeypatch.setattr(module, "load", wrong)
    target = tmp_path / "out" / TARGETS[fmt]
    with pytest.raises(ExportError, match="differs from Keras"):
        export(_tiny(), target, fmt, **OPTIONS.get(fmt, {}))
    assert [p.name for p in target.parent.rglob("*") if p.is_file() or p.name.startswith(".")] == []


@pytest.mark.parametrize("fmt", TARGETS)
def test_mixed_precision_source_is_checked_against_its_float32_rebuild(tmp_path, fmt):
    with dtype_policy("mixed_float16"):
        mixed = _tiny()
    report = export(mixed, tmp_path / TARGETS[fmt], fmt, **OPTIONS.get(fmt, {}))
    assert report.rebuilt_float32 and report.source_policy == "mixed_float16"
    assert report.source_max_abs_diff is not None and report.max_abs_diff <= TOLERANCE


def test_a_reloaded_mixed_model_is_reported_by_its_layers_policy(tmp_path):
    """A Functional model reloaded from .keras keeps float32 on the model, mixed_bfloat16 on its layers."""
    with dtype_policy("mixed_bfloat16"):
        _tiny().save(tmp_path / "mixed.keras")
    reloaded = keras.saving.load_model(tmp_path / "mixed.keras")
    report = export(reloaded, tmp_path / "model.onnx", "onnx")
    assert report.source_policy == "mixed_bfloat16" and report.rebuilt_float32
    assert "source   mixed_bfloat16 model, compared with its float32 rebuild" in str(report)


@pytest.mark.parametrize("fmt", TARGETS)
def test_cli_export_format_model_out_precision(tmp_path, fmt, capsys):
    model_path = tmp_path / "model.keras"
    _tiny().save(model_path)
    reduced = FORMAT_PRECISIONS[fmt][1]
    argv = ["export", fmt, str(model_path), str(tmp_path / TARGETS[fmt]), "--precision", reduced, "--min-agreement", "0"]
    argv += ["--option", "warmup=false"] if fmt == "saved_model" else []
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{fmt} export: " in printed.lower() and f", {reduced})" in printed and "top-1" in printed


@pytest.mark.parametrize("fmt", ["litert", "openvino"])
def test_killed_export_leaves_nothing_at_the_target(tmp_path, fmt):
    target = tmp_path / "out" / TARGETS[fmt]

    def mid_export():  # the file is written, hidden in the staging folder, while it is checked
        assert [p.name for p in next(target.parent.glob(".tmp-*")).iterdir()]

    kill_mid_export(fmt, target, tmp_path / "marker", mid_export)
    assert [p.name for p in target.parent.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("fmt", ["litert", "openvino"])
def test_every_preset_family_passes_float32_parity(tmp_path, fmt, preset):
    """Every distinct ResNet graph (v1, v1.5, v2, D, ResNeXt, SE, CIFAR), BN statistics randomized.

    ONNX has its own version with graph-shape checks (test_onnx_presets.py).
    """
    model = ResNet.from_preset(preset, **{**SMALL, **PRESETS[preset]})
    randomize_norm_statistics(model)
    report = export(model, tmp_path / TARGETS[fmt], fmt)
    assert report.max_rel_diff <= TOLERANCE, str(report)
    assert not any(op.startswith(("Flex", "CUSTOM")) for op in report.op_counts)
    if fmt == "openvino" and preset.startswith("resnext"):
        assert report.op_counts["GroupConvolution"] == 4  # one grouped 3x3 per bottleneck, not split


@pytest.mark.parametrize("fmt", ["litert", "openvino"])
def test_layers_the_runtime_cannot_run_are_named_and_nothing_is_written(tmp_path, fmt):
    with pytest.raises(ExportError, match=r"running_product \(Cumprod\)"):
        export(unsupported_model(), tmp_path / TARGETS[fmt], fmt)
    assert list(tmp_path.iterdir()) == []
