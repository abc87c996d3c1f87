"""The pretrained-weights page's table is generated from the registry by a MkDocs hook."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from keras_residual.weights import list_weights

ROOT = Path(__file__).resolve().parents[2]


def _hook():
    spec = importlib.util.spec_from_file_location("weights_table", ROOT / "docs" / "scripts" / "weights_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_table_lists_every_builtin_set(isolated):
    hook = _hook()
    page = (ROOT / "docs" / "pretrained-weights.md").read_text(encoding="utf-8")
    assert hook.MARKER in page and "docs/scripts/weights_table.py" in (ROOT / "mkdocs.yml").read_text()
    rendered = hook.on_page_markdown(page, None, None, None)
    entries = list_weights()
    assert len(entries) == 20
    for entry in entries:
        row = f"| `{entry.preset}` | `{entry.name}` | [{entry.source}]({entry.url}) | {entry.top1} |"
        assert row in rendered, row
