"""The REST half of the stand-in server: TF Serving's HTTP/JSON API over the stub's gRPC handlers.

As TF Serving's ``http_rest_api_handler`` and ``json_tensor`` do, a request is turned into the gRPC
request (JSON values converted to the signature's input dtypes), handled by the same code as gRPC,
and the answer is written as JSON:

- ``POST /v1/models/NAME[/versions/N | /labels/L]:predict`` with ``"instances"`` (row format) or
  ``"inputs"`` (columnar format), optional ``"signature_name"``; binary strings as ``{"b64": ...}``;
  answers ``{"predictions": [...]}`` (row: one entry per instance, an object when there are several
  outputs) or ``{"outputs": ...}`` (columnar: the value itself when there is one output); DT_STRING
  outputs whose alias ends in ``_bytes`` are written as ``{"b64": ...}``;
- ``GET /v1/models/NAME[...]`` (GetModelStatus) and ``GET /v1/models/NAME[...]/metadata``
  (GetModelMetadata, the ``Any`` unpacked to the ``SignatureDefMap`` JSON);
- errors as ``{"error": "<message>"}`` with TF Serving's HTTP status for the code (``ToHTTPStatusCode``).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

HTTP_STATUS = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_PREDICT = re.compile(r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
_STATUS = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")
_FLOATS = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64}
_INTS = {
    types_pb2.DT_INT32: np.int32, types_pb2.DT_INT16: np.int16, types_pb2.DT_INT8: np.int8,
    types_pb2.DT_UINT8: np.uint8, types_pb2.DT_INT64: np.int64, types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64,
}  # fmt: skip


class RestError(Exception):
    """A failed REST request: the gRPC code (mapped to HTTP by `HTTP_STATUS`) and the message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return {str: "String", dict: "Object", list: "Array", type(None): "Null"}.get(type(value), "Number")


def _type_error(value, dtype: int) -> RestError:
    return RestError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"JSON Value: {json.dumps(value)} Type: {_type_name(value)} is not of expected type: "
        f"{types_pb2.DataType.Name(dtype).removeprefix('DT_').lower()}",
    )


def _leaves(value, dtype: int, out: list) -> None:
    """Flatten ``value``, converting each leaf like TF Serving's ``AddValueToTensor``."""
    if isinstance(value, list):
        for item in value:
            _leaves(item, dtype, out)
        return
    if dtype == types_pb2.DT_STRING:
        if _is_b64(value):
            try:
                out.append(base64.b64decode(value["b64"], validate=True))
            except ValueError:
                raise RestError(grpc.StatusCode.INVALID_ARGUMENT, "Unable to base64 decode") from None
        elif isinstance(value, str):
            out.append(value.encode("utf-8"))
        else:
            raise _type_error(value, dtype)
    elif dtype in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, dtype)
        out.append(value)
    elif dtype in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(value, dtype)
        out.append(value)
    elif dtype == types_pb2.DT_BOOL:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        out.append(value)
    else:
        raise RestError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"Conversion of JSON Value: {json.dumps(value)} to type: "
            f"{types_pb2.DataType.Name(dtype).removeprefix('DT_').lower()}",
        )


