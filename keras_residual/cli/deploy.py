"""``keras-residual deploy kubernetes | kserve``: write the manifests that serve an export on a cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from keras_residual.serving.manifests import TF_SERVING_IMAGE


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``deploy`` sub-command with its ``kubernetes`` and ``kserve`` targets."""
    parser = subparsers.add_parser(
        "deploy", help="Write Kubernetes or KServe manifests that serve an export (validated, written atomically)."
    )
    targets = parser.add_subparsers(dest="deploy_target", required=True, metavar="TARGET")
    _register_kubernetes(targets)
    _register_kserve(targets)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base_path", metavar="BASE_PATH", help="the export on this machine (TF Serving base path)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the YAML files to")
    parser.add_argument("--name", default=None, help="model and object name (default: BASE_PATH's folder name)")
    parser.add_argument("--cpu", default="2", help="CPU request per replica (default 2)")
    parser.add_argument("--memory", default="4Gi", help="memory request and limit per replica (default 4Gi)")


def _register_kubernetes(targets) -> None:
    parser = targets.add_parser(
        "kubernetes",
        help="Deployment (TF Serving), Services, HPA, PodDisruptionBudget and ConfigMap for an export.",
        description=(
            "Write configmap.yaml, deployment.yaml, service.yaml (ClusterIP + headless), hpa.yaml and pdb.yaml "
            "to --out. The Deployment serves the newest version under BASE_PATH (or --version) with "
            f"{TF_SERVING_IMAGE}; a pod is ready only once that version is AVAILABLE (after warmup)."
        ),
    )
    _common(parser)
    parser.add_argument("--version", type=int, default=None, help="version to serve (default: the newest)")
    parser.add_argument("--image", default=TF_SERVING_IMAGE, help=f"TF Serving image (default {TF_SERVING_IMAGE})")
    parser.add_argument("--replicas", type=int, default=2, help="pods at the start (default 2)")
    parser.add_argument("--min-replicas", type=int, default=None, help="autoscaler minimum (default --replicas)")
    parser.add_argument("--max-replicas", type=int, default=None, help="autoscaler maximum (default 2 x minimum)")
    parser.add_argument(
        "--target-cpu-utilization", type=int, default=70, help="autoscaler target, %% of the CPU request (default 70)"
    )
    parser.add_argument(
        "--model-volume",
        default="pvc:model-exports",
        help="pvc:CLAIM (holding NAME/<version>/) or s3://... / gs://... (copied by an init container)",
    )
    parser.add_argument("--storage-secret", default=None, help="Secret with the object store's credentials")
    parser.add_argument(
        "--batching-parameters", type=Path, default=None, help="batching_parameters.txt from tune-batching"
    )
    parser.set_defaults(func=run_kubernetes)


def _register_kserve(targets) -> None:
    parser = targets.add_parser(
        "kserve",
        help="A KServe v1beta1 InferenceService for an export in object storage.",
        description=(
            "Write inferenceservice.yaml to --out: the export's model format (tensorflow, onnx or openvino) "
            "served from --storage-uri by KServe's runtime for it."
        ),
    )
    _common(parser)
    parser.add_argument("--storage-uri", required=True, help="where the cluster reads the export (s3://..., gs://...)")
    parser.add_argument("--min-replicas", type=int, default=1, help="autoscaler minimum (default 1)")
    parser.add_argument("--max-replicas", type=int, default=4, help="autoscaler maximum (default 4)")
    parser.add_argument(
        "--scale-metric", default="cpu", help="cpu or memory (Standard), concurrency or rps (Knative); default cpu"
    )
    parser.add_argument("--scale-target", type=int, default=70, help="the metric's target (default 70)")
    parser.add_argument("--deployment-mode", default="Standard", help="Standard (default) or Knative")
    parser.set_defaults(func=run_kserve)


_KUBERNETES = (
    "name", "version", "image", "replicas", "min_replicas", "max_replicas", "cpu", "memory",
    "target_cpu_utilization", "model_volume", "storage_secret", "batching_parameters",
)
_KSERVE = ("name", "cpu", "memory", "min_replicas", "max_replicas", "scale_metric", "scale_target", "deployment_mode")


def run_kubernetes(args: argparse.Namespace) -> int:
    """Write the Kubernetes manifests; returns the exit code (bad input raises ValueError)."""
    from keras_residual.serving.kubernetes import write_kubernetes

    paths = write_kubernetes(args.base_path, args.out, **{key: getattr(args, key) for key in _KUBERNETES})
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out} (kubectl apply -f {args.out})")
    return 0


def run_kserve(args: argparse.Namespace) -> int:
    """Write the InferenceService; returns the exit code (bad input raises ValueError)."""
    from keras_residual.serving.kserve import write_kserve

    path = write_kserve(args.base_path, args.storage_uri, args.out, **{key: getattr(args, key) for key in _KSERVE})
    print(f"wrote {path} (kubectl apply -f {path})")
    return 0
