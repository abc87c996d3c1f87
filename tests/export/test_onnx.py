"""ONNX export of a tiny functional model: report, parity, dynamic batch, the known traps, atomic writes."""

import os
from collections import Counter

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf
import tf2onnx

from keras_residual.export import TOLERANCE as FLOAT32_ATOL
from keras_residual.export import ExportReport, OnnxExportError, export_onnx
from keras_residual.export.images import verification_images
from keras_residual.export.onnx import unsupported_ops

FLOAT16_ATOL = 1e-2  # the deprecated export_onnx's float16 default

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def tiny_model(size=32, channels=3, activation="softmax", dtype=None):
    """Rescaling + conv/BN/ReLU stem + one v1 residual block + GAP + classifier, raw 0..255 pixels in."""
    layers = keras.layers
    inputs = keras.Input((size, size, channels), name="images")
    x = layers.Rescaling(1 / 255, dtype=dtype)(inputs)
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, dtype=dtype)(x)
    x = layers.ReLU(dtype=dtype)(layers.BatchNormalization(dtype=dtype)(x))
    y = layers.Conv2D(8, 3, padding="same", use_bias=False, dtype=dtype)(x)
    y = layers.ReLU(dtype=dtype)(layers.BatchNormalization(dtype=dtype)(y))
    y = layers.Conv2D(8, 3, padding="same", use_bias=False, dtype=dtype)(y)
    y = layers.BatchNormalization(dtype=dtype)(y)
    x = layers.ReLU(dtype=dtype)(layers.Add(dtype=dtype)([x, y]))
    x = layers.GlobalAveragePooling2D(dtype=dtype)(x)
    outputs = layers.Dense(10, activation=activation, dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    randomize_norm_statistics(model)
    return model


def randomize_norm_statistics(model, seed=0):
    """Give every BatchNormalization non-trivial moving statistics and affine terms (as after training)."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[-1]
            layer.moving_mean.assign(rng.normal(0, 0.2, n))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n))
            layer.gamma.assign(rng.uniform(0.5, 1.5, n))
            layer.beta.assign(rng.normal(0, 0.2, n))


def onnx_run(path, images):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": images.astype("float32")})[0]


def test_conversion_goes_through_the_frozen_graph_never_from_keras(tmp_path, monkeypatch):
    """tf2onnx.convert.from_keras is broken on Keras 3 (tensorflow-onnx#2329, #2348): never called."""

    def broken(*args, **kwargs):
        raise AssertionError("tf2onnx.convert.from_keras must not be used")

    monkeypatch.setattr(tf2onnx.convert, "from_keras", broken)
    calls = []
    original = tf2onnx.convert.from_graph_def
    monkeypatch.setattr(
        tf2onnx.convert, "from_graph_def", lambda *a, **k: calls.append(k) or original(*a, **k)
    )
    report = export_onnx(tiny_model(), tmp_path / "model.onnx", opset=15)
    assert len(calls) == 1 and calls[0]["opset"] == report.opset == 15
    assert onnx.load(str(report.path)).opset_import[0].version == 15


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    model = tiny_model()
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return model, export_onnx(model, path)


def test_float32_report_and_parity(tiny_export):
    model, report = tiny_export
    assert isinstance(report, ExportReport)
    assert report.path.is_file() and report.file_size == report.path.stat().st_size > 0
    assert (report.format, report.precision, report.opset) == ("onnx", "float32", 17)
    assert report.input_shape == (None, 32, 32, 3)
    assert report.output_names == ("probabilities",)
    assert report.verify_images == 16 and report.max_abs_diff <= FLOAT32_ATOL
    assert report.size_reduction == 1.0
    assert not report.rebuilt_float32 and report.source_max_abs_diff is None
    proto = onnx.load(str(report.path))
    onnx.checker.check_model(proto, full_check=True)
    counts = list(report.node_counts.values())
    assert report.node_counts == Counter(node.op_type for node in proto.graph.node)
    assert counts == sorted(counts, reverse=True) and report.num_nodes == len(proto.graph.node)
    # BatchNorm folded into the convolutions: 3 Conv, no BatchNormalization node and no Mul with a
    # constant operand except the Rescaling one at the input.
    assert report.node_counts["Conv"] == 3 and "BatchNormalization" not in report.node_counts
    assert report.node_counts.get("Mul", 0) <= 1
    assert report.node_counts.get("Transpose", 0) <= 1
    text = str(report)
    for expected in ("tiny.onnx", "opset 17", "probabilities", "max abs diff", "Conv 3", "batch, 32, 32, 3", "onnxruntime"):
        assert expected in text


def test_graph_io_contract(tiny_export):
    _, report = tiny_export
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    (image_input,) = session.get_inputs()
    assert image_input.name == "images" and image_input.type == "tensor(float)"
    assert image_input.shape == ["batch", 32, 32, 3]
    assert [(o.name, o.type, o.shape) for o in session.get_outputs()] == [
        ("probabilities", "tensor(float)", ["batch", 10])
    ]


@pytest.mark.parametrize("batch", [1, 7])
def test_dynamic_batch_matches_keras(tiny_export, batch):
    model, report = tiny_export
    images = verification_images(32, 32, 3, count=batch)
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    got = onnx_run(report.path, images)
    assert got.shape == (batch, 10)
    np.testing.assert_allclose(got, expected, atol=FLOAT32_ATOL, rtol=0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_source_exports_float32_parity(tmp_path, policy):
    keras.config.set_dtype_policy(policy)
    model = tiny_model()
    keras.config.set_dtype_policy("float32")
    assert model.layers[2].compute_dtype != "float32"
    report = export_onnx(model, tmp_path / "mixed.onnx")
    assert report.rebuilt_float32 and report.source_policy == policy
    assert report.max_abs_diff <= FLOAT32_ATOL
    # No Cast nodes (tf2onnx leaves some when it converts a mixed graph) and float32 weights only.
    assert "Cast" not in report.node_counts
    proto = onnx.load(str(report.path))
    assert {init.data_type for init in proto.graph.initializer} <= {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.INT64,
    }
    # The mixed model itself is further from the float32 graph than the export is.
    assert report.source_max_abs_diff > report.max_abs_diff
    assert policy in str(report) and "float32 rebuild" in str(report)


def test_float16_keeps_float32_io_within_stated_tolerance(tmp_path, tiny_export):
    model, float32_report = tiny_export
    report = export_onnx(model, tmp_path / "half.onnx", precision="float16")
    assert report.precision == "float16" and report.atol == FLOAT16_ATOL
    proto = onnx.load(str(report.path))
    kinds = {init.data_type for init in proto.graph.initializer if len(init.dims) == 4}
    assert kinds == {onnx.TensorProto.FLOAT16}  # conv kernels are float16
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == session.get_outputs()[0].type == "tensor(float)"
    images = verification_images(32, 32, 3, count=7)
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    got = onnx_run(report.path, images)
    np.testing.assert_allclose(got, expected, atol=FLOAT16_ATOL, rtol=0)
    assert float32_report.max_abs_diff < report.max_abs_diff <= FLOAT16_ATOL
    assert report.file_size < report.float32_file_size and report.size_reduction > 1


class JpegRoundTrip(keras.layers.Layer):
    """Re-encodes every image as JPEG: the kind of TensorFlow-only op tf2onnx cannot convert."""

    def call(self, images):
        def round_trip(image):
            encoded = tf.io.encode_jpeg(tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8))
            return tf.cast(tf.io.decode_jpeg(encoded, channels=3), tf.float32)

        return tf.map_fn(round_trip, images, fn_output_signature=tf.float32)


def test_unsupported_ops_are_listed_and_nothing_is_written(tmp_path):
    inputs = keras.Input((16, 16, 3), name="images")
    x = JpegRoundTrip()(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    target = tmp_path / "jpeg.onnx"
    with pytest.raises(OnnxExportError, match="DecodeJpeg") as caught:
        export_onnx(model, target)
    assert "EncodeJpeg" in str(caught.value) and "Nothing was written" in str(caught.value)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_decode_jpeg_endpoint_would_convert_to_an_invalid_file():
    """The trap itself: tf2onnx returns a graph for a DecodeJpeg endpoint and only logs an error."""

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="image_bytes")])
    def decode(image_bytes):
        return tf.cast(tf.io.decode_jpeg(image_bytes, channels=3), tf.float32)

    proto, _ = tf2onnx.convert.from_function(decode, input_signature=decode.input_signature, opset=17)
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(proto)
    assert unsupported_ops(proto) == {"DecodeJpeg": 1}