def _shape(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def json_to_tensor(value, dtype: int):
    """A JSON value (nested lists of numbers, strings or b64 objects) as a ``TensorProto`` of ``dtype``."""
    shape = _shape(value)
    fast = _FLOATS.get(dtype) or _INTS.get(dtype)
    if fast is not None:  # numbers only: convert in one go (the per-leaf walk below gives the errors)
        try:
            array = np.asarray(value)
        except ValueError:
            array = None
        allowed = "iuf" if dtype in _FLOATS else "iu"
        if array is not None and array.dtype.kind in allowed and list(array.shape) == shape:
            return tf.make_tensor_proto(array.astype(fast))
    flat: list = []
    _leaves(value, dtype, flat)
    if len(flat) != int(np.prod(shape, dtype=np.int64)):
        raise RestError(grpc.StatusCode.INVALID_ARGUMENT, f"Encountered list at unexpected size (shape {shape})")
    if dtype == types_pb2.DT_STRING:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return tf.make_tensor_proto(array.reshape(shape))
    numpy_type = _FLOATS.get(dtype) or _INTS.get(dtype) or np.bool_
    return tf.make_tensor_proto(np.asarray(flat, dtype=numpy_type).reshape(shape))


def _fill_inputs(body: dict, inputs_info, request: predict_pb2.PredictRequest) -> str:
    """Fill ``request.inputs`` from ``instances`` or ``inputs``; returns ``"row"`` or ``"columnar"``."""
    names = sorted(inputs_info)
    if "instances" in body and "inputs" in body:
        raise RestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "JSON Value: ... Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
        )
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise RestError(grpc.StatusCode.INVALID_ARGUMENT, "Excepting 'instances' to be a non-empty list/array")
        as_objects = isinstance(instances[0], dict) and not _is_b64(instances[0])
        if not as_objects and len(names) > 1:
            raise RestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "instances is a plain list, but expecting list of objects as multiple input tensors required "
                "as per tensorinfo_map",
            )
        columns: dict[str, list] = {name: [] for name in names}
        for index, item in enumerate(instances):
            if as_objects != (isinstance(item, dict) and not _is_b64(item)):
                raise RestError(grpc.StatusCode.INVALID_ARGUMENT, f"Mixed objects and values at item {index}")
            if as_objects and sorted(item) != names:
                raise RestError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{json.dumps(item)[:200]} keys must be equal to: {','.join(names)}",
                )
            for name in names:
                columns[name].append(item[name] if as_objects else item)
        for name in names:
            if len({json.dumps(_shape(v)) for v in columns[name]}) > 1:
                raise RestError(grpc.StatusCode.INVALID_ARGUMENT, f"{name}: instances of different shapes")
            request.inputs[name].CopyFrom(json_to_tensor(columns[name], inputs_info[name].dtype))
        return "row"
    if "inputs" in body:
        value = body["inputs"]
        if not isinstance(value, dict) or _is_b64(value):
            if len(names) > 1:
                raise RestError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "inputs is a plain value/list, but expecting an object as multiple input tensors required "
                    "as per tensorinfo_map",
                )
            value = {names[0]: value}
        for name in names:
            if name not in value:
                raise RestError(grpc.StatusCode.INVALID_ARGUMENT, f"Missing named input: {name} in 'inputs' object.")
            request.inputs[name].CopyFrom(json_to_tensor(value[name], inputs_info[name].dtype))
        return "columnar"
    raise RestError(grpc.StatusCode.INVALID_ARGUMENT, "Missing 'inputs' or 'instances' key")


