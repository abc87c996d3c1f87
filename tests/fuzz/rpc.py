"""Predict calls over gRPC with TF Serving's own stubs, answering the status code instead of raising."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from keras_residual.contract import INPUT_BYTES, INPUT_IMAGES, SIGNATURE_BYTES, SIGNATURE_IMAGES

RPC_TIMEOUT_S = 120.0
_MESSAGE_LIMIT = 64 << 20


@dataclass
class Outcome:
    """A Predict answer: the gRPC code name (``"OK"``, ``"INVALID_ARGUMENT"``, ...), details, outputs."""

    code: str
    message: str = ""
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


class Predictor:
    """Send encoded images to ``serving_bytes`` (or pixels to ``serving_default``) of one model."""

    def __init__(self, target: str, model_name: str):
        self.model_name = model_name
        self.channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", _MESSAGE_LIMIT),
                ("grpc.max_receive_message_length", _MESSAGE_LIMIT),
            ],
        )
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def _call(self, request: predict_pb2.PredictRequest) -> Outcome:
        request.model_spec.name = self.model_name
        try:
            response = self.stub.Predict(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as err:
            return Outcome(err.code().name, err.details() or "")
        return Outcome("OK", "", {key: tf.make_ndarray(value) for key, value in response.outputs.items()})

    def encoded(self, blobs: list[bytes]) -> Outcome:
        """Predict on a batch of encoded images through ``serving_bytes``."""
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = SIGNATURE_BYTES
        tensor = request.inputs[INPUT_BYTES]
        tensor.dtype = types_pb2.DT_STRING
        tensor.tensor_shape.dim.add(size=len(blobs))
        tensor.string_val.extend(blobs)
        return self._call(request)

    def pixels(self, images: np.ndarray) -> Outcome:
        """Predict on float32 NHWC pixels through ``serving_default``."""
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = SIGNATURE_IMAGES
        request.inputs[INPUT_IMAGES].CopyFrom(tf.make_tensor_proto(np.asarray(images, np.float32)))
        return self._call(request)

    def close(self) -> None:
        self.channel.close()
