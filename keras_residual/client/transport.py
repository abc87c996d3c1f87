"""What the gRPC and REST transports share: call options, the error with its advice, backoff.

A transport takes the request as a ``tensorflow.serving.ModelSpec`` (model, version or label,
signature) plus numpy inputs, and answers with numpy outputs, the ``SignatureDefMap`` and the
``GetModelStatusResponse`` messages of `keras_residual.client.wire`, so `ServingClient` does the
same work on top of either.
"""

from __future__ import annotations

import dataclasses
import random

from keras_residual.client.errors import ServingError, make_error

CLIENT_EXTRA = "pip install 'keras-residual[client]'"
"""What to install for the client (grpcio, protobuf, numpy)."""

INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0


@dataclasses.dataclass(frozen=True)
class CallOptions:
    """The per-call settings of a `ServingClient`, handed to its transport.

    Attributes:
        target: the server address as given (``host:port`` or ``http(s)://host:port``).
        timeout: deadline of each call in seconds, retries included.
        retries: extra attempts after an UNAVAILABLE answer (gRPC) or a 503 / refused connection (REST).
        max_message_bytes: largest request and response.
        wait_for_ready: wait for an unreachable server until the deadline instead of failing.
        load_balancing: ``"round_robin"`` (every call to the next reachable replica) or
            ``"pick_first"`` (the first reachable replica takes every call).
        urls: the REST base URLs when the client was given several (``target`` joins them with commas).
    """

    target: str
    timeout: float
    retries: int
    max_message_bytes: int
    wait_for_ready: bool
    load_balancing: str = "round_robin"
    urls: tuple[str, ...] = ()

    def error(self, code: str, details: str) -> ServingError:
        """The `ServingError` for ``code`` with the advice that fits these options."""
        hint = ""
        if code == "UNAVAILABLE":
            hint = f"Is a server listening there? (tried {self.retries + 1} time(s))"
        elif code == "DEADLINE_EXCEEDED":
            hint = f"No answer within timeout={self.timeout:g} s"
        elif code == "RESOURCE_EXHAUSTED":
            hint = (
                f"Raise max_message_bytes (now {self.max_message_bytes}) on the client, "
                "or lower max_batch; the server has its own limit too"
            )
        return make_error(code, details, self.target, hint)

    def too_large(self, size: int) -> ServingError:
        """The error for a request of ``size`` bytes over ``max_message_bytes`` (raised before sending)."""
        return make_error(
            "RESOURCE_EXHAUSTED",
            f"request of {size} bytes is larger than max_message_bytes={self.max_message_bytes}",
            self.target,
            "Lower max_batch or raise max_message_bytes",
        )


def backoff_seconds(attempt: int) -> float:
    """Jittered exponential backoff before retry ``attempt`` (1-based): 0..0.1 s, 0..0.2 s, ... up to 2 s.

    The same schedule as the gRPC retry policy of `ServingClient.channel_options`.
    """
    return random.uniform(0.0, min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2 ** (attempt - 1)))
