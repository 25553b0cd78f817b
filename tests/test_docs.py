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
    if command not in sub.choices:  # type: ignore[operator]
        pytest.skip(f"{command} not built yet")
    assert f"wormsign {command}" in README
    help_text = sub.choices[command].format_help()  # type: ignore[index]
    assert command in help_text
