"""LiteRT export: parity in the ai-edge-litert interpreter, every preset family, quantization, refusals, atomicity."""

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from keras_residual.cli import main
from keras_residual.export import TOLERANCE as FLOAT32_TOLERANCE
from keras_residual.export import export_litert
from keras_residual.export.images import verification_images
from tests.export.runtime_helpers import digits_resnet20
from tests.export.test_onnx import tiny_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def litert_run(path, images):
    """``probabilities`` of the file's serving_default signature, in the runtime users deploy."""
    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    return runner(images=images.astype("float32"))["probabilities"]


def tensor_dtypes(path) -> set[str]:
    """Dtypes of the tensors stored in the file (read without delegates, which repack weights)."""
    plain = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    return {np.dtype(t["dtype"]).name for t in plain.get_tensor_details()}


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    model = tiny_model()
    path = tmp_path_factory.mktemp("litert") / "tiny.tflite"
    return model, export_litert(model, path)


def test_float32_export_report_signature_and_dynamic_batch(tiny_export):
    model, report = tiny_export
    assert report.path.is_file() and report.file_size == report.path.stat().st_size
    assert (report.format, report.variant, report.input_dtype) == ("litert", "float32", "float32")
    assert report.input_shape == (None, 32, 32, 3) and report.output_names == ("probabilities",)
    assert report.tolerance == FLOAT32_TOLERANCE and report.max_abs_diff <= FLOAT32_TOLERANCE
    assert report.verify_images == 16 and not report.rebuilt_float32
    # Builtin kernels only, BatchNorm folded into the convolutions.
    assert report.op_counts["CONV_2D"] == 3 and "DELEGATE" not in report.op_counts
    assert not any(op.startswith(("Flex", "CUSTOM")) for op in report.op_counts)
    assert "BATCH_NORM" not in str(report.op_counts) and "parity" in str(report)
    interpreter = Interpreter(model_path=str(report.path))
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["images"], "outputs": ["probabilities"]}
    }
    for batch in (1, 7):
        images = verification_images(32, 32, 3, count=batch)
        expected = keras.ops.convert_to_numpy(model(images, training=False))
        np.testing.assert_allclose(litert_run(report.path, images), expected, atol=FLOAT32_TOLERANCE, rtol=0)
    assert sorted(p.name for p in report.path.parent.iterdir()) == ["tiny.tflite"]


@pytest.mark.slow
@pytest.mark.xdist_group("digits_model")
def test_int8_with_uint8_io_feeds_raw_pixels(tmp_path):
    model, _ = digits_resnet20()
    calibration = verification_images(8, 8, 3, count=16)
    report = export_litert(
        model, tmp_path / "u8.tflite", quantize="int8", int8_io="uint8", calibration_data=calibration,
        min_agreement=0.5,  # 4 held-out images
    )
    assert report.input_dtype == "uint8" and report.calibration_images == 12 and report.heldout_images == 4
    detail = Interpreter(model_path=str(report.path)).get_input_details()[0]
    assert detail["dtype"] == np.uint8
    scale, zero_point = detail["quantization"]
    assert zero_point == 0 and scale == pytest.approx(1.0, rel=0.05)  # 0..255 pixels map onto uint8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "model.onnx"}, "`path` must be a .tflite file"),
        ({"quantize": "int4"}, "`quantize` must be one of"),
        ({"int8_io": "uint8"}, "`int8_io` must be None unless precision='int8'"),
        ({"quantize": "int8", "int8_io": "int16"}, "`int8_io` must be one of"),
        ({"calibration_data": "digits"}, "`calibration_data` must be None for a float32 export"),
        (
            {"quantize": "int8", "calibration_data": "no/such/folder"},
            "`calibration_data` must be None, 'digits'",
        ),
        ({"verify": 1}, "`verify` must be True or False"),
        ({"atol": -1.0}, "`atol` must be a number > 0"),
        ({"min_agreement": 1.5}, "`min_agreement` must be a number in"),
        ({"model": "not a model"}, "`model` must be a keras.Model"),
    ],
)
def test_bad_arguments_raise_before_anything_is_written(tmp_path, kwargs, message):
    arguments = {"model": keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)]), **kwargs}
    arguments["path"] = tmp_path / arguments.get("path", "model.tflite")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        export_litert(**arguments)
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_a_saved_model(tmp_path, capsys):
    tiny_model().save(tmp_path / "model.keras")
    code = main(["export", "litert", str(tmp_path / "model.keras"), "-o", str(tmp_path / "cli.tflite")])
    assert code == 0 and (tmp_path / "cli.tflite").is_file()
    assert "litert export" in capsys.readouterr().out
    assert main(["export", "litert", str(tmp_path / "missing.keras"), "-o", str(tmp_path / "x.tflite")]) == 2
    assert "MODEL.keras" in capsys.readouterr().err
