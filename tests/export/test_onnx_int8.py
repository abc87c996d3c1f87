"""Static INT8 (QDQ, per-channel) ONNX: the graph's structure, calibration sources, the calibration reader.

Agreement per precision is in the matrix (test_matrix.py); this file checks what only ONNX INT8 has.
"""

import numpy as np
import onnx
import pytest
from PIL import Image

from keras_residual.datasets import load_digits_arrays
from keras_residual.export import export_onnx
from tests.export.runtime_helpers import digits_resnet20

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.xdist_group("digits_model")]


@pytest.fixture(scope="module")
def digits_model():
    """The trained 8x8 digits resnet20 the format x precision matrix uses (trained once per process)."""
    return digits_resnet20()[0]


def test_int8_agrees_with_float32_on_held_out_digits(tmp_path, digits_model):
    report = export_onnx(digits_model, tmp_path / "digits.int8.onnx", quantize="int8", min_agreement=0.95)
    assert report.precision == "int8" and report.calibration_source == "digits"
    assert (report.calibration_images, report.heldout_images) == (128, 360)
    assert report.top1_agreement >= 0.95, str(report)
    assert report.atol is None
    # Static QDQ with per-channel weights: every Conv reads a DequantizeLinear whose scale has one
    # entry per output channel.
    proto = onnx.load(str(report.path))
    counts = report.node_counts
    assert counts["QuantizeLinear"] > 0 and counts["DequantizeLinear"] > counts["QuantizeLinear"]
    initializers = {init.name: init for init in proto.graph.initializer}
    producers = {out: node for node in proto.graph.node for out in node.output}
    for conv in (node for node in proto.graph.node if node.op_type == "Conv"):
        dequantize = producers[conv.input[1]]
        assert dequantize.op_type == "DequantizeLinear"
        scale = initializers[dequantize.input[1]]
        kernel = initializers[dequantize.input[0]]
        assert kernel.data_type == onnx.TensorProto.INT8 and list(scale.dims) == [kernel.dims[0]]
    # int8 weights; the quantize/dequantize nodes cost more on this narrow model than on wide ones
    assert report.size_reduction > 1.5 and report.file_size < report.float32_file_size
    assert "top-1    agreement" in str(report) and "size_reduction" in str(report)


def test_int8_calibrates_on_a_folder_of_images(tmp_path, digits_model):
    folder = tmp_path / "calibration"
    folder.mkdir()
    x_train = load_digits_arrays(image_size=8)[0]
    for index, image in enumerate(x_train[:12]):
        Image.fromarray(image.astype(np.uint8)).save(folder / f"digit_{index:02d}.png")
    report = export_onnx(
        digits_model, tmp_path / "folder.int8.onnx", quantize="int8", calibration_data=folder, min_agreement=0.0
    )
    assert report.calibration_source == str(folder)
    assert (report.calibration_images, report.heldout_images) == (9, 3)
    assert report.top1_agreement is not None and report.path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration", "folder.int8.onnx"]


def test_calibration_split_sources():
    from keras_residual.export.images import calibration_split

    calibration, held_out, source = calibration_split(None, 16, 16, 1)
    assert (calibration.shape, held_out.shape, source) == ((128, 16, 16, 1), (360, 16, 16, 1), "digits")
    pixels = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
    calibration, held_out, source = calibration_split(pixels, 16, 16, 3)
    assert (calibration.shape, held_out.shape, source) == ((6, 16, 16, 3), (2, 16, 16, 3), "array")
    with pytest.raises(ValueError, match="at least 4 images"):
        calibration_split(pixels[:3], 16, 16, 3)


def test_calibration_reader_feeds_small_batches_and_strided_ranges():
    from keras_residual.export.onnx_quantize import ImageBatchReader

    reader = ImageBatchReader("images", np.zeros((10, 8, 8, 3), "float32"), batch_size=4)
    assert len(reader) == 3
    assert [len(feed["images"]) for feed in iter(reader.get_next, None)] == [4, 4, 2]
    reader.set_range(1, 2)  # what quantize_static's CalibStridedMinMax does for each stride
    assert [len(feed["images"]) for feed in iter(reader.get_next, None)] == [4]
    reader.rewind()
    assert sum(len(feed["images"]) for feed in iter(reader.get_next, None)) == 10
