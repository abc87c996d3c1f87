"""A light TF Serving replica for the load-balancing and failover tests: Predict over gRPC and REST.

``python -m tests.client.replica_server ID [DELAY_MS]`` answers TF Serving's
``PredictionService/Predict`` (gRPC, the package's own wire messages) and
``POST /v1/models/NAME:predict`` (REST, columnar JSON) on free loopback ports, prints
``{"grpc": "127.0.0.1:P", "rest": "http://127.0.0.1:Q"}`` once it listens, and runs until its
standard input closes or it is killed. Every answer carries two outputs: ``replica`` (this
server's ID, once per row: which replica answered) and ``row_sum`` (each input row summed: the
answer belongs to the request). ``DELAY_MS`` (default 2) stands for the model's compute time.

It imports neither TensorFlow nor the stand-in's SavedModel loader, so two of them start in well
under a second; what the tests exercise is the client's transport (connections, balancing, retries
after a SIGKILL), which this server's gRPC and HTTP stacks serve the same way as the stand-in's.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np

from keras_residual.client import wire
from keras_residual.client.tensors import to_numpy, to_tensor_proto


def _answer(replica: int, images: np.ndarray) -> dict[str, np.ndarray]:
    rows = images.reshape(images.shape[0], -1).sum(axis=1).astype(np.float32)
    return {"replica": np.full(images.shape[0], replica, np.int32), "row_sum": rows}


def _grpc_server(replica: int, delay_s: float) -> tuple[grpc.Server, int]:
    def predict(request, context):
        time.sleep(delay_s)
        images = to_numpy(next(iter(request.inputs.values())))
        response = wire.PredictResponse()
        for key, value in _answer(replica, images).items():
            response.outputs[key].CopyFrom(to_tensor_proto(value))
        return response

    handler = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {
            "Predict": grpc.unary_unary_rpc_method_handler(
                predict,
                request_deserializer=wire.PredictRequest.FromString,
                response_serializer=lambda message: message.SerializeToString(),
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _rest_server(replica: int, delay_s: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's REST server
        disable_nagle_algorithm = True  # headers and body leave as separate writes

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(delay_s)
            images = np.asarray(next(iter(body["inputs"].values())), np.float32)
            outputs = {key: value.tolist() for key, value in _answer(replica, images).items()}
            data = json.dumps({"outputs": outputs}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> int:
    replica = int(argv[0])
    delay_s = (float(argv[1]) if len(argv) > 1 else 2.0) / 1e3
    grpc_server, grpc_port = _grpc_server(replica, delay_s)
    rest = _rest_server(replica, delay_s)
    print(json.dumps({"grpc": f"127.0.0.1:{grpc_port}", "rest": f"http://127.0.0.1:{rest.server_port}"}), flush=True)
    sys.stdin.read()  # until the parent closes the pipe (or kills this process)
    rest.shutdown()
    grpc_server.stop(None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
