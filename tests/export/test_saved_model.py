"""SavedModel export for TF Serving: layout, signatures, loading the way TF Serving does, guards, warmup."""

import io
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2

from keras_residual.export import export_saved_model
from keras_residual.export.saved_model import WARMUP_BATCH
from keras_residual.models import ResNet

CLASS_NAMES = [f"digit {i}" for i in range(10)]


def _resnet(**overrides):
    kwargs = {"input_shape": (32, 32, 3), "num_classes": 10, "preprocessing": "unit", **overrides}
    return ResNet.from_preset("resnet20_cifar", **kwargs)


def _perturb_batchnorm(model):
    """Non-trivial moving statistics so exported-vs-Keras checks exercise inference-mode BN."""
    rng = np.random.default_rng(1)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))


def _pixels(n=4, size=32, seed=0):
    # Integer-valued pixels so PNG/BMP round trips are exact.
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype("float32")


def _encode(images, fmt="PNG"):
    from PIL import Image

    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image.astype(np.uint8)).save(buffer, format=fmt)
        out.append(buffer.getvalue())
    return out


class ServingSession:
    """Loads an export like tensorflow_model_server: TF1 session + SignatureDef tensor names."""

    def __init__(self, export_dir):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        meta = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], str(export_dir))
        self.signatures = meta.signature_def

    def run(self, signature, inputs):
        """Session::Run through the C++ callable API, which (like TF Serving) does not check feed shapes."""
        sig = self.signatures[signature]
        keys = sorted(sig.outputs)
        feeds = [sig.inputs[name].name for name in inputs]
        options = config_pb2.CallableOptions(feed=feeds, fetch=[sig.outputs[k].name for k in keys])
        run = self.session._make_callable_from_options(options)
        return dict(zip(keys, run(*inputs.values()), strict=True))


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(0)
    model = _resnet()
    _perturb_batchnorm(model)
    return model


@pytest.fixture(scope="module")
def exported(classifier, tmp_path_factory):
    base = tmp_path_factory.mktemp("exports") / "digits"
    return export_saved_model(classifier, base, class_names=CLASS_NAMES, top_k=3)


@pytest.fixture(scope="module")
def served(exported):
    session = ServingSession(exported)
    yield session
    session.session.close()


def test_layout_and_assets(exported, classifier):
    assert exported.name == "1"
    assert sorted(p.name for p in exported.parent.iterdir()) == ["1"]  # no temporary left behind
    for name in ("saved_model.pb", "variables/variables.index", "assets.extra/tf_serving_warmup_requests"):
        assert (exported / name).is_file(), name
    assert json.loads((exported / "assets/class_names.json").read_text()) == CLASS_NAMES
    config = json.loads((exported / "assets/export_config.json").read_text())
    assert config["input_size"] == {"height": 32, "width": 32, "channels": 3}
    assert config["preprocessing"] == "unit"
    assert config["preset"] == "resnet20_cifar"
    assert config["architecture"]["class_name"] == "ResNet"
    assert config["architecture"]["stage_blocks"] == [3, 3, 3]
    assert config["precision"]["compute_dtype"] == "float32"
    assert config["top_k"] == 3 and config["num_classes"] == 10
    import keras_residual

    assert config["keras_residual_version"] == keras_residual.__version__


def test_saved_model_cli_lists_signatures(exported):
    cli = Path(sys.executable).with_name("saved_model_cli")
    out = subprocess.run(
        [str(cli), "show", "--dir", str(exported), "--all"], capture_output=True, text=True, check=True
    ).stdout
    for text in (
        "signature_def['serving_default']",
        "signature_def['serving_bytes']",
        "inputs['images']",
        "inputs['image_bytes']",
        "outputs['top_k_labels']",
        "tensorflow/serving/predict",
        "shape: (-1, 32, 32, 3)",
    ):
        assert text in out, text


