"""Run a real ``tensorflow_model_server`` (path in ``TFSERVING_BIN``) for the same client tests (gRPC and REST)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

TFSERVING_BIN = os.environ.get("TFSERVING_BIN", "")
SKIP_REASON = (
    "TFSERVING_BIN is not set: the real tensorflow_model_server is not installed here (no pip or Debian "
    "package ships it); these cases ran against the stand-in server only"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RealModelServer:
    """``tensorflow_model_server --port=P --model_name=N --model_base_path=B`` as a subprocess."""

    def __init__(
        self,
        base_path: str | os.PathLike,
        model_name: str,
        port: int = 0,
        log_dir: Path | None = None,
        rest_port: int = 0,
    ):
        self.base_path = Path(base_path)
        self.model_name = model_name
        self.port = port or _free_port()
        self.rest_port = rest_port or _free_port()
        self.log_dir = log_dir or self.base_path.parent
        self._proc: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def rest_target(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def start(self, timeout: float = 60.0) -> RealModelServer:
        log = open(self.log_dir / f"tensorflow_model_server-{self.port}.log", "ab")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                TFSERVING_BIN,
                f"--port={self.port}",
                f"--rest_api_port={self.rest_port}",
                f"--model_name={self.model_name}",
                f"--model_base_path={self.base_path.resolve()}",
                "--file_system_poll_wait_seconds=1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_available(timeout)
        return self

    def wait_until_available(self, timeout: float, version: int | None = None) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    raise RuntimeError(f"tensorflow_model_server exited with {self._proc.returncode}")
                request = get_model_status_pb2.GetModelStatusRequest()
                request.model_spec.name = self.model_name
                try:
                    response = stub.GetModelStatus(request, timeout=2)
                    available = {
                        s.version
                        for s in response.model_version_status
                        if s.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
                    }
                    if available and (version is None or version in available):
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"tensorflow_model_server did not serve {self.model_name} within {timeout} s")

    def wait_for_version(self, version: int, timeout: float = 30.0) -> None:
        self.wait_until_available(timeout, version)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def __enter__(self) -> RealModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
