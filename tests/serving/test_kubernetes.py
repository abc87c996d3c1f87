"""`keras-residual deploy kubernetes`: every manifest validates strictly, the objects point at each other,
the config files parse with TF Serving's protos, and the readiness probe passes only for AVAILABLE.

No cluster exists here: the schemas are the Kubernetes OpenAPI schemas shipped by kubernetes-validate
(strict: an unknown field fails), the probe runs in bash against a loopback server answering TF
Serving's status JSON.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version as installed_version
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from keras_residual.cli import main
from keras_residual.serving.kubernetes import kubernetes_manifests, readiness_command, write_kubernetes
from keras_residual.serving.manifests import REST_PORT, TF_SERVING_IMAGE
from keras_residual.serving.serving_config import parse_serving_config

ROOT = Path(__file__).resolve().parents[2]
BATCHING = ROOT / "serving" / "batching_parameters.txt"


@pytest.fixture
def base(tmp_path) -> Path:
    """A TF Serving base path's layout (versions 1 and 3): all the writer reads of an export."""
    base = tmp_path / "exports" / "digits"
    for version in (1, 3):
        (base / str(version)).mkdir(parents=True)
        (base / str(version) / "saved_model.pb").write_bytes(b"")
    return base


def _docs(folder: Path) -> dict[str, list[dict]]:
    return {path.name: list(yaml.safe_load_all(path.read_text())) for path in sorted(folder.glob("*.yaml"))}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"model_volume": "s3://bucket/models/digits", "storage_secret": "s3-credentials"},
        {"batching_parameters": BATCHING, "replicas": 3, "min_replicas": 2, "max_replicas": 9, "cpu": "1500m"},
    ],
    ids=["pvc", "s3", "batching"],
)
def test_every_manifest_validates_strictly(base, tmp_path, options):
    written = write_kubernetes(base, tmp_path / "k8s", **options)
    docs = _docs(tmp_path / "k8s")
    assert sorted(p.name for p in written) == sorted(docs) == [
        "configmap.yaml", "deployment.yaml", "hpa.yaml", "pdb.yaml", "service.yaml"
    ]
    kinds = []
    for file_docs in docs.values():
        for doc in file_docs:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
            kinds.append(doc["kind"])
    assert sorted(kinds) == [
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "Service"
    ]


