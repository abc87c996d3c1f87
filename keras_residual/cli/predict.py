"""``keras-residual predict`` and ``keras-residual serving-status``: call a model TF Serving serves.

Both speak gRPC to ``--target HOST:PORT`` and TF Serving's REST API to ``--target http(s)://HOST:PORT``,
and need only the client install (``pip install 'keras-residual[client]'``, no TensorFlow).

``predict`` sends image files (JPEG, PNG, GIF, BMP bytes) to the export's ``serving_bytes``
signature and prints the top-k labels and scores per image, as a table or as JSON.
``serving-status`` prints the state of each model version and the signatures it serves.

Exit codes: 0 success, 1 the call failed (unreachable server, unknown model or signature,
deadline; the gRPC code and message are printed), 2 a usage error: a bad option, a missing file,
or input the model rejects (INVALID_ARGUMENT, caught by the client or answered by the server).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from keras_residual import contract


def _add_connection_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--target",
        required=required,
        help="HOST:PORT for gRPC (TF Serving: 8500), or http(s)://HOST:PORT for REST (TF Serving: 8501).",
    )
    parser.add_argument("--model", required=required, help="Model name the server was started with.")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--version", type=int, default=None, help="Ask for this version (default: newest).")
    choice.add_argument("--version-label", default=None, help="Ask for a labelled version (e.g. stable).")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="Deadline of each call in seconds (default 10)."
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=3,
        help="Retries on UNAVAILABLE (REST: 503 or refused connection), 0..4, with exponential backoff (default 3).",
    )
    parser.add_argument(
        "--max-message-mb", type=float, default=64.0, help="Largest request/response in MiB (default 64)."
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="Use TLS on gRPC (system root certificates unless --ca-cert); REST uses TLS for https:// targets.",
    )
    parser.add_argument(
        "--ca-cert", default=None, metavar="PEM", help="CA certificate for TLS (implies --tls)."
    )
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")


def register(subparsers: Any) -> None:
    """Add the ``predict`` and ``serving-status`` commands to the ``keras-residual`` parser."""
    predict = subparsers.add_parser(
        "predict",
        help="Classify image files with a model served by TF Serving, or locally with pretrained weights.",
        description=(
            "Send image files to a served model's string signature (--target, --model) and print top-k "
            "labels and scores; or, with --preset and --weights, run the model here (e.g. --preset resnet50 "
            "--weights imagenet: the top-5 ImageNet labels, images prepared with the weights' transforms)."
        ),
    )
    _add_connection_args(predict, required=False)
    local = predict.add_argument_group("local model (instead of --target/--model)")
    local.add_argument("--preset", default=None, help="Run this preset here (needs --weights).")
    local.add_argument("--weights", default=None, help="'imagenet' or a weights name (keras-residual weights list).")
    local.add_argument("--top-k", type=int, default=5, help="Labels per image in local mode (default 5).")
    predict.add_argument(
        "--signature",
        default=contract.SIGNATURE_BYTES,
        help=f"Signature taking encoded images (default {contract.SIGNATURE_BYTES}).",
    )
    predict.add_argument("--batch", type=int, default=32, help="Images per request (default 32).")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG/PNG/GIF/BMP files.")
    predict.set_defaults(func=run)

    status = subparsers.add_parser(
        "serving-status",
        help="Show the versions and signatures of a model served by TF Serving.",
        description="Ask GetModelStatus and GetModelMetadata, print version states and signatures.",
    )
    _add_connection_args(status)
    status.set_defaults(func=run_status)


def _credentials(args: argparse.Namespace) -> Any:
    """TLS for the target: gRPC channel credentials, or an ``ssl.SSLContext`` for an https URL."""
    from keras_residual.client.serving_client import REST_SCHEMES

    rest = args.target.startswith(REST_SCHEMES)
    https = args.target.startswith("https://")
    if rest and args.tls and not https:
        raise ValueError(f"--tls with a REST target needs an https:// URL; received --target {args.target!r}")
    if not (args.tls or args.ca_cert or https):
        return None
    root = None
    if args.ca_cert:
        try:
            with open(args.ca_cert, "rb") as handle:
                root = handle.read()
        except OSError as err:
            raise ValueError(f"--ca-cert {args.ca_cert!r} cannot be read: {err.strerror}") from None
    if rest:
        if not https:
            raise ValueError(f"--ca-cert with a REST target needs an https:// URL; received --target {args.target!r}")
        import ssl

        return ssl.create_default_context(cadata=root.decode("ascii") if root else None)
    import grpc

    return grpc.ssl_channel_credentials(root_certificates=root)


def _client(args: argparse.Namespace, **extra: Any):
    from keras_residual.client import ServingClient

    credentials = _credentials(args)
    if args.max_message_mb <= 0:
        raise ValueError(f"--max-message-mb must be positive; received --max-message-mb {args.max_message_mb}")
    return ServingClient(
        args.target,
        args.model,
        version=args.version,
        version_label=args.version_label,
        timeout=args.timeout,
        retries=args.retries,
        max_message_bytes=int(args.max_message_mb * 1024 * 1024),
        credentials=credentials,
        **extra,
    )


def _fail(command: str, err: Exception) -> int:
    print(f"keras-residual {command}: error: {err}", file=sys.stderr)
    return 1


def _rows(images: list[str], outputs: dict) -> list[dict]:
    """One record per image: its top-k (index, label, score) or, without top-k outputs, all outputs."""
    records = []
    for i, image in enumerate(images):
        if contract.OUTPUT_TOP_K_INDICES in outputs and contract.OUTPUT_TOP_K_SCORES in outputs:
            labels = outputs.get(contract.OUTPUT_TOP_K_LABELS)
            top = [
                {
                    "rank": rank + 1,
                    "index": int(index),
                    "label": str(labels[i][rank]) if labels is not None else str(int(index)),
                    "score": float(score),
                }
                for rank, (index, score) in enumerate(
                    zip(outputs[contract.OUTPUT_TOP_K_INDICES][i], outputs[contract.OUTPUT_TOP_K_SCORES][i], strict=True)
                )
            ]
            records.append({"image": image, "top_k": top})
        else:
            records.append({"image": image, "outputs": {k: v[i].tolist() for k, v in outputs.items()}})
    return records


def _local_outputs(args: argparse.Namespace) -> dict:
    """Top-k outputs (the served export's names) of a preset with named weights, run in this process."""
    if args.target or args.model:
        raise ValueError("--preset runs a local model: leave out --target and --model")
    if args.weights is None:
        raise ValueError("--preset needs --weights ('imagenet' or a name from `keras-residual weights list`)")
    if args.top_k < 1:
        raise ValueError(f"--top-k must be a positive integer; received --top-k {args.top_k}")
    from keras_residual.cli._runtime import start_tensorflow

    start_tensorflow(verbose=getattr(args, "verbose", False))
    import numpy as np

    from keras_residual.models import ResNet
    from keras_residual.weights import get_weights
    from keras_residual.weights.transforms import load_images

    entry = get_weights(args.weights, args.preset)  # a bad name fails before any image is read
    model = ResNet.from_preset(args.preset, weights=entry.qualified_name)
    names = entry.class_names or [str(i) for i in range(entry.num_classes)]
    scores = np.asarray(model.predict(load_images(args.images, entry.transforms), batch_size=args.batch, verbose=0))
    top = np.argsort(-scores, axis=1)[:, : min(args.top_k, scores.shape[1])]
    return {
        contract.OUTPUT_TOP_K_INDICES: top,
        contract.OUTPUT_TOP_K_SCORES: np.take_along_axis(scores, top, axis=1),
        contract.OUTPUT_TOP_K_LABELS: [[names[i] for i in row] for row in top],
    }


def run(args: argparse.Namespace) -> int:
    """Run ``keras-residual predict``; returns the exit code."""
    from keras_residual.client import ServingError

    if args.batch < 1:
        raise ValueError(f"--batch must be a positive integer; received --batch {args.batch}")
    if args.preset is not None:
        outputs = _local_outputs(args)
    elif not (args.target and args.model):
        raise ValueError("give --target and --model (a served model), or --preset and --weights (a local model)")
    else:
        try:
            with _client(args, max_batch=args.batch) as client:
                outputs = client.predict_encoded(args.images, signature=args.signature)
        except ServingError as err:
            if isinstance(err, ValueError):  # input the signature does not take: a usage error
                raise
            return _fail("predict", err)
    records = _rows(list(args.images), outputs)
    if args.json:
        source = {"model": args.model, "signature": args.signature} if args.preset is None else {
            "preset": args.preset, "weights": args.weights}
        print(json.dumps({**source, "predictions": records}, indent=2))
        return 0
    if records and "top_k" in records[0]:
        width = max(len("image"), *(len(r["image"]) for r in records))
        label_width = max(len("label"), *(len(t["label"]) for r in records for t in r["top_k"]))
        print(f"{'image':<{width}}  rank  {'label':<{label_width}}  index  score")
        for record in records:
            for top in record["top_k"]:
                print(
                    f"{record['image']:<{width}}  {top['rank']:>4}  {top['label']:<{label_width}}  "
                    f"{top['index']:>5}  {top['score']:.4f}"
                )
    else:
        for record in records:
            shapes = ", ".join(
                f"{k}: {len(v) if isinstance(v, list) else v}" for k, v in record["outputs"].items()
            )
            print(f"{record['image']}  {shapes}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Run ``keras-residual serving-status``; returns the exit code."""
    from keras_residual.client import ServingError

    try:
        with _client(args) as client:
            versions = client.status()
            try:
                metadata = client.metadata()
            except ServingError as err:  # no version loaded yet: still show the states
                metadata, meta_error = None, str(err)
            else:
                meta_error = ""
    except ServingError as err:
        return _fail("serving-status", err)
    signatures = {}
    if metadata is not None:
        signatures = {
            name: {
                "method": sig.method_name,
                "inputs": {k: v.describe() for k, v in sig.inputs.items()},
                "outputs": {k: v.describe() for k, v in sig.outputs.items()},
            }
            for name, sig in metadata.signatures.items()
            if not name.startswith("__")  # TF2's internal __saved_model_init_op
        }
    if args.json:
        payload = {
            "model": args.model,
            "target": args.target,
            "versions": [
                {
                    "version": v.version,
                    "state": v.state,
                    "error_code": v.error_code,
                    "error_message": v.error_message,
                }
                for v in versions
            ],
            "served_version": metadata.version if metadata is not None else None,
            "signatures": signatures,
        }
        if meta_error:
            payload["metadata_error"] = meta_error
        print(json.dumps(payload, indent=2))
        return 0
    print(f"model {args.model!r} at {args.target}")
    print(f"{'version':>7}  {'state':<10}  status")
    for v in versions:
        status = v.error_code if not v.error_message else f"{v.error_code}: {v.error_message.splitlines()[0]}"
        print(f"{v.version:>7}  {v.state:<10}  {status}")
    if meta_error:
        print(f"signatures: unavailable ({meta_error})")
    for name, sig in signatures.items():
        inputs = ", ".join(f"{k} {d}" for k, d in sig["inputs"].items())
        outputs = ", ".join(f"{k} {d}" for k, d in sig["outputs"].items())
        print(f"signature {name}: {inputs} -> {outputs}")
    return 0
