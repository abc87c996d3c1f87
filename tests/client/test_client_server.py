"""The client against a server speaking TF Serving's gRPC and REST APIs (stand-in, or the real binary).

Every test here runs once per `server` kind and, through the ``target`` fixture, once per transport
(gRPC address, REST URL); the real ``tensorflow_model_server`` runs when ``TFSERVING_BIN`` points
at it and is skipped, with the reason, otherwise.
"""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from keras_residual.client import (
    ServingClient,
    ServingFailedPreconditionError,
    ServingInvalidArgumentError,
    ServingMessageTooLargeError,
    ServingNotFoundError,
    to_tensor_proto,
)
from tests.client.conftest import MODEL, TRANSPORTS, target_of


def _labels(array: np.ndarray) -> list:
    return [[v.decode() if isinstance(v, bytes) else v for v in row] for row in array.tolist()]


def _assert_same(out: dict, ref: dict, keys=None) -> None:
    for key in keys or ref:
        if key == "top_k_labels":
            assert _labels(out[key]) == _labels(ref[key])
        elif key == "top_k_indices":
            np.testing.assert_array_equal(out[key], ref[key])
        else:
            np.testing.assert_allclose(out[key], ref[key], rtol=1e-5, atol=1e-6)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


def test_predict_matches_the_local_model(target, reference, images):
    with ServingClient(target, MODEL) as client:
        out = client.predict(images)
    assert set(out) == {"probabilities", "top_k_indices", "top_k_scores", "top_k_labels"}
    assert out["probabilities"].shape == (5, 10) and out["probabilities"].dtype == np.float32
    _assert_same(out, reference(images))


def test_an_empty_batch_gets_empty_outputs_equal_to_the_servers(server, target, images):
    with ServingClient(target, MODEL) as client:
        out = client.predict(images[:0])
        assert {k: v.shape for k, v in out.items()} == {
            "probabilities": (0, 10), "top_k_indices": (0, 3), "top_k_scores": (0, 3), "top_k_labels": (0, 3)
        }
        assert out["probabilities"].dtype == np.float32 and out["top_k_indices"].dtype == np.int32
        assert set(client.predict_encoded([], output_filter=["top_k_scores"])) == {"top_k_scores"}
    # What the server itself answers to an empty gRPC Predict (REST cannot express one).
    grpc_target = target_of(server, "grpc")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(images[:0]))
    with grpc.insecure_channel(grpc_target) as channel:
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    for name, tensor in answer.outputs.items():
        served = tf.make_ndarray(tensor)
        assert served.shape == out[name].shape and served.dtype == out[name].dtype, name


def test_big_batches_are_split_and_joined(target, reference, images):
    with ServingClient(target, MODEL, max_batch=2) as client:
        out = client.predict(images)
    assert out["probabilities"].shape == (5, 10)
    _assert_same(out, reference(images))


def test_uint8_images_are_cast_safely(target, reference, images):
    pixels = images.astype("uint8")
    with ServingClient(target, MODEL) as client:
        out = client.predict(pixels, output_filter=["probabilities"])
    assert set(out) == {"probabilities"}
    _assert_same(out, reference(pixels.astype("float32")), ["probabilities"])


def test_predict_encoded_from_bytes_and_paths(target, reference, images, tmp_path):
    pixels = images[:2].astype("uint8")
    path = tmp_path / "second.png"
    path.write_bytes(_png(pixels[1]))
    with ServingClient(target, MODEL) as client:
        out = client.predict_encoded([_png(pixels[0]), path])
    # 32x32 PNGs resized to 32x32 are unchanged: same answer as the float signature
    _assert_same(out, reference(pixels.astype("float32")))


def test_served_probabilities_equal_the_keras_model(target, resnet_base):
    _, probe, expected = resnet_base
    with ServingClient(target, MODEL) as client:
        out = client.predict(probe, output_filter=["probabilities"])
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-5, atol=1e-6)


