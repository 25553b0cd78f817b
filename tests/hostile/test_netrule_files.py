"""Hostile network rule files: each is refused with problems at file and line, never a
traceback, a hang or a huge allocation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wormsign.errors import ValidationError
from wormsign.rules.netloader import load_network_pack

HOSTILE = {
    "alias_bomb.yml": "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
    "deep.yml": "rules: " + "[" * 500 + "]" * 500 + "\n",
    "huge_number.yml": "rules:\n  - {id: a, title: t, family: f, severity: low, "
                       "match: {proto: tcp, dport: " + "9" * 5000 + "}}\n",
    "bool_port.yml": "rules:\n  - {id: a, title: t, family: f, severity: low, "
                     "match: {proto: tcp, dport: true}}\n",
    "float_within.yml": "rules:\n  - {id: a, title: t, family: f, severity: low, "
                        "match: {proto: tcp}, then: {within: .nan, match: {proto: udp}}}\n",
    "list_top.yml": "- 1\n- 2\n",
    "not_utf8.yml": "rules: [\xff]\n",
    "range_text.yml": "rules:\n  - {id: a, title: t, family: f, severity: low, "
                      "match: {dport: '9-1'}}\n",
    "id_shell.yml": "rules:\n  - {id: 'a;rm -rf', title: t, family: f, severity: low, "
                    "match: {proto: tcp}}\n",
    "id_not_text.yml": "rules:\n  - {id: [1], title: t, family: f, severity: low, "
                       "match: {proto: tcp}}\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_network_rule_file(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    p.write_bytes(HOSTILE[name].encode("latin-1"))
    with pytest.raises(ValidationError) as ei:
        load_network_pack([str(p)], builtin=False)
    assert ei.value.problems
    assert all(pr.path == str(p) for pr in ei.value.problems)
    assert "\n" not in str(ei.value.problems[0])


def test_fifo_is_not_read(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    p = tmp_path / "pipe.yml"
    os.mkfifo(p)
    with pytest.raises(ValidationError):
        load_network_pack([str(p)], builtin=False)
