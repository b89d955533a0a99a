"""The package layers: ``core`` ← ``jobs`` ← ``files`` ← ``entities`` ← ``runtime``, imports downward only."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "jobs", "files", "entities", "runtime"]  # each may import only those before it


def _runtime_imports(path: Path) -> set[str]:
    """Top-level packages a module imports when it runs (``if TYPE_CHECKING:`` blocks are for type checkers)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found & set(LAYERS)


def _package_graph() -> dict[str, dict[str, list[str]]]:
    """package → imported package → the modules that import it."""
    graph: dict[str, dict[str, list[str]]] = {p: {} for p in LAYERS}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in _runtime_imports(path) - {package}:
                graph[package].setdefault(imported, []).append(str(path.relative_to(ROOT)))
    return graph


def test_packages_import_only_the_layers_below_them():
    graph = _package_graph()
    upward = {f"{package} → {imported}": modules
              for package, deps in graph.items() for imported, modules in deps.items()
              if LAYERS.index(imported) > LAYERS.index(package)}
    assert upward == {}


def test_the_python_client_imports_no_package_of_the_server():
    imported = set().union(*(_runtime_imports(path) for path in (ROOT / "client").rglob("*.py")))
    assert imported == set()


def test_there_is_no_import_cycle_between_packages():
    graph = {package: set(deps) for package, deps in _package_graph().items()}
    state: dict[str, str] = {}

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*path, node, nxt]
            if nxt not in state and (found := cycle_from(nxt, [*path, node])):
                return found
        state[node] = "done"
        return None

    cycles = [c for p in LAYERS if p not in state and (c := cycle_from(p, []))]
    assert cycles == []


def test_the_layer_walk_sees_an_upward_import(tmp_path: Path):
    """The check itself: a module that imports a higher layer is found, one under TYPE_CHECKING is not."""
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import runtime.app\n"
                      "def f():\n    from entities import metadata\n")
    assert _runtime_imports(module) == {"entities"}


@pytest.mark.parametrize("package", LAYERS)
def test_each_package_imports_alone_without_the_layers_above(package: str):
    """Importing every module of a package in a fresh interpreter works and loads no higher layer."""
    code = f"""
import importlib, json, pkgutil, sys
import {package}
for info in pkgutil.walk_packages({package}.__path__, "{package}."):
    importlib.import_module(info.name)
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    above = set(LAYERS[LAYERS.index(package) + 1:])
    assert loaded & above == set()
