"""The ONNX export answers an empty batch with an empty, correctly shaped output in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fuzz.conftest import IMAGE_SIZE, NUM_CLASSES, tiny_classifier

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_onnx_runtime_batch_of_zero(tmp_path):
    ort = pytest.importorskip(
        "onnxruntime", reason="needs the onnx extra: pip install 'keras-residual[onnx]'"
    )
    from keras_residual.export import export_onnx

    report = export_onnx(tiny_classifier(), tmp_path / "tiny.onnx")
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    (name,) = [item.name for item in session.get_inputs()]
    empty = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32)
    (probabilities,) = session.run(None, {name: empty})
    assert probabilities.shape == (0, NUM_CLASSES) and probabilities.dtype == np.float32
    one = np.full((1, IMAGE_SIZE, IMAGE_SIZE, 3), 128.0, np.float32)
    (row,) = session.run(None, {name: one})
    assert row.shape == (1, NUM_CLASSES)  # the same session still answers a real batch afterwards