def test_metadata_lists_signatures_with_names_dtypes_shapes(target):
    with ServingClient(target, MODEL) as client:
        meta = client.metadata()
    assert meta.model_name == MODEL and meta.version == 1
    default = meta.signatures["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert default.inputs["images"].dtype == "float32"
    assert default.inputs["images"].shape == (None, 32, 32, 3)
    assert default.outputs["top_k_labels"].dtype == "string"
    assert default.outputs["probabilities"].shape == (None, 10)
    assert meta.signatures["serving_bytes"].inputs["image_bytes"].describe() == "string [None]"


def test_status_reports_the_available_version(target):
    with ServingClient(target, MODEL) as client:
        status = client.status()
    assert [(s.version, s.state, s.error_code) for s in status] == [(1, "AVAILABLE", "OK")]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model_name": "nope"}, "Servable not found for request: Latest(nope)"),
        ({"version": 7}, f"Servable not found for request: Specific({MODEL}, 7)"),
    ],
)
def test_unknown_model_or_version_is_not_found(target, images, kwargs, message):
    args = {"model_name": MODEL, **kwargs}
    with ServingClient(target, validate=False, **args) as client:
        with pytest.raises(
            ServingNotFoundError, match=message.replace("(", r"\(").replace(")", r"\)")
        ) as info:
            client.predict(images)
        assert info.value.code == "NOT_FOUND"
        with pytest.raises(ServingNotFoundError):
            client.metadata()


def test_status_of_unknown_model_is_not_found(target):
    with ServingClient(target, "nope") as client:
        with pytest.raises(ServingNotFoundError, match="Could not find any versions of model nope"):
            client.status()


def test_unknown_version_label_is_rejected(target, images):
    with ServingClient(target, MODEL, version_label="canary", validate=False) as client:
        with pytest.raises(ServingInvalidArgumentError, match="canary"):
            client.predict(images)


def test_unknown_signature_is_failed_precondition(target, images):
    """gRPC says 'Serving signature key "x" not found.', REST 'Serving signature name: "x" not found
    in signature def' with HTTP 400: the same FAILED_PRECONDITION class on both."""
    with ServingClient(target, MODEL, signature="predict_v9", validate=False) as client:
        with pytest.raises(
            ServingFailedPreconditionError, match='Serving signature (key|name:) "predict_v9" not found'
        ):
            client.predict(images)
    with ServingClient(target, MODEL, signature="predict_v9") as client:  # checked client-side too
        with pytest.raises(ServingFailedPreconditionError, match="serving_default"):
            client.predict(images)


def test_wrong_dtype_is_caught_client_side_with_what_was_expected(target, images):
    with ServingClient(target, MODEL) as client:
        with pytest.raises(
            ServingInvalidArgumentError, match=r"expected float32 \[None, 32, 32, 3\].*got float64"
        ):
            client.predict(images.astype("float64"))
        with pytest.raises(ServingInvalidArgumentError, match=r"got shape \[5, 16, 16, 3\]"):
            client.predict(images[:, :16, :16])


def test_wrong_dtype_is_invalid_argument_from_the_server(target, images):
    """Strings for a float input: gRPC 'Expects arg[0] to be float but string is provided'; REST
    (JSON has no dtype; integers would be accepted as floats) 'is not of expected type: float'."""
    with ServingClient(target, MODEL, validate=False) as client:
        with pytest.raises(ServingInvalidArgumentError, match="float"):
            client.predict(np.full(images.shape, "x", dtype=object))


def test_wrong_shape_is_stopped_by_the_graph_shape_guard(target, images):
    """TF Serving does not check shapes itself; the export's ensure_shape does (an op error)."""
    with ServingClient(target, MODEL, validate=False) as client:
        with pytest.raises(ServingInvalidArgumentError, match="32") as info:
            client.predict(images[:, :16, :16])
    assert info.value.code == "INVALID_ARGUMENT"


