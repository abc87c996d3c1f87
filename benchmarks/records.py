"""One JSON schema for every benchmark record under ``benchmarks/records/``.

A record is what a page figure is rendered from::

    {
      "schema": "keras-residual-record/1",
      "name": "runtimes_cpu-amx",              # the file's stem
      "title": "...",                          # one line: what was measured
      "date": "2026-12-06 07:20 UTC",
      "command": "python benchmarks/bench_runtimes.py ...",
      "machine": {"cpu", "cores", "physical_cores", "flags", "device_class", "platform"},
      "versions": {"python": ..., "tensorflow": ..., ...},
      "load": {"start": [1, 5, 15 min], "end": [...]},
      "rows": [{"key": "openvino_int8/b1", "label": "...", "unit": "img/s", "value": 123.4,
                "runs": [..raw per-run values..], "load": [...], ...extra columns}],
      "notes": ["..."]
    }

``key`` is unique within a record; a page or a table entry cites a figure as ``<record file>#<key>``.
Rows may carry further columns (``p99_ms``, ``per_core``, ``batch`` ...); ``value`` is the row's headline figure.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

SCHEMA = "keras-residual-record/1"
"""The ``schema`` field of every record this module writes."""

RECORDS = Path(__file__).resolve().parent / "records"
"""Where records live."""

REQUIRED = ("schema", "name", "title", "date", "command", "machine", "versions", "load", "rows")
"""Top-level fields every record has."""


def start(name: str, title: str, packages: tuple[str, ...], argv: list[str] | None = None) -> dict:
    """A new record: machine, versions, the command line and the load at the start; ``rows`` empty."""
    from benchmarks import machine
    from keras_residual.hardware import detect_cpu

    info = machine.describe(packages)
    cpu = detect_cpu()
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(Path(__file__).resolve().parent.parent)
    except ValueError:
        pass
    argv = sys.argv[1:] if argv is None else argv
    return {
        "schema": SCHEMA,
        "name": name,
        "title": title,
        "date": info["date"],
        "command": shlex.join(["python", str(script), *argv]),
        "machine": {
            "cpu": info["cpu"],
            "cores": info["cores"],
            "physical_cores": cpu.physical_cores,
            "flags": info["flags"],
            "device_class": cpu.device_class,
            "platform": info["platform"],
        },
        "versions": info["versions"],
        "load": {"start": info["load_average_start"], "end": None},
        "rows": [],
        "notes": [],
    }


def finish(record: dict, path: Path | None = None) -> Path:
    """Stamp the end load, check the record and write it atomically to ``path`` (default
    ``benchmarks/records/<name>.json``); return the path."""
    from benchmarks import machine
    from keras_residual._atomic import write_text

    record["load"]["end"] = machine.load_average()
    check(record)
    path = path or RECORDS / f"{record['name']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(record, indent=1) + "\n")
    return path


def check(record: dict) -> None:
    """Raise ValueError if ``record`` does not follow the schema (fields, unique row keys, numeric values)."""
    missing = [field for field in REQUIRED if field not in record]
    if missing:
        raise ValueError(
            f"`record` must have {', '.join(REQUIRED)}; received one without {', '.join(missing)}"
        )
    keys = [row.get("key") for row in record["rows"]]
    if len(set(keys)) != len(keys) or None in keys:
        raise ValueError(f"`record` rows must have unique keys; received keys={keys}")
    for row in record["rows"]:
        if not isinstance(row.get("value"), (int, float)) or isinstance(row.get("value"), bool):
            raise ValueError(
                f"`record` row values must be numbers; received {row.get('key')}={row.get('value')!r}"
            )


def load(name_or_path: str | Path) -> dict:
    """Read one record by file name (``runtimes_cpu-amx.json``), stem or path."""
    path = Path(name_or_path)
    if not path.is_absolute() and not path.exists():
        path = RECORDS / (path.name if path.suffix == ".json" else f"{path.name}.json")
    return json.loads(path.read_text())


def all_records(folder: Path | None = None) -> dict[str, dict]:
    """Every record in ``folder`` (default ``benchmarks/records/``) that follows the schema, by file name.
    Files of other shapes there (other scripts' outputs) are skipped, not errors."""
    out = {}
    for path in sorted(Path(folder or RECORDS).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            out[path.name] = data
    return out


def row(record: dict, key: str) -> dict:
    """The row ``key`` of ``record``; KeyError naming the record if absent."""
    for item in record["rows"]:
        if item["key"] == key:
            return item
    raise KeyError(f"{record['name']} has no row {key!r}")


def cite(ref: str) -> dict:
    """The row a ``"<record file>#<key>"`` reference points at."""
    name, _, key = ref.partition("#")
    return row(load(name), key)
