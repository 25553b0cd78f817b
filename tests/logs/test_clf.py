from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.logs import clf
from wormsign.logs.normalize import canonical_ip
from wormsign.logs.synth import CODE_RED

CORPUS = [
    # (line, prefix tokens, expected (ip, method, url, status, protocol, user agent, host))
    (b'10.0.0.1 - - [19/Jul/2001:10:23:45 -0700] "GET /index.html HTTP/1.1" 200 512 "-" "Lynx"',
     3, ("10.0.0.1", "GET", "/index.html", 200, "HTTP/1.1", "Lynx", None)),
    (b'10.0.0.1 - - [19/Jul/2001:10:23:45 +0000] "GET /index.html HTTP/1.0" 304 -',
     3, ("10.0.0.1", "GET", "/index.html", 304, "HTTP/1.0", None, None)),
    (b'10.0.0.2 - - [18/Sep/2001:13:00:00 +0000] "get /scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir" 400 300 "-" "-"',
     3, ("10.0.0.2", "get", "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir", 400, None, None, None)),
    (('10.0.0.3 - - [19/Jul/2001:10:23:45 +0000] "GET ' + CODE_RED + ' HTTP/1.0" 200 1 "-" "-"').encode(),
     3, ("10.0.0.3", "GET", CODE_RED, 200, "HTTP/1.0", None, None)),
    (b'www.example.com:80 10.0.0.4 - - [19/Jul/2001:10:23:45 +0000] "GET / HTTP/1.0" 200 5 "-" "x y"',
     4, ("10.0.0.4", "GET", "/", 200, "HTTP/1.0", "x y", "www.example.com:80")),
    # truncated by the logger in the middle of the request line
    (b'10.0.0.5 - - [19/Jul/2001:10:23:45 +0000] "GET /default.ida?NNNNNNNNNNNNNNNNNNNNNNNNNN',
     3, ("10.0.0.5", "GET", "/default.ida?NNNNNNNNNNNNNNNNNNNNNNNNNN", None, None, None, None)),
    # escaped quote inside the user agent
    (b'10.0.0.6 - - [19/Jul/2001:10:23:45 +0000] "GET / HTTP/1.0" 200 5 "-" "a \\"b\\" c"',
     3, ("10.0.0.6", "GET", "/", 200, "HTTP/1.0", 'a \\"b\\" c', None)),
]


@pytest.mark.parametrize(("line", "tokens", "expected"), CORPUS)
def test_corpus(line: bytes, tokens: int, expected: tuple[object, ...]) -> None:
    r = clf.parse_line(line, tokens)
    assert r is not None
    assert (r.source_ip, r.method, r.url, r.status, r.protocol, r.user_agent, r.host) == expected
    n, bad, _ = clf.validate(line + b"\n", tokens, 5)
    assert (n, bad) == (1, 0)


def test_time_zone_converted_to_utc() -> None:
    r = clf.parse_line(CORPUS[0][0], 3)
    assert r is not None and r.timestamp == datetime(2001, 7, 19, 17, 23, 45, tzinfo=UTC)


def test_invalid_utf8_and_control_chars_are_escaped() -> None:
    r = clf.parse_line(b'1.2.3.4 - - [19/Jul/2001:10:23:45 +0000] "GET /\xc0\xaf\x1b[31m HTTP/1.0" 404 1', 3)
    assert r is not None
    assert r.url == "/\\xc0\\xaf\\x1b[31m"
    assert "\x1b" not in r.url


def test_validate_counts_bad_lines_with_numbers() -> None:
    good = b'1.2.3.4 - - [19/Jul/2001:10:23:45 +0000] "GET / HTTP/1.0" 200 1\n'
    buf = good + b"garbage line\n" + good + b"\n" + b"\x00\x01\x02\n" + good
    for force in (False, True):
        assert clf.validate(buf, 3, 5, force_python=force) == (6, 2, [2, 5])


def test_validate_limits_reported_line_numbers() -> None:
    buf = b"bad\n" * 10
    lines, bad, first = clf.validate(buf, 3, 3)
    assert (lines, bad, first) == (10, 10, [1, 2, 3])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_c_and_python_validators_agree(data: bytes) -> None:
    for tokens in (3, 4):
        assert clf.validate(data, tokens, 100) == clf.validate(data, tokens, 100, force_python=True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parser_never_crashes(data: bytes) -> None:
    for tokens in (3, 4):
        clf.parse_line(data, tokens)


_token = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\[]'),
                 min_size=1, max_size=15)
_url = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\'),
               min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(ip=st.ip_addresses().map(str), method=st.sampled_from(["GET", "get", "POST", "HEAD"]), url=_url,
       status=st.integers(100, 599), size=st.integers(0, 10**9), ua=_url)
def test_parse_of_format_roundtrips(ip: str, method: str, url: str, status: int, size: int,
                                    ua: str) -> None:
    line = f'{ip} - - [19/Jul/2001:10:23:45 +0000] "{method} {url} HTTP/1.0" {status} {size} "-" "{ua}"'
    r = clf.parse_line(line.encode(), 3)
    assert r is not None
    assert (r.source_ip, r.method, r.url, r.status, r.size, r.user_agent) == (
        canonical_ip(ip), method, url, status, size, ua if ua != "-" else None)


def test_apache13_unescaped_quotes_in_the_request_line() -> None:
    line = (b'1.2.3.4 - - [18/Sep/2001:10:00:00 +0000] "GET /scripts/..%c0%af../winnt/system32/'
            b'cmd.exe?/c+dir+"c:\\" HTTP/1.0" 200 1234 "-" "Mozilla/4.75 (Nikto/1.10 )"')
    r = clf.parse_line(line, 3)
    assert r is not None
    assert r.status == 200 and r.size == 1234 and r.protocol == "HTTP/1.0"
    assert r.url == '/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir+"c:\\"'
    assert r.user_agent == "Mozilla/4.75 (Nikto/1.10 )"
