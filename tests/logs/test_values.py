"""One bad value never crashes a reader; only canonical addresses become sources."""

from __future__ import annotations

import json

import pytest

from wormsign.logs import clf, errorlog, eve, iis, zeek
from wormsign.logs.normalize import bounded_int, canonical_ip, status_code
from wormsign.logs.text import clean


@pytest.mark.parametrize(("text", "want"), [
    ("10.1.2.3", "10.1.2.3"),
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("::ffff:10.1.2.3", "10.1.2.3"),
    ("::", "::"),
    ("2a00:1450:4001::1%x}", None),
    ("fe80::1%eth0", None),
    ("10.1.2.3\n", None),
    (" 10.1.2.3", None),
    ("10.1.2.3\ntable inet pwn {}", None),
    ("010.1.2.3", None),
    ("crawl.example.com", None),
    ("١٠.1.2.3", None),
    ("", None),
    ("1" * 100, None),
    (None, None),
    (12, None),
    ({"ip": "1.2.3.4"}, None),
])
def test_canonical_ip(text: object, want: str | None) -> None:
    assert canonical_ip(text) == want


@pytest.mark.parametrize(("value", "want"), [
    ("200", 200), (404, 404), ("²", None), ("1e999", None), (float("nan"), None),
    (float("inf"), None), (True, None), ("9" * 30, None), (10**30, None), ({"a": 1}, None),
    ("-1", None), ("", None), ("٣٠٠", None), (99, None), (1000, None),
])
def test_status_code(value: object, want: int | None) -> None:
    assert status_code(value) == want


def test_bounded_int_limits() -> None:
    assert bounded_int("9223372036854775807") == 2**63 - 1
    assert bounded_int("9223372036854775808") is None
    assert bounded_int("0") == 0


def test_clean_escapes_surrogates_and_controls() -> None:
    assert clean("a\ud800b\nc\u202e") == "a\\ud800b\\x0ac\u202e"
    clean("a\ud800b").encode("utf-8")  # encodable afterwards


@pytest.mark.parametrize("stamp", ["01/Jan/0001:00:30:00 +0100", "31/Dec/9999:23:30:00 -0100",
                                   "99/Jan/2001:00:00:00 +0000", "01/Jan/²001:00:00:00 +0000"])
def test_clf_time_out_of_range_is_none_and_the_line_kept(stamp: str) -> None:
    line = f'10.0.0.1 - - [{stamp}] "GET /default.ida?NNNN HTTP/1.0" 404 -'.encode()
    r = clf.parse_line(line, 3)
    assert r is not None and r.timestamp is None and r.url == "/default.ida?NNNN"


def test_clf_zone_id_source_is_no_request_and_a_counted_skip() -> None:
    line = b'2a00:1450:4001::1%x} - - [19/Jul/2001:10:23:45 +0000] "GET /default.ida HTTP/1.0" 404 1'
    assert clf.parse_line(line, 3) is None
    good = b'::ffff:10.0.0.1 - - [19/Jul/2001:10:23:45 +0000] "GET /default.ida HTTP/1.0" 404 1'
    r = clf.parse_line(good, 3)
    assert r is not None and r.source_ip == "10.0.0.1"
    for force in (False, True):
        assert clf.validate(line + b"\n" + good + b"\n", 3, 5, force_python=force) == (2, 1, [1])


def test_clf_huge_size_is_none() -> None:
    line = b'10.0.0.1 - - [19/Jul/2001:10:23:45 +0000] "GET / HTTP/1.0" 200 ' + b"9" * 30
    r = clf.parse_line(line, 3)
    assert r is not None and r.size is None and r.status == 200


def _eve(**fields: object) -> bytes:
    base: dict[str, object] = {
        "timestamp": "2001-07-19T10:23:45.000000+0000", "event_type": "http",
        "src_ip": "10.0.0.1",
        "http": {"url": "/default.ida?NNN", "http_method": "GET", "status": 404}}
    http = dict(base["http"])  # type: ignore[call-overload]
    for k, v in fields.items():
        if k.startswith("http_") and k not in ("http_method", "http_user_agent", "http_refer"):
            http[k[5:]] = v
        elif k in ("http_method", "http_user_agent", "http_refer"):
            http[k] = v
        else:
            base[k] = v
    base["http"] = http
    return json.dumps(base).encode()


