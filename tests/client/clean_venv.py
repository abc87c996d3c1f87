"""The client in a fresh virtualenv with only ``pip install '.[client]'`` (``make test-client-venv``).

Run from the full environment (``.venv/bin/python tests/client/clean_venv.py``); needs PyPI once
(or pip's cache) for grpcio, protobuf, numpy and the build backend. It

1. creates a virtualenv in a temporary folder and installs a copy of this source tree with the
   ``client`` extra only;
2. checks that ``import tensorflow`` and ``import keras`` fail there;
3. measures ``import keras_residual.client`` in that venv (wall time and peak RSS, median of 5);
4. starts the stand-in server (gRPC and REST) here, on a tiny export, and runs ``venv_calls.py``
   inside the venv: predict, predict_encoded, status and metadata over both transports, compared
   with TensorFlow's answers computed here;
5. runs ``keras-residual --version``, ``info`` (which reports Keras missing), ``train`` (one line
   naming the ``tf`` extra, exit 2), ``predict --target http://...`` and ``serving-status`` from
   the venv.

Prints the figures and exits non-zero on the first failure. Timings are printed, never asserted.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
MODEL = "tiny"
_IMPORT_PROBE = (
    "import time, resource; start = time.perf_counter(); import keras_residual.client; "
    "took = time.perf_counter() - start; import sys; "
    "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tensorflow_serving')); "
    "print(took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, len(heavy))"
)


def _run(command: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(map(str, command))}\n{done.stdout}\n{done.stderr}")
    return done


def install(workdir: Path) -> Path:
    """A fresh venv under ``workdir`` with a copy of the source installed as ``.[client]``."""
    source = workdir / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "keras_residual", source / "keras_residual", ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = workdir / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    _run([env_dir / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{source}[client]"])
    return env_dir


def check_isolation(python: Path) -> None:
    for name in ("tensorflow", "keras"):
        done = subprocess.run([python, "-c", f"import {name}"], capture_output=True, text=True)
        if done.returncode == 0:
            raise SystemExit(f"`import {name}` works in the client-only venv")


def measure_import(python: Path, runs: int = 5) -> dict:
    """Median wall time of the import statement, of the whole process, and peak RSS (MiB)."""
    imports, walls, rss = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = _run([python, "-c", _IMPORT_PROBE]).stdout.split()
        walls.append(time.perf_counter() - start)
        imports.append(float(out[0]))
        rss.append(float(out[1]))
        if int(out[2]):
            raise SystemExit("importing keras_residual.client loaded TensorFlow, Keras or tensorflow_serving")
    return {
        "import_s": round(statistics.median(imports), 3),
        "process_s": round(statistics.median(walls), 3),
        "peak_rss_mib": round(statistics.median(rss), 1),
    }


def write_data(folder: Path, export: Path) -> None:
    """PNGs of random pixels and TensorFlow's answers for them (32x32 PNGs decode to the same pixels)."""
    from PIL import Image

    from tests.client.tiny_export import local_predict

    pixels = np.random.default_rng(11).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    for i, image in enumerate(pixels):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        (folder / f"image{i}.png").write_bytes(buffer.getvalue())
    expected = local_predict(export, pixels.astype("float32"))
    labels = np.array([[v.decode() for v in row] for row in expected["top_k_labels"].tolist()], dtype=object)
    np.savez(folder / "reference.npz", pixels=pixels, top_k_labels=labels,
             **{k: v for k, v in expected.items() if k != "top_k_labels"})  # fmt: skip


def run_client_checks(env_dir: Path, workdir: Path) -> dict:
    """Serve the tiny export here; run the calls and the CLI in the venv."""
    from tests.client.tfserving_stub import StubModelServer
    from tests.client.tiny_export import write_tiny_export

    base = workdir / MODEL
    export = write_tiny_export(base, version=1, seed=0)
    data = workdir / "data"
    data.mkdir()
    write_data(data, export)
    python, cli = env_dir / "bin" / "python", env_dir / "bin" / "keras-residual"
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    images = [str(p) for p in sorted(data.glob("*.png"))]
    with StubModelServer(base, MODEL) as server:
        calls = _run([python, ROOT / "tests" / "client" / "venv_calls.py", "--grpc", server.target, "--rest",
                      server.rest_target, "--model", MODEL, "--data", data, "--venv", env_dir],
                     env=clean_env, cwd=workdir)  # fmt: skip
        start = time.perf_counter()
        version = _run([cli, "--version"], env=clean_env, cwd=workdir).stdout.strip()
        version_s = time.perf_counter() - start
        info = _run([cli, "info"], env=clean_env, cwd=workdir).stdout
        if "Keras is not installed (pip install 'keras-residual[tf]')" not in info:
            raise SystemExit(f"keras-residual info in the client-only venv:\n{info}")
        train = subprocess.run([cli, "train"], capture_output=True, text=True, env=clean_env, cwd=workdir)
        lines = train.stderr.strip().splitlines()
        if train.returncode != 2 or len(lines) != 1 or "pip install 'keras-residual[tf]'" not in lines[0]:
            raise SystemExit(f"keras-residual train without TensorFlow must be one line, exit 2: {train.stderr}")
        outputs = {}
        for transport, target in (("grpc", server.target), ("rest", server.rest_target)):
            predicted = _run([cli, "predict", "--target", target, "--model", MODEL, "--json", *images],
                             env=clean_env, cwd=workdir)  # fmt: skip
            outputs[transport] = json.loads(predicted.stdout)["predictions"]
            status = _run([cli, "serving-status", "--target", target, "--model", MODEL, "--json"], env=clean_env, cwd=workdir)
            if json.loads(status.stdout)["versions"][0]["state"] != "AVAILABLE":
                raise SystemExit(f"serving-status over {transport}: {status.stdout}")
        if outputs["grpc"] != outputs["rest"]:
            raise SystemExit("keras-residual predict answered differently over gRPC and REST")
    return {"calls": json.loads(calls.stdout), "cli_version": version, "cli_version_s": round(version_s, 3)}


def main() -> int:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="keras-residual-client-venv-") as tmp:
        workdir = Path(tmp)
        env_dir = install(workdir)
        installed_s = time.perf_counter() - start
        python = env_dir / "bin" / "python"
        check_isolation(python)
        figures = measure_import(python)
        checks = run_client_checks(env_dir, workdir)
    report = {"venv_and_install_s": round(installed_s, 1), "import_keras_residual_client": figures, **checks,
              "total_s": round(time.perf_counter() - start, 1)}  # fmt: skip
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
