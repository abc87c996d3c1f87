"""ServingClient pieces that need no server: argument checks, transports, error mapping, tensor and JSON codecs."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2

from keras_residual.client import (
    ServingClient,
    ServingError,
    ServingFailedPreconditionError,
    ServingInvalidArgumentError,
    ServingNotFoundError,
    TensorInfo,
    to_numpy,
    to_tensor_proto,
)
from keras_residual.client.errors import HTTP_STATUS, code_from_http, make_error
from keras_residual.client.rest_transport import _from_json, _message, _to_json
from tests.client.tfserving_rest import HTTP_STATUS as STUB_HTTP_STATUS


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"target": ""}, "target"),
        ({"model_name": ""}, "model_name"),
        ({"version": 1, "version_label": "stable"}, "at most one"),
        ({"version": -1}, "version"),
        ({"timeout": 0}, "timeout"),
        ({"max_message_bytes": 0}, "max_message_bytes"),
        ({"retries": 5}, "retries"),
        ({"retries": -1}, "retries"),
        ({"max_batch": 0}, "max_batch"),
        ({"signature": ""}, "signature"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, needle):
    args = {"target": "localhost:8500", "model_name": "m", **kwargs}
    with pytest.raises(ValueError, match=needle):
        ServingClient(**args)


def test_channel_options_carry_retry_policy_and_message_limits():
    opts = dict(ServingClient.channel_options(max_message_bytes=123_456, retries=2, wait_for_ready=True))
    assert opts["grpc.max_send_message_length"] == 123_456
    assert opts["grpc.max_receive_message_length"] == 123_456
    assert opts["grpc.enable_retries"] == 1
    config = json.loads(opts["grpc.service_config"])["methodConfig"][0]
    services = {n["service"] for n in config["name"]}
    assert services == {"tensorflow.serving.PredictionService", "tensorflow.serving.ModelService"}
    assert config["retryPolicy"]["maxAttempts"] == 3
    assert config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert config["waitForReady"] is True
    no_retry = json.loads(dict(ServingClient.channel_options(retries=0))["grpc.service_config"])
    assert "retryPolicy" not in no_retry["methodConfig"][0]


@pytest.mark.parametrize(
    "dtype", ["float32", "float64", "float16", "int8", "int32", "int64", "uint8", "bool"]
)
def test_tensor_content_round_trip(dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    back = to_numpy(to_tensor_proto(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_typed_field_decoding_matches_tensorflow():
    """TF Serving answers Predict in typed repeated fields (AsProtoField), not tensor_content."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    for size in (2, 2):
        proto.tensor_shape.dim.add().size = size
    proto.float_val.extend([1.0, 2.5, -3.0, 4.0])
    np.testing.assert_array_equal(to_numpy(proto), np.array([[1.0, 2.5], [-3.0, 4.0]], "float32"))
    compact = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64)
    compact.tensor_shape.dim.add().size = 3
    compact.int64_val.append(7)  # one value stands for all
    np.testing.assert_array_equal(to_numpy(compact), [7, 7, 7])
    half = tensor_pb2.TensorProto(dtype=types_pb2.DT_HALF)
    half.tensor_shape.dim.add().size = 2
    half.half_val.extend(np.array([1.5, -2.0], np.float16).view(np.uint16).tolist())
    np.testing.assert_array_equal(to_numpy(half), np.array([1.5, -2.0], np.float16))


def test_strings_round_trip_and_decode_to_text():
    back = to_numpy(to_tensor_proto(np.array([["cat", "dog"]])))
    assert back.shape == (1, 2) and back.tolist() == [["cat", "dog"]]
    raw = to_numpy(to_tensor_proto(np.array([b"\xff\xd8"], dtype=object)))
    assert raw.tolist() == [b"\xff\xd8"]  # not UTF-8: stays bytes


def test_unsupported_dtype_is_a_value_error():
    with pytest.raises(ValueError, match="complex64"):
        to_tensor_proto(np.zeros(2, np.complex64))


def test_error_classes_keep_code_and_message():
    err = ServingNotFoundError("NOT_FOUND", "Servable not found for request: Latest(x)", "h:1")
    assert isinstance(err, ServingError) and err.code == "NOT_FOUND"
    assert "Latest(x)" in str(err) and "h:1" in str(err)
    assert issubclass(ServingInvalidArgumentError, ValueError)


def test_tensor_info_describe():
    assert TensorInfo("x:0", "float32", (None, 32, 32, 3)).describe() == "float32 [None, 32, 32, 3]"
    assert TensorInfo("x:0", "string", None).describe() == "string unknown rank"