@pytest.mark.parametrize("fields", [
    {"timestamp": "0001-01-01T00:30:00+0100"}, {"timestamp": "9999-12-31T23:30:00-0100"},
    {"timestamp": {"a": 1}}, {"http_status": 1e308}, {"http_status": "²"},
    {"http_status": 10**30}, {"http_length": float("nan")}, {"http_method": {"x": 1}},
    {"http_hostname": ["a"]}, {"http_user_agent": "bad\ud800\x00"}, {"flow_id": {"a": 1}},
    {"tx_id": [1]},
])
def test_eve_bad_optional_value_is_none(fields: dict[str, object]) -> None:
    r = eve.parse(_eve(**fields), eve.EveState())
    assert r is not None and r.url == "/default.ida?NNN" and r.source_ip == "10.0.0.1"
    assert r.user_agent is None or "\ud800" not in r.user_agent
    if "timestamp" in fields:
        assert r.timestamp is None


@pytest.mark.parametrize("fields", [
    {"src_ip": "10.0.0.1\ntable inet pwn {}"}, {"src_ip": "2a00::1%x}"}, {"src_ip": 1},
    {"src_ip": {"a": 1}}, {"http_url": {"a": 1}}, {"http_url": 5},
])
def test_eve_bad_source_or_url_is_no_request_and_counted(fields: dict[str, object]) -> None:
    line = _eve(**fields)
    assert eve.parse(line, eve.EveState()) is None
    if "src_ip" in fields:
        assert zeek.validate_json(line + b"\n", 0, 5, required="event_type",
                                  source_key="src_ip") == (1, 1, [1])


def test_json_nested_too_deep_is_a_bad_line() -> None:
    line = b'{"event_type": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert eve.parse(line, eve.EveState()) is None
    assert zeek.validate_json(line, 0, 5, required="event_type") == (1, 1, [1])


def test_zeek_tsv_superscript_status_and_zone_source() -> None:
    state = iis.IISState()
    head = b"#fields\tts\tid.orig_h\tmethod\turi\tstatus_code\n"
    rows = (b"995538225.1\t10.0.0.1\tGET\t/default.ida\t\xc2\xb2\n"
            b"995538225.1\tfe80::1%eth0\tGET\t/default.ida\t404\n"
            b"99999999999999999999\t10.0.0.2\tGET\t/x\t404\n")
    zeek.validate_tsv(head + rows, 0, state, 5)
    r = zeek.parse_tsv(rows.split(b"\n")[0], state, line=2)
    assert r is not None and r.status is None and r.source_ip == "10.0.0.1"
    assert zeek.parse_tsv(rows.split(b"\n")[1], state, line=3) is None
    r = zeek.parse_tsv(rows.split(b"\n")[2], state, line=4)
    assert r is not None and r.timestamp is None


def test_zeek_json_wrong_types() -> None:
    line = json.dumps({"ts": "x", "id.orig_h": "10.0.0.1", "uri": "/a", "status_code": "²",
                       "method": {"a": 1}, "user_agent": "\ud800"}).encode()
    r = zeek.parse_json(line)
    assert r is not None and r.status is None and r.method is None and r.timestamp is None
    assert r.user_agent == "\\ud800"
    bad = json.dumps({"id": {"orig_h": "1.2.3.4\nx"}, "uri": "/a"}).encode()
    assert zeek.parse_json(bad) is None
    assert zeek.validate_json(bad, 0, 5, required="") == (1, 1, [1])


def test_iis_superscript_status_and_huge_size() -> None:
    state = iis.IISState()
    buf = (b"#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes\n"
           b"2001-07-19 00:00:01 10.1.2.3 GET /default.ida \xc2\xb2 " + b"9" * 30 + b"\n"
           b"0001-01-01 00:00:01 2a00::1%x} GET /default.ida 404 1\n")
    iis.validate(buf, 0, state, 5)
    lines = buf.split(b"\n")
    r = iis.parse_line(lines[1], state, line=2)
    assert r is not None and r.status is None and r.size is None
    assert iis.parse_line(lines[2], state, line=3) is None


