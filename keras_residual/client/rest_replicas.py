"""The REST transport's replicas: kept-alive HTTP connections to each base URL, and which URL takes a call.

Each base URL is an `Endpoint` with its own pool of idle connections (one per concurrent caller).
`Replicas` picks the endpoint of each attempt the way gRPC's load-balancing policies pick a
subchannel: ``round_robin`` takes the next endpoint in turn, ``pick_first`` the first one in the
given order; both skip an endpoint that recently refused a connection or answered 503 (it is *down*
for a reconnect backoff of 0.2 s doubling to 2 s, as the gRPC channel's reconnect backoff, and up
again after its next answer). When every endpoint is down the next one in turn is tried anyway.
"""

from __future__ import annotations

import http.client
import itertools
import queue
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any

from keras_residual.client.transport import CallOptions

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
INITIAL_DOWN_S = 0.2
MAX_DOWN_S = 2.0


class Unreachable(Exception):
    """No HTTP answer: the connection was refused, reset or closed."""


def parse_base_url(url: str, credentials: Any) -> urllib.parse.SplitResult:
    """Split and check one REST base URL (``http(s)://host[:port][/prefix]``) against ``credentials``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"`target` must be 'host:port' (gRPC) or 'http(s)://host:port' (REST); received target={url!r}")
    if credentials is not None and parts.scheme != "https":
        raise ValueError(f"`credentials` (TLS) needs an https:// target; received target={url!r}")
    return parts


class Endpoint:
    """One REST base URL: its connection pool and whether it is down (thread-safe).

    Args:
        url: the base URL (a path prefix, as behind a gateway, is kept).
        options: the client's `CallOptions` (message limit, errors).
        context: the ``ssl.SSLContext`` for ``https`` (None for ``http``).
    """

    def __init__(self, url: str, options: CallOptions, context: ssl.SSLContext | None):
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.options = options
        self._https = parts.scheme == "https"
        self._context = context if self._https else None
        self._host = parts.hostname
        self._port = parts.port
        self.prefix = parts.path.rstrip("/")
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_for = 0.0

    # ------------------------------------------------------------------ health
    def is_down(self, now: float) -> bool:
        """True while the endpoint's reconnect backoff after a failure runs."""
        return now < self._down_until

    def mark_down(self) -> None:
        """Skip this endpoint for a backoff that doubles with each failure in a row (0.2 s .. 2 s)."""
        with self._lock:
            self._down_for = min(MAX_DOWN_S, self._down_for * 2 or INITIAL_DOWN_S)
            self._down_until = time.monotonic() + self._down_for

    def mark_up(self) -> None:
        """The endpoint answered: take it back into the rotation."""
        if self._down_for:
            with self._lock:
                self._down_for = 0.0
                self._down_until = 0.0

    # ------------------------------------------------------------------ connections
    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def close(self) -> None:
        """Close the idle connections; later calls fail."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def _exchange(self, conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None):
        conn.request(method, self.prefix + path, body=body, headers=_JSON)
        response = conn.getresponse()
        limit = self.options.max_message_bytes
        length = response.getheader("Content-Length")
        if length is not None and int(length) > limit:
            conn.close()
            raise self.options.error(
                "RESOURCE_EXHAUSTED", f"Received message larger than max ({length} vs. {limit})"
            )
        data = response.read(limit + 1)
        if len(data) > limit:
            conn.close()
            raise self.options.error("RESOURCE_EXHAUSTED", f"Received message larger than max (> {limit})")
        if response.will_close or self._closed:
            conn.close()
        else:
            self._idle.put(conn)
        return response.status, data

    def once(self, method: str, path: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
        """One attempt; a kept-alive connection the server has closed meanwhile is replaced once.

        Raises:
            Unreachable: no HTTP answer (refused, reset, closed).
            TimeoutError: no answer within ``timeout``.
        """
        try:
            conn = self._idle.get_nowait()
            reused = True
        except queue.Empty:
            conn, reused = self._new_connection(timeout), False
        while True:
            try:
                if conn.sock is None:
                    conn.connect()
                    # small requests and answers: do not wait for the peer's delayed ACK (Nagle)
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.sock.settimeout(timeout)
                return self._exchange(conn, method, path, body)
            except TimeoutError:
                conn.close()
                raise
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                if not reused:
                    raise Unreachable(f"{type(err).__name__}: {err}") from None
                conn, reused = self._new_connection(timeout), False


class Replicas:
    """The endpoints of one client and the policy that picks one per attempt.

    Args:
        endpoints: one `Endpoint` per base URL, in the order given.
        policy: ``"round_robin"`` or ``"pick_first"``.
    """

    def __init__(self, endpoints: list[Endpoint], policy: str):
        self.endpoints = endpoints
        self.policy = policy
        self._turn = itertools.count()  # next() on a count is atomic under the GIL

    def pick(self, failed: Endpoint | None = None) -> tuple[Endpoint, bool]:
        """The endpoint for the next attempt, and whether it is up.

        ``failed`` (the endpoint of the attempt that just failed) is passed over when another one
        is up. When none is up, the next endpoint in turn comes back with ``False`` (the caller
        backs off before trying it).
        """
        count = len(self.endpoints)
        start = 0 if self.policy == "pick_first" else next(self._turn) % count
        now = time.monotonic()
        for step in range(count):
            endpoint = self.endpoints[(start + step) % count]
            if endpoint is not failed and not endpoint.is_down(now):
                return endpoint, True
        return self.endpoints[start], False

    def close(self) -> None:
        """Close every endpoint's idle connections."""
        for endpoint in self.endpoints:
            endpoint.close()
