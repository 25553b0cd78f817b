"""Zeek conn.log (TSV and JSON) into connection columns: values, outcomes, counted skips."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.logs.conn_helpers import assert_same, random_batch

from wormsign.errors import InputError, LogFormatError
from wormsign.logs import connwrite
from wormsign.logs.conn import ESTABLISHED, OTHER, REFUSED, UNANSWERED, ConnBatch, concat
from wormsign.logs.connread import ConnStats, read_connections, sniff_connections

HEAD = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#path\tconn\n#open\t2021-01-01-00-00-00\n")
FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
          "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
          "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts",
          "resp_ip_bytes", "tunnel_parents")


def _tsv(rows: list[str], fields: tuple[str, ...] = FIELDS) -> str:
    return HEAD + "#fields\t" + "\t".join(fields) + "\n" + "".join(r + "\n" for r in rows)


def _row(ts: str, oh: str, op: str, rh: str, rp: str, proto: str, state: str,
         ob: str = "-", rb: str = "-") -> str:
    return "\t".join([ts, "CabcDEF1", oh, op, rh, rp, proto, "-", "-", ob, rb, state, "F", "F",
                      "0", "S", "1", "44", "0", "0", "-"])


def _read(path: Path, **kw: object) -> tuple[ConnBatch, ConnStats]:
    stats = ConnStats()
    batches = list(read_connections(str(path), stats=stats, **kw))  # type: ignore[arg-type]
    return concat(batches), stats


@pytest.mark.parametrize("suffix", ["conn.log", "conn.log.gz"])
def test_tsv_round_trip(tmp_path: Path, suffix: str) -> None:
    want = random_batch(3000, seed=3)
    p = tmp_path / suffix
    assert connwrite.write_zeek_tsv(want, p) == 3000
    assert sniff_connections(str(p)) == "zeek-conn"
    got, stats = _read(p)
    assert_same(got, want)
    assert got.format == "zeek-conn" and got.path == str(p.resolve())  # as Request.path
    assert stats.records == 3000 and stats.total_skipped == 0 and stats.out_of_order == 0
    assert got.line[0] == 9 and got.line[-1] == 9 + 2999  # 8 header lines first


def test_json_round_trip(tmp_path: Path) -> None:
    want = random_batch(2000, seed=4)
    p = tmp_path / "conn.json"
    connwrite.write_zeek_json(want, p)
    assert sniff_connections(str(p)) == "zeek-conn-json"
    got, stats = _read(p)
    assert_same(got, want)
    assert stats.records == 2000 and stats.total_skipped == 0


def test_zeek_states_and_values(tmp_path: Path) -> None:
    rows = [
        _row("1000.5", "10.0.0.1", "1025", "192.0.2.1", "80", "tcp", "SF", "120", "3000"),
        _row("1001.25", "10.0.0.1", "1026", "192.0.2.2", "80", "tcp", "REJ"),
        _row("1002", "10.0.0.1", "1027", "192.0.2.3", "80", "tcp", "S0"),
        _row("1003", "10.0.0.1", "1434", "192.0.2.4", "1434", "udp", "S0", "376", "0"),
        _row("1004", "10.0.0.1", "8", "192.0.2.5", "0", "icmp", "OTH"),
        _row("1005", "10.0.0.1", "1028", "192.0.2.6", "80", "tcp", "RSTOS0"),
        _row("1006", "::ffff:10.0.0.9", "1029", "192.0.2.7", "445", "tcp", "RSTR"),
        _row("1007", "10.0.0.1", "1030", "192.0.2.8", "80", "tcp", "WEIRD"),
    ]
    p = tmp_path / "conn.log"
    p.write_text(_tsv(rows) + "#close\t2021-01-01-00-10-00\n")
    b, stats = _read(p)
    assert list(b.outcome) == [ESTABLISHED, REFUSED, UNANSWERED, UNANSWERED, OTHER,
                               UNANSWERED, ESTABLISHED, OTHER]
    assert list(b.proto) == [6, 6, 6, 17, 1, 6, 6, 6]
    assert b.time[1] == 1001.25 and list(b.dport[:4]) == [80, 80, 80, 1434]
    assert (b.orig_bytes[0], b.resp_bytes[0], b.orig_bytes[1], b.orig_bytes[3]) == (120, 3000,
                                                                                   -1, 376)
    first = next(b.records())
    assert (first.source_ip, first.dest_ip, first.proto, first.outcome) == (
        "10.0.0.1", "192.0.2.1", "tcp", "established")
    assert b.record(6).source_ip == "10.0.0.9"
    assert stats.records == 8 and stats.total_skipped == 0


def test_bad_rows_are_counted_not_raised(tmp_path: Path) -> None:
    good = _row("1000", "10.0.0.1", "1025", "192.0.2.1", "80", "tcp", "S0")
    rows = [
        good,
        "1000\tC1\t10.0.0.1\t1025",  # too few fields
        _row("1001", "10.0.0.01", "1", "192.0.2.1", "80", "tcp", "S0"),  # not canonical
        _row("1001", "10.0.0.1", "1", "192.0.2.256", "80", "tcp", "S0"),
        _row("1001", "evil.example", "1", "192.0.2.1", "80", "tcp", "S0"),
        _row("1001", "2001:db8::1", "1", "2001:db8::2", "80", "tcp", "S0"),
        _row("1001", "-", "1", "192.0.2.1", "80", "tcp", "S0"),
        _row("999", "10.0.0.2", "99999", "192.0.2.1", "x", "tcp", "S0", "-5", "1e3"),
        _row("bad", "10.0.0.3", "1", "192.0.2.1", "80", "tcp", "S0"),
        "",
        _row("998", "10.0.0.4", "1", "192.0.2.1", "80", "tcp", "S0"),
    ]
    p = tmp_path / "conn.log"
    p.write_text("1\t2\tdata before any header\n" + _tsv(rows))
    b, stats = _read(p)
    assert [str(r.source_ip) for r in b.records()] == ["10.0.0.1", "10.0.0.2", "10.0.0.3",
                                                       "10.0.0.4"]
    assert stats.skipped == {"no-header": 1, "columns": 1, "address": 3, "missing-field": 1}
    assert stats.ipv6 == 1
    assert (b.sport[1], b.dport[1], b.orig_bytes[1], b.resp_bytes[1]) == (-1, -1, -1, -1)
    assert np.isnan(b.time[2])
    assert stats.bad_values == 5
    assert stats.out_of_order == 2  # 999 after 1000, 998 after 999 (NaN left aside)
    assert stats.records == 4


def test_header_changes_apply_from_where_they_stand(tmp_path: Path) -> None:
    other = ("id.resp_h", "id.orig_h", "conn_state", "ts", "extra")
    text = (_tsv([_row("5", "10.0.0.1", "1", "192.0.2.1", "80", "tcp", "REJ")])
            + "#fields\t" + "\t".join(other) + "\n"
            + "192.0.2.9\t10.0.0.7\tSF\t6.5\tzz\n")
    p = tmp_path / "conn.log"
    p.write_text(text)
    b, _ = _read(p)
    assert [(r.source_ip, r.dest_ip, r.outcome, r.timestamp) for r in b.records()] == [
        ("10.0.0.1", "192.0.2.1", "refused", 5.0), ("10.0.0.7", "192.0.2.9", "established", 6.5)]
    assert b.dport[1] == -1 and b.proto[1] == 0


def test_header_without_addresses_skips_its_rows(tmp_path: Path) -> None:
    p = tmp_path / "conn.log"
    p.write_text("#path\tconn\n#fields\tts\tid.orig_h\tconn_state\n1\t10.0.0.1\tS0\n"
                 "2\t10.0.0.2\tS0\n")
    b, stats = _read(p)
    assert len(b) == 0 and stats.skipped == {"missing-field": 2}


def test_other_separator_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "conn.log"
    p.write_bytes(b"#separator ,\r\n#fields,ts,id.orig_h,id.resp_h,id.resp_p,proto,conn_state\r\n"
                  b"7.5,10.0.0.1,192.0.2.1,23,tcp,S0\r\n")
    b, _ = _read(p, format="zeek-conn")
    assert (b.time[0], b.dport[0], b.outcome[0]) == (7.5, 23, UNANSWERED)


def test_json_variants_and_skips(tmp_path: Path) -> None:
    lines = [
        {"ts": 10.5, "id.orig_h": "10.0.0.1", "id.orig_p": 1, "id.resp_h": "192.0.2.1",
         "id.resp_p": 23, "proto": "tcp", "conn_state": "REJ"},
        {"ts": "2021-01-01T00:00:01.5Z", "id": {"orig_h": "10.0.0.2", "orig_p": 2,
                                                "resp_h": "192.0.2.2", "resp_p": 80},
         "proto": "udp", "conn_state": "SF", "orig_bytes": 10, "resp_bytes": 20},
        {"ts": 11, "id.orig_h": "fe80::1", "id.resp_h": "fe80::2", "conn_state": "S0"},
        {"ts": 12, "id.orig_h": ["x"], "id.resp_h": "192.0.2.1", "conn_state": "S0"},
        {"ts": 13, "id.resp_h": "192.0.2.1", "conn_state": "S0"},
        {"ts": "2021-01-01T00:00:02", "id.orig_h": "10.0.0.4", "id.resp_h": "192.0.2.4"},
        {"ts": "1609459203.25", "id.orig_h": "10.0.0.5", "id.resp_h": "192.0.2.5"},
        {"ts": True, "id.orig_h": "10.0.0.3", "id.orig_p": "x", "id.resp_h": "192.0.2.3",
         "proto": {"a": 1}, "conn_state": 5},
    ]
    p = tmp_path / "conn.json"
    p.write_text("".join(json.dumps(x) + "\n" for x in lines) + "{not json\n[1]\n")
    assert sniff_connections(str(p)) == "zeek-conn-json"
    b, stats = _read(p)
    assert [r.source_ip for r in b.records()] == ["10.0.0.1", "10.0.0.2", "10.0.0.4",
                                                  "10.0.0.5", "10.0.0.3"]
    assert list(b.outcome) == [REFUSED, ESTABLISHED, OTHER, OTHER, OTHER]
    assert list(b.proto) == [6, 17, 0, 0, 0]
    assert b.time[1] == 1609459201.5 and b.orig_bytes[1] == 10
    assert (b.time[2], b.time[3]) == (1609459202.0, 1609459203.25)  # no zone: UTC
    assert stats.ipv6 == 1 and stats.skipped == {"address": 1, "missing-field": 1, "json": 2}
    assert stats.bad_values == 2 and np.isnan(b.time[4])


def test_sniffing_tells_conn_from_other_logs(tmp_path: Path) -> None:
    http = tmp_path / "http.log"
    http.write_text("#separator \\x09\n#path\thttp\n#fields\tts\tuid\tid.orig_h\tid.orig_p\t"
                    "id.resp_h\tid.resp_p\tmethod\turi\n1\tC\t10.0.0.1\t1\t192.0.2.1\t80\tGET\t/\n")
    dns = tmp_path / "dns.log"
    dns.write_text("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\n")
    nopath = tmp_path / "conn-nopath.log"
    nopath.write_text("#fields\tts\tid.orig_h\tid.resp_h\tconn_state\n1\t10.0.0.1\t10.0.0.2\tS0\n")
    access = tmp_path / "access.log"
    access.write_text('10.0.0.1 - - [19/Jul/2001:10:00:00 +0000] "GET / HTTP/1.0" 200 1\n')
    assert [sniff_connections(str(p)) for p in (http, dns, nopath, access)] == [
        None, None, "zeek-conn", None]
    assert sniff_connections(str(tmp_path / "missing")) is None
    assert sniff_connections("-") is None
    with pytest.raises(LogFormatError, match=r"access\.log: not a connection log"):
        list(read_connections(str(access)))
    with pytest.raises(LogFormatError, match="unknown connection format"):
        list(read_connections(str(access), format="nope"))


def test_unreadable_input_is_one_error_naming_the_file(tmp_path: Path) -> None:
    for fmt in ("zeek-conn", None):
        with pytest.raises(InputError) as err:
            list(read_connections(str(tmp_path / "missing.log"), format=fmt))
        assert "missing.log: No such file" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="is a directory"):
        list(read_connections(str(tmp_path)))
    binary = tmp_path / "blob.log"
    binary.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputError, match=r"blob\.log: binary file"):
        list(read_connections(str(binary), format="zeek-conn"))
    cut = tmp_path / "cut.log.gz"
    data = gzip.compress(_tsv([_row("1", "10.0.0.1", "1", "192.0.2.1", "80", "tcp", "S0")])
                         .encode() * 200)
    cut.write_bytes(data[: len(data) // 2])
    stats = ConnStats()
    with pytest.raises(InputError, match=r"cut\.log\.gz: truncated gzip"):
        for _ in read_connections(str(cut), format="zeek-conn", stats=stats):
            pass
    assert stats.records > 0  # what came before the break was read


_LINE = st.lists(st.sampled_from(["10.0.0.1", "192.0.2.255", "1.2.3", "::1", "-", "", "80",
                                  "65536", "tcp", "S0", "REJ", "1e5", "\\x09", "1.5", "#",
                                  "::ffff:1.2.3.4", "\r", "é"]), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, max_size=12))
def test_any_rows_count_up(tmp_path_factory: pytest.TempPathFactory,
                           rows: list[list[str]]) -> None:
    """Whatever the rows, each data line is kept, skipped or IPv6: nothing else."""
    p = tmp_path_factory.mktemp("h") / "conn.log"
    fields = ("id.orig_h", "id.resp_h", "id.resp_p", "proto", "conn_state", "ts")
    body = "".join("\t".join(r) + "\n" for r in rows)
    p.write_text("#fields\t" + "\t".join(fields) + "\n" + body)
    b, stats = _read(p, format="zeek-conn")
    texts = ["\t".join(r) for r in rows]
    data_lines = sum(1 for t in texts if t not in ("", "\r") and not t.startswith("#"))
    assert stats.records == len(b)
    assert stats.records + stats.total_skipped + stats.ipv6 == data_lines
    assert len(b) == 0 or (b.line >= 2).all()


def test_many_short_rows_in_one_chunk(tmp_path: Path) -> None:
    p = tmp_path / "conn.log"
    p.write_text("#fields\tid.orig_h\tid.resp_h\n" + "10.0.0.1\t10.0.0.2\n" * 50_000
                 + "#fields\tid.resp_h\tid.orig_h\tconn_state\n" + "10.0.0.3\t10.0.0.4\tS0\n" * 3)
    b, stats = _read(p, format="zeek-conn")
    assert len(b) == stats.records == 50_003 and stats.total_skipped == 0
    assert b.record(50_002).source_ip == "10.0.0.4" and b.line[-1] == 50_005


_TWIN_FIELD = st.sampled_from(["10.0.0.1", "255.255.255.255", "0.0.0.0", "1.2.3.04", "::1",
                               "::FFFF:9.9.9.9", "fe80::1%x", "-", "", "0", "65535", "65536",
                               "tcp", "udp", "icmp", "SF", "REJ", "S0", "RSTOS0", "OTH",
                               "1.5", "1.", ".5", "12345678901234567890", "x", "\r", "#"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_TWIN_FIELD, max_size=7), max_size=10),
       st.permutations(["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
                        "conn_state"]))
def test_c_helper_and_numba_twin_agree(rows: list[list[str]], fields: list[str]) -> None:
    from wormsign.logs import zeekconn

    c_scan = zeekconn.scanner()
    if c_scan is zeekconn.scanner(prefer_c=False):
        pytest.skip("the C helper _connscan is not built")
    text = ("#fields\t" + "\t".join(fields) + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    results = []
    for scan in (c_scan, zeekconn.scanner(prefer_c=False)):
        counts = np.zeros(6, dtype=np.int64)
        out_t, out_i, n, line = zeekconn._chunk_rows(text.encode(), zeekconn._Header(), 0,
                                                     counts, scan)
        results.append((out_t[:n].tolist(), out_i[:n].tolist(), n, line, counts.tolist()))
    assert str(results[0]) == str(results[1])  # NaN == NaN as text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from([9, 44, 32]))
def test_any_bytes_through_both_kernels(body: bytes, sep: int) -> None:
    """Arbitrary bytes (NULs, lone CRs, no final newline) after a header: both kernels
    agree, and every row they keep holds a real IPv4 pair."""
    from wormsign.logs import zeekconn

    names = [b"id.orig_h", b"id.resp_h", b"ts", b"conn_state", b"id.resp_p"]
    head = (f"#separator \\x{sep:02x}\n#fields".encode() + bytes([sep])
            + bytes([sep]).join(names) + b"\n")
    results = []
    for scan in {zeekconn.scanner(), zeekconn.scanner(prefer_c=False)}:
        counts = np.zeros(6, dtype=np.int64)
        out_t, out_i, n, line = zeekconn._chunk_rows(head + body, zeekconn._Header(), 0,
                                                     counts, scan)
        assert (out_i[:n, :2] >= 0).all() and (out_i[:n, :2] < 2**32).all()
        assert ((out_i[:n, 3] >= -1) & (out_i[:n, 3] <= 65535)).all()
        results.append(str((out_t[:n].tolist(), out_i[:n].tolist(), n, line, counts.tolist())))
    assert len(set(results)) == 1
