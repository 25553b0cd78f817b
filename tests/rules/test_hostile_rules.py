"""Hostile rule files: alias bombs, deep nesting, catastrophic regexes, odd values, devices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wormsign.errors import RuleError
from wormsign.logs.record import Request
from wormsign.rules.loader import MAX_DEPTH, load_pack
from wormsign.rules.model import Condition

RULE = """\
rules:
  - id: evil
    title: evil
    family: f
    severity: high
    match: {{url|re: '{pattern}'}}
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    p = tmp_path / "pack.yml"
    p.write_text(text)
    with pytest.raises(RuleError) as ei:
        load_pack([str(p)], builtin=False)
    return [str(pr) for pr in ei.value.problems]


@pytest.mark.timeout(10)
def test_billion_laughs_is_refused_before_expansion(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    text = ("rules:\n  - id: x\n    title: x\n    family: f\n    severity: high\n"
            "    match: {url|contains: x}\n    references:\n"
            + "".join(f"      {ln}\n" for ln in lines))
    probs = _problems(tmp_path, text)
    assert len(probs) == 1
    assert probs[0].startswith(f"{tmp_path / 'pack.yml'}:9: error: YAML syntax error: aliases")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 200_000])
def test_deep_nesting_is_a_problem_not_a_recursion_error(tmp_path: Path, depth: int) -> None:
    text = ("rules:\n  - id: x\n    title: x\n    family: f\n    severity: high\n"
            "    match: {url|contains: x}\n    references: " + "[" * depth + "]" * depth + "\n")
    probs = _problems(tmp_path, text)
    assert len(probs) == 1 and "nested deeper than" in probs[0] and ":7:" in probs[0]


def test_shallow_anchors_without_aliases_still_load(tmp_path: Path) -> None:
    p = tmp_path / "ok.yml"
    p.write_text(RULE.format(pattern="^/x$").replace("title: evil", "title: &t evil"))
    assert load_pack([str(p)], builtin=False).get("evil") is not None


@pytest.mark.timeout(10)
@pytest.mark.parametrize("pattern", [r"^/(a+)+$", r"^(a|aa)+$", r"^(.*a){20}$"])
def test_catastrophic_patterns_run_in_linear_time(tmp_path: Path, pattern: str) -> None:
    p = tmp_path / "ok.yml"
    p.write_text(RULE.format(pattern=pattern))
    rule = load_pack([str(p)], builtin=False).get("evil")
    assert rule is not None
    hostile = Request(None, "10.0.0.1", "GET", "/" + "a" * 100_000 + "!")
    assert not rule.matches(hostile)  # with Python's re this would not end
    assert rule.matches(Request(None, "10.0.0.1", "GET", "/aaaa")) == (pattern == r"^/(a+)+$")


@pytest.mark.parametrize(("pattern", "why"), [
    (r"(a)\1", "invalid escape sequence"), (r"(?<=a)b", "invalid perl operator"),
    (r"x\Z", "invalid escape sequence"), (r"(a{1000}){1000}", "invalid repetition size"),
])
def test_patterns_re2_cannot_run_are_problems_with_file_and_line(
        tmp_path: Path, pattern: str, why: str) -> None:
    probs = _problems(tmp_path, RULE.format(pattern=pattern))
    assert len(probs) == 1
    assert probs[0].startswith(f"{tmp_path / 'pack.yml'}:6: error: url|re: invalid regular")
    assert why in probs[0] and "RE2" in probs[0]


def test_rules_check_reports_them_without_noise_on_stderr(tmp_path: Path) -> None:
    p = tmp_path / "pack.yml"
    p.write_text(RULE.format(pattern=r"(a)\1"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    r = subprocess.run([sys.executable, "-m", "wormsign", "rules", "--no-builtin-rules", "check",
                        "--rules", str(p)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2
    assert "re2.cc" not in r.stderr and "Traceback" not in r.stderr
    assert "pack.yml:6" in r.stderr + r.stdout


@pytest.mark.parametrize("body", [
    "    priority: " + "9" * 5000 + "\n",
    "    priority: true\n",
    "    burst: {within: 1e999}\n",
    "    burst: {within: 10, min_requests: .inf}\n",
    "    burst: {within: " + "9" * 400 + "}\n",
    "    keywords: [{a: 1}]\n",
])
def test_odd_values_are_problems(tmp_path: Path, body: str) -> None:
    text = RULE.format(pattern="^/x$") + body
    probs = _problems(tmp_path, text)
    assert len(probs) == 1
    assert "error: rule evil:" in probs[0] or "invalid YAML value" in probs[0]


@pytest.mark.parametrize("text", [
    "families: [1, 2]\n", "families: {f: {title: {a: 1}}}\n", "rules: {a: 1}\n",
    RULE.format(pattern="x").replace("'x'", "[" + "9" * 5000 + "]"),
])
def test_wrong_shapes_are_problems(tmp_path: Path, text: str) -> None:
    assert len(_problems(tmp_path, text)) == 1


def test_a_device_or_huge_file_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "zero.yml").symlink_to("/dev/zero")
    with pytest.raises(RuleError, match="not a regular file"):
        load_pack([str(tmp_path)], builtin=False)
    with pytest.raises(RuleError, match="not a regular file"):
        load_pack(["/dev/zero"], builtin=False)


def test_lone_surrogates_in_a_value_are_matched_not_raised() -> None:
    cond = Condition("url", "re", ("^/x",))
    assert cond.test("/x\ud800")
    assert not cond.test("\ud800/x")
