"""Kubernetes manifests that run TF Serving for an export: Deployment, Services, autoscaler, disruption budget, config.

`kubernetes_manifests` builds the objects and `write_kubernetes` writes them as YAML files
(``keras-residual deploy kubernetes``):

- ``configmap.yaml``: ``models.config`` (the model pinned to one version), ``monitoring.config``
  (Prometheus) and, when given, the batching tuner's ``batching_parameters.txt``. The ConfigMap is
  immutable and its name carries a hash of its content, so a new version or new batching values
  make a new ConfigMap and a rolling update, and running pods never see their config change.
- ``deployment.yaml``: ``tensorflow/serving`` pinned to `TF_SERVING_IMAGE`, gRPC 8500 and REST 8501,
  warmup on, a non-root user, a read-only root filesystem. Its readiness probe asks REST
  ``/v1/models/NAME/versions/V`` and passes only when the answer says ``"state": "AVAILABLE"``: the
  status endpoint answers HTTP 200 for a version still LOADING (warmup runs inside loading) and for
  one whose load failed (state END with the error), so an ``httpGet`` probe would pass too early.
  The image has bash but no curl, so the probe is bash's ``/dev/tcp``. A startup probe with the
  same check covers a long first load; the liveness probe is the gRPC port's TCP socket.
- ``service.yaml``: a ClusterIP Service, and a headless one (``NAME-headless``) whose DNS name
  lists every ready pod for gRPC's ``round_robin`` (``dns:///NAME-headless.NAMESPACE:8500``). The
  server closes a gRPC connection after 5 minutes (``grpc.max_connection_age_ms``), so such clients
  resolve the name again and reach pods added since.
- ``hpa.yaml`` (autoscaling/v2, CPU utilization) and ``pdb.yaml`` (policy/v1, one pod down at a time).

The model comes from a PersistentVolumeClaim mounted read-only (``pvc:CLAIM``: the claim holds
``NAME/<version>/``) or is copied from object storage (``s3://`` / ``gs://``) by KServe's storage
initializer in an init container into an ``emptyDir``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from keras_residual._validation import check_int, check_str, fail
from keras_residual.serving.manifests import (
    DEPLOY_EXTRA,
    GRPC_PORT,
    MONITORING_PATH,
    REST_PORT,
    TF_SERVING_IMAGE,
    check_object_name,
    check_quantity,
    model_name_of,
    publish_manifests,
    to_yaml,
)

STORAGE_INITIALIZER_IMAGE = "kserve/storage-initializer:v0.20.0"
"""The init container that copies ``s3://`` / ``gs://`` base paths (KServe's, release v0.20.0)."""

RUN_AS_USER = 1000
_CONFIG_DIR = "/config"
_MODELS_DIR = "/models"


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model-server"}


def _meta(name: str, object_name: str | None = None) -> dict:
    labels = {**_labels(name), "app.kubernetes.io/managed-by": "keras-residual"}
    return {"name": object_name or name, "labels": labels}


def models_config(name: str, version: int) -> str:
    """``models.config`` for the model ``name`` at ``/models/NAME``, serving exactly ``version``."""
    try:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as err:
        raise ImportError(f"writing models.config needs TF Serving's config protos: {DEPLOY_EXTRA}") from err
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add(
        name=name, base_path=f"{_MODELS_DIR}/{name}", model_platform="tensorflow"
    )
    entry.model_version_policy.specific.versions.append(version)
    return text_format.MessageToString(config)


def _config_files(name: str, version: int, batching_parameters: str | os.PathLike | None) -> dict[str, str]:
    files = {
        "models.config": models_config(name, version),
        "monitoring.config": f'prometheus_config {{\n  enable: true\n  path: "{MONITORING_PATH}"\n}}\n',
    }
    if batching_parameters is not None:
        from keras_residual.serving.serving_config import parse_serving_config

        parse_serving_config(batching_parameters, "batching")  # strict: a typo fails here, not in the pod
        files["batching_parameters.txt"] = Path(batching_parameters).read_text()
    return files


def readiness_command(name: str, version: int) -> list[str]:
    """The probe: exit 0 only when TF Serving's REST status of ``version`` says ``"state": "AVAILABLE"``."""
    request = f"GET /v1/models/{name}/versions/{version} HTTP/1.0\\r\\n\\r\\n"
    script = (
        f"exec 3<>/dev/tcp/127.0.0.1/{REST_PORT} && printf '{request}' >&3 && "
        "grep -Eq '\"state\" *: *\"AVAILABLE\"' <&3"
    )
    return ["/bin/bash", "-c", script]


