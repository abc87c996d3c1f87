"""TF Serving's REST API as the server speaks it (stand-in or real), with no client in between.

Row (``instances``) and columnar (``inputs``) formats, ``{"b64": ...}`` strings, and errors as
``{"error": "..."}`` with TF Serving's HTTP statuses, as its REST API documents them.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.client.conftest import MODEL


def _call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _predict_url(server) -> str:
    return f"{server.rest_target}/v1/models/{MODEL}:predict"


def test_row_and_columnar_formats_give_the_same_numbers(server, reference, images):
    expected = reference(images[:2])
    status, row = _call(_predict_url(server), {"instances": images[:2].tolist()})
    assert status == 200 and len(row["predictions"]) == 2
    assert set(row["predictions"][0]) == set(expected)  # several outputs: one object per instance
    status, columnar = _call(_predict_url(server), {"signature_name": "serving_default", "inputs": images[:2].tolist()})
    assert status == 200 and set(columnar["outputs"]) == set(expected)
    for key in ("probabilities", "top_k_scores"):
        rows = np.array([p[key] for p in row["predictions"]], np.float32)
        np.testing.assert_allclose(rows, expected[key], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.array(columnar["outputs"][key], np.float32), expected[key], rtol=1e-6, atol=1e-7)
    labels = [[v.decode() for v in r] for r in expected["top_k_labels"].tolist()]
    assert columnar["outputs"]["top_k_labels"] == labels  # strings as text: the alias has no _bytes suffix


def test_b64_images_in_both_formats(server, reference, images):
    pixels = images[:2].astype("uint8")
    blobs = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        blobs.append({"b64": base64.b64encode(buffer.getvalue()).decode()})
    expected = reference(pixels.astype("float32"))["probabilities"]
    status, row = _call(_predict_url(server), {"signature_name": "serving_bytes", "instances": blobs})
    assert status == 200
    np.testing.assert_allclose([p["probabilities"] for p in row["predictions"]], expected, rtol=1e-5, atol=1e-6)
    named = [{"image_bytes": blob} for blob in blobs]  # rows as objects keyed by input name
    status, row_named = _call(_predict_url(server), {"signature_name": "serving_bytes", "instances": named})
    assert status == 200 and row_named == row
    status, columnar = _call(_predict_url(server), {"signature_name": "serving_bytes", "inputs": {"image_bytes": blobs}})
    assert status == 200
    np.testing.assert_allclose(columnar["outputs"]["probabilities"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "path, body, status, needle",
    [
        ("/v1/models/nope:predict", {"instances": [[0]]}, 404, "Servable not found for request: Latest(nope)"),
        (f"/v1/models/{MODEL}/versions/9:predict", {"instances": [[0]]}, 404, f"Specific({MODEL}, 9)"),
        (f"/v1/models/{MODEL}:predict", {"signature_name": "v9", "inputs": [[0]]}, 400, 'signature name: "v9" not found'),
        (f"/v1/models/{MODEL}:predict", {"instances": [[0]], "inputs": [[0]]}, 400, "only one of 'inputs' or 'instances'"),
        (f"/v1/models/{MODEL}:predict", {"signature": "x"}, 400, "Missing 'inputs' or 'instances' key"),
        (f"/v1/models/{MODEL}:predict", {"inputs": "text"}, 400, "is not of expected type: float"),
        ("/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)"),
    ],
)
def test_errors_are_json_with_tf_servings_http_status(server, path, body, status, needle):
    code, answer = _call(server.rest_target + path, body)
    assert code == status and set(answer) == {"error"}
    assert needle in answer["error"]


def test_status_and_metadata_json(server):
    status, answer = _call(f"{server.rest_target}/v1/models/{MODEL}")
    assert status == 200
    assert answer == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    status, meta = _call(f"{server.rest_target}/v1/models/{MODEL}/versions/1/metadata")
    assert status == 200 and meta["model_spec"]["name"] == MODEL and meta["model_spec"]["version"] == "1"
    images = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["images"]
    assert images["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "32", "32", "3"]
