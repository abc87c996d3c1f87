"""A stand-in for ``tensorflow_model_server`` speaking TF Serving's gRPC and REST APIs (tests only).

It serves one model from a ``base_path`` the way TF Serving does with its default
``latest{1}`` version policy:

- polls ``base_path`` for integer-named version directories (anything else, such as a hidden
  ``.3.tmp`` directory being written, is ignored) and loads the newest one with the TF1
  SavedModel session loader and the ``serve`` tag;
- runs signatures by the tensor names in their SignatureDef;
- answers PredictionService.Predict / GetModelMetadata and ModelService.GetModelStatus with
  TF Serving's status codes and messages (NOT_FOUND "Servable not found for request: ...",
  FAILED_PRECONDITION for an unknown signature, INVALID_ARGUMENT for wrong input keys, dtypes
  and op errors with the op's message);
- encodes outputs in the typed repeated fields, as TF Serving's Predict does;
- serves TF Serving's REST API on a second port (`rest_target`, see ``tfserving_rest.py``): row and
  columnar JSON, ``{"b64": ...}`` strings, ``{"error": ...}`` with TF Serving's HTTP statuses.

Usage::

    with StubModelServer(base_path, "digits") as server:
        client = ServingClient(server.target, "digits")          # gRPC
        rest = ServingClient(server.rest_target, "digits")       # REST
"""

from __future__ import annotations

import os
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.client.tfserving_rest import RestError, RestFrontend

_CODES = {code.value[0]: code for code in grpc.StatusCode}
_STATE = get_model_status_pb2.ModelVersionStatus.State


def _dtype_string(dtype: int) -> str:
    """TensorFlow's C++ ``DataTypeString``: DT_FLOAT -> "float", DT_INT32 -> "int32"."""
    return types_pb2.DataType.Name(dtype).removeprefix("DT_").lower()


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class _Servable:
    """One loaded version: a TF1 session over the SavedModel's graph."""

    def __init__(self, path: Path):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            self.meta_graph = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], str(path))
        self.signatures = dict(self.meta_graph.signature_def)

    def run(self, feeds: dict[str, np.ndarray], fetches: list[str]) -> list[np.ndarray]:
        """Run by tensor names like TF Serving's C++ ``Session::Run``.

        ``Session.run`` in Python refuses feeds whose shape differs from the placeholder's; the
        C++ session (and so TF Serving) does not check, and leaves it to the graph's own guards.
        The session's raw run call gives the same behaviour.
        """
        feed = {self.graph.get_tensor_by_name(n)._as_tf_output(): v for n, v in feeds.items()}
        fetch = [self.graph.get_tensor_by_name(n)._as_tf_output() for n in fetches]
        return self.session._call_tf_sessionrun(None, feed, fetch, [], None)

    def close(self) -> None:
        self.session.close()


def _as_proto_field(array: np.ndarray) -> tf.compat.v1.TensorProto:
    """Encode like TF Serving's ``Tensor::AsProtoField`` (typed repeated fields)."""
    proto = tf.make_tensor_proto(array)
    if array.dtype.kind in ("S", "U", "O"):
        return proto
    out = type(proto)()
    out.dtype = proto.dtype
    out.tensor_shape.CopyFrom(proto.tensor_shape)
    flat = array.reshape(-1)
    field = {
        "float32": "float_val",
        "float64": "double_val",
        "int32": "int_val",
        "int64": "int64_val",
        "bool": "bool_val",
        "uint8": "int_val",
        "int16": "int_val",
        "int8": "int_val",
    }.get(array.dtype.name)
    if field is None:
        return proto
    getattr(out, field).extend(flat.tolist())
    return out


