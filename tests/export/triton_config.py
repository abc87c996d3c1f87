"""Parse a ``config.pbtxt`` with Triton's own ``ModelConfig`` message, from the tritonclient package.

tritonclient pins a protobuf older than TensorFlow needs, so it never enters the project's venv: it
lives in its own venv (``$KERAS_RESIDUAL_TRITON_VENV``, default ``~/.cache/keras-residual/tritonclient-venv``),
made on first use with ``pip install 'tritonclient[grpc]'`` and reused after (a lock keeps parallel
test workers from building it twice). The parse runs there in a subprocess and answers the message as
JSON. If PyPI cannot be reached to build the venv, the caller skips with that reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
VENV = Path(os.environ.get("KERAS_RESIDUAL_TRITON_VENV", _CACHE / "keras-residual" / "tritonclient-venv"))
_NETWORK_ERRORS = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
                   "No matching distribution found", "ConnectTimeout", "Could not find a version")

_PARSE = """
import json, sys
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2
config = text_format.Parse(open(sys.argv[1]).read(), model_config_pb2.ModelConfig())
print(json.dumps(json_format.MessageToDict(config, preserving_proto_field_name=True)))
"""


def triton_python() -> Path:
    """The venv's interpreter with tritonclient installed (built once); skips if PyPI is unreachable."""
    python = VENV / "bin" / "python"
    ready = VENV / ".keras-residual-ready"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f".{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=300)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "tritonclient[grpc]"],
            capture_output=True, text=True, timeout=900,
        )
        if pip.returncode != 0:
            output = pip.stdout + pip.stderr
            if any(marker in output for marker in _NETWORK_ERRORS):
                pytest.skip(f"tritonclient could not be installed from PyPI into {VENV}: {output.strip()[-300:]}")
            raise RuntimeError(f"pip install tritonclient[grpc] failed:\n{output[-2000:]}")
        ready.write_text("tritonclient[grpc]\n")
    return python


def parse_model_config(path: str | os.PathLike) -> dict:
    """``config.pbtxt`` parsed by Triton's ``ModelConfig`` (an unknown field or a typo fails), as a dict."""
    result = subprocess.run(
        [str(triton_python()), "-c", _PARSE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"Triton's ModelConfig refused {path}:\n{result.stderr[-2000:]}"
    return json.loads(result.stdout)
