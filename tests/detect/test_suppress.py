"""Suppression rules on a scan: the ignore file's model and loader, matching on columns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wormsign.detect.scanner import scan_paths
from wormsign.detect.suppress import (
    ScanSuppression,
    Suppression,
    first_match,
    glob_like,
    glob_regex,
    load_ignore_file,
    parse_until,
)
from wormsign.errors import ValidationError

CR = ("/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090"
      "%u6858%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a")
NIMDA = "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir"


def line(ip: str, url: str, minute: int = 0) -> str:
    return (f'{ip} - - [19/Jul/2001:10:{minute:02d}:00 +0000] "GET {url} HTTP/1.0" 404 306 '
            '"-" "-"\n')


@pytest.fixture
def log(tmp_path: Path) -> Path:
    p = tmp_path / "access.log"
    p.write_text("".join([line("198.51.100.7", CR, 1), line("198.51.100.8", CR, 2),
                          line("203.0.113.9", CR, 3), line("203.0.113.10", CR, 4),
                          line("10.0.0.5", "/index.html", 5)]))
    return p


def test_glob_forms_agree() -> None:
    assert glob_regex("/scripts/*cmd.exe?/c*").fullmatch(NIMDA)
    assert not glob_regex("/scripts/*").fullmatch("/x/scripts/a")
    assert glob_regex("/a%b_c*").fullmatch("/a%b_cdef")
    assert not glob_regex("/a%b_c*").fullmatch("/aXbYcdef")  # % and _ are literal
    assert glob_like("/a%b_c*") == "/a\\%b\\_c%"
    assert glob_like("/x?y") == "/x_y"


def test_until_forms() -> None:
    assert parse_until("2027-01-31") == parse_until("2027-01-31T00:00:00Z")
    assert parse_until("2027-01-31T01:00:00+01:00") == parse_until("2027-01-31T00:00:00Z")
    with pytest.raises(ValueError):
        parse_until("next week")


def test_rule_needs_reason_and_a_condition() -> None:
    with pytest.raises(ValueError):
        Suppression(id="x", reason="  ", family="nimda")
    with pytest.raises(ValueError):
        Suppression(id="x", reason="r")
    with pytest.raises(ValueError):  # host bits set
        Suppression(id="x", reason="r", source="198.51.100.7/24")
    assert Suppression(id="x", reason="r", source="::ffff:198.51.100.7").source == \
        "198.51.100.7/32"


def test_ignore_file_problems_name_their_lines(tmp_path: Path) -> None:
    p = tmp_path / "wormsign-ignore.yml"
    p.write_text("suppress:\n"
                 "  - source: 198.51.100.0/24\n"        # line 2: no reason
                 "  - rule: x\n"
                 "    reason: ok\n"
                 "    until: tomorrow\n"                # line 5: bad until
                 "    colour: red\n"                    # line 6: unknown key
                 "accept:\n"
                 "  - host: web-01\n"                   # line 8: no advisory
                 "    reason: r\n")
    with pytest.raises(ValidationError) as ei:
        load_ignore_file(p)
    text = str(ei.value)
    assert f"{p}:2" in text and "'reason' is required" in text
    assert f"{p}:5" in text and "until" in text
    assert f"{p}:6" in text and "colour" in text
    assert f"{p}:8" in text and "advisory" in text


def test_ignore_file_reads(tmp_path: Path) -> None:
    p = tmp_path / "wormsign-ignore.yml"
    p.write_text("suppress:\n  - id: lab\n    source: 198.51.100.0/24\n    reason: lab\n"
                 "    until: 2030-01-01\n"
                 "accept:\n  - host: web-01\n    advisory: CVE-2001-0500\n    reason: waf\n")
    f = load_ignore_file(p)
    assert [s.id for s in f.suppress] == ["lab"]
    assert f.suppress[0].until == parse_until("2030-01-01")
    assert f.accept[0].covers("web-01", ["MS01-033", "cve-2001-0500"])
    assert not f.accept[0].covers("web-02", ["CVE-2001-0500"])


def test_columns_agree_with_alert_by_alert(log: Path) -> None:
    report = scan_paths([str(log)])
    assert len(report.alerts) == 4
    rules = [Suppression(id="old", reason="expired", family="code-red", until=100),
             Suppression(id="lab", reason="lab", source="198.51.100.0/24"),
             Suppression(id="one", reason="one", source="203.0.113.10", path="/default.ida?*")]
    now = 1_000_000_000
    sup = ScanSuppression.apply(report.attribution, rules, now)
    by_alert = [first_match(a, rules, now) for a in report.alerts]
    assert [r.id if r else None for r in by_alert] == [
        r.id if r else None for r in (sup.rule_of(k) for k in range(len(report.alerts)))]
    assert sup.suppressed == 3 and sup.unsuppressed == 1
    doc = sup.to_json()
    assert {r["id"]: r["alerts"] for r in doc["rules"]} == {"old": 0, "lab": 2, "one": 1}
    assert [r["active"] for r in doc["rules"]] == [False, True, True]
    # the expired rule comes back when "now" is before its expiry
    assert ScanSuppression.apply(report.attribution, rules, 50).suppressed == 4


def run_scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wormsign", "scan", *args],
                          capture_output=True, text=True, check=False)


def test_scan_cli_marks_and_keeps_suppressed(log: Path, tmp_path: Path) -> None:
    ign = tmp_path / "ign.yml"
    ign.write_text("suppress:\n  - id: all-cr\n    family: code-red\n    reason: drill\n")
    out = tmp_path / "a.jsonl"
    r = run_scan(str(log), "--ignore", str(ign), "--json", "--alerts", str(out))
    assert r.returncode == 0, r.stderr  # everything found is suppressed
    doc = json.loads(r.stdout)
    assert doc["alerts"] == 4 and doc["suppressed"]["alerts"] == 4
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 4
    assert all(x["wormsign.suppressed"] and x["wormsign.suppression.id"] == "all-cr"
               for x in rows)
    ign.write_text("suppress:\n  - id: all-cr\n    family: code-red\n    reason: drill\n"
                   "    until: 2001-01-01\n")
    r = run_scan(str(log), "--ignore", str(ign))
    assert r.returncode == 1 and "expired" in r.stdout


def test_scan_cli_bad_ignore_file_is_one_line(log: Path, tmp_path: Path) -> None:
    ign = tmp_path / "ign.yml"
    ign.write_text("suppress: [1, 2\n")
    r = run_scan(str(log), "--ignore", str(ign))
    assert r.returncode == 2 and "Traceback" not in r.stderr and str(ign) in r.stderr


def test_marked_alerts_equal_the_plain_ones(tmp_path: Path) -> None:
    """The column writer's suppression marks: the same lines as without, plus the marks on
    exactly the alerts an alert-by-alert check suppresses."""
    import io

    from wormsign.detect import report as report_mod
    from wormsign.logs.synth import write_worm_heavy

    log = write_worm_heavy(tmp_path / "heavy.log", 20_000)
    report = scan_paths([str(log)])
    rules = [Suppression(id="nimda", reason="drill", family="nimda"),
             Suppression(id="net", reason="net", source="10.0.0.0/8")]
    sup = ScanSuppression.apply(report.attribution, rules, 0)
    assert 0 < sup.suppressed < len(report.alerts)
    plain, marked = io.BytesIO(), io.BytesIO()
    report_mod.write_alerts(report, plain)
    report_mod.write_alerts(report, marked, sup)
    a = [json.loads(x) for x in plain.getvalue().splitlines()]
    b = [json.loads(x) for x in marked.getvalue().splitlines()]
    assert len(a) == len(b) == len(report.alerts)
    for alert, x, y in zip(report.alerts, a, b, strict=True):
        want = first_match(alert, rules, 0)
        assert y.pop("wormsign.suppression.id", None) == (want.id if want else None)
        assert y.pop("wormsign.suppressed", None) == (True if want else None)
        y.pop("wormsign.suppression.reason", None)
        assert x == y
