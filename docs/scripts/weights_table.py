"""MkDocs hook: render the table of named pretrained weights from the registry itself.

``docs/pretrained-weights.md`` holds the marker ``<!-- weights-table -->``; at build time this hook
replaces it with one row per built-in weight set of ``keras_residual.weights.list_weights()``
(private registries are left out), so the page always lists what the code knows. Registered in
``mkdocs.yml`` under ``hooks:``; ``python docs/scripts/weights_table.py`` prints the table.
"""

from __future__ import annotations

import logging

MARKER = "<!-- weights-table -->"

log = logging.getLogger("mkdocs.hooks.weights_table")


def _cell(value, pattern="{}"):
    return "-" if value is None else pattern.format(value)


def render() -> str:
    """The Markdown table of every built-in weight set."""
    from keras_residual.weights.registry import list_weights

    rows = [
        "| preset | name | source | top-1 | top-5 | params | size MB | transforms | integrity | license |",
        "|---|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    for entry in list_weights():
        if entry.private:
            continue
        t = entry.transforms
        rows.append(
            f"| `{entry.preset}` | `{entry.name}` | [{entry.source}]({entry.url}) | {_cell(entry.top1)} | "
            f"{_cell(entry.top5)} | {_cell(entry.num_params, '{:,}')} | {_cell(entry.size_mb)} | "
            f"{t.resize} → {t.crop}, {t.interpolation}, {t.mode} | {entry.hash_algorithm} `{entry.file_hash}` | "
            f"{entry.license} |"
        )
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs hook signature)
    """Replace the marker in the pretrained-weights page with the rendered table."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


if __name__ == "__main__":  # pragma: no cover
    print(render())
