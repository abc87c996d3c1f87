"""torchvision's ResNet ``Weights`` enums and ImageNet categories, read from its source with ``ast``.

torchvision cannot be imported beside the torch in .venv (its compiled ops need the torch it was built
for) and must not be installed there, so the tests read the facts from the files of a torchvision
wheel instead: ``pip download torchvision==VERSION --no-deps`` into a cache directory, then
``torchvision/models/resnet.py`` and ``torchvision/models/_meta.py`` are parsed (never executed).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

TORCHVISION_VERSION = "0.29.1"
"""The torchvision release whose enums the registry is compared with."""

CACHE = Path(os.environ.get("KERAS_RESIDUAL_TEST_WHEELS", Path.home() / ".cache" / "keras-residual-test-wheels"))

# Our preset name for each torchvision enum class that the registry must cover.
ENUM_PRESETS = {
    "ResNet18_Weights": "resnet18",
    "ResNet34_Weights": "resnet34",
    "ResNet50_Weights": "resnet50",
    "ResNet101_Weights": "resnet101",
    "ResNet152_Weights": "resnet152",
    "ResNeXt50_32X4D_Weights": "resnext50_32x4d",
    "ResNeXt101_32X8D_Weights": "resnext101_32x8d",
    "Wide_ResNet50_2_Weights": "wide_resnet50_2",
}


def wheel_sources(version: str = TORCHVISION_VERSION) -> tuple[str, str]:
    """``(resnet.py, _meta.py)`` source text of torchvision ``version``, downloading its wheel once.

    Raises:
        RuntimeError: pip could not download the wheel (the message holds pip's last line).
    """
    folder = CACHE / f"torchvision-{version}"
    wheels = sorted(folder.glob("torchvision-*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"torchvision=={version}", "--no-deps", "-q", "-d", str(folder)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        wheels = sorted(folder.glob("torchvision-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"pip download torchvision=={version} failed: {last[0]}")
    with zipfile.ZipFile(wheels[0]) as archive:
        return (
            archive.read("torchvision/models/resnet.py").decode("utf-8"),
            archive.read("torchvision/models/_meta.py").decode("utf-8"),
        )


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _constant_dict(node: ast.Dict) -> dict:
    """The constant entries of a dict literal (``**spread`` entries and non-constants are skipped)."""
    out = {}
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:
            continue
        if isinstance(value, ast.Dict):
            out[key.value] = _constant_dict(value)
        elif isinstance(value, ast.Constant):
            out[key.value] = value.value
    return out


def _transforms(call: ast.Call) -> dict:
    """``crop_size`` / ``resize_size`` of ``partial(ImageClassification, ...)`` (torchvision's defaults filled in)."""
    out = {"crop_size": None, "resize_size": 256}
    for keyword in call.keywords:
        if keyword.arg in out and isinstance(keyword.value, ast.Constant):
            out[keyword.arg] = keyword.value.value
    return out


def weights_enums(resnet_source: str) -> dict[str, dict[str, dict]]:
    """``{enum class: {member: {url, acc1, acc5, num_params, crop_size, resize_size}}}`` of every ``Weights`` enum."""
    enums = {}
    for node in ast.parse(resnet_source).body:
        if not (isinstance(node, ast.ClassDef) and node.name.endswith("_Weights")):
            continue
        members = {}
        for statement in node.body:
            if not (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call)):
                continue
            call = statement.value
            meta = _constant_dict(_keyword(call, "meta"))
            metrics = meta["_metrics"]["ImageNet-1K"]
            members[statement.targets[0].id] = {
                "url": _keyword(call, "url").value,
                "acc1": metrics["acc@1"],
                "acc5": metrics["acc@5"],
                "num_params": meta["num_params"],
                "file_size_mb": meta["_file_size"],
                **_transforms(_keyword(call, "transforms")),
            }
        enums[node.name] = members
    return enums


def imagenet_categories(meta_source: str) -> list[str]:
    """torchvision's ``_IMAGENET_CATEGORIES`` list."""
    for node in ast.parse(meta_source).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "_IMAGENET_CATEGORIES":
            return [element.value for element in node.value.elts]
    raise ValueError("_IMAGENET_CATEGORIES not found in torchvision/models/_meta.py")