def test_corrupt_image_bytes_are_invalid_argument_with_the_op_message(target):
    with ServingClient(target, MODEL) as client:
        with pytest.raises(ServingInvalidArgumentError, match="image"):
            client.predict_encoded([b"this is not an image"])


def _raw_predict(target: str, inputs: dict) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        for key, value in inputs.items():
            # the package's own TensorProto, parsed by tensorflow-serving-api's class
            request.inputs[key].ParseFromString(to_tensor_proto(value).SerializeToString())
        stub.Predict(request, timeout=10)


def test_missing_and_extra_input_keys_are_invalid_argument(server, images):
    with pytest.raises(grpc.RpcError) as extra:
        _raw_predict(server.target, {"images": images, "labels": np.zeros(5, "int64")})
    assert extra.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "labels" in extra.value.details()
    with pytest.raises(grpc.RpcError) as missing:
        _raw_predict(server.target, {})
    assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "images" in missing.value.details()


def test_unknown_output_filter_is_invalid_argument(target, images):
    with ServingClient(target, MODEL) as client:
        with pytest.raises(ServingInvalidArgumentError, match="logits"):
            client.predict(images, output_filter=["logits"])


def test_requests_over_the_message_limit_fail_with_advice(target, transport, images):
    """gRPC's 4 MB default breaks big batches (tensorflow/serving#1382); the limit is an option."""
    limit = 20_000 if transport == "grpc" else 100_000  # an image: 12 KB as protobuf, ~60 KB as JSON
    with ServingClient(target, MODEL, max_message_bytes=limit) as client:
        with pytest.raises(ServingMessageTooLargeError, match="max_message_bytes"):
            client.predict(images)  # 5 images in one request
        small = ServingClient(target, MODEL, max_message_bytes=limit, max_batch=1)
        assert small.predict(images)["probabilities"].shape == (5, 10)
        small.close()
    with ServingClient(target, MODEL, max_message_bytes=300) as tiny:
        with pytest.raises(ServingMessageTooLargeError, match="RESOURCE_EXHAUSTED.*max_message_bytes"):
            tiny.metadata()  # a small request whose answer (the signatures, ~2 KB) is over the limit


def _upstream_predict(target: str, request_inputs: dict, signature: str) -> dict:
    """Predict through tensorflow-serving-api's own stub and TensorFlow's tensor codec."""
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.model_spec.signature_name = signature
        for key, value in request_inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        response = stub.Predict(request, timeout=30)
    return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}


def test_grpc_rest_and_the_upstream_stub_give_equal_answers(server, images):
    """predict, predict_encoded, metadata and status agree over gRPC and REST (within 1e-6), and
    predict agrees with tensorflow-serving-api's own stub."""
    pixels = images[:3].astype("uint8")
    encoded = [_png(p) for p in pixels]
    answers = {}
    for transport in TRANSPORTS:
        with ServingClient(target_of(server, transport), MODEL) as client:
            answers[transport] = (
                client.predict(images),
                client.predict_encoded(encoded),
                client.metadata(),
                client.status(),
            )
    (grpc_pred, grpc_enc, grpc_meta, grpc_status), (rest_pred, rest_enc, rest_meta, rest_status) = (
        answers["grpc"],
        answers["rest"],
    )
    assert grpc_meta == rest_meta and grpc_status == rest_status
    for ours, theirs in ((grpc_pred, rest_pred), (grpc_enc, rest_enc)):
        assert set(ours) == set(theirs)
        for key in ours:
            assert ours[key].dtype == theirs[key].dtype and ours[key].shape == theirs[key].shape
        _assert_same(ours, theirs)
    upstream = _upstream_predict(server.target, {"images": images}, "serving_default")
    _assert_same(grpc_pred, upstream)
    blobs = np.array(encoded, dtype=object)
    _assert_same(grpc_enc, _upstream_predict(server.target, {"image_bytes": blobs}, "serving_bytes"))
