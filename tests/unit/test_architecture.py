"""The package's shape: no import circles, no oversized modules, and packages that talk to
each other only through their public ``__init__``.

The import graph is read from the source (every ``import`` statement, at module level or inside
a function, except under ``if TYPE_CHECKING``), so an import moved into a function to hide a
circle still counts as an edge; a fresh interpreter then imports every module in a shuffled
order, which fails on a circle Python cannot resolve at run time.
"""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

import pytest

import guiselab

ROOT = Path(guiselab.__file__).parent
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every guiselab module ``tree`` imports (outside ``if TYPE_CHECKING`` blocks)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{base}.{alias.name}"
                found.append(sub if sub in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [name for name in found if name in MODULES]


def _package(module: str) -> str:
    """The stage package a module belongs to (``guiselab.judge._local`` -> ``guiselab.judge``);
    a top-level module is its own package."""
    return ".".join(module.split(".")[:2])


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges = set()
        for target in _imports(tree, name, path.name == "__init__.py"):
            edges.add(target)
            # Importing a submodule of another package runs that package's __init__ first.
            if _package(target) != _package(name) and _package(target) in MODULES:
                edges.add(_package(target))
        edges.discard(name)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_source() -> None:
    sys.setrecursionlimit(10_000)
    assert _cycles(_graph()) == []


def test_every_module_imports_in_a_fresh_interpreter_in_any_order() -> None:
    names = [n for n in MODULES if n != "guiselab.__main__"]
    for seed in range(5):
        order = names[:]
        random.Random(seed).shuffle(order)
        code = (
            "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, *order], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]


def test_no_module_is_longer_than_the_limit() -> None:
    long = {n: c for n, p in MODULES.items() if (c := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_packages_use_each_others_public_names_only() -> None:
    """A module reaches another package only through that package's ``__init__``: no
    submodule of it (``guiselab.judge._local``, ``guiselab.finetune.data``) and no private name
    (``from guiselab.judge import _x``); the root's own helpers (``guiselab._read``) are shared."""
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in _imports(tree, name, path.name == "__init__.py"):
            if target.count(".") >= 2 and _package(target) != _package(name):
                found.append(f"{name} -> {target}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                other = _package(node.module) != _package(name)
                if other and node.module.startswith("guiselab."):
                    found += [
                        f"{name} -> {node.module}.{a.name}"
                        for a in node.names
                        if a.name.startswith("_") and a.name != "__version__"
                    ]
    assert found == []


def test_the_public_names_check_sees_a_planted_breach(tmp_path: Path) -> None:
    tree = ast.parse("from guiselab.finetune.data import build_sft\nimport guiselab.judge._local\n")
    targets = _imports(tree, "guiselab.probe._stage", False)
    assert {"guiselab.finetune.data", "guiselab.judge._local"} <= set(targets)


@pytest.mark.parametrize(
    "name", ["guiselab", "guiselab.config", "guiselab.samples", "guiselab.analysis"]
)
def test_light_modules_do_not_load_torch(name: str) -> None:
    """Reading a config or a samples table does not pay for the model stack."""
    code = f"import sys, {name}\nassert 'torch' not in sys.modules, 'torch loaded'\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_judge_scheme_the_config_accepts_has_a_builder() -> None:
    from guiselab.judge import JUDGES
    from guiselab.refs import JUDGE_SCHEMES

    assert set(JUDGES) == set(JUDGE_SCHEMES)
