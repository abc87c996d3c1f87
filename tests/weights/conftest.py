"""Fixtures for the weights tests: an empty cache, no mirror or registry, and a loopback file server.

The server is ``http.server`` on 127.0.0.1 in a thread, serving one directory. ``slow`` makes it send
each file in 64 KiB pieces with a pause between them (for the killed-download test).
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from pathlib import Path

import pytest


class _Handler(http.server.SimpleHTTPRequestHandler):
    delay = 0.0

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def copyfile(self, source, outputfile):
        while True:
            chunk = source.read(1 << 16)
            if not chunk:
                break
            outputfile.write(chunk)
            outputfile.flush()
            if self.delay:
                time.sleep(self.delay)


class FileServer:
    """A loopback HTTP server for one directory; ``url`` is its base URL, ``stop()`` shuts it down."""

    def __init__(self, directory: Path, delay: float = 0.0):
        handler = type("Handler", (_Handler,), {"delay": delay})
        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty weights cache under tmp_path and no mirror or private registry from the environment."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KERAS_RESIDUAL_CACHE", str(cache))
    monkeypatch.delenv("KERAS_RESIDUAL_WEIGHTS_MIRROR", raising=False)
    monkeypatch.delenv("KERAS_RESIDUAL_WEIGHTS_REGISTRY", raising=False)
    return cache


@pytest.fixture
def served(tmp_path):
    """``(directory, server)``: files put in the directory are served at ``server.url``."""
    directory = tmp_path / "served"
    directory.mkdir()
    server = FileServer(directory)
    yield directory, server
    server.stop()


def write_registry(path: Path, entries: list[dict]) -> Path:
    """Write a private registry file holding ``entries``; return its path."""
    path.write_text(json.dumps({"weights": entries}), encoding="utf-8")
    return path
