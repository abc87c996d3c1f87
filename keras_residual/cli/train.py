"""``keras-residual train``: train a ResNet preset on digits, an image folder or TFRecords."""

from __future__ import annotations

import argparse

from keras_residual import precision
from keras_residual.cli._runtime import CLIError, check_input_file, check_output_dir
from keras_residual.weights.registry import is_weights_name

WEIGHTS_HELP = (
    "pretrained weights for the preset: 'imagenet' (its best published set) or a weights name from "
    "`keras-residual weights list` (downloaded once, hash-checked; backbone from the weights, a fresh "
    "head for the data's classes, the weights' pixel normalization), or a local file: a torchvision/timm "
    "checkpoint (.pth, .pt, .bin read with torch; .safetensors) or a Keras .weights.h5 file"
)


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except ``None`` ones, whose help text already says what happens."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def register(subparsers) -> None:
    """Add the ``train`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "train",
        help="Train a ResNet (default: resnet20_cifar on the embedded digits dataset).",
        description=(
            "Train a ResNet preset and write OUT/model.keras (best checkpoint), class_names.json, "
            "metrics.json, history.csv, config.json and TensorBoard logs under OUT/logs. Running the "
            "same command again resumes an interrupted run from its last completed epoch."
        ),
        formatter_class=_DefaultsFormatter,
    )
    parser.add_argument("--preset", default="resnet20_cifar", help="ResNet preset name")
    parser.add_argument(
        "--data",
        default="digits",
        help="'digits' (embedded), 'synthetic', an image folder (one sub-folder per class) or TFRecord files",
    )
    parser.add_argument("--epochs", type=int, default=6, help="total number of epochs")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=precision.TRAINING_PRECISIONS,
        help="dtype policy; auto: mixed on GPUs/TPUs and AMX CPUs, float32 on other CPUs",
    )
    parser.add_argument("--out", default=None, help="run directory (default: runs/<preset>-<data>)")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    parser.add_argument(
        "--lr", type=float, default=None, help="peak learning rate (default: 0.4 * batch / 256)"
    )
    parser.add_argument(
        "--image-size", type=int, default=None, help="image height and width (default per dataset)"
    )
    parser.add_argument("--weights", default=None, metavar="NAME_OR_FILE", help=WEIGHTS_HELP)
    parser.add_argument(
        "--resume",
        nargs="?",
        const="yes",
        default="auto",
        choices=("auto", "yes", "no"),
        help="auto: resume an interrupted run with the same settings; --resume: must resume; no: start over",
    )
    parser.add_argument(
        "--strategy",
        default="auto",
        choices=("auto", "default", "mirrored", "multi_worker", "data_parallel"),
        help=(
            "distribution; mirrored and multi_worker (TF_CONFIG) run on TensorFlow, data_parallel "
            "(KERAS_DISTRIBUTION_*) on JAX; auto: multi_worker if TF_CONFIG lists several workers, "
            "mirrored on several GPUs (TensorFlow), data_parallel with several processes or devices (JAX)"
        ),
    )
    parser.add_argument("--xla", action="store_true", help="compile the train step with XLA (jit_compile)")
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adamw"), help="optimizer")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``train`` with the parsed arguments; print the validation accuracy."""
    from keras_residual.training.recipe import Recipe
    from keras_residual.training.trainer import default_out_dir, train

    out = args.out or default_out_dir(args.preset, args.data)
    check_output_dir(out, "--out")
    if args.weights is not None and not is_weights_name(args.weights):
        try:
            check_input_file(args.weights, "--weights")
        except CLIError as err:
            raise CLIError(f"{err} (--weights takes a weights name or a local checkpoint file: .pth, .pt, "
                           ".bin, .safetensors or .weights.h5)") from err
    # AdamW's usual ResNet settings (peak 1e-3 per 64 images, decoupled decay 0.05); SGD takes the defaults.
    recipe = (
        Recipe(optimizer="adamw", base_lr=4e-3, weight_decay=0.05) if args.optimizer == "adamw" else Recipe()
    )
    result = train(
        args.preset,
        args.data,
        out=out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        image_size=args.image_size,
        precision=args.precision,
        weights=args.weights,
        resume=args.resume,
        strategy=args.strategy,
        xla=args.xla,
        recipe=recipe,
        seed=args.seed,
    )
    metrics = result.metrics
    if result.status == "finished":
        print(f"{out} already holds this finished run (use --resume no to train again)")
    print(
        f"validation accuracy: {metrics['val_accuracy']:.4f} (val_loss {metrics['val_loss']:.4f}, "
        f"best epoch {metrics['best_epoch']}/{metrics['epochs']}, precision {metrics['precision']}, "
        f"{metrics['wall_time']:.1f} s training)"
    )
    print(f"model: {out}/model.keras")
    return 0
