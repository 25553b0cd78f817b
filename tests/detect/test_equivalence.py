"""The columnar core gives the same results as the old one (kept in ``reference/``).

Over the whole sample (as ``scripts/make_sample.py`` writes it), a worm-heavy log, every
fixture log the detect, CLI and log-reader tests write, and fuzzed inputs: the same alert
list (every field, in order), the same ``--json`` family table and source list, the same
CSV and the same per-file statistics.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detect.reference import old_report, old_scanner
from detect.test_golden import _PIECES, GOLDEN
from wormsign.detect import report
from wormsign.detect.scanner import scan_paths
from wormsign.logs.synth import (
    CODE_RED,
    CODE_RED_II,
    NIKTO_EXTRA,
    NIMDA,
    Event,
    combined_lines,
    error_lines,
    iis_lines,
    worm_heavy_lines,
    write_sample,
)
from wormsign.logs.text import safe

T0 = datetime(2001, 9, 18, 13, 0, tzinfo=UTC)


def assert_same(paths: list[str], **kw: object) -> None:
    old = old_scanner.scan_paths(paths, **kw)  # type: ignore[arg-type]
    # The old core counted records; one event across sensors is a layer above (test_events).
    new = scan_paths(paths, match=None, **kw)  # type: ignore[arg-type]
    assert [{k: v for k, v in f.to_dict().items() if k != "overlong"} for f in new.files] == [
        f.to_dict() for f in old.files]
    assert len(new.alerts) == len(old.alerts)
    assert list(new.alerts) == old.alerts
    assert [a.to_ecs() for a in new.alerts] == [a.to_ecs() for a in old.alerts]
    new_doc = report.to_json(new)
    assert new_doc.pop("events")["events"] >= len(new.alerts)
    assert new_doc == _people_text_escaped(old_report.to_json(old))
    assert _rows(report.to_csv(new)) == [[safe(c) for c in r] for r in _rows(old_report.to_csv(old))]
    out = io.StringIO()
    report.write_json(new, out)
    assert json.loads(out.getvalue()) == report.to_json(new)
    # the old lines re-encoded compactly (the new ones have no space after "," and ":"),
    # byte for byte: the same keys in the same order, the same values and escapes
    compact = [json.dumps(json.loads(x), ensure_ascii=False, separators=(",", ":")) + "\n"
               for x in old_report.ecs_lines(old.alerts)]
    assert "".join(report.ecs_lines(new.alerts)) == "".join(compact)


def _people_text_escaped(doc: dict[str, Any]) -> dict[str, Any]:
    """The old document with log text meant for people escaped, as the new one writes it
    (paths, errors, source addresses), and the new ``overlong`` count: the only intended
    differences."""
    for f in doc["files"]:
        f["overlong"] = 0
        f["path"] = safe(f["path"])
        f["error"] = safe(f["error"]) if f["error"] is not None else None
    for e in doc["errors"]:
        e["path"], e["error"] = safe(e["path"]), safe(e["error"])
    for row in doc["sources"]:
        row["ip"] = safe(row["ip"])
    return doc


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _ev(ip: str, urls: list[str], method: str = "GET", step_ms: int = 200, agent: str = "-",
        start: datetime = T0, proto: str = "HTTP/1.0") -> list[Event]:
    return [Event(start + timedelta(milliseconds=i * step_ms), ip, method, u, 404, 1, agent, "-",
                  proto) for i, u in enumerate(urls)]


def _attribution_events() -> list[Event]:
    """The scenarios of test_attribution.py, all in one log."""
    evs = _ev("6.6.6.6", list(NIMDA))
    evs += _ev("6.6.6.5", [NIMDA[0], NIMDA[2], NIMDA[4], NIMDA[10]])
    evs += _ev("7.7.7.7", [NIMDA[10]])
    evs += _ev("8.8.8.1", list(NIMDA), method="get")
    evs += _ev("8.8.8.2", list(NIMDA), step_ms=600_000)
    evs += _ev("9.9.9.9", list(NIKTO_EXTRA) * 3 + list(NIMDA) + list(NIKTO_EXTRA) * 3,
               agent="Mozilla/4.75 (Nikto/1.10 )")
    evs += _ev("5.5.5.5", [CODE_RED], start=T0 - timedelta(hours=5)) + _ev("5.5.5.5", list(NIMDA))
    evs += _ev("4.4.4.4", [CODE_RED_II]) + _ev("4.4.4.5", [CODE_RED])
    for k in range(5):
        evs += _ev("6.6.6.8", list(NIMDA), start=T0 + timedelta(seconds=61 * k))
    evs += _ev("8.8.8.3", list(NIMDA), proto="")
    evs += _ev("::ffff:10.1.2.3", [CODE_RED])
    evs += _ev("3.3.3.3", [NIMDA[0]] * 6 + [NIMDA[1]] * 2)  # too few distinct requests
    evs += _ev("3.3.3.4", list(NIMDA[:3]) + ["/index.html"] * 5)
    evs.sort(key=lambda e: e.when)
    return evs


@pytest.fixture(scope="module")
def fixture_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fixtures")
    for i, (line, _rule) in enumerate(GOLDEN):
        data = line if isinstance(line, bytes) else line.encode()
        (d / f"golden-{i:02d}.log").write_bytes(data + b"\n")
    evs = _attribution_events()
    (d / "attr-access.log").write_text("".join(combined_lines(evs)))
    (d / "attr-iis.log").write_bytes(b"".join(iis_lines(evs)))
    (d / "attr-error.log").write_bytes(b"".join(error_lines(evs)))
    (d / "ex010918.log").write_bytes(
        b"#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status\n"
        b"2001-09-18 10:00:00 1.1.1.1 GET /scripts/..\xc0\xaf../winnt/system32/cmd.exe /c+dir 404\n"
        b"2001-09-18 10:00:01 1.1.1.1 GET /scripts/..%5c../winnt/system32/cmd.exe /c+dir 404\n"
        b"2001-07-19 10:00:02 1.1.1.2 GET /default.ida " + CODE_RED[13:].encode() + b" 404\n")
    (d / "ex010719.log").write_bytes(
        b"#Software: Microsoft Internet Information Services 5.0\r\n"
        b"#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query\r\n"
        b"2001-07-19 10:00:00 40.0.0.1 GET /default.ida " + CODE_RED[13:].encode() + b"\r\n")
    (d / "nginx-error.log").write_text(
        '2001/07/19 10:23:45 [error] 1234#0: *5 open() "/usr/share/nginx/html/default.ida" '
        'failed (2: No such file or directory), client: 10.0.0.9, server: _, request: '
        f'"GET {CODE_RED} HTTP/1.0", host: "www.example.com"\n')
    dirs = ["/scripts/root.exe", "/MSADC/root.exe", "/c", "/d", "/scripts", "/_vti_bin",
            "/_mem_bin", "/msadc", "/scripts", "/scripts"]
    (d / "error_log").write_text("".join(
        f"[Tue Sep 18 13:00:0{i % 10} 2001] [error] [client 6.6.6.7] File does not exist: "
        f"/usr/local/apache/htdocs{p}\n" for i, p in enumerate(dirs)))
    line = '1.1.1.1 - - [19/Jul/2001:10:23:45 +0000] "GET {url} HTTP/1.0" 404 1 "-" "{ua}"\n'
    (d / "cli-mixed.log").write_bytes(
        line.format(url="/", ua="x").encode() + b"junk\n\xff\xfe garbage\n"
        + line.format(url=CODE_RED, ua="-").encode()
        + b'1.1.1.1\x1b[2J - - [19/Jul/2001:10:23:45 +0000] "GET ' + CODE_RED.encode()
        + b'" 404 1\n'
        + b'=cmd|calc!A1 - - [19/Jul/2001:10:23:45 +0000] "GET ' + CODE_RED.encode()
        + b'" 404 1\n'
        + b'2.2.2.2 - - [19/Jul/2001:10:23:45 -0700] "GET /scripts/root.exe?/c+dir" 404 1 '
        b'"-" "-"\r\n')
    odd_times = ["31/Feb/2001:10:00:00 +0000", "19/Jul/2001:24:00:00 +0000",
                 "19/Jul/2001:10:00:00 +2400", "19/Jul/2001:10:00:00 -0730",
                 "19/Jul/2001:10:00:00 +2359", "19/Jux/2001:10:00:00 +0000",
                 "19/Jul/1899:10:00:00 +0000", "19/Jul/2001:10:00:60 +0000",
                 "19/Jul/2001:10:00:00", "19/Jul/2001:10:00:00 +0000 x"]
    (d / "odd-times.log").write_text("".join(
        f'1.2.3.{i} - - [{t}] "GET {CODE_RED} HTTP/1.0" 404 1 "-" "-"\n'
        for i, t in enumerate(odd_times)))
    vhost = ('www.example.com:80 1.2.3.4 - - [18/Sep/2001:13:00:0{i} +0000] "GET {u} HTTP/1.0"'
             ' 404 1 "-" "-"\n')
    (d / "vhost.log").write_text("".join(vhost.format(i=i % 10, u=u)
                                         for i, u in enumerate(NIMDA)))
    (d / "zeek.log").write_text("".join(
        json.dumps({"ts": 1000842000.0 + i * 0.2, "id.orig_h": "6.6.6.9", "method": "GET",
                    "uri": u, "status_code": 404, "version": "1.0", "host": "h"}) + "\n"
        for i, u in enumerate(NIMDA)))
    (d / "eve.json").write_text("".join(
        json.dumps({"timestamp": f"2001-09-18T13:00:0{i % 10}.000000+0200",
                    "event_type": "http", "src_ip": "6.6.6.10", "tx_id": i,
                    "http": {"url": u, "http_method": "GET", "protocol": "HTTP/1.0",
                             "status": 404, "hostname": "h"}}) + "\n"
        for i, u in enumerate(NIMDA)))
    return d


def test_fixture_logs_one_by_one(fixture_logs: Path) -> None:
    for p in sorted(fixture_logs.iterdir()):
        assert_same([str(p)])


def test_fixture_logs_together(fixture_logs: Path) -> None:
    # Attribution spans files (an error log's Code Red takes the access log's family).
    assert_same([str(fixture_logs)])


def test_whole_sample(tmp_path: Path) -> None:
    write_sample(tmp_path, 20000, 2001)  # what scripts/make_sample.py writes by default
    assert_same([str(tmp_path)])


def test_test_sample(sample_dir: Path) -> None:
    assert_same([str(sample_dir)])


def test_worm_heavy_log(tmp_path: Path) -> None:
    p = tmp_path / "worm-heavy.log"
    p.write_text("".join(worm_heavy_lines(30000, seed=5)))
    assert_same([str(p)])


def test_forced_format(fixture_logs: Path) -> None:
    assert_same([str(fixture_logs / "cli-mixed.log")], fmt="common")


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES | st.binary(max_size=20), max_size=40))
def test_fuzzed_input(tmp_path: Path, parts: list[bytes]) -> None:
    p = tmp_path / "fuzz.log"
    p.write_bytes(b"".join(parts))
    assert_same([str(p)])
