"""Two replicas, one client, several threads, one replica SIGKILLed half way: who answered, what failed, how slow.

`run_failover` starts two `tests.client.replica_server` processes on loopback, sends ``requests``
one-image Predict calls from ``threads`` threads through ONE `ServingClient` (gRPC: the target
``"ipv4:127.0.0.1:P1,127.0.0.1:P2"``; REST: the list of both base URLs), and SIGKILLs replica 0 as
soon as ``kill_after`` calls have been answered. It returns which replica answered each call in
completion order, every error, and the latencies before and after the kill.

``python -m tests.client.failover [--runs N]`` repeats it for both transports and writes the record
``benchmarks/records/client_failover.json`` (p50/p99 before and after the kill; machine, load, versions).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from keras_residual.client import ServingClient

ROOT = Path(__file__).resolve().parents[2]
MODEL = "replica"


@contextlib.contextmanager
def replicas(count: int = 2, delay_ms: float = 2.0):
    """Start ``count`` replica servers; yield ``[(process, {"grpc": ..., "rest": ...}), ...]``."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.client.replica_server", str(i), str(delay_ms)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    try:
        yield [(proc, json.loads(proc.stdout.readline())) for proc in procs]
    finally:
        for proc in procs:  # closing stdin stops a replica; a killed one is already gone
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def client_for(servers: list[dict], transport: str, **kwargs) -> ServingClient:
    """One client over every replica: a gRPC ``ipv4:`` target naming them all, or the REST URL list."""
    if transport == "grpc":
        target = "ipv4:" + ",".join(info["grpc"] for info in servers)
    else:
        target = [info["rest"] for info in servers]
    return ServingClient(target, MODEL, validate=False, **kwargs)


def run_failover(
    transport: str, requests: int = 200, threads: int = 4, kill_after: int = 100, delay_ms: float = 2.0
) -> dict:
    """Send ``requests`` calls from ``threads`` threads; SIGKILL replica 0 after ``kill_after`` answers.

    Returns:
        ``answered_by`` (replica per answered call, in completion order),
        ``started_after_kill_answered_by`` (the same for calls sent after the killed replica was
        gone), ``errors`` (repr of each failure), ``latency_ms_before`` / ``latency_ms_after`` (calls answered before / after the
        kill) and ``killed_at`` (answers counted when the kill was sent).
    """
    pool = np.random.default_rng(0).uniform(0, 255, size=(8, 1, 32, 32, 3)).astype("float32")
    done: list[tuple[int, float, bool, float]] = []  # (replica, latency ms, after the kill, start)
    kill_time = [float("inf")]
    errors: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()
    turn = itertools.count()
    with replicas(2, delay_ms) as servers:
        client = client_for([info for _, info in servers], transport, timeout=10.0, retries=3)
        victim = servers[0][0]

        def worker() -> None:
            while (i := next(turn)) < requests:
                image = pool[i % len(pool)]
                start = time.perf_counter()
                try:
                    out = client.predict(image)
                except Exception as err:  # counted: the test wants none
                    with lock:
                        errors.append(repr(err))
                    continue
                latency = (time.perf_counter() - start) * 1e3
                if not np.allclose(out["row_sum"], image.sum(), rtol=1e-5):
                    with lock:
                        errors.append(f"call {i}: row_sum {out['row_sum']} is not the input's")
                with lock:
                    done.append((int(out["replica"][0]), latency, killed.is_set(), start))
                    kill = len(done) == kill_after
                if kill:
                    os.kill(victim.pid, signal.SIGKILL)
                    victim.wait()
                    kill_time[0] = time.perf_counter()
                    killed.set()

        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(60.0)
        client.close()
    return {
        "transport": transport,
        "answered_by": [replica for replica, *_ in done],
        "started_after_kill_answered_by": [replica for replica, *_, start in done if start > kill_time[0]],
        "errors": errors,
        "latency_ms_before": [lat for _, lat, after, _ in done if not after],
        "latency_ms_after": [lat for _, lat, after, _ in done if after],
        "killed_at": kill_after,
    }


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def main(argv: list[str] | None = None) -> int:
    """Measure ``--runs`` failovers per transport and write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="record path (default benchmarks/records/)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from benchmarks import records

    record = records.start(
        "client_failover",
        "ServingClient over two loopback replicas, 4 threads x 200 calls, replica 0 SIGKILLed after 100 answers",
        ("grpcio", "protobuf", "numpy"),
        argv,
    )
    for transport in ("grpc", "rest"):
        runs = [run_failover(transport) for _ in range(args.runs)]
        for phase in ("before", "after"):
            p99 = [_percentile(r[f"latency_ms_{phase}"], 99) for r in runs]
            record["rows"].append(
                {
                    "key": f"{transport}/p99_{phase}_kill",
                    "label": f"{transport}: p99 latency of the calls answered {phase} the kill",
                    "unit": "ms",
                    "value": float(np.median(p99)),
                    "runs": p99,
                    "p50_ms": [_percentile(r[f"latency_ms_{phase}"], 50) for r in runs],
                    "max_ms": [round(max(r[f"latency_ms_{phase}"]), 3) for r in runs],
                }
            )
        first = [r["answered_by"][: r["killed_at"]] for r in runs]
        record["rows"].append(
            {
                "key": f"{transport}/failed_calls",
                "label": f"{transport}: failed calls over all runs",
                "unit": "calls",
                "value": sum(len(r["errors"]) for r in runs),
                "replica0_share_first_100": [round(f.count(0) / len(f), 2) for f in first],
            }
        )
    record["notes"].append(
        "Replicas: tests/client/replica_server.py (gRPC + HTTP stacks, 2 ms sleep per call as the model), "
        "each in its own process; the client: round_robin load balancing, retries=3, timeout 10 s. "
        "The median over runs is the value; every run is listed."
    )
    print(records.finish(record, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
