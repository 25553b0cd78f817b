from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.logs import iis

LOG = b"""#Software: Microsoft Internet Information Services 5.0
#Version: 1.0
#Date: 2001-07-19 00:00:01
#Fields: time c-ip cs-method cs-uri-stem cs-uri-query sc-status cs(User-Agent)
00:00:01 10.1.2.3 GET /default.ida NNNNNNNNNNNNNNNNNNNNNNNN%u9090 404 -
00:00:02 10.1.2.4 GET /index.htm - 200 Mozilla/4.0+(compatible;+MSIE+5.5)
#Fields: date time cs-uri-query cs-uri-stem c-ip sc-status cs-method
2001-07-20 01:02:03 /c+dir /scripts/..%5c../winnt/system32/cmd.exe 10.1.2.5 404 GET
this line does not fit
"""


def test_fields_any_order_and_header_changes() -> None:
    state = iis.IISState()
    lines, bad, first = iis.validate(LOG, 0, state, 5)
    assert (lines, bad, first) == (9, 1, [9])
    raw = LOG.split(b"\n")
    r1 = iis.parse_line(raw[4], state, "x.log", 5)
    assert r1 is not None
    assert r1.url.startswith("/default.ida?NNNN") and r1.status == 404 and r1.source_ip == "10.1.2.3"
    assert r1.timestamp is not None and r1.timestamp.isoformat() == "2001-07-19T00:00:01+00:00"
    r2 = iis.parse_line(raw[5], state, "x.log", 6)
    assert r2 is not None and r2.user_agent == "Mozilla/4.0 (compatible; MSIE 5.5)"
    assert r2.url == "/index.htm"
    r3 = iis.parse_line(raw[7], state, "x.log", 8)
    assert r3 is not None
    assert (r3.source_ip, r3.method, r3.url) == (
        "10.1.2.5", "GET", "/scripts/..%5c../winnt/system32/cmd.exe?/c+dir")
    assert r3.timestamp is not None and r3.timestamp.isoformat() == "2001-07-20T01:02:03+00:00"


def test_validate_across_chunks_keeps_header_state() -> None:
    state = iis.IISState()
    head, tail = LOG[:200], LOG[200:]
    cut = head.rfind(b"\n") + 1
    a = iis.validate(LOG[:cut], 0, state, 5)
    b = iis.validate(LOG[cut:], a[0], state, 5)
    assert a[1] + b[1] == 1 and b[2] == [9]
    del tail


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_never_crashes(data: bytes) -> None:
    state = iis.IISState()
    iis.validate(b"#Fields: date time c-ip cs-uri-stem\n" + data, 0, state, 5)
    for i, line in enumerate(data.split(b"\n")):
        iis.parse_line(line, state, "", i + 2)


def test_a_row_cut_short_still_shows_its_request() -> None:
    log = (b"#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status cs(User-Agent)\n"
           b"2001-07-19 10:00:00 10.1.2.3 GET /default.ida NNNNNNNNNNNNNNNNNNNNNNNN\n"
           b"garbage with three words\n")
    state = iis.IISState()
    assert iis.validate(log, 0, state, 5) == (3, 1, [3])
    r = iis.parse_line(log.split(b"\n")[1], state, "x.log", 2)
    assert r is not None and r.url == "/default.ida?NNNNNNNNNNNNNNNNNNNNNNNN" and r.status is None