def test_signature_defs(served):
    sig = served.signatures["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert set(sig.inputs) == {"images"}
    assert sig.inputs["images"].dtype == tf.float32.as_datatype_enum
    assert [d.size for d in sig.inputs["images"].tensor_shape.dim] == [-1, 32, 32, 3]
    assert set(sig.outputs) == {"probabilities", "top_k_indices", "top_k_scores", "top_k_labels"}
    assert sig.outputs["top_k_labels"].dtype == tf.string.as_datatype_enum
    byte_sig = served.signatures["serving_bytes"]
    assert set(byte_sig.inputs) == {"image_bytes"}
    assert byte_sig.inputs["image_bytes"].dtype == tf.string.as_datatype_enum
    assert set(byte_sig.outputs) == set(sig.outputs)


def _check_outputs(out, expected):
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    order = np.argsort(-expected, axis=1)[:, :3]
    np.testing.assert_array_equal(out["top_k_indices"], order)
    np.testing.assert_allclose(out["top_k_scores"], np.take_along_axis(expected, order, 1), atol=1e-5)
    labels = [[label.decode() for label in row] for row in out["top_k_labels"]]
    assert labels == [[CLASS_NAMES[i] for i in row] for row in order]


def test_tf1_session_matches_keras(served, classifier):
    x = _pixels()
    expected = classifier.predict(x, verbose=0)
    _check_outputs(served.run("serving_default", {"images": x}), expected)
    _check_outputs(served.run("serving_bytes", {"image_bytes": np.array(_encode(x), dtype=object)}), expected)
    bmp = served.run("serving_bytes", {"image_bytes": np.array(_encode(x, "BMP"), dtype=object)})
    np.testing.assert_allclose(bmp["probabilities"], expected, atol=1e-5)


def test_tf_saved_model_load_matches_keras(exported, classifier):
    loaded = tf.saved_model.load(str(exported))
    assert set(loaded.signatures) == {"serving_default", "serving_bytes"}
    x = _pixels(3, seed=5)
    out = loaded.signatures["serving_default"](images=tf.constant(x))
    _check_outputs({k: v.numpy() for k, v in out.items()}, classifier.predict(x, verbose=0))
    jpeg = [
        tf.io.encode_jpeg(tf.constant(image, tf.uint8), quality=95).numpy() for image in x.astype("uint8")
    ]
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(jpeg))
    decoded = np.stack([tf.io.decode_jpeg(b).numpy() for b in jpeg]).astype("float32")
    np.testing.assert_allclose(
        out["probabilities"].numpy(), classifier.predict(decoded, verbose=0), atol=1e-5
    )


def test_bytes_are_resized_and_any_format_decodes(served):
    big = np.repeat(np.repeat(_pixels(2, seed=3), 2, axis=1), 2, axis=2)  # 64x64
    blobs = _encode(big, "PNG")[:1] + _encode(big, "GIF")[1:] + _encode(_pixels(1, seed=4), "JPEG")
    out = served.run("serving_bytes", {"image_bytes": np.array(blobs, dtype=object)})
    assert out["probabilities"].shape == (3, 10)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    empty = served.run("serving_bytes", {"image_bytes": np.array([], dtype=object)})
    assert empty["probabilities"].shape == (0, 10)


def test_empty_batch_gives_empty_outputs_on_both_signatures(served, exported):
    """Batch 0 must not reach the oneDNN convolutions (they return the input's shape for batch 0)."""
    out = served.run("serving_default", {"images": np.zeros((0, 32, 32, 3), np.float32)})
    assert out["probabilities"].shape == (0, 10) and out["probabilities"].dtype == np.float32
    assert out["top_k_indices"].shape == (0, 3) and out["top_k_labels"].shape == (0, 3)
    loaded = tf.saved_model.load(str(exported))
    eager = loaded.signatures["serving_bytes"](image_bytes=tf.constant([], tf.string))
    assert eager["top_k_scores"].shape == (0, 3)
    again = served.run("serving_default", {"images": _pixels(2)})  # the graph still serves real batches
    assert again["probabilities"].shape == (2, 10)


