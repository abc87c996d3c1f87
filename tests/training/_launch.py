"""Start ``tests.training._worker`` in a subprocess (the distributed, resume and data-parallel tests)."""

import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_worker(args, env_changes=None, drop=("TF_CONFIG",)) -> subprocess.Popen:
    """``python -m tests.training._worker *args`` from the repository root, output piped as text.

    ``drop`` names variables removed from this process's environment, ``env_changes`` sets others.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    for name in drop:
        env.pop(name, None)
    env.update(env_changes or {})
    command = [sys.executable, "-m", "tests.training._worker", *(str(a) for a in args)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