def test_predict_encoded_rejects_missing_files_and_single_items(tmp_path):
    with ServingClient("127.0.0.1:1", "m", validate=False) as client:
        with pytest.raises(ValueError, match="no such file"):
            client.predict_encoded([tmp_path / "missing.png"])
        with pytest.raises(ValueError, match="list"):
            client.predict_encoded(b"abc")
        with pytest.raises(ValueError, match="expected a batch"):
            client.predict(np.float32(3.0))


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"target": "ftp://host:1"}, "target"),
        ({"target": "http://"}, "target"),
        ({"target": "http://h:1", "credentials": "not a context"}, "ssl.SSLContext"),
        ({"target": "h:1", "credentials": "not credentials"}, "grpc.ChannelCredentials"),
        ({"target": "http://h:1", "credentials": ssl.create_default_context()}, "https://"),
        ({"target": "h:1", "wait_for_ready": 1}, "wait_for_ready"),
    ],
)
def test_transport_arguments_are_checked(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        ServingClient(model_name="m", **kwargs)


def test_the_target_picks_the_transport():
    for target, transport in (("h:8500", "grpc"), ("http://h:8501", "rest"), ("https://h/prefix", "rest")):
        client = ServingClient(target, "m")
        assert client.transport == transport
        client.close()


def test_http_statuses_map_back_to_the_codes_tf_serving_sends():
    """Every code TF Serving maps to HTTP (the stand-in uses its ToHTTPStatusCode table) comes back as
    a code with that status; a 400 is FAILED_PRECONDITION only for an unknown signature."""
    for code, status in HTTP_STATUS.items():
        assert status == STUB_HTTP_STATUS[getattr(grpc.StatusCode, code)]
        assert HTTP_STATUS[code_from_http(status, "message")] == status
    assert code_from_http(400, 'Serving signature name: "x" not found in signature def') == "FAILED_PRECONDITION"
    assert code_from_http(400, "input size does not match signature") == "INVALID_ARGUMENT"
    assert code_from_http(404, "Servable not found for request: Latest(x)") == "NOT_FOUND"
    assert code_from_http(503, "busy") == "UNAVAILABLE"
    assert code_from_http(502, "bad gateway") == "UNAVAILABLE"
    assert code_from_http(418, "teapot") == "UNKNOWN"
    assert isinstance(make_error("FAILED_PRECONDITION", "x"), ServingFailedPreconditionError)


def test_rest_json_values_decode_to_the_signature_dtypes():
    ints = TensorInfo("x:0", "int32", (None, 2))
    assert _from_json([[1, 2]], ints).dtype == np.int32
    labels = _from_json([["cat", {"b64": base64.b64encode(b"\xff").decode()}]], None)
    assert labels.shape == (1, 2) and labels.tolist() == [["cat", b"\xff"]]
    assert _from_json([[0.5, 1.0]], None).dtype == np.float32  # no metadata: floats are float32
    assert _from_json([1, 2], None).dtype == np.int64
    assert _from_json([True], None).dtype == bool
    assert np.isnan(_from_json([float("nan")], TensorInfo("y", "float32", None))[0])
    assert _to_json(np.array([b"ab", "c"], dtype=object)) == [{"b64": "YWI="}, {"b64": "Yw=="}]
    # whole-number floats (pixels) travel as JSON integers, anything else as floats, exactly
    assert _to_json(np.array([[0.0, 255.0]], np.float32)) == [[0, 255]]
    assert json.dumps(_to_json(np.array([1.5, 2.0], np.float32))) == "[1.5, 2.0]"
    assert json.dumps(_to_json(np.array([-0.0, 1.0]))) == "[-0.0, 1.0]"
    assert _to_json(np.array([2.0**24], np.float32)) == [16777216.0]
    assert _message(b'{"error": "Servable not found"}') == "Servable not found"
    assert _message(b"<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"


def test_the_package_imports_no_tensorflow():
    code = (
        "import sys, keras_residual.client, keras_residual.cli.predict; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tensorflow_serving')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rest_predict_fetches_metadata_only_to_name_a_single_output(monkeypatch):
    """validate=False over REST: a named answer decodes without metadata (JSON-inferred dtypes); an
    unnamed single-output answer asks for the metadata once to name it and type it."""
    client = ServingClient("http://h:1", "m", validate=False)
    paths = []
    meta = {
        "model_spec": {"name": "m", "version": "4", "signature_name": ""},
        "metadata": {"signature_def": {"signature_def": {"serving_default": {
            "method_name": "tensorflow/serving/predict",
            "inputs": {"images": {"name": "x:0", "dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}]}}},
            "outputs": {"scores": {"name": "y:0", "dtype": "DT_DOUBLE", "tensor_shape": {"unknown_rank": True}}},
        }}}},
    }  # fmt: skip
    answers = iter([{"outputs": {"a": [[1, 2]], "b": [[0.5]]}}, {"outputs": [[0.25]]}, meta])

    def fake_request(method, path, body=None):
        paths.append((method, path))
        return next(answers)

    monkeypatch.setattr(client._transport, "_request", fake_request)
    named = client.predict(np.zeros((1, 2), np.float32))
    assert named["a"].dtype == np.int64 and named["b"].dtype == np.float32 and len(paths) == 1
    single = client.predict(np.zeros((1, 2), np.float32))
    assert list(single) == ["scores"] and single["scores"].dtype == np.float64
    assert paths[1:] == [("POST", "/v1/models/m:predict"), ("GET", "/v1/models/m/metadata")]
    assert client.metadata().version == 4  # cached by then
    client.close()
