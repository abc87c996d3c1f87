"""ONNX export of every ResNet family member at small widths: float32 parity and graph quality."""

import keras
import numpy as np
import onnx
import pytest

from keras_residual import ResNet
from keras_residual.export import TOLERANCE as FLOAT32_ATOL
from keras_residual.export import export_onnx
from keras_residual.export.images import verification_images
from tests.export.test_onnx import onnx_run, randomize_norm_statistics

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# One block per stage and narrow widths keep each export to a few seconds; 64x64 inputs keep the
# last stage at 2x2 (at 1x1 tf2onnx swaps some Transposes for Reshapes, which is not the real case).
SMALL = {
    "stage_blocks": (1, 1, 1, 1),
    "stage_widths": (8, 8, 16, 16),
    "stem_width": 8,
    "input_shape": (64, 64, 3),
    "num_classes": 10,
    "preprocessing": "imagenet",
}
PRESETS = {
    "resnet50_v1": {},
    "resnet50": {},
    "resnet50_v2": {},
    "resnet50d": {},
    "resnext50_32x4d": {"groups": 4, "base_width": 16},
    "seresnet50": {},
    "resnet20_cifar": {"stage_blocks": (1, 1, 1), "stage_widths": (8, 8, 16)},
}
SE_BLOCKS = {"seresnet50": 4}


def affine_after_conv(proto):
    """Mul/Add/Sub nodes that scale or shift a Conv output by a constant: an unfolded BatchNorm."""
    constants = {init.name for init in proto.graph.initializer}
    constants |= {out for node in proto.graph.node if node.op_type == "Constant" for out in node.output}
    conv_outputs = {out for node in proto.graph.node if node.op_type == "Conv" for out in node.output}
    return [
        node.name
        for node in proto.graph.node
        if node.op_type in ("Mul", "Add", "Sub")
        and any(name in conv_outputs for name in node.input)
        and any(name in constants for name in node.input)
    ]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_exports_with_float32_parity_and_a_clean_graph(tmp_path, preset):
    model = ResNet.from_preset(preset, **{**SMALL, **PRESETS[preset]})
    randomize_norm_statistics(model)
    report = export_onnx(model, tmp_path / f"{preset}.onnx")
    assert report.max_abs_diff <= FLOAT32_ATOL, str(report)
    proto = onnx.load(str(report.path))
    counts = report.node_counts
    # BatchNorm is folded into the convolutions in every variant that puts it right after a conv
    # (v2 normalizes after the residual sum, where no conv precedes it).
    assert "BatchNormalization" not in counts
    assert affine_after_conv(proto) == []
    assert "Cast" not in counts and "StatefulPartitionedCall" not in counts
    # No Transpose storm: one NHWC -> NCHW Transpose at the input, plus two around each
    # squeeze-excitation multiply (tf2onnx keeps the [N, 1, 1, C] gate in NHWC).
    assert counts.get("Transpose", 0) <= 1 + 2 * SE_BLOCKS.get(preset, 0), counts
    # Dynamic batch: one image and seven images through the same file.
    for batch in (1, 7):
        images = verification_images(64, 64, 3, count=batch)
        expected = keras.ops.convert_to_numpy(model(images, training=False))
        np.testing.assert_allclose(onnx_run(report.path, images), expected, atol=FLOAT32_ATOL, rtol=0)


def test_v1_graph_has_only_preprocessing_and_residual_arithmetic(tmp_path):
    """ResNet v1: every Mul/Sub is the input normalization, every Add a residual sum or the bias."""
    model = ResNet.from_preset("resnet50_v1", **SMALL)
    counts = export_onnx(model, tmp_path / "v1.onnx", verify=False).node_counts
    assert counts["Conv"] == 1 + 4 * 3 + 4  # stem, three convs per bottleneck, four projection shortcuts
    assert counts.get("Mul", 0) == 2 and counts.get("Sub", 0) == 1  # (x / 255 - mean) / std
    assert counts.get("Add", 0) <= 4 + 1  # four residual sums (+ the classifier bias when not fused)
