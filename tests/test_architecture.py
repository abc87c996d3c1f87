"""The package's floors, checked from the source with ``ast`` (nothing is imported).

- no import cycle inside ``keras_residual/`` (imports inside functions count too);
- every module has a floor (``FLOORS``: a rank per package prefix) and imports only its own floor or
  lower ranks, so ``export/`` never imports ``training/`` and nothing imports ``cli/``;
- ``layers/`` and ``models/`` import no TensorFlow (they run on every Keras backend);
- ``client/`` imports neither TensorFlow, Keras nor tensorflow_serving;
- docs/architecture.md's floors diagram is the one generated from ``FLOORS`` and the files
  (``python tests/test_architecture.py --write`` rewrites it);
- no function is longer than 60 code lines unless its docstring says why.

See docs/architecture.md for the rules these encode.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_residual"
MAX_FUNCTION_LINES = 60
LONG_REASON = "Longer than 60 lines because"

# Functions in files other engineers are still changing; each entry goes when its owner splits it
# or states the reason in its docstring (the test fails when a listed function passes, so the list
# only shrinks).
KNOWN_LONG: set[str] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str, top_level_only: bool = False) -> list[str]:
    """Every module ``module`` imports (absolute names; ``from pkg import sub`` resolves to ``pkg.sub``).

    With ``top_level_only``, only the imports that run when the module is imported (not those
    inside functions, which run on use).
    """
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    names = []
    for node in _top_level_nodes(tree) if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                names.append(candidate if candidate in MODULES else base)
    return names


def _top_level_nodes(tree: ast.Module):
    """The module's statements outside functions (``if``/``try`` blocks included)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _internal_graph() -> dict[str, set[str]]:
    return {module: {name for name in _imports(module) if name in MODULES} - {module} for module in MODULES}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_is_read():
    graph = _internal_graph()
    assert "keras_residual.layers" in graph["keras_residual.models.resnet"]
    assert "keras_residual.training.image_folder" in graph["keras_residual.training.data"]
    assert "keras_residual.datasets" in graph["keras_residual.export.images"]


def test_no_import_cycle_inside_the_package():
    cycle = _find_cycle(_internal_graph())
    assert cycle is None, " -> ".join(cycle)


# The floors, top to bottom: (name, rank, module prefixes, what lives there). A module belongs to the
# floor with the longest matching prefix ("keras_residual" alone matches only the package's
# __init__). A module may import its own floor or any floor of a lower rank, never a higher one and
# never a different floor of the same rank (client/ and datasets.py stay apart). New modules under a
# listed package are covered automatically; a new top-level module or package must be added here.
# weights/ sits below models/ (shared/ARCHITECTURE.md drew it above): ResNet(weights=...) resolves
# names through it, and it needs nothing above the ground floor.
FLOORS = (
    ("cli/", 8, ("keras_residual.cli",), "`keras-residual`: one module per sub-command, register() and run()"),
    ("serving/", 7, ("keras_residual.serving",), "serving tools: batching tuner, TF Serving configs, deployment"),
    ("export/", 6, ("keras_residual.export",), "one pipeline, one module per format, one verification stack"),
    ("training/", 5, ("keras_residual.training",), "train(), data pipelines, run directory, precision probe"),
    ("models/", 4, ("keras_residual.models",), "ResNet, presets, stages, features, weight import, rebuild"),
    ("weights/", 3, ("keras_residual.weights",), "named pretrained weights: registry, download, cache"),
    ("layers/", 2, ("keras_residual.layers",), "Residual, ResidualBlock, DropPath, SqueezeExcite (keras only)"),
    ("datasets.py", 1, ("keras_residual.datasets",), "digits, sample photos, image folders (numpy)"),
    ("client/", 1, ("keras_residual.client",), "TF Serving client: grpcio, protobuf, numpy; no TF, no Keras"),
    (
        "ground",
        0,
        (
            "keras_residual",
            "keras_residual._atomic",
            "keras_residual._validation",
            "keras_residual.contract",
            "keras_residual.hardware",
            "keras_residual.precision",
            "keras_residual.precision_table",
        ),
        "one home per idea, importable without TensorFlow or Keras",
    ),
)


def _matches(module: str, prefix: str) -> bool:
    if prefix == "keras_residual":
        return module == prefix
    return module == prefix or module.startswith(prefix + ".")


def floor_of(module: str) -> tuple[str, int] | None:
    """The (floor name, rank) of a module, or None if no floor claims it."""
    best = None
    for name, rank, prefixes, _ in FLOORS:
        for prefix in prefixes:
            if _matches(module, prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), name, rank)
    return None if best is None else best[1:]


def test_every_module_has_a_floor():
    homeless = [module for module in MODULES if floor_of(module) is None]
    assert not homeless, (
        f"{homeless} belong to no floor: add the module (or its package) to FLOORS in "
        "tests/test_architecture.py with the rank of its floor, then regenerate the diagram in "
        "docs/architecture.md (python tests/test_architecture.py --write)"
    )


def test_imports_only_go_down_the_floors():
    offenders = []
    for module, imported in _internal_graph().items():
        own = floor_of(module)
        for name in sorted(imported):
            other = floor_of(name)
            if own is None or other is None or other == own:
                continue
            if other[1] >= own[1]:
                offenders.append(f"{module} ({own[0]}, rank {own[1]}) imports {name} ({other[0]}, rank {other[1]})")
    assert not offenders, "imports must go to a lower floor:\n" + "\n".join(offenders)


