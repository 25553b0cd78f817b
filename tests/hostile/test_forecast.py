"""Hostile input for ``wormsign forecast``: bad observations give a one-line error naming the
file (and line), or an explicit "not enough evidence" result; never a traceback or a
confident number. Each case runs the real command in a child process (30 s, 1 GB)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest
from tests.hostile.conftest import assert_clean, run_cli

INJECT = "code-red\u202e\x1b[2J\u2028evil"


def _alert(ts: object, ip: object, family: object = "code-red") -> str:
    return json.dumps({"@timestamp": ts, "source.ip": ip, "wormsign.family": family,
                       "event.dataset": "combined"}) + "\n"


CASES: dict[str, tuple[str, str, str]] = {
    # name: (file name, content, text the one-line error must hold)
    "unsorted": ("c.csv", "time,new_sources\n10,1\n30,2\n20,3\n", "c.csv:4"),
    "negative": ("c.csv", "time,probes\n10,1\n20,-5\n", "c.csv:3"),
    "decreasing": ("c.csv", "time,sources\n10,5\n20,9\n30,2\n", "c.csv:4"),
    "empty": ("c.csv", "", "empty"),
    "header-only": ("c.csv", "time,new_sources\n", "at least 2 rows"),
    "nan": ("c.csv", "time,new_sources\n10,1\n20,NaN\n", "c.csv:3"),
    "inf": ("c.csv", "time,new_sources\n10,1\n20,inf\n", "c.csv:3"),
    "huge": ("c.csv", "time,new_sources\n10,1\n20,1" + "0" * 400 + "\n", "c.csv:3"),
    "huge-time": ("c.csv", "time,new_sources\n1e308,1\n1e309,2\n", "c.csv:2"),
    "iso-junk": ("c.csv", "time,new_sources\n2001-07-19T10:00:00Z,1\n"
                 "2001-07-19T25:61:00Z\u202e,2\n", "c.csv:3"),
    "mixed-times": ("c.csv", "time,new_sources\n10,1\n2001-07-19T10:00:00Z,2\n", "c.csv:3"),
    "injected-header": ("c.csv", f"time,{INJECT}\n1,1\n", "header"),
    "binary": ("c.csv", "\x00\x01\x02" * 100, "binary"),
    "all-rows-bad-alerts": ("a.jsonl", "".join(
        [_alert("2001-07-19T10:00:00Z", f"10.0.0.{i}\u202e", INJECT) for i in range(50)]
        + [_alert("not a time", "10.0.0.1"), _alert(None, ["x"]), "{{{\n", "[]\n"]),
        "no observations"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_observations_are_one_line_errors(tmp_path: Path, name: str) -> None:
    fname, content, needle = CASES[name]
    p = tmp_path / fname
    p.write_text(content, encoding="utf-8")
    r = run_cli(["forecast", str(p)])
    assert_clean(r)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("wormsign: error:") and len(r.stderr.splitlines()) == 1
    assert needle in r.stderr
    assert r.stdout == ""


def test_injected_family_and_monitor_flags(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text("time,new_sources\n10,1\n20,2\n")
    for args in (["--family", INJECT], ["--monitor", INJECT], ["--at", INJECT],
                 ["--monitor", "44.0.0.0/8,\u202e1.2.3.4"]):
        r = run_cli(["forecast", str(p), *args])
        assert_clean(r)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1


def test_hostile_alerts_are_skipped_and_counted(tmp_path: Path) -> None:
    """A gzip of alerts with junk lines between good ones: the bad ones are skipped, and the
    run fails only later, for want of the fit modules, or succeeds after the merge."""
    p = tmp_path / "a.jsonl.gz"
    rows = [_alert(f"2001-07-19T10:{i:02d}:00Z", f"10.0.{i}.1") for i in range(40)]
    junk = ["\x00garbage\n", _alert("2001-07-19T10:00:00Z", "::ffff:zz"),
            _alert("2001-07-19T10:00:00Z", "10.0.0.1", INJECT), "x" * 2_000_000 + "\n"]
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write("".join(rows[:20] + junk + rows[20:]))
    from wormsign.forecast.readers import load

    obs = load([str(p)])
    assert obs.sources_total == 40 and obs.skipped == len(junk)


@pytest.mark.skipif(importlib.util.find_spec("wormsign.forecast.priors") is None,
                    reason="needs the fit modules (merged from the fit branch)")
def test_two_sources_are_not_enough_evidence(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text(_alert("2001-07-19T10:00:00Z", "10.0.0.1")
                 + _alert("2001-07-19T10:30:00Z", "10.0.0.2"))
    r = run_cli(["forecast", str(p), "--json"])
    assert_clean(r)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["status"] == "not-enough-evidence" and "t50" not in doc
    r = run_cli(["forecast", str(p)])
    assert r.returncode == 1 and r.stdout.startswith("not enough evidence")


def test_overlong_csv_cell(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text("time,new_sources\n10,1\n20," + "9" * 300_000 + "\n")
    r = run_cli(["forecast", str(p)])
    assert_clean(r)
    assert r.returncode == 2 and "c.csv:3" in r.stderr
