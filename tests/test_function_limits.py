"""Every function in ``src/wormsign`` is short and takes few parameters (issue 15).

At most 8 parameters (positional, keyword-only, ``*args`` and ``**kwargs`` each count,
``self`` too) and at most 120 lines from ``def`` to its last line. Read with ``ast`` from the
source, so compiled (numba) functions are checked like the others. ``KNOWN`` lists functions
that are over a limit today, each to be split (none since the simulator's kernel was split into
phases); an entry that is no longer over fails, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import wormsign

SRC = Path(wormsign.__file__).parent
MAX_PARAMS = 8
MAX_LINES = 120
KNOWN: set[str] = set()


def _param_count(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    return (len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None)
            + (a.kwarg is not None))


def over_limits(root: Path) -> dict[str, str]:
    """``file:function`` -> what is over, for every function under ``root``."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            params = _param_count(node)
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            problems = []
            if params > MAX_PARAMS:
                problems.append(f"{params} parameters")
            if lines > MAX_LINES:
                problems.append(f"{lines} lines")
            if problems:
                found[f"{path.relative_to(root).as_posix()}:{node.name}"] = ", ".join(problems)
    return found


def test_no_function_over_the_limits() -> None:
    found = over_limits(SRC)
    new = {k: v for k, v in found.items() if k not in KNOWN}
    assert not new, f"over {MAX_PARAMS} parameters or {MAX_LINES} lines: {new}"


def test_known_exceptions_are_still_over() -> None:
    """An entry of ``KNOWN`` that was fixed must leave the list."""
    found = over_limits(SRC)
    fixed = sorted(KNOWN - set(found))
    assert not fixed, f"no longer over the limits, remove from KNOWN: {fixed}"


@pytest.mark.parametrize(("source", "expected"), [
    ("def f(a, b, c, d, e, f, g, h):\n    pass\n", {}),
    ("def f(a, b, c, d, e, f, g, h, i):\n    pass\n", {"m.py:f": "9 parameters"}),
    ("def f(a, /, b, *c, d, **e):\n    pass\n", {}),
    ("def f(a, /, b, *c, d, e, f, g, i, **h):\n    pass\n", {"m.py:f": "9 parameters"}),
    ("def f():\n" + "    x = 1\n" * 119, {}),
    ("def f():\n" + "    x = 1\n" * 120, {"m.py:f": "121 lines"}),
    ("class C:\n    def m(self):\n" + "        x = 1\n" * 120, {"m.py:m": "121 lines"}),
])
def test_the_check_counts_right(tmp_path: Path, source: str, expected: dict[str, str]) -> None:
    (tmp_path / "m.py").write_text(source, encoding="utf-8")
    assert over_limits(tmp_path) == expected