class StubModelServer:
    """Serve the newest integer version under ``base_path`` on a loopback gRPC port.

    Args:
        base_path: the model's base directory (holding ``1/``, ``2/``, ...).
        model_name: the name clients must ask for.
        port: 0 picks a free port; give the old port to restart "the same" server.
        poll_seconds: how often ``base_path`` is scanned for new versions.
        version_labels: label -> version map (TF Serving's ``version_labels`` config).
        max_workers: request threads.
        tls: ``(private_key_pem, certificate_pem)`` to serve over TLS instead of plaintext
            (gRPC and REST).
        rest_port: port of the REST API; 0 picks a free port; None serves gRPC only.
    """

    def __init__(
        self,
        base_path: str | os.PathLike,
        model_name: str,
        port: int = 0,
        poll_seconds: float = 0.2,
        version_labels: dict[str, int] | None = None,
        max_workers: int = 8,
        tls: tuple[bytes, bytes] | None = None,
        rest_port: int | None = 0,
    ):
        self.base_path = Path(base_path)
        self.model_name = model_name
        self.port = port
        self.poll_seconds = poll_seconds
        self.version_labels = dict(version_labels or {})
        self.max_workers = max_workers
        self.tls = tls
        self.rest_port = rest_port
        self._rest: RestFrontend | None = None
        self._lock = threading.Lock()
        self._current: tuple[int, _Servable] | None = None
        self._states: dict[int, tuple[int, int, str]] = {}  # version -> (state, error code, message)
        self._retired: list[_Servable] = []
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._server: grpc.Server | None = None
        self.unavailable_budget = 0  # fault injection: answer UNAVAILABLE this many times
        self.delay_seconds = 0.0  # fault injection: sleep this long in every Predict
        self.calls = 0

    # ------------------------------------------------------------------ lifecycle
    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def rest_target(self) -> str:
        """The REST base URL (``http://127.0.0.1:PORT``, ``https://`` with TLS)."""
        if self.rest_port is None:
            raise RuntimeError("this stub serves no REST API (rest_port=None)")
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.rest_port}"

    def start(self) -> StubModelServer:
        self.scan()
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_workers),
            options=[
                ("grpc.max_receive_message_length", 1 << 30),
                ("grpc.max_send_message_length", 1 << 30),
                ("grpc.so_reuseport", 0),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(self), server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(self), server)
        address = f"127.0.0.1:{self.port}"
        if self.tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, grpc.ssl_server_credentials([self.tls]))
        if port == 0:
            raise RuntimeError(f"could not bind 127.0.0.1:{self.port}")
        self.port = port
        server.start()
        self._server = server
        if self.rest_port is not None:
            self._rest = RestFrontend(self, self.rest_port, self.tls)
            self.rest_port = self._rest.start()
        self._stop.clear()
        self._poller = threading.Thread(target=self._poll, name="stub-poller", daemon=True)
        self._poller.start()
        return self

    def stop(self, grace: float | None = None) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
            self._poller = None
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        with self._lock:
            if self._current is not None:
                self._retired.append(self._current[1])
                self._current = None
            for servable in self._retired:
                servable.close()
            self._retired.clear()

    def __enter__(self) -> StubModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ versions
    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.scan()

    def scan(self) -> None:
        """Load the newest integer version if it is not the one being served."""
        if not self.base_path.is_dir():
            return
        versions = sorted(int(p.name) for p in self.base_path.iterdir() if p.name.isdigit() and p.is_dir())
        if not versions:
            return
        newest = versions[-1]
        with self._lock:
            if newest in self._states or (self._current and self._current[0] == newest):
                return
            self._states[newest] = (_STATE.LOADING, 0, "")
        try:
            servable = _Servable(self.base_path / str(newest))
        except Exception as err:  # a broken version: TF Serving reports it and keeps the old one
            code = getattr(err, "error_code", grpc.StatusCode.UNKNOWN.value[0])
            with self._lock:
                self._states[newest] = (_STATE.END, int(code), str(err))
            return
        with self._lock:
            old = self._current
            self._current = (newest, servable)
            self._states[newest] = (_STATE.AVAILABLE, 0, "")
            if old is not None:
                self._states[old[0]] = (_STATE.END, 0, "")
                self._retired.append(old[1])  # closed on stop: requests in flight may still use it

    def wait_for_version(self, version: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._current and self._current[0] == version:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"version {version} was not loaded within {timeout} s")

    # ------------------------------------------------------------------ request handling
    @staticmethod
    def handle(fn, request):
        """Call a handler for the REST front end: TF Serving's errors become `RestError`."""
        try:
            return fn(request)
        except _Abort as err:
            raise RestError(err.code, err.message) from None

    def resolve(self, spec) -> tuple[int, _Servable]:
        """Find the servable for a ModelSpec, or raise TF Serving's error."""
        name = spec.name
        which = spec.WhichOneof("version_choice")
        with self._lock:
            current = self._current
        if which == "version_label":
            if spec.version_label not in self.version_labels:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Unrecognized servable version label: {spec.version_label}",
                )
            version = self.version_labels[spec.version_label]
            request = f"Specific({name}, {version})"
        elif which == "version":
            version = spec.version.value
            request = f"Specific({name}, {version})"
        else:
            version = None
            request = f"Latest({name})"
        if name != self.model_name or current is None or (version is not None and version != current[0]):
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {request}")
        return current

    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        with self._lock:
            inject = self.unavailable_budget > 0
            self.unavailable_budget -= int(inject)
        if inject:
            raise _Abort(grpc.StatusCode.UNAVAILABLE, "injected fault: server busy")
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        version, servable = self.resolve(request.model_spec)
        sig_name = request.model_spec.signature_name or "serving_default"
        if sig_name not in servable.signatures:
            raise _Abort(
                grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{sig_name}" not found.'
            )
        signature = servable.signatures[sig_name]
        sent, wanted = set(request.inputs), set(signature.inputs)
        if len(sent) == len(wanted) and sent != wanted:
            alias = sorted(sent - wanted)[0]
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input tensor alias not found in signature: {alias}. Inputs expected to be in the set "
                f"{{{','.join(sorted(wanted))}}}.",
            )
        if sent != wanted:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input size does not match signature: {len(sent)}!={len(wanted)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
                f"Missing but required: {{{','.join(sorted(wanted - sent))}}}.",
            )
        feed = {}
        for index, key in enumerate(sorted(sent)):
            info, proto = signature.inputs[key], request.inputs[key]
            if proto.dtype != info.dtype:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Expects arg[{index}] to be {_dtype_string(info.dtype)} but "
                    f"{_dtype_string(proto.dtype)} is provided",
                )
            try:
                feed[info.name] = tf.make_ndarray(proto)
            except Exception as err:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {key}") from err
        aliases = list(request.output_filter) or sorted(signature.outputs)
        for alias in aliases:
            if alias not in signature.outputs:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the "
                    f"set {{{','.join(sorted(signature.outputs))}}}.",
                )
        if len(set(aliases)) != len(aliases):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "duplicate output tensor alias")
        try:
            values = servable.run(feed, [signature.outputs[a].name for a in aliases])
        except tf.errors.OpError as err:
            message = err.message.removeprefix("Graph execution error:").strip()
            raise _Abort(_CODES.get(err.error_code, grpc.StatusCode.UNKNOWN), message) from err
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.model_name
        response.model_spec.version.value = version
        response.model_spec.signature_name = sig_name
        for alias, value in zip(aliases, values, strict=True):
            response.outputs[alias].CopyFrom(_as_proto_field(np.asarray(value)))
        return response

    def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest):
        if not request.metadata_field:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "GetModelMetadataRequest must specify at least one metadata_field",
            )
        for field in request.metadata_field:
            if field != "signature_def":
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
        version, servable = self.resolve(request.model_spec)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in servable.signatures.items():
            sig_map.signature_def[key].CopyFrom(sig)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.model_name
        response.model_spec.version.value = version
        response.metadata["signature_def"].Pack(sig_map)
        return response

    def status(self, request: get_model_status_pb2.GetModelStatusRequest):
        spec = request.model_spec
        with self._lock:
            states = dict(self._states) if spec.name == self.model_name else {}
        response = get_model_status_pb2.GetModelStatusResponse()
        if spec.HasField("version"):
            wanted = spec.version.value
            if wanted not in states:
                raise _Abort(
                    grpc.StatusCode.NOT_FOUND, f"Could not find version {wanted} of model {spec.name}"
                )
            states = {wanted: states[wanted]}
        elif not states:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}")
        for version in sorted(states):
            state, code, message = states[version]
            item = response.model_version_status.add()
            item.version = version
            item.state = state
            item.status.error_code = code
            item.status.error_message = message
        return response


def _handle(context, fn, request):
    try:
        return fn(request)
    except _Abort as err:
        context.abort(err.code, err.message)
    except Exception as err:  # a bug in the stub must still answer, never hang the client
        context.abort(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}")


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, server: StubModelServer):
        self.server = server

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        self.server.calls += 1
        return _handle(context, self.server.predict, request)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _handle(context, self.server.metadata, request)


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, server: StubModelServer):
        self.server = server

    def GetModelStatus(self, request, context):  # noqa: N802
        return _handle(context, self.server.status, request)
