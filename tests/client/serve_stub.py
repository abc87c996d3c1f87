"""Run the stand-in server in its own process, as TF Serving runs beside its clients.

``python -m tests.client.serve_stub BASE_PATH MODEL`` serves the newest version under BASE_PATH over
gRPC and REST on free loopback ports, prints ``{"grpc": "127.0.0.1:P", "rest": "http://127.0.0.1:Q"}``
on one line once it answers, and stops when its standard input closes (used by
``benchmarks/client_latency.py``, so the client's and the server's Python do not share one GIL).
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from tests.client.tfserving_stub import StubModelServer

    base, model = argv
    with StubModelServer(base, model) as server:
        print(json.dumps({"grpc": server.target, "rest": server.rest_target}), flush=True)
        sys.stdin.read()  # until the parent closes the pipe
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
