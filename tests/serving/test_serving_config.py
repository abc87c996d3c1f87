"""serving/ deployment files parse with the TF Serving protos, and models.config updates stay valid."""

import re
from pathlib import Path

import pytest
import tensorflow as tf
import yaml

from keras_residual.export.saved_model import WARMUP_BATCH
from keras_residual.serving.serving_config import parse_serving_config, update_models_config

SERVING = Path(__file__).resolve().parents[2] / "serving"


def test_models_config_parses_with_stable_and_canary_labels():
    config = parse_serving_config(SERVING / "models.config", "models")
    entries = config.model_config_list.config
    assert entries, "models.config lists no model"
    for entry in entries:
        assert entry.model_platform == "tensorflow"
        assert entry.base_path.startswith("/models/")
        labels = dict(entry.version_labels)
        assert set(labels) == {"stable", "canary"}
        assert sorted(labels.values()) == list(entry.model_version_policy.specific.versions)


def test_batching_parameters_parse_and_are_consistent():
    params = parse_serving_config(SERVING / "batching_parameters.txt", "batching")
    sizes = list(params.allowed_batch_sizes)
    assert sizes == sorted(sizes) and sizes[-1] == params.max_batch_size.value  # TF Serving requires both
    assert WARMUP_BATCH in sizes  # warmup requests hit a real batch shape
    assert params.batch_timeout_micros.value > 0 and params.num_batch_threads.value >= 1


def test_monitoring_config_enables_prometheus():
    monitoring = parse_serving_config(SERVING / "monitoring.config", "monitoring")
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path.startswith("/")


def test_docker_compose_wires_every_config_file():
    compose = yaml.safe_load((SERVING / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"serving", "serving-gpu"}
    tf_version = ".".join(tf.__version__.split(".")[:2])
    cpu, gpu = services["serving"], services["serving-gpu"]
    assert re.fullmatch(rf"tensorflow/serving:{re.escape(tf_version)}\.\d+", cpu["image"])
    assert gpu["image"] == cpu["image"] + "-gpu"
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    for service in (cpu, gpu):
        flags = dict(arg.lstrip("-").split("=", 1) for arg in service["command"])
        assert (flags["port"], flags["rest_api_port"]) == ("8500", "8501")
        assert {"8500:8500", "8501:8501"} <= set(service["ports"])
        assert flags["enable_batching"] == flags["enable_model_warmup"] == "true"
        mounts = {container: host for host, container, _mode in (v.split(":") for v in service["volumes"])}
        assert all(v.endswith(":ro") for v in service["volumes"])
        for key in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
            container_dir, name = flags[key].rsplit("/", 1)
            assert mounts[container_dir] == "./" and (SERVING / name).is_file(), key
        assert mounts["/models"] == "../exports"


def test_a_typo_is_an_error(tmp_path):
    bad = tmp_path / "models.config"
    bad.write_text((SERVING / "models.config").read_text().replace("base_path", "basepath"))
    with pytest.raises(ValueError, match='no field named "basepath"'):
        parse_serving_config(bad, "models")
    with pytest.raises(ValueError, match="`kind` must be one of"):
        parse_serving_config(bad, "logging")


def test_update_models_config_creates_labels_and_promotes(tmp_path):
    path = tmp_path / "conf" / "models.config"
    update_models_config(path, "digits", "/models/digits", 1)
    update_models_config(path, "other", "/models/other", 3)
    update_models_config(path, "digits", "/models/digits", 2)

    def labels(name):
        config = parse_serving_config(path, "models")
        entry = next(e for e in config.model_config_list.config if e.name == name)
        return dict(entry.version_labels), list(entry.model_version_policy.specific.versions)

    assert labels("digits") == ({"stable": 1, "canary": 2}, [1, 2])
    assert labels("other") == ({"stable": 3}, [3])
    update_models_config(path, "digits", "/models/digits", 2, label="stable")  # promote the canary
    assert labels("digits") == ({"stable": 2}, [2])
    update_models_config(path, "digits", "/models/digits", 3, label="canary")
    assert labels("digits") == ({"stable": 2, "canary": 3}, [2, 3])
    assert [p.name for p in path.parent.iterdir()] == ["models.config"]  # no temporary left


def test_update_models_config_rejects_bad_arguments(tmp_path):
    path = tmp_path / "models.config"
    with pytest.raises(ValueError, match="`label` must be one of"):
        update_models_config(path, "digits", "/models/digits", 1, label="beta")
    with pytest.raises(ValueError, match="`version` must be an integer >= 0"):
        update_models_config(path, "digits", "/models/digits", -2)
    with pytest.raises(ValueError, match="`model_name` must be a non-empty string"):
        update_models_config(path, "", "/models/digits", 1)
    path.write_text("model_config_list { config { nam: 'x' } }")
    with pytest.raises(ValueError, match="not a valid ModelServerConfig"):
        update_models_config(path, "digits", "/models/digits", 1)
    assert not list(tmp_path.glob(".models.config*"))