def _restricted() -> dict:
    """A container security context: non-root, no privilege escalation, read-only root, no capabilities."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _server_args(batching: bool) -> list[str]:
    args = [
        f"--port={GRPC_PORT}",
        f"--rest_api_port={REST_PORT}",
        f"--model_config_file={_CONFIG_DIR}/models.config",
        f"--monitoring_config_file={_CONFIG_DIR}/monitoring.config",
        "--enable_model_warmup=true",
        # close each client connection after 5 minutes: clients balancing over the headless Service
        # then resolve its name again and find the pods the autoscaler added
        "--grpc_channel_arguments=grpc.max_connection_age_ms=300000",
    ]
    if batching:
        args += ["--enable_batching=true", f"--batching_parameters_file={_CONFIG_DIR}/batching_parameters.txt"]
    return args


def _container(name: str, version: int, image: str, cpu: str, memory: str, batching: bool) -> dict:
    probe = {"exec": {"command": readiness_command(name, version)}, "timeoutSeconds": 5}
    return {
        "name": "tf-serving",
        "image": image,
        "command": ["/usr/bin/tensorflow_model_server"],
        "args": _server_args(batching),
        "ports": [
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "http", "containerPort": REST_PORT, "protocol": "TCP"},
        ],
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
        "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 120},
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {"tcpSocket": {"port": "grpc"}, "periodSeconds": 10, "failureThreshold": 3},
        # let the Service drop this pod before the server stops taking calls
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        "securityContext": _restricted(),
        "volumeMounts": [
            {"name": "models", "mountPath": _MODELS_DIR, "readOnly": True},
            {"name": "config", "mountPath": _CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _model_source(name: str, model_volume: str, storage_secret: str | None) -> tuple[dict, list[dict]]:
    """The ``models`` volume and the init containers that fill it."""
    if model_volume.startswith("pvc:") and check_object_name("model_volume", model_volume[4:]):
        if storage_secret is not None:
            fail("storage_secret", "None with a 'pvc:' model_volume (it is for the s3:// / gs:// copy)", storage_secret)
        return {"name": "models", "persistentVolumeClaim": {"claimName": model_volume[4:], "readOnly": True}}, []
    if not model_volume.startswith(("s3://", "gs://")) or len(model_volume) <= 5:
        fail("model_volume", "'pvc:CLAIM' or an 's3://' / 'gs://' base path", model_volume)
    init = {
        "name": "storage-initializer",
        "image": STORAGE_INITIALIZER_IMAGE,
        "args": [model_volume, f"{_MODELS_DIR}/{name}"],
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": _restricted(),
        "volumeMounts": [{"name": "models", "mountPath": _MODELS_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    if storage_secret is not None:
        init["envFrom"] = [{"secretRef": {"name": check_object_name("storage_secret", storage_secret)}}]
    return {"name": "models", "emptyDir": {}}, [init]


def _deployment(name: str, config_map: str, spec: dict) -> dict:
    volume, init = _model_source(name, spec["model_volume"], spec["storage_secret"])
    batching = spec["batching_parameters"] is not None
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": _labels(name)},
            }
        ],
        "containers": [_container(name, spec["version"], spec["image"], spec["cpu"], spec["memory"], batching)],
        "volumes": [
            volume,
            {"name": "config", "configMap": {"name": config_map}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if init:
        pod["initContainers"] = init
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(REST_PORT), "prometheus.io/path": MONITORING_PATH}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name),
        "spec": {
            "replicas": spec["replicas"],
            "selector": {"matchLabels": _labels(name)},
            # keep full capacity during a rollout: a new pod must be ready before an old one goes
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": _labels(name), "annotations": annotations}, "spec": pod},
        },
    }


def _services(name: str) -> list[dict]:
    ports = [
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
        {"name": "http", "port": REST_PORT, "targetPort": "http", "protocol": "TCP"},
    ]
    service = {"type": "ClusterIP", "selector": _labels(name), "ports": ports}
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name), "spec": service},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, f"{name}-headless"),
            "spec": {**service, "clusterIP": "None", "publishNotReadyAddresses": False},
        },
    ]


def _autoscaling(name: str, spec: dict) -> tuple[dict, dict]:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": spec["min_replicas"],
            "maxReplicas": spec["max_replicas"],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": spec["target_cpu_utilization"]},
                    },
                }
            ],
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(name)}},
    }
    return hpa, pdb


def _check_replicas(replicas: int, min_replicas: int | None, max_replicas: int | None) -> tuple[int, int, int]:
    replicas = check_int("replicas", replicas, minimum=1)
    low = check_int("min_replicas", replicas if min_replicas is None else min_replicas, minimum=1, maximum=replicas)
    high = max(replicas, 2 * low) if max_replicas is None else max_replicas
    high = check_int("max_replicas", high, minimum=replicas)
    return replicas, low, high


def _newest_version(base_path: str | os.PathLike, version: int | None) -> int:
    """``version`` (checked to exist under ``base_path``), or the newest integer version there."""
    found = [int(p.name) for p in Path(base_path).glob("*") if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    if not found:
        fail("base_path", "a TF Serving base path with integer version folders holding saved_model.pb", str(base_path))
    if version is None:
        return max(found)
    if check_int("version", version, minimum=0) not in found:
        fail("version", f"one of the versions under base_path {sorted(found)}", version)
    return version


def kubernetes_manifests(
    base_path: str | os.PathLike,
    *,
    name: str | None = None,
    version: int | None = None,
    image: str = TF_SERVING_IMAGE,
    replicas: int = 2,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
    cpu: str = "2",
    memory: str = "4Gi",
    target_cpu_utilization: int = 70,
    model_volume: str = "pvc:model-exports",
    storage_secret: str | None = None,
    batching_parameters: str | os.PathLike | None = None,
) -> dict[str, list[dict]]:
    """Build the Kubernetes objects that serve the export at ``base_path`` with TF Serving.

    Args:
        base_path: the export's TF Serving base path on this machine (``exports/digits`` holding
            ``1/``, ``2/``, ...): it gives the version and the default name.
        name: the model name (clients ask for it) and the objects' name; default: the folder name.
        version: the version to serve (default: the newest under ``base_path``).
        image: the TF Serving image (default `TF_SERVING_IMAGE`, the release matching the exporter).
        replicas: pods at the start; ``min_replicas`` (default ``replicas``) and ``max_replicas``
            (default ``max(replicas, 2 * min_replicas)``) bound the autoscaler.
        cpu: CPU request per pod (``"2"``, ``"500m"``); the autoscaler's utilization is relative to it.
        memory: memory request and limit per pod (``"4Gi"``).
        target_cpu_utilization: the autoscaler's target, percent of the CPU request (1..100).
        model_volume: ``"pvc:CLAIM"`` (a claim holding ``NAME/<version>/``, mounted read-only) or an
            ``s3://`` / ``gs://`` base path copied by an init container.
        storage_secret: a Secret with the object store's credentials (``AWS_ACCESS_KEY_ID``, ...) for
            the init container.
        batching_parameters: the batching tuner's ``batching_parameters.txt``; given, the server
            batches requests with it (``keras-residual tune-batching`` writes it).

    Returns:
        File name -> the objects it holds (``configmap.yaml``, ``deployment.yaml``,
        ``service.yaml``, ``hpa.yaml``, ``pdb.yaml``).

    Raises:
        ValueError: a bad argument (named in the message).

    Example:
        ```python
        # skip-test: needs an export on disk
        from keras_residual.serving.kubernetes import kubernetes_manifests

        objects = kubernetes_manifests("exports/digits", replicas=3, cpu="4", memory="8Gi")
        print(objects["deployment.yaml"][0]["spec"]["replicas"])
        ```
    """
    name = model_name_of(base_path, name)
    replicas, low, high = _check_replicas(replicas, min_replicas, max_replicas)
    spec = {
        "image": check_str("image", image),
        "replicas": replicas,
        "min_replicas": low,
        "max_replicas": high,
        "cpu": check_quantity("cpu", cpu, "cpu"),
        "memory": check_quantity("memory", memory, "memory"),
        "target_cpu_utilization": check_int("target_cpu_utilization", target_cpu_utilization, 1, 100),
        "model_volume": check_str("model_volume", model_volume),
        "storage_secret": storage_secret,
        "batching_parameters": batching_parameters,
    }
    spec["version"] = _newest_version(base_path, version)  # after every argument check: it reads the disk
    files = _config_files(name, spec["version"], batching_parameters)
    digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:10]
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, f"{name}-config-{digest}"),
        "immutable": True,
        "data": files,
    }
    hpa, pdb = _autoscaling(name, spec)
    return {
        "configmap.yaml": [config_map],
        "deployment.yaml": [_deployment(name, config_map["metadata"]["name"], spec)],
        "service.yaml": _services(name),
        "hpa.yaml": [hpa],
        "pdb.yaml": [pdb],
    }


def write_kubernetes(base_path: str | os.PathLike, out: str | os.PathLike, **options) -> list[Path]:
    """Build `kubernetes_manifests` and write them as YAML files in the folder ``out`` (atomically).

    Args:
        base_path: the export's TF Serving base path (see `kubernetes_manifests`).
        out: the folder to write; an earlier output there is replaced whole.
        **options: the keyword arguments of `kubernetes_manifests`.

    Returns:
        The written files (``kubectl apply -f OUT`` applies them).

    Example:
        ```python
        # skip-test: needs an export on disk
        from keras_residual.serving.kubernetes import write_kubernetes

        write_kubernetes("exports/digits", "k8s/digits", model_volume="s3://models/digits")
        ```
    """
    objects = kubernetes_manifests(base_path, **options)
    return publish_manifests(out, {file_name: to_yaml(docs) for file_name, docs in objects.items()})
