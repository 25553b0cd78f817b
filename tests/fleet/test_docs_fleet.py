"""docs/fleet.md keeps up with the CLI and the knowledge base."""

from __future__ import annotations

import argparse

import pytest

from wormsign.cli.main import build_parser
from wormsign.fleet.audit import RULES
from wormsign.fleet.kb import MITIGATION_KINDS, load_kb

from .conftest import ROOT

DOC = (ROOT / "docs" / "fleet.md").read_text()


@pytest.mark.parametrize("command", ["assess", "probe"])
def test_every_option_is_documented(command: str) -> None:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        for opt in action.option_strings:
            if opt.startswith("--") and opt != "--help":
                assert f"`{opt}" in DOC or f"{opt} " in DOC, opt


def test_rules_kinds_and_advisories_are_documented() -> None:
    for rule in RULES:
        assert f"`{rule}`" in DOC
    for kind in MITIGATION_KINDS:
        assert f"`{kind}`" in DOC
    for adv in load_kb().advisories.values():
        assert adv.id in DOC and all(a in DOC for a in adv.aliases[:1])
