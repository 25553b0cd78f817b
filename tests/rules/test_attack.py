"""ATT&CK techniques of rules: the family default, the ``attack:`` key, its validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormsign.errors import RuleError
from wormsign.rules.attack import TECHNIQUES, techniques_of
from wormsign.rules.loader import load_pack
from wormsign.rules.sigma import export_rule

RULE = """\
rules:
  - id: mirai-shell
    title: Mirai-style /shell?cd+/tmp
    family: mirai-http
    severity: high
    attack: [t1190, T1059.004]
    falsepositives: [None known]
    match:
      url|contains: /shell?cd+/tmp
"""


def test_every_builtin_rule_has_a_technique_and_tactic() -> None:
    for rule in load_pack().rules:
        techs = techniques_of(rule.family, rule.attack)
        assert techs, rule.id
        assert all(t.tactic.id.startswith("TA") for t in techs)


def test_attack_key_overrides_the_family(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text(RULE)
    rule = load_pack([str(f)], builtin=False).get("mirai-shell")
    assert rule is not None and rule.attack == ("T1190", "T1059.004")
    doc = export_rule(rule).documents[0]
    assert {"attack.t1190", "attack.initial-access", "attack.t1059.004",
            "attack.execution"} <= set(doc["tags"])
    assert doc["falsepositives"] == ["None known"]
    assert rule.to_dict()["attack"] == ["T1190", "T1059.004"]


def test_unknown_technique_is_a_problem_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text(RULE.replace("T1059.004", "T9999"))
    with pytest.raises(RuleError) as info:
        load_pack([str(f)], builtin=False)
    (problem,) = info.value.problems
    assert problem.line == 2 and "T9999" in problem.message


def test_subtechniques_name_their_parent() -> None:
    for t in TECHNIQUES.values():
        assert t.is_sub == bool(t.parent_name), t.id
        assert t.reference().startswith("https://attack.mitre.org/techniques/T")


def test_exclude_is_checked_like_match(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text(RULE + "    exclude:\n      - user_agnet|contains: monitor\n")
    with pytest.raises(RuleError) as info:
        load_pack([str(f)], builtin=False)
    (problem,) = info.value.problems
    assert "unknown field 'user_agnet'" in problem.message and problem.line == 11
