from __future__ import annotations

from pathlib import Path

import pytest

from wormsign.errors import RuleError
from wormsign.rules.loader import load_pack

REQUIRED = {"code-red", "code-red-ii", "nimda", "crii-root-exe", "iis-unicode-traversal",
            "iis-double-decode", "cmd-exe-access", "isapi-ida-overflow", "isapi-printer",
            "isapi-htr"}


def test_builtin_pack_has_the_required_rules_with_references() -> None:
    pack = load_pack()
    ids = {r.id for r in pack.rules}
    assert ids >= REQUIRED
    for r in pack.rules:
        assert r.title and r.family and r.severity and r.references, r.id
    assert pack.get("code-red").references["cve"] == ["CVE-2001-0500"]  # type: ignore[union-attr]
    assert 1256 in pack.get("crii-root-exe").references["snort"]  # type: ignore[union-attr]


def test_every_problem_is_reported_with_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yml"
    p.write_text(
        "rules:\n"
        "  - id: one\n"
        "    title: missing family\n"
        "    severity: high\n"
        "    match: {url|contains: x}\n"
        "  - id: two\n"
        "    title: bad regex\n"
        "    family: f\n"
        "    severity: high\n"
        "    match: {url|re: '(unclosed'}\n"
        "  - id: three\n"
        "    title: bad severity and field\n"
        "    family: f\n"
        "    severity: apocalyptic\n"
        "    match: {nosuchfield|contains: x}\n"
    )
    with pytest.raises(RuleError) as ei:
        load_pack([str(p)])
    probs = ei.value.problems
    text = str(ei.value)
    assert len(probs) == 4
    # rule-level problems point at the rule, condition problems at its match mapping
    assert {pr.line for pr in probs} == {2, 10, 11, 15}
    assert all(pr.path == str(p) for pr in probs)
    assert "missing 'family'" in text and "invalid regular expression" in text
    assert "apocalyptic" in text and "nosuchfield" in text


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.yml"
    p.write_text("rules:\n  - id: x\n    title: [unclosed\n")
    with pytest.raises(RuleError) as ei:
        load_pack([str(p)])
    assert ei.value.problems[0].line is not None and "YAML" in str(ei.value)


def test_user_rule_extends_and_overrides(tmp_path: Path) -> None:
    p = tmp_path / "mine.yml"
    p.write_text(
        "- id: code-red\n  title: mine\n  family: code-red\n  severity: low\n"
        "  match: {url|contains: default.ida}\n"
        "- id: my-probe\n  title: mine too\n  family: custom\n  severity: low\n"
        "  match: {path|endswith: /secret.asp}\n"
    )
    pack = load_pack([str(tmp_path)])
    assert pack.get("code-red").title == "mine"  # type: ignore[union-attr]
    assert pack.get("my-probe") is not None and "custom" in pack.families


@pytest.mark.parametrize("burst", [
    "{within: -1}", "{within: .nan}", "{max_other_share: 7}", "{min_requests: 0}",
    "{methods: get}",
])
def test_bad_burst_settings_are_problems(tmp_path: Path, burst: str) -> None:
    p = tmp_path / "b.yml"
    p.write_text("- id: b\n  title: t\n  family: f\n  severity: low\n"
                 f"  match: {{url|contains: x}}\n  burst: {burst}\n")
    with pytest.raises(RuleError, match="burst"):
        load_pack([str(p)])


def test_misspelled_top_level_key_is_a_problem(tmp_path: Path) -> None:
    p = tmp_path / "typo.yml"
    p.write_text("rule:\n  - id: x\n    title: t\n    family: f\n    severity: low\n"
                 "    match: {url|contains: x}\n")
    with pytest.raises(RuleError, match="unknown top-level key 'rule'"):
        load_pack([str(p)])


def test_builtin_pack_parses_the_same_with_libyaml() -> None:
    from wormsign.rules import loader

    if loader._BuiltinLoader is None:
        pytest.skip("PyYAML without libyaml")
    for name, text in loader._builtin_files():
        assert loader.parse_text(text, name, builtin=True) == loader.parse_text(text, name)


def test_builtin_patterns_compile_when_first_used_and_all_compile() -> None:
    """The built-in pack's patterns are not compiled at load (start-up time); every one of
    them compiles (this test is the check the loader skips for them)."""
    pack = load_pack()
    conds = [c for r in pack.rules for conj in (*r.match, *r.exclude) for c in conj]
    assert conds and all(c._compiled == () for c in conds)
    for c in conds:
        assert len(c._patterns()) == len(c.values)
    assert all(len(c._compiled) == len(c.values) for c in conds)


def test_user_pack_patterns_are_checked_at_load(tmp_path: Path) -> None:
    f = tmp_path / "mine.yml"
    f.write_text("rules:\n  - id: mine\n    title: t\n    family: scanner\n"
                 "    severity: low\n    match:\n      url|re: '(?<=a)b'\n")
    with pytest.raises(RuleError) as exc:
        load_pack([str(f)])
    assert "mine.yml:7" in str(exc.value) and "invalid regular expression" in str(exc.value)
