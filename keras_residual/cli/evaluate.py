"""``keras-residual evaluate``: top-1 / top-5 accuracy of a model on an image folder, with the weights' transforms.

``MODEL_OR_PRESET`` is a ``.keras`` file or a preset name with ``--weights`` (``imagenet``, a weights
name, or a local checkpoint). Images are resized on their shorter side and center-cropped as the
weights' publisher evaluates them (``--resize``/``--crop`` override); the pixel normalization is the
model's own. FOLDER holds one sub-folder per class: sub-folders named after the model's classes
(``tench``, ... for ImageNet weights) are matched by name, otherwise the sorted sub-folders are
classes 0, 1, ... (the usual ImageNet-val layout of synset folders ``n01440764``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from keras_residual.cli._runtime import CLIError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def register(subparsers) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="Top-1/top-5 accuracy on an image folder, with the weights' own transforms.",
        description=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("model", metavar="MODEL_OR_PRESET", help="a .keras file, or a preset name with --weights")
    parser.add_argument("--weights", default=None, help="for a preset: 'imagenet', a weights name or a local file")
    parser.add_argument("--data", required=True, metavar="FOLDER", help="image folder, one sub-folder per class")
    parser.add_argument("--resize", type=int, default=None, help="shorter-side resize (default: the weights')")
    parser.add_argument("--crop", type=int, default=None, help="center crop size (default: the weights')")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def _model_and_transforms(args):
    """``(model, Transforms, class names or None)`` for MODEL_OR_PRESET and --weights."""
    from keras_residual.cli._runtime import load_keras_model
    from keras_residual.weights import Transforms, is_weights_name

    if args.model.endswith(".keras") or os.path.isfile(args.model):
        if args.weights is not None:
            raise CLIError("--weights goes with a preset name, not a .keras file (its weights are inside it)")
        model = load_keras_model(args.model)
        names_file = Path(args.model).parent / "class_names.json"
        names = json.loads(names_file.read_text()) if names_file.is_file() else None
        crop = args.crop or (model.input_shape[1] if model.input_shape[1] else None)
        if crop is None:
            raise CLIError(f"MODEL {args.model!r} takes any image size: give --crop (and --resize)")
        return model, Transforms(resize=args.resize or round(crop / 0.875), crop=crop, mode="unit"), names
    if args.weights is None:
        raise CLIError(f"MODEL_OR_PRESET {args.model!r} is a preset: give --weights (e.g. --weights imagenet)")
    from keras_residual.models import ResNet

    if is_weights_name(args.weights):
        model = ResNet.from_preset(args.model, weights=args.weights)
        entry = getattr(model, "pretrained_weights", None)
        transforms, names = entry.transforms, entry.class_names
    else:
        model = ResNet.from_preset(args.model, weights=args.weights, preprocessing="imagenet")
        transforms, names = Transforms(), None
    overrides = {key: getattr(args, key) for key in ("resize", "crop") if getattr(args, key) is not None}
    return model, Transforms(**{**transforms.as_dict(), **overrides}), names


def _labelled_files(folder: str, class_names, num_classes: int) -> list[tuple[Path, int]]:
    """Every image under FOLDER with its class index (by name when the folders are class names)."""
    root = Path(folder)
    if not root.is_dir():
        raise CLIError(f"--data {folder!r}: not a directory")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if class_names is not None and classes and set(classes) <= set(class_names):
        index = {name: class_names.index(name) for name in classes}
    elif len(classes) == num_classes:
        index = {name: i for i, name in enumerate(classes)}
    else:
        raise CLIError(
            f"--data {folder!r}: {len(classes)} class folders, neither named after the model's classes nor "
            f"one per class ({num_classes})"
        )
    files = [
        (path, index[name])
        for name in classes
        for path in sorted((root / name).rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise CLIError(f"--data {folder!r}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def evaluate_files(model, files, transforms, batch_size: int) -> dict:
    """Top-1 and top-5 accuracy of ``model`` on ``[(path, label), ...]`` read with ``transforms``."""
    import numpy as np

    from keras_residual.weights.transforms import load_images

    top1 = top5 = 0
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        scores = np.asarray(model.predict(load_images([p for p, _ in chunk], transforms), verbose=0))
        labels = np.array([label for _, label in chunk])
        ranked = np.argsort(-scores, axis=1)[:, :5]
        top1 += int((ranked[:, 0] == labels).sum())
        top5 += int((ranked == labels[:, None]).any(axis=1).sum())
    return {"images": len(files), "top1": top1 / len(files), "top5": top5 / len(files)}


def run(args: argparse.Namespace) -> int:
    """Run ``keras-residual evaluate``; print top-1 and top-5."""
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be a positive integer; received --batch-size {args.batch_size}")
    model, transforms, names = _model_and_transforms(args)
    files = _labelled_files(args.data, list(names) if names is not None else None, int(model.output_shape[-1]))
    result = evaluate_files(model, files, transforms, args.batch_size)
    result.update(model=args.model, weights=args.weights, data=args.data, transforms=transforms.as_dict())
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(
            f"top-1 {100 * result['top1']:.2f}%  top-5 {100 * result['top5']:.2f}%  on {result['images']} images "
            f"(resize {transforms.resize}, crop {transforms.crop}, {transforms.interpolation}, {transforms.mode})"
        )
    return 0
