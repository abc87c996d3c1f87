"""What the Kubernetes and KServe writers share: names, resource quantities, the export's format, YAML files.

Nothing here talks to a cluster: the writers build plain dictionaries (the objects ``kubectl apply``
sends), check their own arguments with the package's message style, and publish the YAML files of
one deployment together (a folder appears whole, or not at all).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from keras_residual._atomic import publish_dir, staging_dir
from keras_residual._validation import fail

DEPLOY_EXTRA = "pip install 'keras-residual[deploy]'"
"""What to install for ``keras-residual deploy`` (PyYAML and TF Serving's config protos)."""

TF_SERVING_VERSION = "2.21.0"
"""The TF Serving release the manifests run: the same release as the TensorFlow the package exports
with (TF Serving is built from that TensorFlow; an older server refuses ops or attributes newer than
itself with "Op type not registered")."""

TF_SERVING_IMAGE = f"tensorflow/serving:{TF_SERVING_VERSION}"
"""The pinned CPU image (the ``-gpu`` tag is the GPU build of the same release)."""

GRPC_PORT = 8500
REST_PORT = 8501
MONITORING_PATH = "/monitoring/prometheus/metrics"

_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_OBJECT = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_CPU = re.compile(r"([0-9]+m|[0-9]+(\.[0-9]+)?)")
_MEMORY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?")
MAX_NAME = 54  # "<name>-headless" must stay a 63-character DNS label


def check_name(name: object) -> str:
    """A Kubernetes object name the writers can suffix: a lower-case DNS label starting with a letter."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.fullmatch(name):
        fail("name", f"lower-case letters, digits and '-', starting with a letter, at most {MAX_NAME} characters", name)
    return name


def check_object_name(argument: str, value: object) -> str:
    """A claim or secret name: a DNS subdomain (lower-case letters, digits, '-' and '.')."""
    if not isinstance(value, str) or len(value) > 253 or not _OBJECT.fullmatch(value):
        fail(argument, "a Kubernetes object name (lower-case letters, digits, '-' and '.')", value)
    return value


def check_quantity(name: str, value: object, kind: str) -> str:
    """A Kubernetes resource quantity: ``kind`` ``"cpu"`` (``"2"``, ``"500m"``) or ``"memory"`` (``"4Gi"``)."""
    pattern, example = (_CPU, "'2' or '500m'") if kind == "cpu" else (_MEMORY, "'4Gi' or '512Mi'")
    if not isinstance(value, str) or not pattern.fullmatch(value) or float(re.sub(r"[^0-9.]", "", value)) == 0:
        fail(name, f"a positive Kubernetes {kind} quantity such as {example}", value)
    return value


def model_name_of(base_path: str | os.PathLike, name: str | None) -> str:
    """``name``, or the export's folder name made a valid object name (``exports/digits`` -> ``digits``)."""
    if name is not None:
        return check_name(name)
    guess = re.sub(r"[^a-z0-9-]+", "-", Path(base_path).resolve().name.lower()).strip("-")
    if not guess or not guess[0].isalpha():
        fail("name", "given: the export's folder name is not a valid object name", name)
    return check_name(guess[:MAX_NAME].rstrip("-"))


def export_format(base_path: str | os.PathLike) -> str:
    """What ``base_path`` holds: ``"tensorflow"`` (a SavedModel or a TF Serving base path with integer
    versions), ``"onnx"`` (``*.onnx``, also in a Triton repository) or ``"openvino"`` (``*.xml`` + ``.bin``).

    Raises:
        ValueError: none of them (the message names ``base_path``).
    """
    path = Path(base_path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
    else:
        files = []
    names = {p.name for p in files}
    suffixes = {p.suffix for p in files}
    if "saved_model.pb" in names:
        return "tensorflow"
    if ".onnx" in suffixes:
        return "onnx"
    if ".xml" in suffixes and ".bin" in suffixes:
        return "openvino"
    fail("base_path", "an export: a SavedModel / TF Serving base path, an ONNX file or an OpenVINO IR", str(base_path))
    raise AssertionError  # unreachable: fail raises


def to_yaml(documents: list[dict]) -> str:
    """The YAML text of one or more Kubernetes objects (``---`` between them), keys in the given order."""
    try:
        import yaml
    except ImportError as err:
        raise ImportError(f"writing Kubernetes manifests needs PyYAML: {DEPLOY_EXTRA}") from err
    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data) -> bool:  # shared sub-objects written out in full, no &anchors
            return True

    def text_block(dumper: yaml.SafeDumper, text: str):  # config files as readable `|` blocks
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)

    _Dumper.add_representer(str, text_block)

    return "---\n".join(
        yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120) for doc in documents
    )


def publish_manifests(out: str | os.PathLike, files: dict[str, str]) -> list[Path]:
    """Write ``files`` (name -> text) as the folder ``out``, atomically; return the written paths.

    An existing ``out`` is replaced only if it holds nothing but YAML files (an earlier run's output);
    anything else there raises ValueError, so a mistyped ``--out`` cannot delete unrelated work.
    """
    out = Path(out)
    if out.exists():
        strangers = [p.name for p in out.iterdir()] if out.is_dir() else [out.name]
        strangers = [n for n in strangers if not n.endswith(".yaml") or not out.is_dir()]
        if strangers:
            fail("out", "a new folder or one holding only manifests written before", f"{out} (holds {sorted(strangers)[:3]})")
    out.parent.mkdir(parents=True, exist_ok=True)
    with staging_dir(out) as staging:
        for file_name, text in files.items():
            (staging / file_name).write_text(text)
        publish_dir(staging, out, overwrite=True)
    return [out / file_name for file_name in files]
