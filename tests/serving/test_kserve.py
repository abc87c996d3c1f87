"""`keras-residual deploy kserve`: the InferenceService validates against KServe's own CRD schema.

The schema is KServe v0.20.0's ``openAPIV3Schema`` for ``serving.kserve.io/v1beta1``
(``kserve_inferenceservice_v1beta1.schema.json`` beside this file: its ``$comment`` names the source,
commit and license). It is checked strictly, as the API server's strict field validation does: an
object with listed properties takes no others unless the schema preserves unknown fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from keras_residual.cli import main
from keras_residual.serving.kserve import kserve_manifest, write_kserve
from keras_residual.serving.manifests import TF_SERVING_VERSION

SCHEMA_FILE = Path(__file__).with_name("kserve_inferenceservice_v1beta1.schema.json")


def _strict(schema):
    """The schema with ``additionalProperties: false`` wherever Kubernetes would reject unknown fields."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def validator():
    schema = _strict(json.loads(SCHEMA_FILE.read_text()))
    return jsonschema.Draft7Validator(schema)


@pytest.fixture
def exports(tmp_path) -> dict[str, Path]:
    """The layouts of the three export kinds (all the writer reads of them)."""
    saved = tmp_path / "digits"
    (saved / "1").mkdir(parents=True)
    (saved / "1" / "saved_model.pb").write_bytes(b"")
    onnx = tmp_path / "digits-onnx" / "digits" / "1"
    onnx.mkdir(parents=True)
    (onnx / "model.onnx").write_bytes(b"")
    ov = tmp_path / "digits-ov"
    ov.mkdir()
    (ov / "model.xml").write_text("<net/>")
    (ov / "model.bin").write_bytes(b"")
    return {"tensorflow": saved, "onnx": tmp_path / "digits-onnx", "openvino": ov}


def test_a_savedmodel_is_served_by_the_tensorflow_runtime_from_the_uri(exports, tmp_path, validator):
    path = write_kserve(exports["tensorflow"], "s3://b/m", tmp_path / "out")
    service = yaml.safe_load(path.read_text())
    validator.validate(service)
    assert (service["apiVersion"], service["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    model = service["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "tensorflow"}
    assert model["storageUri"] == "s3://b/m"
    assert model["runtimeVersion"] == TF_SERVING_VERSION  # KServe's runtime image is older
    assert service["metadata"]["name"] == "digits"


@pytest.mark.parametrize(
    ("kind", "protocol"), [("onnx", "v2"), ("openvino", "v2")]
)
def test_onnx_and_openvino_exports_name_their_format(exports, validator, kind, protocol):
    service = kserve_manifest(exports[kind], "gs://bucket/models", name="digits")
    validator.validate(service)
    model = service["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": kind}
    assert model["protocolVersion"] == protocol and "runtimeVersion" not in model


def test_knative_scaling_on_concurrency_validates(exports, validator):
    service = kserve_manifest(
        exports["tensorflow"], "s3://b/m", deployment_mode="Knative", scale_metric="concurrency",
        scale_target=8, min_replicas=0, max_replicas=10,
    )
    validator.validate(service)
    predictor = service["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"], predictor["scaleMetric"]) == (0, 10, "concurrency")


def test_the_schema_check_can_fail(exports, validator):
    service = kserve_manifest(exports["tensorflow"], "s3://b/m")
    service["spec"]["predictor"]["model"]["storageURI"] = "s3://b/m"  # a misspelled field
    assert list(validator.iter_errors(service))
    service = kserve_manifest(exports["tensorflow"], "s3://b/m")
    service["spec"]["predictor"]["scaleMetric"] = "gpu"  # not in KServe's enum
    assert list(validator.iter_errors(service))


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"storage_uri": "bucket/m"}, "storage_uri"),
        ({"storage_uri": "s3://"}, "storage_uri"),
        ({"scale_metric": "gpu"}, "scale_metric"),
        ({"scale_metric": "concurrency"}, "scale_metric"),  # Knative's metric in Standard mode
        ({"deployment_mode": "Serverless"}, "deployment_mode"),
        ({"min_replicas": 0}, "min_replicas"),  # scale to zero needs Knative
        ({"min_replicas": 3, "max_replicas": 2}, "max_replicas"),
        ({"cpu": "-1"}, "cpu"),
        ({"name": "my_model"}, "name"),
    ],
)
def test_a_bad_argument_is_named(exports, options, argument):
    options = {"storage_uri": "s3://b/m", **options}
    with pytest.raises(ValueError, match=f"`{argument}` must be"):
        kserve_manifest(exports["tensorflow"], options.pop("storage_uri"), **options)


def test_a_folder_that_is_no_export_is_named(tmp_path):
    with pytest.raises(ValueError, match="`base_path` must be an export"):
        kserve_manifest(tmp_path, "s3://b/m")


def test_the_cli_writes_the_service(exports, tmp_path, capsys):
    out = tmp_path / "kserve"
    code = main(["deploy", "kserve", str(exports["tensorflow"]), "--storage-uri", "s3://b/m", "--out", str(out)])
    assert code == 0 and "inferenceservice.yaml" in capsys.readouterr().out
    service = yaml.safe_load((out / "inferenceservice.yaml").read_text())
    assert service["spec"]["predictor"]["model"]["storageUri"] == "s3://b/m"
    assert main(["deploy", "kserve", str(exports["tensorflow"]), "--storage-uri", "b", "--out", str(out)]) == 2
    assert "`storage_uri` must be" in capsys.readouterr().err