def _to_json(name: str, array: np.ndarray):
    """An output as TF Serving writes it: nested lists; strings as text, ``*_bytes`` strings as b64."""
    if array.dtype.kind in ("S", "O"):
        flat = [
            {"b64": base64.b64encode(v).decode("ascii")} if name.endswith("_bytes") else v.decode("utf-8", "replace")
            for v in array.reshape(-1)
        ]
        return np.asarray(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    return array.tolist()


def _answer(outputs: dict[str, np.ndarray], fmt: str) -> dict:
    names = sorted(outputs)
    if fmt == "columnar":
        if len(names) == 1:
            return {"outputs": _to_json(names[0], outputs[names[0]])}
        return {"outputs": {name: _to_json(name, outputs[name]) for name in names}}
    values = {name: _to_json(name, outputs[name]) for name in names}
    batch = {len(v) for v in values.values()}
    if len(batch) != 1:
        raise RestError(grpc.StatusCode.INVALID_ARGUMENT, "Tensor outputs have inconsistent batch sizes")
    if len(names) == 1:
        return {"predictions": values[names[0]]}
    return {"predictions": [{name: values[name][i] for name in names} for i in range(batch.pop())]}


class RestFrontend:
    """Serve TF Serving's REST API for a `StubModelServer` (its ``predict``/``metadata``/``status``)."""

    def __init__(self, stub, port: int = 0, tls: tuple[bytes, bytes] | None = None):
        self.stub = stub
        self.port = port
        self.tls = tls
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._open: set = set()  # kept-alive connections, closed on stop like a dead process's
        self._open_lock = threading.Lock()

    def start(self) -> int:
        frontend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's libevent server
            disable_nagle_algorithm = True  # headers and body leave as separate writes

            def log_message(self, *args) -> None:  # quiet
                return

            def setup(self) -> None:
                super().setup()
                with frontend._open_lock:
                    frontend._open.add(self.connection)

            def finish(self) -> None:
                with frontend._open_lock:
                    frontend._open.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                frontend.handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                frontend.handle(self, "POST")

        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        if self.tls is not None:
            self._httpd.socket = _tls_context(*self.tls).wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="stub-rest", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
            self._httpd = None
        with self._open_lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if self._httpd is None:  # stopped: drop the connection unanswered
            handler.close_connection = True
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(handler.path).path
        try:
            status, answer = 200, self.dispatch(method, path, body)
        except RestError as err:
            status, answer = HTTP_STATUS.get(err.code, 500), {"error": err.message}
        except Exception as err:  # a bug in the stub must still answer, never hang the client
            status, answer = 500, {"error": f"{type(err).__name__}: {err}"}
        data = json.dumps(answer, indent=1).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _spec(spec, name: str, version: str | None, label: str | None) -> None:
        spec.name = urllib.parse.unquote(name)
        if version:
            spec.version.value = int(version)
        if label:
            spec.version_label = urllib.parse.unquote(label)

    def dispatch(self, method: str, path: str, body: bytes) -> dict:
        """Answer one request (``RestError`` for TF Serving's errors)."""
        predict = _PREDICT.fullmatch(path) if method == "POST" else None
        status = _STATUS.fullmatch(path) if method == "GET" else None
        if predict and predict.group(4) == "predict":
            return self.predict(predict.groups()[:3], body)
        if status and status.group(1):
            name, version, label, metadata = status.groups()
            if metadata:
                request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
                self._spec(request.model_spec, name, version, label)
                response = self.stub.handle(self.stub.metadata, request)
                sig_map = get_model_metadata_pb2.SignatureDefMap()
                response.metadata["signature_def"].Unpack(sig_map)
                return {"model_spec": _dict(response.model_spec), "metadata": {"signature_def": _dict(sig_map)}}
            request = get_model_status_pb2.GetModelStatusRequest()
            self._spec(request.model_spec, name, version, label)
            return _dict(self.stub.handle(self.stub.status, request))
        if status:
            raise RestError(grpc.StatusCode.INVALID_ARGUMENT, "Missing model name in request.")
        raise RestError(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: {method} {path}")

    def predict(self, route: tuple, body: bytes) -> dict:
        self.stub.calls += 1
        try:
            payload = json.loads(body.decode("utf-8"))
        except ValueError as err:
            raise RestError(grpc.StatusCode.INVALID_ARGUMENT, f"JSON Parse error: {err}") from None
        if not isinstance(payload, dict):
            raise RestError(grpc.StatusCode.INVALID_ARGUMENT, "JSON Value: ... Is not object")
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, *route)
        signature = payload.get("signature_name", "")
        if not isinstance(signature, str):
            raise RestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "JSON Value: ... not formatted correctly. 'signature_name' key must be a string value.",
            )
        request.model_spec.signature_name = signature
        _, servable = self.stub.handle(self.stub.resolve, request.model_spec)
        sig_name = signature or "serving_default"
        if sig_name not in servable.signatures:
            raise RestError(
                grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature name: "{sig_name}" not found in signature def'
            )
        fmt = _fill_inputs(payload, servable.signatures[sig_name].inputs, request)
        response = self.stub.handle(self.stub.predict, request)
        return _answer({k: tf.make_ndarray(v) for k, v in response.outputs.items()}, fmt)


def _tls_context(key: bytes, cert: bytes) -> ssl.SSLContext:
    """A server context from PEM bytes (``ssl`` loads certificates from files only)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="stub-tls-") as tmp:
        key_path, cert_path = Path(tmp) / "key.pem", Path(tmp) / "cert.pem"
        key_path.write_bytes(key)
        cert_path.write_bytes(cert)
        context.load_cert_chain(cert_path, key_path)
    return context


def _dict(message) -> dict:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
