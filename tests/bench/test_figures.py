"""Every performance figure on the pages comes from a record.

- Every "N img/s" in ``docs/*.md`` and ``benchmarks/RESULTS.md`` is a number held by some JSON record under
  ``benchmarks/``, rounded as printed (at the figure's own precision; a figure of 100 or more printed without
  decimals matches the record rounded to units).
- ``benchmarks/report.py --check`` passes: RESULTS.md and the docs' generated parts are their renderings
  (``make lint`` runs the same check), and it fails when a generated part is edited by hand.
"""

import json
import re
import shutil
from pathlib import Path

import pytest

from benchmarks import pages, report

REPO = Path(__file__).resolve().parents[2]
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*img/s")


def _numbers(value, out: set[float]) -> set[float]:
    if isinstance(value, bool):
        return out
    if isinstance(value, (int, float)):
        out.add(float(value))
    elif isinstance(value, dict):
        for item in value.values():
            _numbers(item, out)
    elif isinstance(value, list):
        for item in value:
            _numbers(item, out)
    return out


def recorded_numbers() -> set[float]:
    """Every number in every JSON file under benchmarks/ (records of any shape)."""
    found: set[float] = set()
    for path in (REPO / "benchmarks").rglob("*.json"):
        _numbers(json.loads(path.read_text()), found)
    return found


def figures(text: str) -> list[tuple[str, float, int]]:
    """``(as printed, value, decimals)`` of every "N img/s" in ``text``."""
    out = []
    for match in FIGURE.finditer(text):
        digits = match.group(1).replace(",", "")
        out.append((match.group(0), float(digits), len(digits.partition(".")[2])))
    return out


def is_recorded(value: float, decimals: int, numbers: set[float]) -> bool:
    return any(abs(round(n, decimals) - value) < 1e-9 for n in numbers)


def test_figure_scan_reads_figures_as_printed():
    assert figures("at 2,671 img/s and 12.2img/s, not v1.5 img/s") == [
        ("2,671 img/s", 2671.0, 0),
        ("12.2img/s", 12.2, 1),
    ]
    assert is_recorded(2671.0, 0, {2670.69}) and not is_recorded(12.2, 1, {12.26})


def test_every_img_per_s_figure_is_a_recorded_number():
    numbers = recorded_numbers()
    pages_ = [*sorted((REPO / "docs").glob("*.md")), REPO / "benchmarks" / "RESULTS.md"]
    unrecorded = []
    count = 0
    for page in pages_:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            for printed, value, decimals in figures(line):
                count += 1
                if not is_recorded(value, decimals, numbers):
                    unrecorded.append(f"{page.relative_to(REPO)}:{number}: {printed}")
    assert count > 20  # the scan sees the pages' figures
    assert not unrecorded, "figures with no record:\n" + "\n".join(unrecorded)


def test_report_check_passes():
    assert report.main(["--check"]) == 0


def test_report_check_fails_on_a_hand_edited_part(tmp_path):
    for page, _, _ in pages.PARTS:
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / page, tmp_path / page)
    assert pages.update(check=True, repo=tmp_path) == []
    page, name, _ = pages.PARTS[0]
    text = (tmp_path / page).read_text()
    start = text.index(f"<!-- generated:{name} ")
    (tmp_path / page).write_text(text[:start] + text[start:].replace("|", "| 1 img/s", 1))
    assert pages.update(check=True, repo=tmp_path) == [f"{page}: {name}"]
    pages.update(check=False, repo=tmp_path)
    assert pages.update(check=True, repo=tmp_path) == []
    with pytest.raises(ValueError, match="markers"):
        pages.render_page("no markers here", name, [])
