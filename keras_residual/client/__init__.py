"""A client for models served by TensorFlow Serving, over gRPC or REST, without TensorFlow.

`ServingClient` speaks gRPC to ``"host:8500"`` and TF Serving's REST API to ``"http://host:8501"``
(or ``https://``), with what a production caller needs: a deadline on every call, retries with
exponential backoff on UNAVAILABLE (HTTP 503), message-size limits large enough for real batches
(TF Serving's examples keep gRPC's 4 MB default, tensorflow/serving#1382), TLS, version or label
selection, batch splitting, and client-side dtype/shape checks against the model's own signature
metadata.

Every failure is a `ServingError` subclass carrying the gRPC status code (a REST answer's HTTP
status is mapped back to it) and TF Serving's own message. The package depends only on grpcio,
protobuf and numpy (``pip install 'keras-residual[client]'``): it declares TF Serving's wire
messages itself (`keras_residual.client.wire`) and imports neither TensorFlow, Keras nor
tensorflow-serving-api.

Example:
    ```python
    # skip-test: needs a running TF Serving
    import numpy as np
    from keras_residual.client import ServingClient

    with ServingClient("localhost:8500", "digits") as client:
        out = client.predict(np.zeros((2, 32, 32, 3), "float32"))
        print(out["top_k_labels"][:, 0])
    with ServingClient("http://localhost:8501", "digits") as rest:
        print(rest.status())
    ```
"""

from keras_residual.client.errors import (
    ServingDeadlineError,
    ServingError,
    ServingFailedPreconditionError,
    ServingInvalidArgumentError,
    ServingMessageTooLargeError,
    ServingNotFoundError,
    ServingUnavailableError,
)
from keras_residual.client.metadata import ModelMetadata, SignatureInfo, TensorInfo, VersionStatus
from keras_residual.client.serving_client import ServingClient
from keras_residual.client.tensors import to_numpy, to_tensor_proto

__all__ = [
    "ModelMetadata",
    "ServingClient",
    "ServingDeadlineError",
    "ServingError",
    "ServingFailedPreconditionError",
    "ServingInvalidArgumentError",
    "ServingMessageTooLargeError",
    "ServingNotFoundError",
    "ServingUnavailableError",
    "SignatureInfo",
    "TensorInfo",
    "VersionStatus",
    "to_numpy",
    "to_tensor_proto",
]