def test_strict_validation_rejects_a_misspelled_field(base):
    deployment = kubernetes_manifests(base)["deployment.yaml"][0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_the_objects_point_at_each_other(base):
    objects = kubernetes_manifests(base, replicas=3, min_replicas=2, max_replicas=6, target_cpu_utilization=60)
    deployment = objects["deployment.yaml"][0]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    container = pod["spec"]["containers"][0]
    assert {p["containerPort"] for p in container["ports"]} == {8500, 8501}
    assert container["image"] == TF_SERVING_IMAGE
    assert container["readinessProbe"]["exec"]["command"] == readiness_command("digits", 3)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service, headless = objects["service.yaml"]
    for svc in (service, headless):
        assert svc["spec"]["selector"].items() <= labels.items()
        assert {p["port"] for p in svc["spec"]["ports"]} == {8500, 8501}
    assert headless["spec"]["clusterIP"] == "None" and headless["metadata"]["name"] == "digits-headless"
    hpa = objects["hpa.yaml"][0]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "digits"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"], deployment["spec"]["replicas"]) == (2, 6, 3)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert objects["pdb.yaml"][0]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    config_map = objects["configmap.yaml"][0]
    mounted = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert mounted["config"]["configMap"]["name"] == config_map["metadata"]["name"]


def test_the_config_files_parse_with_tf_serving_protos_and_pin_the_version(base, tmp_path):
    objects = kubernetes_manifests(base, batching_parameters=BATCHING)
    data = objects["configmap.yaml"][0]["data"]
    kinds = {"models.config": "models", "monitoring.config": "monitoring", "batching_parameters.txt": "batching"}
    parsed = {}
    for file_name, kind in kinds.items():
        (tmp_path / file_name).write_text(data[file_name])
        parsed[kind] = parse_serving_config(tmp_path / file_name, kind)
    entry = parsed["models"].model_config_list.config[0]
    assert (entry.name, entry.base_path, list(entry.model_version_policy.specific.versions)) == (
        "digits", "/models/digits", [3]
    )
    assert parsed["monitoring"].prometheus_config.enable
    assert parsed["batching"] == parse_serving_config(BATCHING, "batching")
    args = objects["deployment.yaml"][0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--batching_parameters_file=/config/batching_parameters.txt" in args
    # a new version is a new ConfigMap (so a rolling update), never an edit under running pods
    other = kubernetes_manifests(base, version=1, batching_parameters=BATCHING)["configmap.yaml"][0]
    assert other["metadata"]["name"] != objects["configmap.yaml"][0]["metadata"]["name"]


def _status_server(answers: dict[str, tuple[int, dict]]) -> ThreadingHTTPServer:
    """Answer GET paths like TF Serving's REST API (JSON printed with its whitespace, HTTP/1.0 close)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            status, body = answers.get(self.path, (404, {"error": "Could not find any versions of model x"}))
            data = json.dumps(body, indent=1).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _version_status(state: str, code: str = "OK", message: str = "") -> tuple[int, dict]:
    status = {"version": "3", "state": state, "status": {"error_code": code, "error_message": message}}
    return 200, {"model_version_status": [status]}


@pytest.mark.parametrize(
    ("answer", "ready"),
    [
        (_version_status("AVAILABLE"), True),
        (_version_status("LOADING"), False),  # warmup runs while LOADING: HTTP 200, not ready
        (_version_status("END", "UNAVAILABLE", "failed to load"), False),  # a failed load is also HTTP 200
        (None, False),  # 404: version unknown
    ],
    ids=["available", "loading", "failed", "unknown"],
)
def test_the_readiness_probe_passes_only_once_the_version_is_available(answer, ready):
    server = _status_server({} if answer is None else {"/v1/models/digits/versions/3": answer})
    command = readiness_command("digits", 3)
    command[-1] = command[-1].replace(f"/{REST_PORT} ", f"/{server.server_port} ")
    try:
        result = subprocess.run(command, capture_output=True, timeout=20)
    finally:
        server.shutdown()
    assert (result.returncode == 0) is ready, result.stderr


def test_the_readiness_probe_fails_when_nothing_listens():
    command = readiness_command("digits", 3)
    command[-1] = command[-1].replace(f"/{REST_PORT} ", "/1 ")
    assert subprocess.run(command, capture_output=True, timeout=20).returncode != 0


def test_the_image_is_the_tensorflow_release_the_package_exports_with():
    tag = TF_SERVING_IMAGE.split(":")[1]
    assert tag.split(".")[:2] == installed_version("tensorflow").split(".")[:2]
    compose = yaml.safe_load((ROOT / "serving" / "docker-compose.yml").read_text())
    assert compose["x-serving"]["image"] == TF_SERVING_IMAGE


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"name": "Digits"}, "name"),
        ({"name": "9digits"}, "name"),
        ({"cpu": "0"}, "cpu"),
        ({"cpu": "two"}, "cpu"),
        ({"memory": "4GB"}, "memory"),
        ({"replicas": 0}, "replicas"),
        ({"replicas": 2, "min_replicas": 3}, "min_replicas"),
        ({"replicas": 4, "max_replicas": 3}, "max_replicas"),
        ({"target_cpu_utilization": 0}, "target_cpu_utilization"),
        ({"target_cpu_utilization": 101}, "target_cpu_utilization"),
        ({"model_volume": "nfs:/exports"}, "model_volume"),
        ({"model_volume": "pvc:"}, "model_volume"),
        ({"model_volume": "pvc:Bad_Claim"}, "model_volume"),
        ({"storage_secret": "creds"}, "storage_secret"),
        ({"version": 2}, "version"),
        ({"image": ""}, "image"),
    ],
)
def test_a_bad_argument_is_named(base, options, argument):
    with pytest.raises(ValueError, match=f"`{argument}` must be"):
        kubernetes_manifests(base, **options)


def test_a_folder_without_versions_is_refused(tmp_path):
    with pytest.raises(ValueError, match="`base_path` must be"):
        kubernetes_manifests(tmp_path)


def test_out_is_replaced_whole_and_never_over_other_files(base, tmp_path):
    out = tmp_path / "k8s"
    write_kubernetes(base, out)
    (out / "old.yaml").write_text("kind: Old\n")
    write_kubernetes(base, out, replicas=4)
    assert not (out / "old.yaml").exists()
    assert yaml.safe_load((out / "deployment.yaml").read_text())["spec"]["replicas"] == 4
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="`out` must be"):
        write_kubernetes(base, out)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "k8s"]  # no temporary left


def test_the_cli_writes_the_manifests_and_reports_bad_input_in_one_line(base, tmp_path, capsys):
    out = tmp_path / "k8s"
    assert main(["deploy", "kubernetes", str(base), "--out", str(out), "--replicas", "3", "--cpu", "4"]) == 0
    assert "deployment.yaml" in capsys.readouterr().out
    assert yaml.safe_load((out / "deployment.yaml").read_text())["spec"]["replicas"] == 3
    assert main(["deploy", "kubernetes", str(base), "--out", str(out), "--memory", "lots"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "`memory` must be" in err
