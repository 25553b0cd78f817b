"""The network pack loader: the built-in pack, and every problem with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormsign.errors import ValidationError
from wormsign.rules.loader import load_pack
from wormsign.rules.netloader import Range, load_network_pack


def test_builtin_network_pack_and_not_in_the_request_rules() -> None:
    pack = load_network_pack()
    slammer = pack.get("slammer-udp-1434")
    assert slammer is not None and slammer.match.orig_bytes == (Range(376, 376),)
    assert pack.families["slammer"].worm
    assert not {r.id for r in pack.rules} & {r.id for r in load_pack().rules}


def test_user_rule_replaces_builtin(tmp_path: Path) -> None:
    p = tmp_path / "net.yml"
    p.write_text("rules:\n  - id: slammer-udp-1434\n    title: t\n    family: slammer\n"
                 "    severity: high\n    match: {proto: udp, dport: '1400-1500'}\n")
    rule = load_network_pack([str(p)]).get("slammer-udp-1434")
    assert rule is not None and rule.severity == "high"
    assert rule.match.dport == (Range(1400, 1500),)


def test_every_problem_with_its_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yml"
    p.write_text(
        "rules:\n"
        "  - id: a\n"                       # 2
        "    title: t\n"
        "    family: f\n"
        "    severity: huge\n"              # 5
        "    match:\n"
        "      proto: sctp\n"               # 7
        "      dport: 70000\n"              # 8
        "  - id: b\n"
        "    title: t\n"
        "    family: f\n"
        "    severity: high\n"
        "    match: {proto: tcp}\n"
        "    then:\n"
        "      within: -1\n"                # 15
        "      direction: sideways\n"       # 16
        "      match: {colour: red}\n"      # 17
    )
    with pytest.raises(ValidationError) as ei:
        load_network_pack([str(p)], builtin=False)
    lines = sorted(pr.line or 0 for pr in ei.value.problems)
    assert lines == [5, 7, 8, 15, 16, 17]
    assert all(pr.path == str(p) for pr in ei.value.problems)
    text = str(ei.value)
    assert "sctp" in text and "sideways" in text and "colour" in text


def test_aliases_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "alias.yml"
    p.write_text("rules:\n  - &r {id: a, title: t, family: f, severity: low, "
                 "match: {proto: tcp}}\n  - *r\n")
    with pytest.raises(ValidationError):
        load_network_pack([str(p)], builtin=False)
