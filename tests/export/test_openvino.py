"""OpenVINO IR export: parity in compile_model, every preset family, bfloat16 / NNCF INT8, refusals, atomicity."""

import keras
import numpy as np
import openvino as ov
import pytest

from keras_residual.cli import main
from keras_residual.export import TOLERANCE as FLOAT32_TOLERANCE
from keras_residual.export import RuntimeExportError, export_openvino
from keras_residual.export import openvino as openvino_module
from keras_residual.export.images import verification_images
from keras_residual.export.openvino import compile_ir
from tests.export.test_onnx import tiny_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def visible(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    model = tiny_model()
    path = tmp_path_factory.mktemp("openvino") / "tiny.xml"
    return model, export_openvino(model, path)


def test_float32_export_report_names_and_dynamic_batch(tiny_export):
    model, report = tiny_export
    assert visible(report.path.parent) == ["tiny.bin", "tiny.xml"]
    assert report.file_size == report.path.stat().st_size + report.path.with_suffix(".bin").stat().st_size
    assert (report.format, report.variant, report.execution_precision) == ("openvino", "float32", "f32")
    assert report.input_shape == (None, 32, 32, 3) and report.output_names == ("probabilities",)
    assert report.max_abs_diff <= FLOAT32_TOLERANCE and report.tolerance == FLOAT32_TOLERANCE
    assert report.op_counts["Convolution"] == 3 and "BatchNormInference" not in report.op_counts
    ir = ov.Core().read_model(str(report.path))
    assert ir.inputs[0].get_names() == {"images"} and ir.outputs[0].get_names() == {"probabilities"}
    assert ir.inputs[0].get_partial_shape().to_string() == "[?,32,32,3]"
    # compile_ir applies the precision the IR was verified with (bf16 would be the AMX default).
    compiled = compile_ir(report.path)
    assert compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
    for batch in (1, 7):
        images = verification_images(32, 32, 3, count=batch)
        expected = keras.ops.convert_to_numpy(model(images, training=False))
        got = compiled({"images": images})["probabilities"]
        np.testing.assert_allclose(got, expected, atol=FLOAT32_TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "model.bin"}, "`path` must be a .xml file"),
        ({"precision": "float16"}, "`precision` must be one of"),
        ({"device": "NPU9"}, "`device` must be one of"),
        ({"calibration_data": "digits"}, "`calibration_data` must be None for a float32 export"),
        ({"precision": "int8", "calibration_data": 3}, "`calibration_data` must be None, 'digits'"),
        ({"verify": "yes"}, "`verify` must be True or False"),
        ({"atol": 0}, "`atol` must be a number > 0"),
        ({"model": keras.layers.Dense(2)}, "`model` must be a keras.Model"),
    ],
)
def test_bad_arguments_raise_before_anything_is_written(tmp_path, kwargs, message):
    arguments = {"model": keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)]), **kwargs}
    arguments["path"] = tmp_path / arguments.get("path", "model.xml")
    with pytest.raises(ValueError, match=message):
        export_openvino(**arguments)
    assert list(tmp_path.iterdir()) == []


def test_failed_check_keeps_the_previous_pair_and_leaves_no_temporaries(tmp_path, monkeypatch):
    model = tiny_model()
    first = export_openvino(model, tmp_path / "model.xml", verify=False)
    before = (first.path.read_bytes(), first.path.with_suffix(".bin").read_bytes())

    def fail(*args, **kwargs):
        raise RuntimeExportError("parity above the bound")

    monkeypatch.setattr(openvino_module.rc, "compare", fail)
    with pytest.raises(RuntimeExportError, match="parity"):
        export_openvino(model, tmp_path / "model.xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin", "model.xml"]
    assert (first.path.read_bytes(), first.path.with_suffix(".bin").read_bytes()) == before


def test_cli_exports_a_saved_model(tmp_path, capsys):
    tiny_model().save(tmp_path / "model.keras")
    code = main(["export", "openvino", str(tmp_path / "model.keras"), "-o", str(tmp_path / "cli.xml")])
    assert code == 0 and visible(tmp_path) == ["cli.bin", "cli.xml", "model.keras"]
    assert "openvino export" in capsys.readouterr().out
    bad = ["export", "openvino", str(tmp_path / "model.keras"), "-o", str(tmp_path / "x.xml"), "--atol", "-1"]
    assert main(bad) == 2
    assert "`atol` must be" in capsys.readouterr().err
