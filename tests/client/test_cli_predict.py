"""``keras-residual predict`` and ``serving-status`` against the server fixture, over gRPC and REST."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest
from PIL import Image

from keras_residual.cli import predict as predict_cli
from tests.client.conftest import MODEL


def cli(argv: list[str]) -> int:
    """The two commands as ``keras-residual`` dispatches them (ValueError -> one line, exit 2)."""
    parser = argparse.ArgumentParser(prog="keras-residual")
    sub = parser.add_subparsers(dest="command", required=True)
    predict_cli.register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"keras-residual {args.command}: error: {err}", file=sys.stderr)
        return 2


@pytest.fixture
def image_files(tmp_path):
    pixels = np.random.default_rng(5).uniform(0, 255, size=(2, 32, 32, 3)).astype("uint8")
    paths = []
    for i, image in enumerate(pixels):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths, pixels


def test_predict_prints_a_top_k_table(target, image_files, reference, capsys):
    paths, pixels = image_files
    assert cli(["predict", "--target", target, "--model", MODEL, *paths]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["image", "rank", "label", "index", "score"]
    assert len(lines) == 1 + 2 * 3  # top-3 per image
    expected = reference(pixels.astype("float32"))
    first = lines[1].split()
    assert first[0] == paths[0] and first[1] == "1"
    assert first[2] == expected["top_k_labels"][0][0].decode()
    assert float(first[4]) == pytest.approx(float(expected["top_k_scores"][0][0]), abs=1e-4)


def test_predict_json(target, image_files, reference, capsys):
    paths, pixels = image_files
    assert (
        cli(["predict", "--target", target, "--model", MODEL, "--json", "--batch", "1", *paths]) == 0
    )
    payload = json.loads(capsys.readouterr().out)
    expected = reference(pixels.astype("float32"))
    assert [p["image"] for p in payload["predictions"]] == paths
    for i, pred in enumerate(payload["predictions"]):
        assert [t["index"] for t in pred["top_k"]] == expected["top_k_indices"][i].tolist()
        np.testing.assert_allclose(
            [t["score"] for t in pred["top_k"]], expected["top_k_scores"][i], rtol=1e-5
        )


def test_serving_status_table_and_json(target, capsys):
    assert cli(["serving-status", "--target", target, "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert "AVAILABLE" in out and "signature serving_default: images float32 [None, 32, 32, 3]" in out
    assert "__saved_model_init_op" not in out
    assert cli(["serving-status", "--target", target, "--model", MODEL, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["versions"] == [
        {"version": 1, "state": "AVAILABLE", "error_code": "OK", "error_message": ""}
    ]
    assert payload["signatures"]["serving_bytes"]["inputs"] == {"image_bytes": "string [None]"}


def test_server_errors_exit_1_with_the_code_and_message(target, image_files, capsys):
    paths, _ = image_files
    assert cli(["predict", "--target", target, "--model", "nope", *paths]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "NOT_FOUND: Servable not found for request: Latest(nope)" in err
    assert cli(["serving-status", "--target", target, "--model", "nope"]) == 1
    assert "Could not find any versions of model nope" in capsys.readouterr().err


def test_usage_errors_exit_2(target, image_files, tmp_path, capsys):
    paths, _ = image_files
    missing = str(tmp_path / "missing.png")
    assert cli(["predict", "--target", target, "--model", MODEL, missing]) == 2
    assert "no such file" in capsys.readouterr().err
    # the float signature does not take encoded files: caught before sending, says what it expects
    args = ["predict", "--target", target, "--model", MODEL, "--signature", "serving_default", *paths]
    assert cli(args) == 2
    assert "expected float32 [None, 32, 32, 3]" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not an image at all")
    assert cli(["predict", "--target", target, "--model", MODEL, str(corrupt)]) == 2
    assert "INVALID_ARGUMENT" in capsys.readouterr().err  # the server's answer, with the op's message
    with pytest.raises(SystemExit) as exit_info:
        cli(
            ["predict", "--target", "x:1", "--model", MODEL, "--version", "1", "--version-label", "a", *paths]
        )
    assert exit_info.value.code == 2


@pytest.mark.parametrize("target", ["127.0.0.1:1", "http://127.0.0.1:1"])
def test_unreachable_server_exits_1(target, image_files, capsys):
    paths, _ = image_files
    assert cli(["predict", "--target", target, "--model", MODEL, "--timeout", "3", *paths]) == 1
    assert "UNAVAILABLE" in capsys.readouterr().err


def test_tls_with_unreadable_ca_is_a_usage_error(image_files, capsys):
    paths, _ = image_files
    assert (
        cli(["predict", "--target", "x:1", "--model", MODEL, "--ca-cert", "/nonexistent/ca.pem", *paths]) == 2
    )
    assert "--ca-cert" in capsys.readouterr().err
    assert cli(["predict", "--target", "http://x:1", "--model", MODEL, "--tls", *paths]) == 2
    assert "https://" in capsys.readouterr().err
