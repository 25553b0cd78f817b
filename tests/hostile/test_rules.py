"""Hostile rule files through the CLI: ``rules check``, ``rules show`` and ``scan --rules``
end in a one-line error or a clean run, in bounded time and memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.hostile.conftest import CORPUS, assert_clean, run_cli

RULES = CORPUS / "rules"
REFUSED = ["backref.yml", "billion_laughs.yml", "deep.yml", "huge_number.yml", "not_yaml.yml",
           "wrong_shape.yml"]


@pytest.mark.parametrize("name", REFUSED)
def test_bad_rule_files_are_reported_with_file_and_line(name: str) -> None:
    r = run_cli(["rules", "--no-builtin-rules", "check", "--rules", str(RULES / name)])
    assert_clean(r)
    assert r.returncode == 2 and str(RULES / name) in r.stderr


def test_a_redos_pattern_scans_a_hostile_line_in_linear_time(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text('10.0.0.1 - - [19/Jul/2001:10:23:45 +0000] "GET /' + "a" * 60_000
                   + '! HTTP/1.0" 404 1\n')
    r = run_cli(["rules", "--no-builtin-rules", "check", "--rules", str(RULES / "redos.yml")])
    assert_clean(r)
    assert r.returncode == 0 and "RE2" in r.stdout
    r = run_cli(["scan", "--json", "--no-builtin-rules", "--rules", str(RULES / "redos.yml"),
                 str(log)], timeout=30)
    assert_clean(r)
    assert r.returncode == 0 and json.loads(r.stdout)["lines"] == 1


def test_rule_text_is_escaped_when_shown() -> None:
    r = run_cli(["rules", "--no-builtin-rules", "--rules", str(RULES / "bidi_title.yml"),
                 "show", "evil"])
    assert_clean(r)
    assert r.returncode == 0 and "\\u202e" in r.stdout


def test_a_device_as_rule_file_is_refused() -> None:
    r = run_cli(["rules", "check", "--rules", "/dev/zero"], timeout=30)
    assert_clean(r)
    assert r.returncode == 2 and "not a regular file" in r.stderr