def test_parity_failure_raises_and_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous export")
    from keras_residual.export import runtime_check

    real = runtime_check.keras_outputs
    monkeypatch.setattr(runtime_check, "keras_outputs", lambda m, x, r=None: [y + 1e-3 for y in real(m, x, r)])
    with pytest.raises(OnnxExportError, match=r"differs from Keras by 1\.0\d*e-03"):
        export_onnx(tiny_model(), target)
    assert target.read_bytes() == b"previous export"
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": "int4"}, "`precision` must be one of"),
        ({"precision": "bfloat16"}, "`precision` must be one of"),
        ({"quantize": "int4"}, "`quantize` must be one of"),
        ({"quantize": "int8", "precision": "float16"}, "`precision` must be 'float32' when quantize='int8'"),
        ({"opset": 9}, r"`opset` must be an integer in \[13, "),
        ({"opset": "17"}, "`opset` must be an integer"),
        ({"atol": 0}, "`atol` must be a number > 0"),
        ({"verify": "yes"}, "`verify` must be True or False"),
        ({"quantize": "int8", "calibration_data": 3}, "`calibration_data` must be"),
        ({"calibration_data": "digits"}, "`calibration_data` must be None for a float32 export"),
        (
            {"quantize": "int8", "calibration_data": "no/such/folder"},
            "`calibration_data` must be None, 'digits', a folder of images .*; received calibration_data='no/such",
        ),
    ],
)
def test_bad_arguments_are_value_errors(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_onnx(tiny_model(size=16), tmp_path / "bad.onnx", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_models_that_are_not_nhwc_image_models_are_rejected(tmp_path):
    vector = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"one \[batch, H, W, C\] image input"):
        export_onnx(vector, tmp_path / "vector.onnx")
    with pytest.raises(ValueError, match="`model` must be a keras.Model"):
        export_onnx("model.keras", tmp_path / "string.onnx")
    assert list(tmp_path.iterdir()) == []


def test_directory_target_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="`path` must be a .onnx file path"):
        export_onnx(tiny_model(size=16), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("auto", "float32"), ("float32", "float32"), ("mixed_float16", "float16"), ("float16", "float16")],
)
def test_precision_vocabulary_maps_to_the_graph_dtype(tmp_path, name, dtype):
    report = export_onnx(tiny_model(size=16), tmp_path / "m.onnx", precision=name, min_agreement=0.0)
    assert report.precision == dtype
    assert report.atol == (FLOAT16_ATOL if dtype == "float16" else FLOAT32_ATOL)
