"""Load: 8 client threads through one client (200 requests each over gRPC, 50 over REST), every answer checked."""

from __future__ import annotations

import threading
import time

import numpy as np

from keras_residual.client import ServingClient
from tests.client.conftest import MODEL

THREADS = 8
# The stand-in answers REST in Python (JSON parsing of every pixel, in the test's own process): 50
# requests per thread already exercise the REST client's pooled keep-alive connections from 8 threads.
REQUESTS = {"grpc": 200, "rest": 50}


def test_eight_threads_under_load(server, target, transport, reference, capsys):
    requests = REQUESTS[transport]
    pool = np.random.default_rng(7).uniform(0, 255, size=(16, 32, 32, 3)).astype("float32")
    expected = [reference(pool[i : i + 1]) for i in range(len(pool))]
    errors: list[BaseException] = []
    mismatches: list[tuple[int, int]] = []
    latencies: list[float] = []
    lock = threading.Lock()
    client = ServingClient(target, MODEL, timeout=30.0)
    client.metadata()

    def worker(t: int) -> None:
        local_lat = []
        for r in range(requests):
            i = (t * requests + r) % len(pool)
            start = time.perf_counter()
            try:
                out = client.predict(pool[i : i + 1])
            except BaseException as err:  # counted: the test wants zero
                with lock:
                    errors.append(err)
                continue
            local_lat.append(time.perf_counter() - start)
            ref = expected[i]
            same = np.allclose(
                out["probabilities"], ref["probabilities"], rtol=1e-5, atol=1e-6
            ) and np.array_equal(out["top_k_indices"], ref["top_k_indices"])
            if not same:
                with lock:
                    mismatches.append((t, r))
        with lock:
            latencies.extend(local_lat)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120.0)
    wall = time.perf_counter() - start
    client.close()

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert mismatches == []
    assert len(latencies) == THREADS * requests
    lat_ms = np.array(latencies) * 1e3
    with capsys.disabled():  # figures for the report; never asserted
        print(
            f"\n[load {server.kind} {transport}] {THREADS}x{requests} requests in {wall:.2f} s = "
            f"{THREADS * requests / wall:.0f} req/s, p50 {np.percentile(lat_ms, 50):.2f} ms, "
            f"p99 {np.percentile(lat_ms, 99):.2f} ms, 0 errors"
        )
