"""Hostile triage inputs: ignore files, OpenVEX documents, MaxMind databases and marks that
try to crash, hang or smuggle control characters end in one-line errors or escaped text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostile.conftest import assert_clean, run_cli

LOG_LINE = ('198.51.100.7 - - [19/Jul/2001:10:00:00 +0000] "GET /default.ida?'
            + "N" * 224 + '%u9090%u6858%ucbd3%u7801 HTTP/1.0" 404 306 "-" "-"\n')

IGNORE_FILES = {
    "alias-bomb": "a: &a [x, x]\nb: &b [*a, *a]\nsuppress: [*b]\n",
    "deep": "suppress: " + "[" * 5000 + "]" * 5000 + "\n",
    "not-a-mapping": "- just\n- a list\n",
    "bad-cidr": "suppress:\n  - source: 999.1.2.3/8\n    reason: x\n",
    "control-reason": "suppress:\n  - family: code-red\n    reason: \"evil\\u202e\\x1b[31m\"\n",
    "huge-number": "suppress:\n  - family: x\n    reason: y\n    until: " + "9" * 5000 + "\n",
    "binary": "\udcff\udcfe",
}


@pytest.mark.parametrize("name", sorted(IGNORE_FILES))
def test_hostile_ignore_files(name: str, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(LOG_LINE)
    ign = tmp_path / "ignore.yml"
    ign.write_bytes(IGNORE_FILES[name].encode("utf-8", "surrogateescape"))
    r = run_cli(["scan", str(log), "--ignore", str(ign)])
    assert_clean(r)
    if name != "control-reason":
        assert r.returncode == 2 and str(ign) in r.stderr


def test_hostile_marks_and_vex(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    r = run_cli(["incident", "--db", db, "new", "hostile"])
    assert_clean(r)
    for args in (["--source", "1.2.3.4\u202e", "--verdict", "false-positive"],
                 ["--rule", "x\x1b[2J", "--verdict", "note", "--note", "a\u2028b"],
                 ["--alert", "-1", "--verdict", "confirmed"],
                 ["--source", "1.2.3.4", "--verdict", "false-positive", "--until", "\x07soon"]):
        assert_clean(run_cli(["triage", "--db", db, "mark", "1", *args]))
    assert_clean(run_cli(["triage", "--db", db, "enrich", "1", "--country-db",
                          str(tmp_path / "missing.mmdb")]))
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"\xab\xcd\xefMaxMind.com" * 1000)
    assert_clean(run_cli(["triage", "--db", db, "enrich", "1", "--country-db", str(junk)]))
    vex = tmp_path / "vex.json"
    vex.write_text(json.dumps({"statements": [{"status": "fixed\u202e", "products": [1],
                                               "vulnerability": {"name": ["x"]}}]}))
    inv = tmp_path / "inv.csv"
    inv.write_text("host,software,version\nweb,IIS,5.0\n")
    r = run_cli(["assess", str(inv), "--vex", str(vex), "--outbreak-model", "closed-form"])
    assert_clean(r)
    assert r.returncode == 2
