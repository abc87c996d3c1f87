"""Fixtures: exports, and a server speaking TF Serving's gRPC and REST APIs over loopback.

``server`` serves the package's real export (``export_saved_model`` of ``resnet20_cifar``) and runs
every test that uses it twice: against the stand-in (`StubModelServer`) and against a real
``tensorflow_model_server`` when ``TFSERVING_BIN`` points at one (skipped, with the reason,
otherwise). ``target`` runs a test once per transport: the server's gRPC address and its REST URL
(``stub_target`` does the same for ``stub``). ``stub`` serves a tiny tf.Module export with the same signatures: the fault and
version tests restart servers and write new versions with different weights many times, which
would cost a real export (~10-30 s) each.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests.client.real_server import SKIP_REASON, TFSERVING_BIN, RealModelServer
from tests.client.tfserving_stub import StubModelServer
from tests.client.tiny_export import write_tiny_export

MODEL = "resnet20"
TINY = "tiny"
CLASS_NAMES = [str(i) for i in range(10)]


@pytest.fixture(scope="session")
def resnet_base(tmp_path_factory):
    """``base/1``: the package's own export of a fresh resnet20_cifar (top-3, digit class names)."""
    from keras_residual.export import export_saved_model
    from keras_residual.models import ResNet

    model = ResNet.from_preset(
        "resnet20_cifar", input_shape=(32, 32, 3), num_classes=10, preprocessing="unit"
    )
    base = tmp_path_factory.mktemp("resnet") / MODEL
    export_saved_model(model, base, version=1, class_names=CLASS_NAMES, top_k=3)
    probe = np.random.default_rng(3).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    return base, probe, np.asarray(model(probe))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """``base/1`` holding the tiny export (read-only for tests: copy it before changing it)."""
    base = tmp_path_factory.mktemp("tiny") / TINY
    write_tiny_export(base, version=1, seed=0)
    return base


@pytest.fixture
def fresh_base(tiny_base, tmp_path):
    """A private copy of ``tiny_base`` that a test may add versions to."""
    base = tmp_path / TINY
    shutil.copytree(tiny_base, base)
    return base


def _reference(export_dir):
    loaded = tf.saved_model.load(str(export_dir))
    fn = loaded.signatures["serving_default"]

    def run(images: np.ndarray) -> dict[str, np.ndarray]:
        out = fn(images=tf.constant(images, tf.float32))
        return {key: value.numpy() for key, value in out.items()}

    run.loaded = loaded  # keep the SavedModel alive
    return run


@pytest.fixture(scope="session")
def reference(resnet_base):
    """The exported ``serving_default`` run in-process: the answer the server must give."""
    return _reference(resnet_base[0] / "1")


@pytest.fixture(scope="session")
def tiny_reference(tiny_base):
    return _reference(tiny_base / "1")


@pytest.fixture(scope="session", params=["stub", "tensorflow_model_server"])
def server(request, resnet_base):
    """A running server for the resnet20 export (stand-in, or the real binary when available)."""
    if request.param == "stub":
        srv = StubModelServer(resnet_base[0], MODEL, poll_seconds=0.2).start()
    else:
        if not TFSERVING_BIN:
            pytest.skip(SKIP_REASON)
        srv = RealModelServer(resnet_base[0], MODEL).start()
    srv.kind = request.param
    yield srv
    srv.stop()


TRANSPORTS = ["grpc", "rest"]


def target_of(srv, transport: str) -> str:
    """The address a client of ``transport`` connects to."""
    return srv.target if transport == "grpc" else srv.rest_target


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    """``"grpc"`` or ``"rest"``: every test using it runs once per transport."""
    return request.param


@pytest.fixture
def target(server, transport) -> str:
    """The ``server``'s gRPC address or REST URL."""
    return target_of(server, transport)


@pytest.fixture
def stub_target(stub, transport) -> str:
    """The ``stub``'s gRPC address or REST URL."""
    return target_of(stub, transport)


@pytest.fixture
def stub(fresh_base):
    """A stand-in server over a private base path (for fault injection and version changes)."""
    srv = StubModelServer(fresh_base, TINY, poll_seconds=0.1).start()
    yield srv
    srv.stop()


@pytest.fixture
def images():
    return np.random.default_rng(1).uniform(0, 255, size=(5, 32, 32, 3)).astype("float32")
