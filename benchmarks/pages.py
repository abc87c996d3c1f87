"""The generated parts of the docs: performance tables rendered from records into marked blocks of ``docs/*.md``.

A part is delimited in the page by two HTML comments (invisible in the site)::

    <!-- generated:gpu-training (benchmarks/report.py renders this from a record; rerun it, do not edit) -->
    ...
    <!-- end generated:gpu-training -->

:data:`PARTS` names each part's page and renderer. ``python benchmarks/report.py`` rewrites the blocks;
``--check`` fails when a block differs from its rendering or a page lost its markers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"


def _begin(name: str) -> str:
    return (
        f"<!-- generated:{name} (benchmarks/report.py renders this from a record; rerun it, do not edit) -->"
    )


def _end(name: str) -> str:
    return f"<!-- end generated:{name} -->"


def _json(name: str) -> dict:
    return json.loads((BENCH / name).read_text())


def gpu_training() -> list[str]:
    """The H100 training table (``gpu_results.json``)."""
    from benchmarks.sections import gpu_docs_table, record_header_legacy

    data = _json("gpu_results.json")
    return [*record_header_legacy(data["machine"], "benchmarks/gpu_results.json"), "", *gpu_docs_table(data)]


def epyc_suite() -> list[str]:
    """The AMD EPYC CPU-suite rows (``machines/amd-epyc-cpu-avx2.json``)."""
    from benchmarks.sections import cpu_docs_table, record_header_legacy

    data = _json("machines/amd-epyc-cpu-avx2.json")
    return [*record_header_legacy(data["machine"], "benchmarks/machines/amd-epyc-cpu-avx2.json"), "",
            *cpu_docs_table(data)]  # fmt: skip


def serving_per_core() -> list[str]:
    """The per-core serving table with MLPerf's anchors (``records/serving_per_core_cpu-amx.json``)."""
    from benchmarks.records import RECORDS
    from benchmarks.sections import per_core_table, record_header, verdict

    path = RECORDS / "serving_per_core_cpu-amx.json"
    if not path.exists():
        return ["Not measured yet: `python benchmarks/serving_per_core.py --tune` writes the record."]
    record = json.loads(path.read_text())
    return [*record_header(record), "", *verdict(record), *per_core_table(record)]


PARTS: tuple[tuple[str, str, object], ...] = (
    ("docs/mixed-precision.md", "gpu-training", gpu_training),
    ("docs/benchmarks.md", "gpu-training", gpu_training),
    ("docs/benchmarks.md", "epyc-suite", epyc_suite),
    ("docs/openvino.md", "serving-per-core", serving_per_core),
)
"""(page, part name, renderer) of every generated part."""


def block(name: str, lines: list[str]) -> str:
    """A part's full text, markers included."""
    return "\n".join([_begin(name), *lines, _end(name)])


def _pattern(name: str) -> re.Pattern:
    return re.compile(re.escape(f"<!-- generated:{name} ") + r".*?" + re.escape(_end(name)), re.S)


def render_page(text: str, name: str, lines: list[str]) -> str:
    """``text`` with part ``name``'s block replaced by its rendering; ValueError if the markers are missing."""
    pattern = _pattern(name)
    if not pattern.search(text):
        raise ValueError(f"`page` must contain the markers of part {name!r}; received a page without them")
    return pattern.sub(lambda _: block(name, lines), text, count=1)


def update(check: bool, repo: Path = REPO) -> list[str]:
    """Render every part into its page (or, with ``check``, only compare); return the parts that differed."""
    from keras_residual._atomic import write_text

    stale, rendered = [], {}
    for page, name, renderer in PARTS:
        path = repo / page
        text = rendered.get(page, path.read_text())
        new = render_page(text, name, renderer())
        if new != text:
            stale.append(f"{page}: {name}")
        rendered[page] = new
    if not check:
        for page, text in rendered.items():
            if text != (repo / page).read_text():
                write_text(repo / page, text)
    return stale
