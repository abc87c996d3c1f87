"""`ServingClient`: calls to a model served by TensorFlow Serving, over gRPC or REST."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from keras_residual import contract
from keras_residual._validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_optional_int,
    check_str,
    fail,
)
from keras_residual.client import wire
from keras_residual.client.errors import (
    ServingError,
    ServingFailedPreconditionError,
    ServingInvalidArgumentError,
)
from keras_residual.client.grpc_transport import (
    LOAD_BALANCING,
    MAX_GRPC_ATTEMPTS,
    GrpcTransport,
    channel_options,
)
from keras_residual.client.metadata import ModelMetadata, SignatureInfo, TensorInfo, VersionStatus
from keras_residual.client.rest_transport import RestTransport
from keras_residual.client.tensors import _NP_TO_DT, tensor_info
from keras_residual.client.transport import CallOptions

REST_SCHEMES = ("http://", "https://")
"""Targets starting with these speak REST; any other target is a gRPC address."""
_GRPC_SCHEMES = ("dns", "unix", "unix-abstract", "ipv4", "ipv6", "vsock")  # gRPC's own name-resolver URIs


def _unknown_scheme(target: str) -> bool:
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", target)
    return match is not None and match.group(1).lower() not in ("http", "https", *_GRPC_SCHEMES)


def _rest_urls(target: Any) -> list[str]:
    """The REST base URLs of ``target`` (empty for a gRPC target); ValueError for anything else."""
    allowed = "'host:port' or a gRPC target URI, 'http(s)://host:port', or a list of REST base URLs"
    if isinstance(target, str):
        if not target.strip() or _unknown_scheme(target):
            fail("target", allowed, target)
        return [target] if target.startswith(REST_SCHEMES) else []
    urls = list(target) if isinstance(target, (list, tuple)) else None
    if not urls or not all(isinstance(url, str) and url.startswith(REST_SCHEMES) for url in urls):
        fail("target", allowed + " (several gRPC replicas: one target 'ipv4:A:8500,B:8500' or 'dns:///name:8500')", target)
    return urls


class ServingClient:
    """Call a model served by TensorFlow Serving over gRPC or its REST API.

    The transport follows the target: ``"host:8500"`` speaks gRPC, ``"http://host:8501"`` (or
    ``https://``) speaks TF Serving's REST API. Both give the same methods, return types and
    `ServingError` classes. The client needs only grpcio, protobuf and numpy
    (``pip install 'keras-residual[client]'``): the wire messages are the package's own.

    Args:
        target: ``"host:port"`` of the gRPC endpoint (TF Serving: 8500), or the REST base URL
            ``"http://host:port"`` / ``"https://host:port"`` (TF Serving: 8501). Several replicas:
            a gRPC target URI naming them (``"ipv4:10.0.0.1:8500,10.0.0.2:8500"``, or
            ``"dns:///name.namespace:8500"`` for a headless Service's pod addresses), or a list of
            REST base URLs.
        model_name: the model name the server was started with.
        signature: signature for `predict` (``"serving_default"``).
        version: ask for this integer version (default: the newest loaded).
        version_label: ask for a version label from the server's model config (``"stable"``).
            Exclusive with ``version``.
        timeout: the deadline of every call, in seconds (retries included).
        max_message_bytes: the largest request and response (both directions); gRPC's 4 MB
            default is too small for image batches.
        retries: extra attempts when the server answers UNAVAILABLE (HTTP 503) or cannot be
            reached, 0..4, with jittered exponential backoff (gRPC's own retry policy on gRPC).
        credentials: TLS: ``grpc.ssl_channel_credentials(...)`` for gRPC, an ``ssl.SSLContext``
            for ``https`` (default there: the system's trust store); ``None`` for plaintext.
        max_batch: `predict` sends at most this many images per request and joins the answers.
        wait_for_ready: wait while the server is unreachable until it comes back or the
            deadline passes, instead of failing fast with UNAVAILABLE.
        validate: fetch the signature metadata once and check dtype/shape/input names before
            sending (over REST it also gives the exact output dtypes).
        load_balancing: how calls spread over several replicas: ``"round_robin"`` (each call to
            the next reachable one) or ``"pick_first"`` (the first reachable one takes all). On
            gRPC it is the channel's own policy (service config ``loadBalancingConfig``); over
            REST the client picks the base URL itself. Either way a retry after UNAVAILABLE (or a
            refused connection, or HTTP 503) goes to a replica that is up.

    Example:
        ```python
        # skip-test: needs a running TF Serving
        from keras_residual.client import ServingClient

        client = ServingClient("localhost:8500", "digits", timeout=5.0)
        rest = ServingClient("http://localhost:8501", "digits", timeout=5.0)
        print(client.status() == rest.status())
        client.close()
        rest.close()
        # two replicas, balanced round-robin; a dead one is skipped
        replicas = ServingClient("ipv4:10.0.0.1:8500,10.0.0.2:8500", "digits")
        rest_replicas = ServingClient(["http://10.0.0.1:8501", "http://10.0.0.2:8501"], "digits")
        ```
    """

    def __init__(
        self,
        target: str | Sequence[str],
        model_name: str,
        signature: str = contract.SIGNATURE_IMAGES,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float = 10.0,
        max_message_bytes: int = 64 * 1024 * 1024,
        retries: int = 3,
        credentials: Any = None,
        max_batch: int = 64,
        wait_for_ready: bool = False,
        validate: bool = True,
        load_balancing: str = "round_robin",
    ):
        urls = _rest_urls(target)
        check_str("model_name", model_name)
        check_str("signature", signature)
        if version is not None and version_label is not None:
            raise ValueError(
                f"`version` and `version_label` must not both be given (give at most one of them); "
                f"received version={version!r}, version_label={version_label!r}."
            )
        self.version = check_optional_int("version", version, minimum=0)
        self.version_label = check_str("version_label", version_label, allow_none=True)
        self.timeout = check_float("timeout", timeout, 0.0, min_inclusive=False)
        self.max_message_bytes = check_int("max_message_bytes", max_message_bytes)
        self.retries = check_int("retries", retries, 0, MAX_GRPC_ATTEMPTS - 1)
        self.max_batch = check_int("max_batch", max_batch)
        self.wait_for_ready = check_bool("wait_for_ready", wait_for_ready)
        self.validate = check_bool("validate", validate)
        self.load_balancing = check_choice("load_balancing", load_balancing, LOAD_BALANCING)
        self.target = target if isinstance(target, str) else tuple(urls)
        self.model_name = model_name
        self.signature = signature
        self._metadata: ModelMetadata | None = None
        self._lock = threading.Lock()
        options = CallOptions(
            ",".join(urls) if urls else target,
            self.timeout,
            self.retries,
            self.max_message_bytes,
            self.wait_for_ready,
            self.load_balancing,
            tuple(urls),
        )
        if urls:
            self._transport: Any = RestTransport(options, credentials)
        else:
            self._transport = GrpcTransport(options, credentials)

    @property
    def transport(self) -> str:
        """``"grpc"`` or ``"rest"``: how this client talks to the server."""
        return self._transport.name

    @staticmethod
    def channel_options(
        max_message_bytes: int = 64 * 1024 * 1024,
        retries: int = 3,
        wait_for_ready: bool = False,
        load_balancing: str = "round_robin",
    ) -> list[tuple[str, Any]]:
        """The gRPC channel options the client uses (message sizes, service config).

        The service config names the load-balancing policy (``loadBalancingConfig``:
        ``round_robin`` by default, so a target resolving to several replicas spreads its calls).

        Retries are gRPC's own: a ``retryPolicy`` in the channel's service config retries
        ``UNAVAILABLE`` answers with exponential backoff (0.1 s doubling up to 2 s, jittered),
        inside the call's deadline. The REST transport follows the same schedule itself.

        Example:
            ```python
            import json
            from keras_residual.client import ServingClient

            opts = dict(ServingClient.channel_options(retries=3))
            policy = json.loads(opts["grpc.service_config"])["methodConfig"][0]["retryPolicy"]
            assert policy["maxAttempts"] == 4
            ```
        """
        return channel_options(max_message_bytes, retries, wait_for_ready, load_balancing)

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close the channel (gRPC) or the kept-alive connections (REST); later calls fail.

        Example:
            ```python
            from keras_residual.client import ServingClient

            ServingClient("localhost:1", "m").close()
            ```
        """
        self._transport.close()

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ServingClient(target={self.target!r}, model_name={self.model_name!r}, signature={self.signature!r})"

    # ---------------------------------------------------------------- calls
    def _model_spec(self, signature: str | None = None) -> Any:
        spec = wire.ModelSpec(name=self.model_name)
        if signature is not None:
            spec.signature_name = signature
        if self.version is not None:
            spec.version.value = self.version
        elif self.version_label is not None:
            spec.version_label = self.version_label
        return spec

    def metadata(self, refresh: bool = False) -> ModelMetadata:
        """Fetch (and cache) the model's signatures with GetModelMetadata (REST: ``GET .../metadata``).

        Args:
            refresh: ask the server again even when cached.

        Returns:
            A `ModelMetadata` with each signature's input/output names, dtypes and shapes.

        Example:
            ```python
            # skip-test: needs a running TF Serving
            from keras_residual.client import ServingClient

            with ServingClient("localhost:8500", "digits") as client:
                sig = client.metadata().signatures["serving_default"]
                print(sig.inputs["images"].describe())
            ```
        """
        with self._lock:
            if self._metadata is not None and not refresh:
                return self._metadata
        name, version, sig_map = self._transport.metadata(self._model_spec())
        signatures = {
            key: SignatureInfo(
                method_name=sig.method_name,
                inputs={k: tensor_info(v) for k, v in sorted(sig.inputs.items())},
                outputs={k: tensor_info(v) for k, v in sorted(sig.outputs.items())},
            )
            for key, sig in sorted(sig_map.signature_def.items())
        }
        meta = ModelMetadata(name, version, signatures)
        with self._lock:
            self._metadata = meta
        return meta

    def status(self) -> list[VersionStatus]:
        """Ask ModelService.GetModelStatus (REST: ``GET /v1/models/NAME``) for each version's state.

        Returns:
            One `VersionStatus` per version the server knows (only the requested one when the
            client was built with ``version``), sorted by version.

        Example:
            ```python
            # skip-test: needs a running TF Serving
            from keras_residual.client import ServingClient

            with ServingClient("localhost:8500", "digits") as client:
                print([(v.version, v.state) for v in client.status()])
            ```
        """
        response = self._transport.status(self._model_spec())
        out = []
        for item in response.model_version_status:
            code = wire.ERROR_CODE.values_by_number.get(item.status.error_code)
            state = wire.VERSION_STATE.values_by_number.get(item.state)
            out.append(
                VersionStatus(
                    version=int(item.version),
                    state=state.name if state is not None else str(item.state),
                    error_code=code.name if code is not None else str(item.status.error_code),
                    error_message=item.status.error_message,
                )
            )
        return sorted(out, key=lambda v: v.version)

    def _signature_info(self, signature: str) -> SignatureInfo | None:
        if not self.validate:
            return None
        meta = self.metadata()
        if signature not in meta.signatures:
            raise ServingFailedPreconditionError(
                "FAILED_PRECONDITION",
                f'Serving signature key "{signature}" not found. Model {self.model_name!r} has: '
                f"{sorted(s for s in meta.signatures if not s.startswith('__'))}",
                self.target,
            )
        return meta.signatures[signature]

    def _outputs_of(self, signature: str, fetch: bool) -> dict[str, TensorInfo] | None:
        """The signature's outputs from the cached metadata (asked for when ``fetch``; None if unknown)."""
        with self._lock:
            meta = self._metadata
        try:
            if meta is None and fetch:
                meta = self.metadata()
            return meta.signatures[signature].outputs if meta is not None else None
        except (ServingError, KeyError):
            return None

    def _check_input(self, key: str, array: np.ndarray, info: TensorInfo, signature: str) -> np.ndarray:
        where = f"signature {signature!r} of model {self.model_name!r}"
        expected = f"expected {info.describe()} ({where})"
        if info.dtype == "string":
            if array.dtype.kind not in ("S", "U", "O"):
                raise ServingInvalidArgumentError(
                    "INVALID_ARGUMENT", f"{key}: {expected}, got {array.dtype.name} {list(array.shape)}"
                )
        elif info.dtype in _NP_TO_DT or info.dtype == "bfloat16":
            want = np.dtype(np.float32 if info.dtype == "bfloat16" else info.dtype)
            if array.dtype != want:
                if array.dtype.kind in "biuf" and np.can_cast(array.dtype, want, casting="safe"):
                    array = array.astype(want)
                else:
                    raise ServingInvalidArgumentError(
                        "INVALID_ARGUMENT",
                        f"{key}: {expected}, got {array.dtype.name} {list(array.shape)}; "
                        f"convert with .astype({info.dtype!r})",
                    )
        if info.shape is not None:
            ok = len(info.shape) == array.ndim and all(
                want is None or want == got for want, got in zip(info.shape, array.shape, strict=True)
            )
            if not ok:
                raise ServingInvalidArgumentError(
                    "INVALID_ARGUMENT", f"{key}: {expected}, got shape {list(array.shape)}"
                )
        return array

    def _predict_batched(
        self, signature: str, key: str, array: np.ndarray, output_filter: Sequence[str] | None, wire_dtype: str | None
    ) -> dict[str, np.ndarray]:
        if array.ndim == 0:
            raise ValueError(f"{key}: expected a batch (first axis), got a scalar")
        if output_filter is not None:
            output_filter = [output_filter] if isinstance(output_filter, str) else list(output_filter)
        if array.shape[0] == 0:
            return self._empty_outputs(signature, output_filter)
        spec = self._model_spec(signature)
        dtypes = {key: wire_dtype} if wire_dtype else {}
        parts = [
            self._transport.predict(
                spec,
                {key: array[start : start + self.max_batch]},
                output_filter,
                dtypes,
                lambda fetch: self._outputs_of(signature, fetch),
            )
            for start in range(0, array.shape[0], self.max_batch)
        ]
        if len(parts) == 1:
            return parts[0]
        return {
            name: np.concatenate([part[name] for part in parts]) if parts[0][name].ndim else parts[0][name]
            for name in parts[0]
        }

    def _empty_outputs(self, signature: str, output_filter: list[str] | None) -> dict[str, np.ndarray]:
        """The answer to a batch of 0: empty arrays shaped by the signature's output metadata.

        No Predict call is made: TF Serving's REST API refuses an empty ``instances`` list, and
        the answer is fully determined by the signature (0 rows, the other dimensions, the dtype),
        so both transports give the same result.
        """
        outputs = self._outputs_of(signature, True)
        if outputs is None:
            raise ServingFailedPreconditionError(
                "FAILED_PRECONDITION", f"no metadata for signature {signature!r}: cannot shape an empty answer"
            )
        names = output_filter if output_filter is not None else sorted(outputs)
        empty = {}
        for name in names:
            info = outputs.get(name)
            if info is None:
                raise ServingInvalidArgumentError("INVALID_ARGUMENT", f"signature {signature!r} has no output {name!r}")
            if info.shape is None or any(dim is None for dim in info.shape[1:]):
                raise ValueError(f"output {name!r} is {info.describe()}: its shape for an empty batch is unknown")
            dtype = object if info.dtype == "string" else np.dtype(info.dtype)
            empty[name] = np.empty((0, *info.shape[1:]), dtype=dtype)
        return empty

    def _input_key(self, info: SignatureInfo | None, default: str, signature: str) -> str:
        if info is None:
            return default
        if len(info.inputs) != 1:
            raise ServingInvalidArgumentError(
                "INVALID_ARGUMENT",
                f"signature {signature!r} takes inputs {sorted(info.inputs)}; this client sends one tensor",
                self.target,
            )
        return next(iter(info.inputs))

    def _send(
        self, signature: str, array: np.ndarray, default_key: str, output_filter: Sequence[str] | None
    ) -> dict[str, np.ndarray]:
        info = self._signature_info(signature)
        key = self._input_key(info, default_key, signature)
        wire_dtype = None
        if info is not None:
            array = self._check_input(key, array, info.inputs[key], signature)
            wire_dtype = "bfloat16" if info.inputs[key].dtype == "bfloat16" else None
        return self._predict_batched(signature, key, array, output_filter, wire_dtype)

    def predict(self, images: Any, output_filter: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Run the float-tensor signature on a batch of images.

        Args:
            images: array of shape ``[N, H, W, C]`` (raw 0..255 pixels for this package's exports).
                Any dtype that casts safely to the signature's dtype (``uint8`` -> ``float32``)
                is accepted; anything else raises `ServingInvalidArgumentError` before sending.
            output_filter: output names to return (default: all).

        Returns:
            Output name -> numpy array with the batch on the first axis. Batches larger than
            ``max_batch`` are sent in pieces and joined.

        Example:
            ```python
            # skip-test: needs a running TF Serving
            import numpy as np
            from keras_residual.client import ServingClient

            with ServingClient("localhost:8500", "digits") as client:
                probs = client.predict(np.zeros((1, 32, 32, 3), "float32"), ["probabilities"])
            ```
        """
        return self._send(self.signature, np.asarray(images), contract.INPUT_IMAGES, output_filter)

    def predict_encoded(
        self,
        images: Iterable[bytes | str | os.PathLike],
        output_filter: Sequence[str] | None = None,
        signature: str = contract.SIGNATURE_BYTES,
    ) -> dict[str, np.ndarray]:
        """Send encoded images (JPEG/PNG/... bytes, or paths to such files) to a string signature.

        Over gRPC they travel as a DT_STRING tensor; over REST as ``{"b64": ...}`` objects, as
        TF Serving's REST API wants binary strings.

        Args:
            images: raw file bytes or paths, one per image.
            output_filter: output names to return (default: all).
            signature: the signature taking a string batch (``"serving_bytes"``).

        Returns:
            Output name -> numpy array, one row per image.

        Example:
            ```python
            # skip-test: needs a running TF Serving
            from keras_residual.client import ServingClient

            with ServingClient("localhost:8500", "digits") as client:
                out = client.predict_encoded(["cat.jpg", "dog.png"])
            ```
        """
        if isinstance(images, (bytes, str, os.PathLike)):
            raise ValueError(
                "images: expected a list of bytes or paths, got a single item; wrap it in a list"
            )
        blobs: list[bytes] = []
        for item in images:
            if isinstance(item, bytes):
                blobs.append(item)
            elif isinstance(item, (str, os.PathLike)):
                if not os.path.isfile(item):
                    raise ValueError(f"images: no such file {os.fspath(item)!r}")
                with open(item, "rb") as handle:
                    blobs.append(handle.read())
            else:
                raise ValueError(f"images: expected bytes or a path, got {type(item).__name__}")
        array = np.empty(len(blobs), dtype=object)
        array[:] = blobs
        return self._send(signature, array, contract.INPUT_BYTES, output_filter)
