"""Downloads across processes: a download killed midway leaves nothing a later load accepts, and two
processes loading the same name at once both succeed and leave one good cache entry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_residual.weights import converted_path, fetch, get_weights
from tests.weights import checkpoints
from tests.weights.conftest import FileServer, write_registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env(cache, registry):
    # The children run Keras on its numpy backend: loading weights needs no TensorFlow, and they start faster.
    env = dict(os.environ, KERAS_RESIDUAL_CACHE=str(cache), KERAS_RESIDUAL_WEIGHTS_REGISTRY=str(registry),
               KERAS_BACKEND="numpy")
    env.pop("KERAS_RESIDUAL_WEIGHTS_MIRROR", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_killed_download_leaves_nothing_a_later_load_accepts(isolated, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    blob = served / "big.bin"
    blob.write_bytes(np.random.default_rng(0).bytes(2 << 20))  # 2 MiB, sent in 32 pieces of 64 KiB
    entry = {"name": "big", "preset": checkpoints.TINY_PRESET, "sha256": checkpoints.sha256(blob), "format": "timm"}
    slow = FileServer(served, delay=0.25)
    registry = write_registry(tmp_path / "registry.json", [{**entry, "url": f"{slow.url}/big.bin"}])
    code = "from keras_residual.weights import fetch, get_weights; fetch(get_weights('resnet20_cifar.big'))"
    child = subprocess.Popen([sys.executable, "-c", code], env=_env(isolated, registry),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            partial = [p for p in isolated.glob(".tmp-*") if p.stat().st_size > 0] if isolated.is_dir() else []
            if partial or child.poll() is not None:
                break
            time.sleep(0.1)
        assert partial, "the child never started writing its download"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        slow.stop()
    assert not (isolated / "big.bin").exists()  # only a hidden temporary, which no load reads
    fast = FileServer(served)
    try:
        write_registry(registry, [{**entry, "url": f"{fast.url}/big.bin"}])
        os.environ["KERAS_RESIDUAL_WEIGHTS_REGISTRY"] = str(registry)
        path = fetch(get_weights("resnet20_cifar.big"), progress=False)
    finally:
        os.environ.pop("KERAS_RESIDUAL_WEIGHTS_REGISTRY", None)
        fast.stop()
    assert path.read_bytes() == blob.read_bytes()
    assert sorted(p.name for p in isolated.iterdir()) == ["big.bin"]  # the dead child's temporary is gone


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a POSIX process model")
def test_two_processes_loading_the_same_name_at_once(isolated, tmp_path):
    pytest.importorskip("torch", reason="the reference checkpoint is written with torch")
    served = tmp_path / "served"
    served.mkdir()
    reference = checkpoints.torch_model(seed=3)
    # A timm-format .safetensors: the children read it without importing torch.
    path = checkpoints.write_timm_safetensors(reference, served / "resnet20-twice.safetensors")
    server = FileServer(served, delay=0.02)
    registry = write_registry(
        tmp_path / "registry.json",
        [checkpoints.private_entry("twice", f"{server.url}/{path.name}", path, fmt="timm")],
    )
    code = (
        "import numpy as np\n"
        "from keras_residual.models import ResNet\n"
        "from tests.weights import checkpoints\n"
        "model = ResNet.from_preset('resnet20_cifar', weights='twice', classifier_activation=None)\n"
        "print('LOGITS', float(np.abs(np.asarray(model(checkpoints.images()))).sum()))\n"
    )
    env = _env(isolated, registry)
    try:
        children = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [child.communicate(timeout=240) for child in children]
    finally:
        server.stop()
    expected = float(np.abs(checkpoints.torch_logits(reference, checkpoints.images())).sum())
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-2000:]
        value = float(out.split("LOGITS")[1])
        assert abs(value - expected) <= 1e-4 * expected
    entry_name = converted_path(get_weights_for(registry)).name
    assert sorted(p.name for p in isolated.iterdir()) == sorted([path.name, entry_name])


def get_weights_for(registry):
    """The registry's single set, looked up with the registry file set (as the children saw it)."""
    os.environ["KERAS_RESIDUAL_WEIGHTS_REGISTRY"] = str(registry)
    try:
        return get_weights("resnet20_cifar.twice")
    finally:
        os.environ.pop("KERAS_RESIDUAL_WEIGHTS_REGISTRY", None)
