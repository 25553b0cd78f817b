from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.logs import errorlog

CASES = [
    (b"[Thu Jul 19 10:23:45 2001] [error] [client 10.0.0.1] File does not exist: /usr/local/apache/htdocs/default.ida",
     ("10.0.0.1", None, "/usr/local/apache/htdocs/default.ida")),
    (b"[Thu Jul 19 10:23:45.123456 2001] [core:error] [pid 12:tid 34] [client 10.0.0.1:5678] AH00128: File does not exist: /var/www/html/scripts/..\\xc0\\xaf../winnt/system32/cmd.exe",
     ("10.0.0.1", None, "/var/www/html/scripts/..\\xc0\\xaf../winnt/system32/cmd.exe")),
    (b"[Tue Sep 18 10:23:45 2001] [error] [client 10.0.0.2] Invalid method in request get /scripts/..%5c../winnt/system32/cmd.exe?/c+dir",
     ("10.0.0.2", "get", "/scripts/..%5c../winnt/system32/cmd.exe?/c+dir")),
    (b"[Tue Sep 18 10:23:45 2001] [error] [client 10.0.0.2] File does not exist: /var/www/html/msadc, referer: http://x/",
     ("10.0.0.2", None, "/var/www/html/msadc")),
]


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_cases(line: bytes, expected: tuple[object, ...]) -> None:
    r = errorlog.parse_line(line)
    assert r is not None
    assert (r.source_ip, r.method, r.url) == expected
    assert errorlog.validate(line + b"\n", 0, 5) == (1, 0, [])


def test_notice_lines_are_valid_but_not_requests() -> None:
    line = b"[Thu Jul 19 10:23:45 2001] [notice] Apache/1.3.20 (Unix) configured"
    assert errorlog.parse_line(line) is None
    assert errorlog.validate(line + b"\nnot an error log\n", 0, 5) == (2, 1, [2])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_never_crashes(data: bytes) -> None:
    errorlog.parse_line(b"[Thu Jul 19 10:23:45 2001] [error] [client 1.2.3.4] " + data)
    errorlog.parse_line(data)
    errorlog.validate(data, 0, 5)


def test_nginx_error_log() -> None:
    line = (b'2001/07/19 10:23:45 [error] 1234#0: *5 open() "/usr/share/nginx/html/default.ida" '
            b'failed (2: No such file or directory), client: 10.0.0.9, server: _, request: '
            b'"GET /default.ida?NNNNNNNNNNNNNNNNNNNNNNNNN%u9090=a HTTP/1.1", host: "www.example.com"')
    r = errorlog.nginx_parse_line(line)
    assert r is not None
    assert (r.source_ip, r.method, r.url, r.protocol, r.host) == (
        "10.0.0.9", "GET", "/default.ida?NNNNNNNNNNNNNNNNNNNNNNNNN%u9090=a", "HTTP/1.1",
        "www.example.com")
    assert errorlog.nginx_validate(line + b"\nnope\n", 0, 5) == (2, 1, [2])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_nginx_never_crashes(data: bytes) -> None:
    errorlog.nginx_parse_line(b"2001/07/19 10:23:45 [error] 1#0: *5 " + data)
    errorlog.nginx_parse_line(data)
