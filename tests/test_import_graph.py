"""No import cycle inside the wormsign package.

The graph is built with `ast` from the source files, not by importing them, so an import
hidden inside a function body counts as much as one at the top of a module: both tie the
two modules together for whoever reads or changes them. Relative imports are resolved and
`from package import name` is an edge to `package.name` when that is a module, otherwise to
`package`. Imports under `if TYPE_CHECKING:` are left out on purpose: they never run, and
they are the standard way for two modules to name each other's types in annotations.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import wormsign

PACKAGE = "wormsign"
ROOT = Path(wormsign.__file__).resolve().parent


def _module_names() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    names: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    """True for `if TYPE_CHECKING:` and `if typing.TYPE_CHECKING:`."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement anywhere in the tree, except under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom,
             modules: dict[str, Path]) -> set[str]:
    """The wormsign modules one import statement makes `module` depend on."""
    if isinstance(node, ast.Import):
        return {_owning(alias.name, modules) for alias in node.names} - {""}
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base]) if base else ".".join(anchor)
    out: set[str] = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.add(sub if sub in modules else _owning(base, modules))
    return out - {""}


def _owning(name: str, modules: dict[str, Path]) -> str:
    """The longest wormsign module that `name` names or lies in; "" when outside."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return ""


def import_graph() -> dict[str, set[str]]:
    """Module -> the wormsign modules it imports (anywhere in its body)."""
    modules = _module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _imports(tree):
            edges |= _targets(name, is_package, node, modules)
        edges.discard(name)
        graph[name] = edges
    return graph


def _ancestors(module: str) -> set[str]:
    """Packages whose __init__ runs before `module` anyway (importing a parent is no cycle)."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a closed path of module names, or None.

    Edges from a module to one of its own parent packages are ignored: Python has already
    run the parent's `__init__` before the child, so that is not an ordering constraint.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for start in sorted(graph):
        if colour[start] != white:
            continue
        path = [start]
        iters = [iter(sorted(graph[start] - _ancestors(start)))]
        colour[start] = grey
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                iters.pop()
            elif colour.get(nxt, black) == grey:
                return [*path[path.index(nxt):], nxt]
            elif colour.get(nxt) == white:
                colour[nxt] = grey
                path.append(nxt)
                iters.append(iter(sorted(graph[nxt] - _ancestors(nxt))))
    return None


def test_graph_sees_imports_inside_functions() -> None:
    """The graph is not empty and follows relative and `from package import module` forms."""
    graph = import_graph()
    assert "wormsign.fleet.audit" in graph
    assert any(graph.values())


def test_find_cycle_reports_a_cycle() -> None:
    """The checker itself finds a cycle when there is one."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_and_inner_imports_are_edges() -> None:
    """`from . import x` inside a function resolves to the sibling module."""
    tree = ast.parse("def f():\n    from . import b\n    from .c import name\n")
    modules = {"p": Path(), "p.a": Path(), "p.b": Path(), "p.c": Path()}
    edges: set[str] = set()
    for node in _imports(tree):
        edges |= _targets("p.a", False, node, modules)
    assert edges == {"p.b", "p.c"}


def test_type_checking_imports_are_left_out() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.b\n")
    assert [n for n in _imports(tree) if isinstance(n, ast.Import)] == []


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


SUBPACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_no_import_cycle_within_subpackage(sub: str) -> None:
    """Per subpackage too, so a cycle in one area does not hide the state of the others."""
    prefix = f"{PACKAGE}.{sub}"
    inside = {m: {x for x in e if x.startswith(prefix)}
              for m, e in import_graph().items() if m.startswith(prefix)}
    cycle = find_cycle(inside)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
