"""The auto-precision table decides from recorded measurements; the probe times policies and reports disagreement."""

import json

import keras
import pytest

from keras_residual import precision_table
from keras_residual.cli import main
from keras_residual.precision import resolve_precision
from keras_residual.training.precision_probe import format_probe, probe, summarize


def _m(device, policy, value, kind="measured", accuracy_ok=None):
    return {"device": device, "policy": policy, "throughput": value, "kind": kind, "accuracy_ok": accuracy_ok}


def test_table_picks_fastest_with_ties_to_the_safer_policy():
    table = (
        _m("x", "float32", 100.0),
        _m("x", "mixed_bfloat16", 180.0),
        _m("x", "mixed_float16", 185.0),  # within 5%: bfloat16 needs no loss scaling
        _m("y", "float32", 100.0),
        _m("y", "mixed_bfloat16", 97.0),  # within 5% of float32: float32
        _m("z", "float32", 100.0),
        _m("z", "mixed_float16", 300.0, accuracy_ok=False),  # lost accuracy: excluded
        _m("w", "float32", 10.0, kind="published"),
        _m("w", "mixed_float16", 100.0, kind="published"),
        _m("w", "float32", 50.0),  # a measurement overrides published figures
        _m("w", "mixed_float16", 40.0),
    )
    pick = {d: precision_table.fastest_policy(d, table) for d in "xyzw"}
    assert pick == {"x": "mixed_bfloat16", "y": "float32", "z": "float32", "w": "float32"}
    assert precision_table.fastest_policy("never-measured", table) == "float32"


def test_recorded_table_gives_the_documented_rule():
    pick = precision_table.fastest_policy
    # cpu-amx: 1.32x, accuracy kept over 5 seeds (benchmarks/records/precision_seeds_cpu-amx.json)
    expected = ["mixed_bfloat16", "float32", "float32", "mixed_bfloat16"]
    assert [pick(d) for d in ("cpu-amx", "cpu-avx2", "cpu-avx512", "tpu")] == expected
    assert [pick(precision_table.gpu_class(c)) for c in ((7, 5), (8, 6), (9, 0), (12, 0))] == [
        "mixed_float16",
        "mixed_bfloat16",
        "mixed_bfloat16",
        "mixed_bfloat16",
    ]
    assert precision_table.gpu_class((6, 1)) is None
    for entry in precision_table.MEASUREMENTS:
        assert entry["source"] and entry["kind"] in ("measured", "published") and entry["throughput"] > 0


def test_summary_flags_disagreement():
    seconds = {"float32": [1.0, 1.0, 1.2], "mixed_bfloat16": [0.5, 0.6, 0.5]}
    report = summarize(seconds, 10, auto="float32")
    assert report["fastest"] == "mixed_bfloat16" and report["disagrees"]
    assert report["rows"][1]["vs_float32"] == pytest.approx(2.0)
    assert "the measurement disagrees" in format_probe(report)
    agree = summarize({"float32": [1.0], "mixed_bfloat16": [0.98]}, 10, auto="float32")
    assert not agree["disagrees"] and "agrees" in format_probe(agree)


def test_probe_arguments_are_checked():
    with pytest.raises(ValueError, match="`preset` must be given, or `model`"):
        probe()
    with pytest.raises(ValueError, match="`policies` must be one of"):
        probe(preset="resnet20_cifar", policies=("float16",))


def test_cli_probe_on_a_saved_model(tmp_path, capsys):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    path = tmp_path / "m.keras"
    model.save(path)
    argv = ["bench", "--precision-probe", "--model", str(path), "--batch", "4", "--steps", "2"]
    assert main([*argv, "--policies", "float32,mixed_bfloat16", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "mixed_bfloat16" in out and f"auto picks {resolve_precision('auto')}" in out
    report = json.loads((tmp_path / "o" / "precision_probe.json").read_text())
    assert [r["policy"] for r in report["rows"]] == ["float32", "mixed_bfloat16"] and report["steps"] == 2
    assert (
        main([*argv, "--policies", "mixed_float16"]) == 2
    )  # a saved model is rebuilt in float32/bfloat16 only
    assert "mixed_float16 only with a preset" in capsys.readouterr().err


def test_serving_dtype_from_recorded_serving_runs():
    assert precision_table.serving_dtype("cpu-amx") == "bfloat16"  # 2.1x at batch 16, top-1 agreement kept
    assert precision_table.serving_dtype("cpu-avx2") == "float32"  # no serving record: float32
    for entry in precision_table.SERVING_MEASUREMENTS:
        assert entry["accuracy_ok"] is True and entry["source"]