def test_the_floor_check_catches_an_upward_import():
    assert floor_of("keras_residual.precision_table") == ("ground", 0)
    assert floor_of("keras_residual.export.onnx") == ("export/", 6)
    assert floor_of("keras_residual.weights.registry") == ("weights/", 3)
    assert floor_of("keras_residual.new_idea") is None
    assert floor_of("keras_residual.export.onnx")[1] > floor_of("keras_residual.training.trainer")[1]


def _floor(prefix: str) -> list[str]:
    return [module for module in MODULES if module == prefix or module.startswith(prefix + ".")]


@pytest.mark.parametrize(
    ("floor", "forbidden"),
    [
        ("keras_residual.export", ("keras_residual.training",)),
        ("keras_residual.layers", ("tensorflow",)),
        ("keras_residual.models", ("tensorflow",)),
        ("keras_residual.client", ("tensorflow", "keras", "tensorflow_serving", "tf_keras")),
        ("keras_residual.contract", ("tensorflow", "keras")),
    ],
)
def test_floors_avoid_what_they_must_run_without(floor, forbidden):
    offenders = [
        f"{module} imports {name}"
        for module in _floor(floor)
        for name in _imports(module)
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    ]
    assert not offenders, offenders


def _short_name(module: str, prefixes: tuple[str, ...]) -> str:
    """A module's name inside its floor: ``onnx`` in export/, ``__init__`` for a package itself."""
    base = max((p for p in prefixes if _matches(module, p)), key=len)
    if len(prefixes) > 1:  # the ground floor lists top-level modules
        base = "keras_residual"
    return module.removeprefix(base).lstrip(".") or "__init__"


def render_diagram() -> str:
    """The floors diagram of docs/architecture.md, generated from FLOORS and the package's files."""
    lines = []
    for name, rank, prefixes, about in FLOORS:
        lines.append(f"{name:<12} {rank}  {about}")
        members = sorted(_short_name(m, prefixes) for m in MODULES if floor_of(m) == (name, rank))
        if name.endswith(".py"):
            continue  # a single module: its header names it
        line = " " * 16
        for member in members or ["(none yet)"]:
            if len(line) + len(member) > 104:
                lines.append(line.rstrip())
                line = " " * 16
            line += member + "  "
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


DOC = PACKAGE.parent / "docs" / "architecture.md"
BEGIN, END = "<!-- floors: generated by tests/test_architecture.py -->\n```text\n", "```\n<!-- /floors -->"


def test_the_architecture_page_shows_every_module_on_its_floor():
    text = DOC.read_text()
    assert BEGIN in text and END in text, f"docs/architecture.md lost its markers {BEGIN!r} ... {END!r}"
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert shown == render_diagram(), (
        "docs/architecture.md's floors diagram is out of date: run `python tests/test_architecture.py --write`"
    )


@pytest.mark.parametrize(
    "module",
    [
        "keras_residual",
        "keras_residual.precision",
        "keras_residual._validation",
        "keras_residual._atomic",
        "keras_residual.datasets",
    ],
)
def test_light_modules_load_without_tensorflow_or_keras(module):
    """Importable without TensorFlow or Keras: the CLI's --help and the client use them."""
    heavy = [
        name
        for name in _imports(module, top_level_only=True)
        if name.split(".")[0] in ("tensorflow", "keras")
    ]
    assert not heavy, heavy


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """Non-blank, non-comment lines of a function, its docstring excluded."""
    skip: set[int] = set()
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        skip = set(range(first.lineno, first.end_lineno + 1))
    return sum(
        1
        for number in range(node.lineno, node.end_lineno + 1)
        if number not in skip and lines[number - 1].strip() and not lines[number - 1].strip().startswith("#")
    )


def _long_functions() -> dict[str, int]:
    found = {}
    for path in MODULES.values():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if LONG_REASON in (ast.get_docstring(node) or ""):
                continue
            count = _code_lines(node, lines)
            if count > MAX_FUNCTION_LINES:
                found[f"{path.relative_to(PACKAGE.parent).as_posix()}::{node.name}"] = count
    return found


def test_no_function_over_60_code_lines_without_a_reason():
    long = _long_functions()
    unexpected = {name: count for name, count in long.items() if name not in KNOWN_LONG}
    assert not unexpected, (
        f"functions over {MAX_FUNCTION_LINES} code lines (split them, or say in the docstring "
        f"'{LONG_REASON} ...'): {unexpected}"
    )
    fixed = KNOWN_LONG - set(long)
    assert not fixed, f"now short enough: remove {sorted(fixed)} from KNOWN_LONG"


def test_the_line_counter_counts_code_only():
    source = 'def f():\n    """Doc.\n\n    More doc.\n    """\n    # a comment\n\n    x = 1\n    return x\n'
    node = ast.parse(source).body[0]
    assert _code_lines(node, source.splitlines()) == 3


if __name__ == "__main__":  # python tests/test_architecture.py --write: regenerate the diagram
    import sys

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_architecture.py --write")
    before, rest = DOC.read_text().split(BEGIN, 1)
    DOC.write_text(before + BEGIN + render_diagram() + END + rest.split(END, 1)[1])
