"""A KServe ``InferenceService`` (``serving.kserve.io/v1beta1``) for an export stored in object storage.

KServe runs the model server for a model format from its ``ClusterServingRuntime`` list: a
SavedModel is ``tensorflow`` (``kserve-tensorflow-serving``: TF Serving's v1 REST and gRPC), an ONNX
file ``onnx`` (Triton's ONNX Runtime backend, or OpenVINO Model Server) and an OpenVINO IR
``openvino`` (``kserve-openvino``, OpenVINO Model Server). KServe's TF Serving runtime pins an old
image (``tensorflow/serving:2.6.2`` in KServe v0.20.0), which may not load a SavedModel written by a
newer TensorFlow, so the service asks for `TF_SERVING_VERSION` with ``runtimeVersion``.

The storage layouts the runtimes expect at ``storageUri``: TF Serving a base path with integer
versions (what ``export saved-model --base-path`` writes); Triton a model repository (what
``export(..., format="triton")`` writes); OpenVINO Model Server a folder with ``1/model.xml``.
"""

from __future__ import annotations

import os
from pathlib import Path

from keras_residual._atomic import write_text
from keras_residual._validation import check_choice, check_int, check_str, fail
from keras_residual.serving.manifests import (
    TF_SERVING_VERSION,
    check_quantity,
    export_format,
    model_name_of,
    to_yaml,
)

PROTOCOL = {"tensorflow": "v1", "onnx": "v2", "openvino": "v2"}
"""The inference protocol each format's KServe runtime speaks (TF Serving: v1; Triton / OVMS: v2)."""

SCALE_METRICS = ("cpu", "memory", "concurrency", "rps")
"""KServe's ``scaleMetric`` values: cpu / memory (Standard mode, an HPA), concurrency / rps (Knative)."""

DEPLOYMENT_MODES = ("Standard", "Knative")
"""KServe's deployment modes (annotation ``serving.kserve.io/deploymentMode``; v0.20.0 names)."""

STORAGE_SCHEMES = ("s3://", "gs://", "pvc://", "https://", "hf://", "oci://")


def kserve_manifest(
    base_path: str | os.PathLike,
    storage_uri: str,
    *,
    name: str | None = None,
    cpu: str = "2",
    memory: str = "4Gi",
    min_replicas: int = 1,
    max_replicas: int = 4,
    scale_metric: str = "cpu",
    scale_target: int = 70,
    deployment_mode: str = "Standard",
) -> dict:
    """Build the ``InferenceService`` that serves the export at ``base_path`` from ``storage_uri``.

    Args:
        base_path: the export on this machine (a TF Serving base path, an ONNX file or an OpenVINO
            IR folder): it gives the model format and the default name.
        storage_uri: where the cluster reads the same export (``s3://bucket/models/digits``, ``gs://``,
            ``pvc://CLAIM/path``, ...).
        name: the service's name (default: the export's folder name).
        cpu: CPU request per replica.
        memory: memory request and limit per replica.
        min_replicas: the autoscaler's lower bound (0 lets Knative scale to zero).
        max_replicas: the autoscaler's upper bound.
        scale_metric: ``"cpu"``, ``"memory"`` (Standard mode), ``"concurrency"`` or ``"rps"`` (Knative).
        scale_target: the metric's target (percent for cpu / memory, calls per replica otherwise).
        deployment_mode: ``"Standard"`` (a Deployment and an HPA) or ``"Knative"`` (serverless).

    Returns:
        The ``InferenceService`` as a dictionary.

    Raises:
        ValueError: a bad argument (named in the message).

    Example:
        ```python
        # skip-test: needs an export on disk
        from keras_residual.serving.kserve import kserve_manifest

        service = kserve_manifest("exports/digits", "s3://models/digits")
        print(service["spec"]["predictor"]["model"]["modelFormat"])  # {'name': 'tensorflow'}
        ```
    """
    model_format = export_format(base_path)
    name = model_name_of(base_path, name)
    if not isinstance(storage_uri, str) or not storage_uri.startswith(STORAGE_SCHEMES) or storage_uri.endswith("//"):
        fail("storage_uri", f"a URI starting with one of {list(STORAGE_SCHEMES)}", storage_uri)
    check_choice("scale_metric", scale_metric, SCALE_METRICS)
    check_choice("deployment_mode", deployment_mode, DEPLOYMENT_MODES)
    if (scale_metric in ("cpu", "memory")) != (deployment_mode == "Standard"):
        fail("scale_metric", f"cpu or memory with Standard, concurrency or rps with Knative (deployment_mode={deployment_mode!r})", scale_metric)
    low = check_int("min_replicas", min_replicas, minimum=0 if deployment_mode == "Knative" else 1)
    model = {
        "modelFormat": {"name": model_format},
        "protocolVersion": PROTOCOL[model_format],
        "storageUri": storage_uri,
        "resources": {
            "requests": {"cpu": check_quantity("cpu", cpu, "cpu"), "memory": check_quantity("memory", memory, "memory")},
            "limits": {"memory": memory},
        },
    }
    if model_format == "tensorflow":
        model["runtimeVersion"] = TF_SERVING_VERSION
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "annotations": {"serving.kserve.io/deploymentMode": deployment_mode},
            "labels": {"app.kubernetes.io/managed-by": "keras-residual"},
        },
        "spec": {
            "predictor": {
                "minReplicas": low,
                "maxReplicas": check_int("max_replicas", max_replicas, minimum=max(low, 1)),
                "scaleMetric": scale_metric,
                "scaleTarget": check_int("scale_target", scale_target, minimum=1),
                "model": model,
            }
        },
    }


def write_kserve(base_path: str | os.PathLike, storage_uri: str, out: str | os.PathLike, **options) -> Path:
    """Write `kserve_manifest` as ``OUT/inferenceservice.yaml`` (atomically); return its path.

    Example:
        ```python
        # skip-test: needs an export on disk
        from keras_residual.serving.kserve import write_kserve

        write_kserve("exports/digits", "s3://models/digits", "kserve/digits", min_replicas=2)
        ```
    """
    service = kserve_manifest(base_path, storage_uri, **options)
    out = Path(check_str("out", os.fspath(out)))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "inferenceservice.yaml"
    write_text(path, to_yaml([service]))
    return path
