"""Golden tests: a log line, the rule id its alert must carry (or none)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wormsign.detect.scanner import scan_paths
from wormsign.logs.synth import CODE_RED, CODE_RED_II

T = "[19/Jul/2001:10:23:45 +0000]"


def one(tmp_path: Path, line: str | bytes, name: str = "a.log") -> list[str]:
    p = tmp_path / name
    data = line if isinstance(line, bytes) else line.encode()
    p.write_bytes(data + b"\n")
    return [a.rule_id for a in scan_paths([str(p)]).alerts]


GOLDEN = [
    (f'1.1.1.1 - - {T} "GET {CODE_RED} HTTP/1.0" 404 205 "-" "-"', "code-red"),
    (f'1.1.1.1 - - {T} "GET {CODE_RED} HTTP/1.0" 200 205 "-" "-"', "code-red"),   # any status
    (f'1.1.1.1 - - {T} "get {CODE_RED}" 400 205 "-" "-"', "code-red"),            # lowercase, no version
    (f'1.1.1.1 - - {T} "GET {CODE_RED[:90]}', "code-red"),                        # truncated line
    (f'1.1.1.1 - - {T} "GET {CODE_RED_II} HTTP/1.0" 404 205 "-" "-"', "code-red-ii"),
    (f'1.1.1.1 - - {T} "GET /default.ida?{"A" * 300} HTTP/1.0" 404 1', "isapi-ida-overflow"),
    (f'1.1.1.1 - - {T} "GET /query.idq HTTP/1.0" 404 1', "isapi-ida-access"),
    (f'1.1.1.1 - - {T} "GET /NULL.printer HTTP/1.0" 404 1', "isapi-printer"),
    (f'1.1.1.1 - - {T} "GET /iisadmpwd/aexp.htr HTTP/1.0" 404 1', "isapi-htr"),
    (f'1.1.1.1 - - {T} "GET /scripts/root.exe?/c+dir HTTP/1.0" 404 1', "crii-root-exe"),
    (f'1.1.1.1 - - {T} "GET /scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir HTTP/1.0" 404 1',
     "iis-unicode-traversal"),
    (f'1.1.1.1 - - {T} "GET /scripts/..%255c../winnt/system32/cmd.exe?/c+dir HTTP/1.0" 404 1',
     "iis-double-decode"),
    (f'1.1.1.1 - - {T} "GET /scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir HTTP/1.0" 400 1',
     "iis-double-decode"),
    (f'1.1.1.1 - - {T} "GET /winnt/system32/%63md.exe?/c+dir HTTP/1.0" 404 1', "cmd-exe-access"),
    (f'1.1.1.1 - - {T} "GET /cgi-bin/../../etc/hosts HTTP/1.0" 404 1', "path-traversal"),
    (f'1.1.1.1 - - {T} "GET / HTTP/1.0" 200 1 "-" "Mozilla/4.75 (Nikto/1.10 )"',
     "scanner-user-agent"),
    (f'1.1.1.1 - - {T} "GET /index.html HTTP/1.0" 200 1 "-" "Mozilla/4.0"', None),
    (f'1.1.1.1 - - {T} "GET /search?q=%2Fidaho%2F HTTP/1.0" 200 1 "-" "-"', None),
    (b"[Thu Jul 19 10:23:45 2001] [error] [client 1.1.1.1] File does not exist: "
     b"/var/www/html/scripts/..\\xc0\\xaf../winnt/system32/cmd.exe", "iis-unicode-traversal"),
    (b"[Thu Jul 19 10:23:45 2001] [error] [client 1.1.1.1] File does not exist: "
     b"/var/www/html/default.ida", "code-red-error-log"),
    (b"[Thu Jul 19 10:23:45 2001] [error] [client 1.1.1.1] File does not exist: "
     b"/var/www/html/query.idq", "isapi-ida-access"),
    (b"[Thu Jul 19 10:23:45 2001] [error] [client 1.1.1.1] File does not exist: "
     b"/var/www/html/scripts", None),
]


@pytest.mark.parametrize(("line", "rule"), GOLDEN)
def test_golden(tmp_path: Path, line: str | bytes, rule: str | None) -> None:
    assert one(tmp_path, line) == ([rule] if rule else [])


def test_iis_one_level_decoded_forms(tmp_path: Path) -> None:
    head = b"#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status\n"
    body = (b"2001-09-18 10:00:00 1.1.1.1 GET /scripts/..\xc0\xaf../winnt/system32/cmd.exe /c+dir 404\n"
            b"2001-09-18 10:00:01 1.1.1.1 GET /scripts/..%5c../winnt/system32/cmd.exe /c+dir 404\n"
            b"2001-07-19 10:00:02 1.1.1.2 GET /default.ida " + CODE_RED[13:].encode() + b" 404\n")
    p = tmp_path / "ex010918.log"
    p.write_bytes(head + body)
    rep = scan_paths([str(p)])
    assert rep.files[0].format == "iis-w3c"
    assert [a.rule_id for a in rep.alerts] == [
        "iis-unicode-traversal", "iis-double-decode", "code-red"]
    assert rep.alerts[0].url == "/scripts/..\\xc0\\xaf../winnt/system32/cmd.exe?/c+dir"


def test_nginx_error_log_code_red(tmp_path: Path) -> None:
    line = ('2001/07/19 10:23:45 [error] 1234#0: *5 open() "/usr/share/nginx/html/default.ida" '
            'failed (2: No such file or directory), client: 10.0.0.9, server: _, request: '
            f'"GET {CODE_RED} HTTP/1.0", host: "www.example.com"')
    rep_ids = one(tmp_path, line, "error.log")
    assert rep_ids == ["code-red"]


_PIECES = st.sampled_from([
    b"1.2.3.4 - - [19/Jul/2001:10:23:45 +0000] \"GET ", CODE_RED.encode(), b"/scripts/..%c0%af..",
    b"cmd.exe", b"root.exe", b"\" 404 1 \"-\" \"-\"", b"\n", b"#Fields: date time c-ip\n",
    b"[Thu Jul 19 10:23:45 2001] [error] [client 1.1.1.1] File does not exist: ", b"\xc0\xaf",
    b"%%35%63", b"\x00", b"{\"event_type\": \"http\"", b"\t", b" ", b"]", b"\"",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES | st.binary(max_size=20), max_size=40))
def test_no_input_crashes_the_scanner(tmp_path: Path, parts: list[bytes]) -> None:
    p = tmp_path / "fuzz.log"
    p.write_bytes(b"".join(parts))
    rep = scan_paths([str(p)])
    f = rep.files[0]
    assert f.error is not None or f.lines == f.parsed + f.skipped


def test_alerts_from_elsewhere_with_mapped_addresses_read_as_ipv4() -> None:
    from wormsign.detect.alert import Alert

    a = Alert.from_ecs({"source.ip": "::FFFF:10.1.2.3", "rule.id": "code-red"})
    assert a.source_ip == "10.1.2.3"
