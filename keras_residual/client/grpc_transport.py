"""The gRPC transport: TF Serving's PredictionService and ModelService over a grpcio channel.

Requests are the package's own wire messages (`keras_residual.client.wire`) sent on upstream's
method paths with generic unary-unary stubs; retries on UNAVAILABLE are gRPC's own retry policy.
A target naming several replicas (``"ipv4:10.0.0.1:8500,10.0.0.2:8500"``, or ``"dns:///svc.ns:8500"``
resolving to several pod addresses behind a headless Service) is balanced per call by gRPC's own
``round_robin`` policy, set in the channel's service config; a retry is a new pick, so it goes to a
replica whose connection is up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_residual.client import wire
from keras_residual.client.errors import ServingError
from keras_residual.client.tensors import to_numpy, to_tensor_proto
from keras_residual.client.transport import CLIENT_EXTRA, INITIAL_BACKOFF_S, MAX_BACKOFF_S, CallOptions

MAX_GRPC_ATTEMPTS = 5  # gRPC caps retryPolicy.maxAttempts at 5
LOAD_BALANCING = ("round_robin", "pick_first")
"""gRPC's built-in policies: ``round_robin`` spreads calls over every reachable address the target
resolves to; ``pick_first`` sends everything to the first reachable one (gRPC's default)."""


def channel_options(
    max_message_bytes: int = 64 * 1024 * 1024,
    retries: int = 3,
    wait_for_ready: bool = False,
    load_balancing: str = "round_robin",
) -> list[tuple[str, Any]]:
    """The gRPC channel options of the client (message sizes, service config with the load-balancing
    and retry policies, reconnect backoff)."""
    method_config: dict[str, Any] = {
        "name": [
            {"service": "tensorflow.serving.PredictionService"},
            {"service": "tensorflow.serving.ModelService"},
        ],
    }
    if retries > 0:
        method_config["retryPolicy"] = {
            "maxAttempts": retries + 1,
            "initialBackoff": f"{INITIAL_BACKOFF_S:g}s",
            "maxBackoff": f"{MAX_BACKOFF_S:g}s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    if wait_for_ready:
        method_config["waitForReady"] = True
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.enable_retries", 1 if retries > 0 else 0),
        (
            "grpc.service_config",
            json.dumps({"loadBalancingConfig": [{load_balancing: {}}], "methodConfig": [method_config]}),
        ),
        # gRPC only retries a call whose request it still holds: keep whole requests.
        ("grpc.per_rpc_retry_buffer_size", max_message_bytes),
        # Reconnect quickly after a server restart (the default backoff grows to 120 s).
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]


class GrpcTransport:
    """Calls over one gRPC channel (thread-safe; one channel multiplexes concurrent calls).

    Args:
        options: the client's `CallOptions`; ``options.target`` is ``host:port`` or any gRPC target
            URI (``ipv4:A:P,B:P``, ``dns:///name:port``), balanced by ``options.load_balancing``.
        credentials: ``grpc.ssl_channel_credentials(...)`` for TLS, or None for plaintext.
    """

    name = "grpc"

    def __init__(self, options: CallOptions, credentials: Any = None):
        try:
            import grpc
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(f"keras_residual.client needs grpcio for gRPC targets: {CLIENT_EXTRA}") from err
        if credentials is not None and not isinstance(credentials, grpc.ChannelCredentials):
            raise ValueError(
                "`credentials` must be grpc.ChannelCredentials (grpc.ssl_channel_credentials(...)) for a "
                f"gRPC target; received credentials={credentials!r}"
            )
        self._grpc = grpc
        self.options = options
        opts = channel_options(
            options.max_message_bytes, options.retries, options.wait_for_ready, options.load_balancing
        )
        if credentials is None:
            self._channel = grpc.insecure_channel(options.target, options=opts)
        else:
            self._channel = grpc.secure_channel(options.target, credentials, options=opts)
        self._predict = self._method(wire.PREDICT, wire.PredictResponse)
        self._metadata = self._method(wire.GET_MODEL_METADATA, wire.GetModelMetadataResponse)
        self._status = self._method(wire.GET_MODEL_STATUS, wire.GetModelStatusResponse)

    def _method(self, path: str, response_type: type) -> Any:
        return self._channel.unary_unary(
            path, request_serializer=lambda m: m.SerializeToString(), response_deserializer=response_type.FromString
        )

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.options.timeout)
        except self._grpc.RpcError as err:
            code = err.code()
            raise self.options.error(code.name if code is not None else "UNKNOWN", err.details() or "") from None

    def predict(
        self,
        spec: Any,
        inputs: dict[str, np.ndarray],
        output_filter: Sequence[str] | None,
        input_dtypes: dict[str, str],
        outputs_of: Any = None,
    ) -> dict[str, np.ndarray]:
        """PredictionService.Predict; returns output name -> array (``outputs_of`` is unused: tensors carry dtypes)."""
        request = wire.PredictRequest()
        request.model_spec.CopyFrom(spec)
        for key, array in inputs.items():
            request.inputs[key].CopyFrom(to_tensor_proto(array, input_dtypes.get(key)))
        if output_filter:
            request.output_filter.extend(output_filter)
        size = request.ByteSize()
        if size > self.options.max_message_bytes:
            raise self.options.too_large(size)
        response = self._call(self._predict, request)
        return {key: to_numpy(proto) for key, proto in response.outputs.items()}

    def metadata(self, spec: Any) -> tuple[str, int, Any]:
        """PredictionService.GetModelMetadata; returns (model name, version, ``SignatureDefMap``)."""
        request = wire.GetModelMetadataRequest()
        request.model_spec.CopyFrom(spec)
        request.metadata_field.append("signature_def")
        response = self._call(self._metadata, request)
        sig_map = wire.unpack_signature_def_map(response.metadata["signature_def"])
        if sig_map is None:
            raise ServingError(
                "INTERNAL", "GetModelMetadata answered without a signature_def map", self.options.target
            )
        return response.model_spec.name, int(response.model_spec.version.value), sig_map

    def status(self, spec: Any) -> Any:
        """ModelService.GetModelStatus; returns the ``GetModelStatusResponse``."""
        request = wire.GetModelStatusRequest()
        request.model_spec.CopyFrom(spec)
        return self._call(self._status, request)
