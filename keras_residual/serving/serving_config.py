"""Read, check and update TF Serving text-proto configuration files.

``models.config`` (``ModelServerConfig``) is parsed with the ``tensorflow_serving.config`` protos
from tensorflow-serving-api. That package does not ship the ``MonitoringConfig`` and
``BatchingParameters`` messages, so this module declares the same messages (same package, names
and field numbers as ``tensorflow_serving/config/monitoring_config.proto`` and
``tensorflow_serving/servables/tensorflow/session_bundle_config.proto``) to check those files too.
"""

from __future__ import annotations

import os
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2

from keras_residual._atomic import write_text
from keras_residual._validation import check_choice, check_int, check_str

__all__ = ["parse_serving_config", "update_models_config"]

_KINDS = ("models", "batching", "monitoring")
_LABELS = ("stable", "canary")
_EXTRA_MESSAGES: dict[str, type] = {}


def _serving_protos():
    try:  # optional extra [serving]: the rest of export/ works without it
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as err:
        raise ImportError(
            "TF Serving config files need tensorflow-serving-api: pip install 'keras-residual[serving]'"
        ) from err
    return text_format, model_server_config_pb2


def _extra_message(name: str):
    """``MonitoringConfig`` or ``BatchingParameters``, declared from their upstream field lists."""
    if name in _EXTRA_MESSAGES:
        return _EXTRA_MESSAGES[name]
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="keras_residual/tf_serving_extra_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )

    def add(message, fname, number, ftype, type_name=None, repeated=False):
        message.field.add(
            name=fname,
            number=number,
            type=ftype,
            type_name=type_name,
            label=field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL,
        )

    prometheus = file.message_type.add(name="PrometheusConfig")
    add(prometheus, "enable", 1, field.TYPE_BOOL)
    add(prometheus, "path", 2, field.TYPE_STRING)
    monitoring = file.message_type.add(name="MonitoringConfig")
    add(monitoring, "prometheus_config", 1, field.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")
    batching = file.message_type.add(name="BatchingParameters")
    int64 = ".google.protobuf.Int64Value"
    for number, fname in enumerate(
        ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"), start=1
    ):
        add(batching, fname, number, field.TYPE_MESSAGE, int64)
    add(batching, "thread_pool_name", 5, field.TYPE_MESSAGE, ".google.protobuf.StringValue")
    add(batching, "allowed_batch_sizes", 6, field.TYPE_INT64, repeated=True)
    add(batching, "pad_variable_length_inputs", 7, field.TYPE_BOOL)

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    pool.Add(file)
    for message_name in ("MonitoringConfig", "BatchingParameters"):
        descriptor = pool.FindMessageTypeByName(f"tensorflow.serving.{message_name}")
        _EXTRA_MESSAGES[message_name] = message_factory.GetMessageClass(descriptor)
    return _EXTRA_MESSAGES[name]


def parse_serving_config(path: str | os.PathLike, kind: str):
    """Parse a TF Serving text-proto config file strictly (an unknown field or a typo raises).

    Args:
        path: The file.
        kind: ``"models"`` (``--model_config_file``, ``ModelServerConfig``), ``"batching"``
            (``--batching_parameters_file``, ``BatchingParameters``) or ``"monitoring"``
            (``--monitoring_config_file``, ``MonitoringConfig``).

    Returns:
        The parsed protobuf message.

    Raises:
        ValueError: For an unknown ``kind`` or a file that does not parse (the message says where).

    Example:
        ```python
        from pathlib import Path
        from keras_residual.serving.serving_config import parse_serving_config

        Path("monitoring.config").write_text('prometheus_config { enable: true path: "/metrics" }')
        assert parse_serving_config("monitoring.config", "monitoring").prometheus_config.enable
        ```
    """
    check_choice("kind", kind, _KINDS)
    text_format, model_server_config_pb2 = _serving_protos()
    if kind == "models":
        message = model_server_config_pb2.ModelServerConfig()
    else:
        message = _extra_message("MonitoringConfig" if kind == "monitoring" else "BatchingParameters")()
    try:
        text_format.Parse(Path(path).read_text(), message)
    except text_format.ParseError as err:
        raise ValueError(f"{path}: not a valid {type(message).__name__} text proto: {err}") from err
    return message


def update_models_config(
    path: str | os.PathLike,
    model_name: str,
    base_path: str,
    version: int,
    label: str | None = None,
) -> Path:
    """Add or update one model's entry in a TF Serving ``models.config`` file.

    The entry serves exactly its labelled versions (version policy ``specific``): the new
    ``version`` takes ``label`` and the other label keeps its version, so a canary can run beside
    the stable model and be promoted later by labelling it ``stable``. Other models' entries are
    kept. The file is created when missing and replaced atomically; comments are not preserved.

    Args:
        path: The ``models.config`` file.
        model_name: The model's name in TF Serving (the name clients ask for).
        base_path: The model's base directory as the server sees it (e.g. ``/models/digits``
            inside the container).
        version: The exported version to serve.
        label: ``"stable"`` or ``"canary"``; by default ``"canary"`` when the entry already has a
            stable version other than ``version``, ``"stable"`` otherwise.

    Returns:
        The path of the written file.

    Raises:
        ValueError: For an empty name, a bad version or label, or an existing file that does not
            parse.

    Example:
        ```python
        from keras_residual.serving.serving_config import update_models_config, parse_serving_config

        update_models_config("models.config", "digits", "/models/digits", 1)
        update_models_config("models.config", "digits", "/models/digits", 2)
        entry = parse_serving_config("models.config", "models").model_config_list.config[0]
        assert dict(entry.version_labels) == {"stable": 1, "canary": 2}
        ```
    """
    check_str("model_name", model_name)
    check_int("version", version, minimum=0)
    check_choice("label", label, (None, *_LABELS))
    check_str("base_path", base_path)
    text_format, model_server_config_pb2 = _serving_protos()
    path = Path(path)
    config = (
        parse_serving_config(path, "models") if path.exists() else model_server_config_pb2.ModelServerConfig()
    )
    if config.WhichOneof("config") == "custom_model_config":
        raise ValueError(f"{path}: uses custom_model_config; only model_config_list entries can be updated")
    entries = config.model_config_list.config
    entry = next((e for e in entries if e.name == model_name), None)
    if entry is None:
        entry = entries.add(name=model_name, model_platform="tensorflow")
    entry.base_path = base_path
    labels = dict(entry.version_labels)
    if label is None:
        label = "canary" if labels.get("stable", version) != version else "stable"
    labels[label] = version
    if labels.get("canary") == labels.get("stable"):
        labels.pop("canary")
    entry.version_labels.clear()
    entry.version_labels.update(labels)
    entry.model_version_policy.specific.versions[:] = sorted(set(labels.values()))

    text = text_format.MessageToString(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    return path