def _png_bomb(height, width):
    """A valid PNG of all-black greyscale pixels: tiny on the wire, height*width bytes decoded."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * ((width + 1) * height), 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _jpeg_claiming(height, width):
    """A real small JPEG whose SOF0 frame header is edited to claim ``height`` x ``width``."""
    data = bytearray(_encode(_pixels(1), "JPEG")[0])
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def _gif_claiming(height, width):
    data = bytearray(_encode(_pixels(1), "GIF")[0])
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return bytes(data)


def _bmp_claiming(height, width):
    data = bytearray(_encode(_pixels(1), "BMP")[0])
    data[18:26] = width.to_bytes(4, "little", signed=True) + (-height).to_bytes(4, "little", signed=True)
    return bytes(data)


@pytest.mark.parametrize(
    ("make", "size"),
    [
        (_png_bomb, (12000, 12000)),
        (_png_bomb, (7000, 6000)),
        (_jpeg_claiming, (60000, 60000)),
        (_jpeg_claiming, (9000, 5000)),
        (_gif_claiming, (65535, 65535)),
        (_bmp_claiming, (20000, 20000)),
    ],
)
def test_decompression_bombs_are_rejected_before_decoding(served, make, size):
    bomb = make(*size)
    assert len(bomb) < 1_000_000
    good = _encode(_pixels(1))[0]
    pattern = rf"image too large: its header claims {size[0]}x{size[1]} pixels .* max_pixels=40000000"
    with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
        served.run("serving_bytes", {"image_bytes": np.array([good, bomb, good], dtype=object)})


def test_max_pixels_is_configurable_and_recorded(tmp_path, classifier):
    path = export_saved_model(classifier, tmp_path, max_pixels=32 * 32, warmup=False)
    config = json.loads((path / "assets" / "export_config.json").read_text())
    assert config["max_pixels"] == 32 * 32
    session = ServingSession(path)
    ok = session.run("serving_bytes", {"image_bytes": np.array(_encode(_pixels(1)), dtype=object)})
    assert ok["probabilities"].shape == (1, 10)
    big = _encode(np.repeat(_pixels(1), 2, axis=1))  # 64x32 = 2048 pixels > 1024
    with pytest.raises(tf.errors.InvalidArgumentError, match="claims 64x32 pixels"):
        session.run("serving_bytes", {"image_bytes": np.array(big, dtype=object)})


@pytest.mark.parametrize("shape", [(1, 64, 64, 3), (2, 32, 32, 1), (1, 32, 16, 3)])
def test_shape_guard_rejects_other_sizes(served, shape):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected shape \[\?,32,32,3\]"):
        served.run("serving_default", {"images": np.zeros(shape, np.float32)})


def test_corrupt_bytes_are_invalid_argument(served, exported):
    with pytest.raises(tf.errors.InvalidArgumentError, match="image could not be decoded"):
        served.run("serving_bytes", {"image_bytes": np.array([b"not an image"], dtype=object)})
    truncated = _encode(_pixels(1))[0][:60]
    with pytest.raises(tf.errors.InvalidArgumentError):
        served.run("serving_bytes", {"image_bytes": np.array([truncated], dtype=object)})
    loaded = tf.saved_model.load(str(exported))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image could not be decoded"):
        loaded.signatures["serving_bytes"](image_bytes=tf.constant([b"", b"GIF"]))


def test_warmup_records_parse_and_replay(exported, served):
    from tensorflow_serving.apis import prediction_log_pb2

    path = exported / "assets.extra" / "tf_serving_warmup_requests"
    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
        "serving_default",
        "serving_bytes",
    ]
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "digits"
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        assert next(iter(inputs.values())).shape[0] == WARMUP_BATCH
        out = served.run(request.model_spec.signature_name, inputs)  # the replay TF Serving does at load
        assert out["probabilities"].shape == (WARMUP_BATCH, 10)


def _graph_dtypes(export_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(export_dir) / "saved_model.pb").read_bytes())
    text = str(proto.meta_graphs[0].graph_def)
    return {name for name in ("DT_HALF", "DT_BFLOAT16") if name in text}


def test_mixed_float16_model_exports_a_float32_graph(tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    mixed = _resnet()
    keras.config.set_dtype_policy("float32")
    _perturb_batchnorm(mixed)
    reference = _resnet()
    reference.set_weights(mixed.get_weights())
    path = export_saved_model(mixed, tmp_path, warmup=False)
    assert _graph_dtypes(path) == set()
    config = json.loads((path / "assets/export_config.json").read_text())
    assert "mixed_float16" in config["precision"]["trained_policies"]
    assert config["precision"]["served_policies"] == ["float32"]
    x = _pixels(seed=7)
    out = tf.saved_model.load(str(path)).signatures["serving_default"](images=tf.constant(x))
    probabilities = out["probabilities"].numpy()
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, reference.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(probabilities, mixed.predict(x, verbose=0), atol=1e-2)
    assert mixed.get_layer(index=2).compute_dtype == "float16"  # the caller's model is untouched


def test_bfloat16_opt_in(tmp_path, classifier):
    path = export_saved_model(classifier, tmp_path, compute_dtype="bfloat16", warmup=False)
    assert _graph_dtypes(path) == {"DT_BFLOAT16"}
    session = ServingSession(path)
    x = _pixels(seed=8)
    out = session.run("serving_default", {"images": x})
    assert out["probabilities"].dtype == np.float32
    assert session.signatures["serving_default"].inputs["images"].dtype == tf.float32.as_datatype_enum
    np.testing.assert_allclose(out["probabilities"], classifier.predict(x, verbose=0), atol=0.1)
    session.session.close()


@pytest.mark.parametrize(("flags", "expected"), [("avx2 fma", "float32"), ("avx512f avx512_bf16 amx_bf16", "bfloat16")])
def test_auto_compute_dtype_follows_the_serving_measurements(tmp_path, classifier, monkeypatch, flags, expected):
    from keras_residual import hardware
    from keras_residual.export import saved_model

    cpu = hardware.parse_cpuinfo(f"vendor_id : GenuineIntel\nmodel name : test\nflags : sse2 {flags}\n", cores=2)
    monkeypatch.setattr(saved_model, "detect_cpu", lambda: cpu)
    assert saved_model.auto_serving_dtype() == expected
    path = export_saved_model(classifier, tmp_path, compute_dtype="auto", warmup=False)
    config = json.loads((path / "assets" / "export_config.json").read_text())
    assert config["precision"]["compute_dtype"] == expected
    served = set(config["precision"]["served_policies"])
    assert ("mixed_bfloat16" in served) == (expected == "bfloat16")


def test_backbone_serves_features(tmp_path):
    backbone = _resnet(include_top=False, pooling="avg")
    with pytest.raises(ValueError, match="no classifier"):
        export_saved_model(backbone, tmp_path, class_names=CLASS_NAMES)
    path = export_saved_model(backbone, tmp_path, warmup=False)
    session = ServingSession(path)
    assert set(session.signatures["serving_default"].outputs) == {"features"}
    assert set(session.signatures["serving_bytes"].outputs) == {"features"}
    x = _pixels(2)
    out = session.run("serving_default", {"images": x})
    np.testing.assert_allclose(out["features"], backbone.predict(x, verbose=0), atol=1e-5)
    session.session.close()


def _tiny(input_shape=(16, 16, 3), activation="softmax", classes=4):
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation=activation)(x))


def test_logits_model_is_softmaxed_and_any_size_model_needs_image_size(tmp_path):
    model = _tiny(input_shape=(None, None, 3), activation=None)
    with pytest.raises(ValueError, match="image_size"):
        export_saved_model(model, tmp_path)
    path = export_saved_model(model, tmp_path, image_size=(24, 20), top_k=10, warmup=False)
    loaded = tf.saved_model.load(str(path))
    spec = loaded.signatures["serving_default"].structured_input_signature[1]["images"]
    assert spec.shape.as_list() == [None, 24, 20, 3]
    x = _pixels(2, size=24)[:, :, :20]
    out = loaded.signatures["serving_default"](images=tf.constant(x))
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(x)))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    assert out["top_k_indices"].shape == (2, 4)  # top_k capped at the number of classes
    assert "top_k_labels" not in out


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "`top_k` must be an integer >= 1; received top_k=0"),
        ({"resize": "cubic"}, "`resize` must be one of .*; received resize='cubic'"),
        ({"compute_dtype": "float16"}, "`compute_dtype` must be one of .*; received compute_dtype='float16'"),
        ({"version": -1}, "`version` must be None or an integer >= 0; received version=-1"),
        ({"max_pixels": 0}, "`max_pixels` must be an integer >= 1; received max_pixels=0"),
        ({"class_names": ["a", "b"]}, "class_names has 2 entries but the model has 4 classes"),
        (
            {"image_size": (8, 8)},
            r"image_size \(8, 8\) does not match the model's fixed input size \(16, 16\)",
        ),
    ],
)
def test_bad_arguments_raise_value_error(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export_saved_model(_tiny(), tmp_path / "base", **kwargs)
    assert not (tmp_path / "base").exists() or not any((tmp_path / "base").iterdir())


def test_base_path_that_is_a_file_is_rejected(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="`base_path` must be a directory"):
        export_saved_model(_tiny(), tmp_path / "file", warmup=False)


def test_multi_output_model_is_rejected(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(2)(x), keras.layers.Dense(3)(x)])
    with pytest.raises(ValueError, match="`model` must have exactly one output; received a model with 2 outputs"):
        export_saved_model(model, tmp_path)
