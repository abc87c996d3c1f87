"""Faults against the stand-in server, over gRPC and REST: retries, deadlines, a restart mid-run,
version changes, version labels, TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time

import grpc
import numpy as np
import pytest

from keras_residual.client import (
    ServingClient,
    ServingDeadlineError,
    ServingUnavailableError,
)
from tests.client.conftest import TINY as MODEL
from tests.client.conftest import target_of
from tests.client.tfserving_stub import StubModelServer
from tests.client.tiny_export import write_tiny_export


def test_unavailable_answers_are_retried(stub, stub_target, images):
    """gRPC retries UNAVAILABLE by its retry policy; REST retries 503 answers the same way."""
    with ServingClient(stub_target, MODEL, retries=3) as client:
        client.metadata()
        stub.unavailable_budget, before = 3, stub.calls
        assert client.predict(images)["probabilities"].shape == (5, 10)
        assert stub.calls - before == 4  # 3 refusals, then the answer
    with ServingClient(stub_target, MODEL, retries=0) as client:
        client.metadata()
        stub.unavailable_budget, before = 1, stub.calls
        with pytest.raises(ServingUnavailableError, match="injected fault"):
            client.predict(images)
        assert stub.calls - before == 1


def test_retries_give_up_after_the_configured_attempts(stub, stub_target, images):
    with ServingClient(stub_target, MODEL, retries=2) as client:
        client.metadata()
        stub.unavailable_budget, before = 10, stub.calls
        with pytest.raises(ServingUnavailableError):
            client.predict(images)
        assert stub.calls - before == 3


def test_a_slow_server_hits_the_deadline(stub, stub_target, images):
    stub.delay_seconds = 3.0
    with ServingClient(stub_target, MODEL, timeout=0.5) as client:
        client.metadata()
        start = time.monotonic()
        with pytest.raises(ServingDeadlineError, match="timeout=0.5"):
            client.predict(images)
        assert time.monotonic() - start < 2.5


@pytest.mark.parametrize("target", ["127.0.0.1:1", "http://127.0.0.1:1"])
def test_unreachable_server_fails_fast_with_unavailable(target, images):
    with ServingClient(target, MODEL, timeout=5.0, validate=False) as client:
        start = time.monotonic()
        with pytest.raises(ServingUnavailableError, match="Is a server listening"):
            client.predict(images)
        assert time.monotonic() - start < 5.0  # gave up on its own, not at the deadline


def test_server_restart_mid_run(stub, stub_target, transport, fresh_base, tiny_reference, images):
    """Calls made while the server is down finish once it is back; none outlives its deadline."""
    expected = tiny_reference(images)
    port, rest_port = stub.port, stub.rest_port
    results: list = []
    elapsed: list[float] = []
    lock = threading.Lock()
    client = ServingClient(stub_target, MODEL, timeout=20.0, wait_for_ready=True)
    client.metadata()
    assert client.predict(images)["top_k_indices"].shape == (5, 3)
    stub.stop(grace=0)

    def worker():
        for _ in range(3):
            start = time.monotonic()
            try:
                out = client.predict(images)
            except Exception as err:  # recorded and asserted below
                out = err
            with lock:
                results.append(out)
                elapsed.append(time.monotonic() - start)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    # while it is down: a short-deadline call ends at its deadline, a fail-fast call at once
    with ServingClient(stub_target, MODEL, timeout=0.5, wait_for_ready=True, validate=False) as short:
        start = time.monotonic()
        with pytest.raises(ServingDeadlineError):
            short.predict(images)
        assert time.monotonic() - start < 2.0
    with ServingClient(stub_target, MODEL, timeout=5.0, validate=False) as fast:
        with pytest.raises(ServingUnavailableError):
            fast.predict(images)
    time.sleep(0.5)
    restarted = StubModelServer(fresh_base, MODEL, port=port, rest_port=rest_port).start()
    assert target_of(restarted, transport) == stub_target
    try:
        for thread in threads:
            thread.join(25.0)
        assert not any(thread.is_alive() for thread in threads)
        assert len(results) == 12
        for out in results:
            assert not isinstance(out, Exception), out
            np.testing.assert_allclose(out["probabilities"], expected["probabilities"], rtol=1e-5, atol=1e-6)
        assert max(elapsed) < 20.0 + 1.0
    finally:
        client.close()
        restarted.stop()


def _wait(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def test_new_version_is_picked_up_and_hidden_or_broken_dirs_are_not(
    stub, stub_target, fresh_base, tiny_reference, images
):
    # a copy still being written, under a hidden name: never a version
    partial = fresh_base / ".2-partial"
    partial.mkdir()
    (partial / "saved_model.pb").write_bytes(b"half a protobuf")
    write_tiny_export(fresh_base, version=2, seed=1)
    with ServingClient(stub_target, MODEL) as client:
        _wait(lambda: any(s.version == 2 and s.state == "AVAILABLE" for s in client.status()))
        states = {s.version: s.state for s in client.status()}
        assert states == {1: "END", 2: "AVAILABLE"}
        out = client.predict(images)
        assert client.metadata(refresh=True).version == 2
        # the new weights answer: different probabilities from version 1
        assert not np.allclose(out["probabilities"], tiny_reference(images)["probabilities"], atol=1e-4)
        with ServingClient(stub_target, MODEL, version=1, validate=False) as old:
            with pytest.raises(Exception, match=r"Specific\(tiny, 1\)"):
                old.predict(images)

        # an integer version that does not load: reported, and the server keeps answering with 2
        broken = fresh_base / "3"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        status = _wait(lambda: [s for s in client.status() if s.version == 3 and s.state == "END"])
        assert status[0].error_code != "OK" and status[0].error_message
        np.testing.assert_allclose(client.predict(images)["probabilities"], out["probabilities"], rtol=1e-6)
        assert {s.version: s.state for s in client.status()}[2] == "AVAILABLE"


def test_version_labels_pick_a_version(fresh_base, transport, images):
    with StubModelServer(fresh_base, MODEL, version_labels={"stable": 1}) as srv:
        with ServingClient(target_of(srv, transport), MODEL, version_label="stable") as client:
            assert client.predict(images)["probabilities"].shape == (5, 10)
            assert client.metadata().version == 1


def _self_signed(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a certificate for the TLS test")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key.read_bytes(), cert.read_bytes()


def test_tls_with_ssl_channel_credentials(fresh_base, tmp_path, images):
    key, cert = _self_signed(tmp_path)
    with StubModelServer(fresh_base, MODEL, tls=(key, cert)) as srv:
        creds = grpc.ssl_channel_credentials(root_certificates=cert)
        with ServingClient(srv.target, MODEL, credentials=creds) as client:
            assert client.predict(images)["probabilities"].shape == (5, 10)
        with ServingClient(srv.target, MODEL, timeout=3.0, retries=0) as plaintext:
            with pytest.raises(ServingUnavailableError):
                plaintext.status()


def test_tls_over_https_with_an_ssl_context(fresh_base, tmp_path, images):
    key, cert = _self_signed(tmp_path)
    with StubModelServer(fresh_base, MODEL, tls=(key, cert)) as srv:
        assert srv.rest_target.startswith("https://")
        context = ssl.create_default_context(cadata=cert.decode("ascii"))
        with ServingClient(srv.rest_target, MODEL, credentials=context) as client:
            assert client.predict(images)["probabilities"].shape == (5, 10)
        # the system trust store does not know the self-signed certificate
        with ServingClient(srv.rest_target, MODEL, timeout=3.0, retries=0) as untrusted:
            with pytest.raises(ServingUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
                untrusted.status()
        plain_url = srv.rest_target.replace("https://", "http://")
        with ServingClient(plain_url, MODEL, timeout=3.0, retries=0) as plaintext:
            with pytest.raises(ServingUnavailableError):
                plaintext.status()
