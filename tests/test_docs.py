"""The README's promises: its first two commands, the CI test command, the CLI it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wormsign.cli.main import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks() -> list[str]:
    return re.findall(r"```(?:bash|console)?\n(.*?)```", README, flags=re.S)


def test_readme_starts_with_the_two_commands() -> None:
    first, second = _blocks()[:2]
    assert "wormsign scan sample" in first and "make_sample.py" in first
    assert "pip install" in second and "pytest" in second
    assert README.index(first) < README.index("## ")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    second = _blocks()[1]
    assert "-e '.[all,test]'" in second and "-e '.[all,test]'" in ci
    assert "python -m pytest" in second and "python -m pytest" in ci


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_in_the_readme_has_help(command: str) -> None:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if a.dest == "command")
    assert command in sub.choices, f"the README shows `wormsign {command}`, which is not a command"  # type: ignore[operator]
    assert f"wormsign {command}" in README
    help_text = sub.choices[command].format_help()  # type: ignore[index]
    assert command in help_text


SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "build", "dist", ".mypy_cache",
             ".ruff_cache", ".pytest_cache", ".hypothesis", "__pycache__", "tests"}


def test_no_file_cites_a_reference_file_users_do_not_have() -> None:
    """Users of the repository have no REFERENCE.md: docs and data cite the published
    sources themselves (Moore, Shannon & Brown 2002; Staniford, Paxson & Weaver 2002; ...)."""
    offenders = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        if b"REFERENCE" + b".md" in path.read_bytes():
            offenders.append(str(rel))
    assert offenders == []
    readme_sources = ("Moore, Shannon and Brown", "IMW 2002")
    assert all(s in README for s in readme_sources)
    sim_doc = (ROOT / "docs" / "sim.md").read_text()
    for source in ("Staniford", "Zou", "Moore", "CAIDA", "eEye", "CA-2001-19"):
        assert source in sim_doc, source