def test_error_logs_keep_only_canonical_clients() -> None:
    ok = b"[Thu Jul 19 10:23:45 2001] [error] [client ::ffff:10.0.0.1] File does not exist: /x"
    r = errorlog.parse_line(ok)
    assert r is not None and r.source_ip == "10.0.0.1" and r.url == "/x"
    bad = b"[Thu Jul 19 10:23:45 2001] [error] [client 999.0.0.1] File does not exist: /x"
    assert errorlog.parse_line(bad) is None
    ng = (b'2001/07/19 10:23:45 [error] 1#0: *5 open() "/x" failed, client: 1.2.3.4:5, '
          b'server: _, request: "GET /x HTTP/1.1"')
    assert errorlog.nginx_parse_line(ng) is None
    year0 = b"[Thu Jul 19 10:23:45 0000] [error] [client 10.0.0.1] File does not exist: /x"
    r = errorlog.parse_line(year0)
    assert r is not None and r.timestamp is None


@pytest.mark.timeout(10)
def test_error_log_phrase_search_is_linear_on_long_messages() -> None:
    line = b"[Thu Jul 19 10:23:45 2001] [error] [client 10.0.0.1] " + b"a " * 30000
    assert errorlog.parse_line(line) is None
    line += b"File does not exist: /default.ida"
    r = errorlog.parse_line(line)
    assert r is not None and r.url == "/default.ida"


def test_iis_and_zeek_validators_count_bad_clients_as_skipped() -> None:
    buf = (b"#Fields: date time c-ip cs-method cs-uri-stem sc-status\n"
           b"2001-07-19 00:00:01 2a00::1%x} GET /default.ida 404\n"
           b"2001-07-19 00:00:01 10.0.0.1 GET /default.ida 404\n"
           b"2001-07-19 00:00:01 - GET /default.ida 404\n")
    assert iis.validate(buf, 0, iis.IISState(), 5) == (4, 2, [2, 4])
    tsv = b"#fields\tts\tid.orig_h\turi\n1\tfe80::1%eth0\t/x\n1\t10.0.0.1\t/x\n"
    assert zeek.validate_tsv(tsv, 0, iis.IISState(), 5) == (3, 1, [2])
    no_client = b"#Fields: date time cs-uri-stem\n2001-07-19 00:00:01 /x\n"
    assert iis.validate(no_client, 0, iis.IISState(), 5) == (2, 0, [])


def test_error_log_validators_count_bad_clients_as_skipped() -> None:
    buf = (b"[Thu Jul 19 10:23:45 2001] [error] [client fe80::1%eth0] File does not exist: /x\n"
           b"[Thu Jul 19 10:23:45 2001] [error] [client 10.0.0.1] File does not exist: /x\n"
           b"[Thu Jul 19 10:23:45 2001] [notice] Apache/1.3.20 configured\n")
    assert errorlog.validate(buf, 0, 5) == (3, 1, [1])
    ng = (b'2001/07/19 10:23:45 [error] 1#0: *5 open() "/x" failed, client: 999.1.1.1, '
          b'server: _, request: "GET /x HTTP/1.1"\n'
          b"2001/07/19 10:23:45 [notice] 1#0: signal process started\n")
    assert errorlog.nginx_validate(ng, 0, 5) == (2, 1, [1])


@pytest.mark.parametrize(("text", "want"), [
    ("10.1.2.3/8", "10.0.0.0/8"), ("10.1.2.3", "10.1.2.3/32"), ("2001:DB8::/32", "2001:db8::/32"),
    ("::ffff:10.0.0.0/104", "10.0.0.0/8"), ("2a00::1%x}/64", None), ("10.0.0.0/33", None),
    ("10.0.0.0/8\n", None), ("0.0.0.0/0", "0.0.0.0/0"), (None, None), ("", None),
])
def test_canonical_network(text: object, want: str | None) -> None:
    from wormsign.logs.normalize import canonical_network

    assert canonical_network(text) == want
