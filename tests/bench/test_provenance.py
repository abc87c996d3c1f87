"""Every measured figure of ``keras_residual.precision_table`` is the number its record holds.

Each measured entry names a JSON record under ``benchmarks/`` and the key of its figure; this opens the record
and compares, rounded as the table prints it. Where accuracy decided (``accuracy_record``), the entry's
``accuracy_ok`` must be what :func:`~keras_residual.precision_table.accuracy_kept` says of the recorded seeds.
"""

import json
from pathlib import Path

import pytest

from keras_residual import precision_table

REPO = Path(__file__).resolve().parents[2]
MEASURED = [
    entry
    for entry in (*precision_table.MEASUREMENTS, *precision_table.SERVING_MEASUREMENTS)
    if entry["kind"] == "measured"
]


def _decimals(value: float) -> int:
    text = repr(float(value))
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


@pytest.mark.parametrize("entry", MEASURED, ids=lambda e: f"{e['device']}-{e['policy']}")
def test_measured_entry_is_its_record(entry):
    record = json.loads((REPO / entry["record"]).read_text())
    recorded = precision_table.lookup(record, entry["key"])
    assert round(recorded, _decimals(entry["throughput"])) == pytest.approx(entry["throughput"]), entry["key"]


@pytest.mark.parametrize(
    "entry", [e for e in MEASURED if "accuracy_record" in e], ids=lambda e: f"{e['device']}-{e['policy']}"
)
def test_accuracy_ok_follows_the_seeds_record(entry):
    record = json.loads((REPO / entry["accuracy_record"]).read_text())
    candidate = precision_table.lookup(record, entry["accuracy_key"].rsplit(".", 1)[0])
    reference = precision_table.lookup(record, entry["accuracy_reference_key"].rsplit(".", 1)[0])
    assert len(candidate["runs"]) >= 5 and len(reference["runs"]) >= 5  # seeds, not one run
    assert entry["accuracy_ok"] == precision_table.accuracy_kept(candidate, reference)


def test_every_measured_entry_names_its_evidence():
    assert MEASURED
    for entry in MEASURED:
        assert (REPO / entry["record"]).is_file(), entry["record"]
        assert entry["key"]


def test_lookup_and_accuracy_rule():
    data = {"rows": [{"key": "a/final", "v": {"m": 1.5}}, {"key": "b/final", "v": {"m": 2}}]}
    assert precision_table.lookup(data, "rows[key=b/final].v.m") == 2
    with pytest.raises(StopIteration):
        precision_table.lookup(data, "rows[key=c].v")
    assert not precision_table.accuracy_kept({"value": 98.0, "std": 0.5}, {"value": 99.7, "std": 0.2})
    assert precision_table.accuracy_kept({"value": 99.9, "std": 0.5}, {"value": 99.7, "std": 0.2})
