"""The REST transport: TF Serving's HTTP/JSON API (port 8501) with the standard library's ``http.client``.

Paths are TF Serving's: ``POST /v1/models/NAME[/versions/N | /labels/L]:predict`` with the columnar
``{"signature_name": ..., "inputs": {...}}`` body (binary strings as ``{"b64": ...}``),
``GET /v1/models/NAME[...]/metadata`` and ``GET /v1/models/NAME[...]`` (status). Errors are
``{"error": "..."}`` with an HTTP status that `code_from_http` maps back to the gRPC code.

Connections are kept alive in a small pool per base URL (one per concurrent caller). Each call has
one deadline (``timeout``) over its attempts; a refused connection or a 503 answer is retried
``retries`` times (with ``wait_for_ready``, a refused connection is retried until the deadline):
at once on another replica that is up when the client was given several base URLs, else after a
jittered exponential backoff. TLS is an ``ssl.SSLContext`` (the system's trust store by default
for ``https``).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from google.protobuf import json_format

from keras_residual.client import wire
from keras_residual.client.errors import code_from_http
from keras_residual.client.metadata import TensorInfo
from keras_residual.client.rest_replicas import Endpoint, Replicas, Unreachable, parse_base_url
from keras_residual.client.tensors import decode_strings, numpy_dtype
from keras_residual.client.transport import CallOptions, backoff_seconds


class RestTransport:
    """Calls to TF Serving's REST API at one or more ``http://`` / ``https://`` base URLs (thread-safe).

    Args:
        options: the client's `CallOptions`; ``options.target`` is the base URL (a path prefix,
            as behind a gateway, is kept), or ``options.urls`` the base URLs of several replicas,
            balanced by ``options.load_balancing`` (see `keras_residual.client.rest_replicas`).
        credentials: an ``ssl.SSLContext`` for ``https`` (default: ``ssl.create_default_context()``).
    """

    name = "rest"

    def __init__(self, options: CallOptions, credentials: Any = None):
        urls = options.urls or (options.target,)
        if credentials is not None and not isinstance(credentials, ssl.SSLContext):
            raise ValueError(
                f"`credentials` must be an ssl.SSLContext for a REST target; received credentials={credentials!r}"
            )
        schemes = {parse_base_url(url, credentials).scheme for url in urls}
        self.options = options
        context = credentials or (ssl.create_default_context() if "https" in schemes else None)
        self._replicas = Replicas([Endpoint(url, options, context) for url in urls], options.load_balancing)
        self._closed = False

    def close(self) -> None:
        """Close the idle connections; later calls fail."""
        self._closed = True
        self._replicas.close()

    def _request(self, method: str, path: str, body: bytes | None = None) -> Any:
        """Send with retries inside the deadline; return the decoded JSON of a 200 answer.

        A refused connection or a 503 marks its endpoint down; the retry goes at once to another
        endpoint that is up, or after a jittered backoff when none is.
        """
        if self._closed:
            raise ValueError("this ServingClient is closed")
        if body is not None and len(body) > self.options.max_message_bytes:
            raise self.options.too_large(len(body))
        deadline = time.monotonic() + self.options.timeout
        attempt = 0
        endpoint, _ = self._replicas.pick()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.options.error("DEADLINE_EXCEEDED", "Deadline Exceeded")
            try:
                status, data = endpoint.once(method, path, body, remaining)
            except TimeoutError:
                raise self.options.error("DEADLINE_EXCEEDED", "Deadline Exceeded") from None
            except Unreachable as err:
                endpoint.mark_down()
                error = self.options.error("UNAVAILABLE", f"failed to connect to {endpoint.url}: {err}")
                may_retry = self.options.wait_for_ready or attempt < self.options.retries
            else:
                if status == 200:
                    endpoint.mark_up()
                    return _loads(data)
                if status == 503:
                    endpoint.mark_down()
                error = self.options.error(code_from_http(status, _message(data)), _message(data))
                may_retry = status == 503 and attempt < self.options.retries
            if not may_retry:
                raise error
            attempt += 1
            endpoint, up = self._replicas.pick(failed=endpoint)
            if up:
                continue
            pause = backoff_seconds(attempt)
            if time.monotonic() + pause >= deadline:
                if self.options.wait_for_ready:
                    raise self.options.error("DEADLINE_EXCEEDED", "Deadline Exceeded")
                raise error
            time.sleep(pause)

    # ------------------------------------------------------------------ API
    def _model_path(self, spec: Any) -> str:
        path = "/v1/models/" + urllib.parse.quote(spec.name, safe="")
        which = spec.WhichOneof("version_choice")
        if which == "version":
            path += f"/versions/{int(spec.version.value)}"
        elif which == "version_label":
            path += "/labels/" + urllib.parse.quote(spec.version_label, safe="")
        return path

    def predict(
        self,
        spec: Any,
        inputs: dict[str, np.ndarray],
        output_filter: Sequence[str] | None,
        input_dtypes: dict[str, str],
        outputs_of: Callable[[bool], dict[str, TensorInfo] | None],
    ) -> dict[str, np.ndarray]:
        """POST ``:predict`` (columnar format); returns output name -> array.

        ``outputs_of(fetch)`` gives the signature's outputs from the client's metadata (cached;
        asked for only when ``fetch``): their dtypes decode the JSON numbers exactly, and they name
        the output of a single-output answer (the one case that fetches). REST has no output
        filter: the answer is filtered here, with TF Serving's message for an unknown name.
        """
        body = {"inputs": {key: _to_json(array) for key, array in inputs.items()}}
        if spec.signature_name:
            body["signature_name"] = spec.signature_name
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        answer = self._request("POST", self._model_path(spec) + ":predict", payload)
        outputs = outputs_of(False)
        raw = answer.get("outputs") if isinstance(answer, dict) else None
        if raw is None:
            raise self.options.error("INTERNAL", f"predict answer without 'outputs': {str(answer)[:200]}")
        if not (isinstance(raw, dict) and not _is_b64(raw)):  # one output: the value itself
            outputs = outputs if outputs is not None else outputs_of(True)
            if outputs is None or len(outputs) != 1:
                raise self.options.error("INTERNAL", "predict answered one unnamed output; metadata is needed")
            raw = {next(iter(outputs)): raw}
        wanted = list(output_filter) if output_filter else sorted(raw)
        for alias in wanted:
            if alias not in raw:
                raise self.options.error(
                    "INVALID_ARGUMENT",
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{','.join(sorted(raw))}}}.",
                )
        infos = outputs or {}
        return {alias: _from_json(raw[alias], infos.get(alias)) for alias in wanted}

    def metadata(self, spec: Any) -> tuple[str, int, Any]:
        """GET ``/metadata``; returns (model name, version, ``SignatureDefMap``)."""
        answer = self._request("GET", self._model_path(spec) + "/metadata")
        try:
            model_spec = json_format.ParseDict(answer["model_spec"], wire.ModelSpec(), ignore_unknown_fields=True)
            sig_map = json_format.ParseDict(
                answer["metadata"]["signature_def"], wire.SignatureDefMap(), ignore_unknown_fields=True
            )
        except (KeyError, TypeError, json_format.ParseError) as err:
            raise self.options.error("INTERNAL", f"unexpected metadata answer: {err}") from None
        return model_spec.name, int(model_spec.version.value), sig_map

    def status(self, spec: Any) -> Any:
        """GET the model (status); returns a ``GetModelStatusResponse``."""
        answer = self._request("GET", self._model_path(spec))
        try:
            return json_format.ParseDict(answer, wire.GetModelStatusResponse(), ignore_unknown_fields=True)
        except json_format.ParseError as err:
            raise self.options.error("INTERNAL", f"unexpected status answer: {err}") from None


def _loads(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))


def _message(data: bytes) -> str:
    """The ``error`` of TF Serving's JSON error body (the raw text when it is not that JSON)."""
    text = data.decode("utf-8", errors="replace")
    try:
        answer = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return answer["error"]
    return text.strip()


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _nest(flat: list, shape: tuple[int, ...]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _to_json(array: np.ndarray) -> Any:
    """A tensor as TF Serving's JSON: nested lists; strings and bytes as ``{"b64": ...}``."""
    if array.dtype.kind in ("S", "U", "O"):
        flat = [
            {"b64": base64.b64encode(item.encode("utf-8") if isinstance(item, str) else bytes(item)).decode("ascii")}
            for item in array.reshape(-1)
        ]
        return _nest(flat, array.shape)
    if array.dtype.name == "bfloat16":
        array = array.astype(np.float32)
    if array.dtype.kind == "f" and _integral(array):
        return array.astype(np.int64).tolist()  # pixels: short exact integers, several times faster to write
    return array.tolist()


def _integral(array: np.ndarray) -> bool:
    """Whole numbers that JSON integers carry exactly into a float32 tensor (|x| < 2**24, no -0.0)."""
    if array.size == 0 or not np.all(np.isfinite(array)):
        return False
    return bool(
        np.all(array == np.trunc(array))
        and np.max(np.abs(array)) < 2**24
        and not np.any(np.signbit(array) & (array == 0))
    )


def _leaf(value: Any) -> Any:
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _decode_leaves(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_leaves(v) for v in value]
    return base64.b64decode(value["b64"]) if _is_b64(value) else value


def _from_json(value: Any, info: TensorInfo | None) -> np.ndarray:
    """Nested JSON lists -> array, in the signature's dtype when known (else inferred from the values)."""
    leaf = _leaf(value)
    is_string = (info is not None and info.dtype == "string") or isinstance(leaf, (str, dict))
    if is_string:
        return decode_strings(np.asarray(_decode_leaves(value), dtype=object))
    if info is not None:
        return np.asarray(value, dtype=numpy_dtype(info.dtype))
    if isinstance(leaf, bool):
        return np.asarray(value, dtype=bool)
    if isinstance(leaf, int):
        return np.asarray(value, dtype=np.int64)
    return np.asarray(value, dtype=np.float32)
