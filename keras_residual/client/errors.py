"""The `ServingError` family: one exception class per gRPC status code TF Serving answers with.

Both transports raise the same classes: gRPC answers carry the code itself; REST answers carry an
HTTP status that TF Serving derives from the code (``HTTP_STATUS``, as in TF Serving's
``http_server.cc``), mapped back by `code_from_http`.
"""

from __future__ import annotations

import re


class ServingError(Exception):
    """A failed call to the model server.

    Attributes:
        code: the gRPC status code name as TF Serving answered it (``"NOT_FOUND"``,
            ``"INVALID_ARGUMENT"``, ...).
        details: the server's own message (for client-side checks, the client's message).
        target: the server address.

    Example:
        ```python
        from keras_residual.client import ServingError, ServingNotFoundError

        err = ServingNotFoundError("NOT_FOUND", "Servable not found for request: Latest(x)")
        assert isinstance(err, ServingError) and err.code == "NOT_FOUND"
        ```
    """

    code_name: str = "UNKNOWN"

    def __init__(self, code: str, details: str, target: str = "", hint: str = ""):
        self.code = code
        self.details = details
        self.target = target
        self.hint = hint
        text = f"{code}: {details}"
        if target:
            text += f" (server {target})"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class ServingNotFoundError(ServingError):
    """NOT_FOUND: unknown model name or a version that is not loaded.

    Example:
        ```python
        from keras_residual.client import ServingNotFoundError

        print(ServingNotFoundError("NOT_FOUND", "Servable not found for request: Latest(x)"))
        ```
    """


class ServingFailedPreconditionError(ServingError):
    """FAILED_PRECONDITION: the model has no signature of the requested name.

    Example:
        ```python
        from keras_residual.client import ServingFailedPreconditionError

        err = ServingFailedPreconditionError("FAILED_PRECONDITION", 'Serving signature key "x" not found.')
        print(err.details)
        ```
    """


class ServingInvalidArgumentError(ServingError, ValueError):
    """INVALID_ARGUMENT: wrong input keys, dtype or shape, or an op rejected the data.

    Raised by the server, or by the client before sending when the input does not match the
    signature metadata. It is also a `ValueError`.

    Example:
        ```python
        from keras_residual.client import ServingInvalidArgumentError

        err = ServingInvalidArgumentError("INVALID_ARGUMENT", "images: expected float32")
        assert isinstance(err, ValueError)
        ```
    """


class ServingUnavailableError(ServingError):
    """UNAVAILABLE: the server could not be reached (after the configured retries).

    Example:
        ```python
        from keras_residual.client import ServingUnavailableError

        print(ServingUnavailableError("UNAVAILABLE", "failed to connect", "localhost:1"))
        ```
    """


class ServingDeadlineError(ServingError):
    """DEADLINE_EXCEEDED: no answer within the call's timeout.

    Example:
        ```python
        from keras_residual.client import ServingDeadlineError

        print(ServingDeadlineError("DEADLINE_EXCEEDED", "Deadline Exceeded"))
        ```
    """


class ServingMessageTooLargeError(ServingError):
    """RESOURCE_EXHAUSTED: a request or response is larger than ``max_message_bytes``.

    Example:
        ```python
        from keras_residual.client import ServingMessageTooLargeError

        print(ServingMessageTooLargeError("RESOURCE_EXHAUSTED", "message too large"))
        ```
    """


_ERROR_CLASSES: dict[str, type[ServingError]] = {
    "NOT_FOUND": ServingNotFoundError,
    "FAILED_PRECONDITION": ServingFailedPreconditionError,
    "INVALID_ARGUMENT": ServingInvalidArgumentError,
    "UNAVAILABLE": ServingUnavailableError,
    "DEADLINE_EXCEEDED": ServingDeadlineError,
    "RESOURCE_EXHAUSTED": ServingMessageTooLargeError,
}


HTTP_STATUS: dict[str, int] = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}
"""The HTTP status TF Serving's REST API answers for each error code (``ToHTTPStatusCode``)."""

# Several codes share an HTTP status; the code reported for each status is the one the client most
# likely met. A 400 is INVALID_ARGUMENT unless the message is TF Serving's unknown-signature one.
_CODE_BY_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",  # a proxy in front of the server could not reach it
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_UNKNOWN_SIGNATURE = re.compile(r'Serving signature (key|name:) "[^"]*" not found')


def code_from_http(status: int, message: str) -> str:
    """The gRPC code name for a REST answer: its HTTP status, read as TF Serving maps codes to it.

    TF Serving answers both INVALID_ARGUMENT and FAILED_PRECONDITION with 400; an unknown signature
    (``Serving signature key "x" not found.`` over gRPC, ``Serving signature name: "x" not found in
    signature def`` over REST) is reported as FAILED_PRECONDITION on both transports.

    Example:
        ```python
        from keras_residual.client.errors import code_from_http

        assert code_from_http(404, "Servable not found for request: Latest(x)") == "NOT_FOUND"
        assert code_from_http(400, 'Serving signature name: "x" not found in signature def') == "FAILED_PRECONDITION"
        ```
    """
    if status == 400 and _UNKNOWN_SIGNATURE.search(message):
        return "FAILED_PRECONDITION"
    if status in _CODE_BY_HTTP:
        return _CODE_BY_HTTP[status]
    return "INTERNAL" if status >= 500 else "UNKNOWN"


def make_error(code: str, details: str, target: str = "", hint: str = "") -> ServingError:
    """The `ServingError` subclass for ``code`` (``ServingError`` itself for codes without one).

    Example:
        ```python
        from keras_residual.client import ServingNotFoundError
        from keras_residual.client.errors import make_error

        assert isinstance(make_error("NOT_FOUND", "no such model"), ServingNotFoundError)
        ```
    """
    return _ERROR_CLASSES.get(code, ServingError)(code, details, target, hint)
