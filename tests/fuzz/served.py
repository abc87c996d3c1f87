"""The TF Serving stand-in (`tests.client.tfserving_stub.StubModelServer`) in a process of its own.

The fuzz suite measures the server's resident memory, so the server cannot share the test's
process. ``python -m tests.fuzz.served BASE_PATH MODEL_NAME`` starts the stand-in, prints
``PORT <n>`` once it serves, and stops when its standard input closes. The process runs under a
data-segment limit (``RLIMIT_DATA``, default 4 GiB): an image that slips past the pixel limit then
fails an allocation inside that process instead of taking memory from the rest of the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_LIMIT_BYTES = 4 << 30
START_TIMEOUT_S = 180.0


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` (psutil when installed, else ``/proc/<pid>/status``)."""
    try:
        import psutil
    except ImportError:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS line in /proc/{pid}/status") from None
    return psutil.Process(pid).memory_info().rss


class ServerProcess:
    """Run the stand-in for ``base_path`` in a child process; ``target`` is its gRPC address."""

    def __init__(self, base_path: Path, model_name: str, log_path: Path, data_limit: int = DATA_LIMIT_BYTES):
        self.base_path = Path(base_path)
        self.model_name = model_name
        self.log_path = Path(log_path)
        self.data_limit = data_limit
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self._proc.pid

    def rss(self) -> int:
        """The server's resident memory now, in bytes."""
        return rss_bytes(self.pid)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def start(self) -> ServerProcess:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.fuzz.served",
                    str(self.base_path),
                    self.model_name,
                    str(self.data_limit),
                ],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self._proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        text = line[0].decode().strip() if line else ""
        if not text.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the stand-in server did not start ({text!r}); its log:\n{self.log_tail()}")
        self.port = int(text.split()[1])
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()
        self._proc = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    """Serve ``argv = [base_path, model_name, data_limit_bytes]`` until standard input closes."""
    base_path, model_name, data_limit = argv[0], argv[1], int(argv[2])
    resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))
    from tests.client.tfserving_stub import StubModelServer

    server = StubModelServer(base_path, model_name).start()
    print(f"PORT {server.port}", flush=True)
    sys.stdin.read()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
