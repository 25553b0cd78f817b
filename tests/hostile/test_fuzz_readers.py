"""Hypothesis fuzzing of every reader: format detection, each parser, the chunk reader.

No input raises anything but :class:`~wormsign.errors.InputError`; a parser given any bytes
returns a well-formed record or None. The example count is modest so CI stays fast; set
``WORMSIGN_FUZZ_EXAMPLES`` to fuzz longer.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.hostile.test_readers import check_request

from wormsign.errors import InputError, LogFormatError
from wormsign.logs import eve, formats, pcap, zeek
from wormsign.logs.source import Input, InputStream, Limits, ReadStats, read_chunks

settings.register_profile(
    "hostile", max_examples=int(os.environ.get("WORMSIGN_FUZZ_EXAMPLES", "60")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])
FUZZ = settings.get_profile("hostile")

FORMATS = sorted(formats.FORMATS)

# Bytes that look like log lines often enough to reach the parsers' deeper paths.
_pieces = st.sampled_from([
    b"10.0.0.1", b"2a00:1450:4001::1%x}", b"::ffff:1.2.3.4", b" - - ", b"[", b"]", b'"',
    b"[19/Jul/2001:10:23:45 +0000]", b"[01/Jan/0001:00:30:00 +0100]", b"GET ", b" HTTP/1.0",
    b"/default.ida?NNNN", b" 404 ", b"\xc2\xb2", b"9" * 30, b"\t", b"\n", b"\r", b"\x00",
    b"#Fields: date time c-ip cs-uri-stem sc-status\n", b"#fields\tts\tid.orig_h\turi\n",
    b"[Thu Jul 19 10:23:45 2001] [error] [client ", b"File does not exist: /x",
    b'{"event_type": "http", "src_ip": ', b'"http": {"url": "/x", "status": ', b"}",
    b"\\ud800", b"\xe2\x80\xae", b"\xff\xfe", b"NaN", b"1e999", b"-", b"2001/07/19 10:23:45 [error] ",
    b", client: ", b', request: "',
])
log_like = st.lists(st.one_of(_pieces, st.binary(max_size=20)), max_size=40).map(b"".join)


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), log_like))
def test_detect_returns_a_format_or_a_format_error(data: bytes) -> None:
    try:
        fmt = formats.detect(data, "fuzz.log")
    except LogFormatError as exc:
        assert "\n" not in str(exc)
    else:
        assert fmt.name in formats.FORMATS


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), log_like), name=st.sampled_from(FORMATS))
def test_every_parser_returns_a_record_or_none(data: bytes, name: str) -> None:
    fmt = formats.FORMATS[name]
    lines = data.split(b"\n")
    fmt.sniff(lines)
    state = fmt.new_state()
    n, bad, first = fmt.validate(data, 0, state, 5)
    assert 0 <= bad <= n and len(first) <= min(bad, 5)
    for i, line in enumerate(lines):
        req = fmt.parse(line, i + 1, state, "fuzz.log")
        if req is not None:
            check_request(req)


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                       st.text(max_size=30), st.sampled_from(["10.0.0.1", "fe80::1%eth0",
                                                              "1.2.3.4\nx", "²", "-"]))
_json = st.recursive(_json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10)


@FUZZ
@given(src=_json, url=_json, status=_json, ts=_json, method=_json, extra=_json)
def test_json_readers_take_any_value_types(src: object, url: object, status: object,
                                           ts: object, method: object, extra: object) -> None:
    ev = {"timestamp": ts, "event_type": "http", "src_ip": src, "flow_id": extra,
          "http": {"url": url, "status": status, "http_method": method, "length": extra}}
    line = json.dumps(ev, allow_nan=True).encode()
    req = eve.parse(line, eve.EveState())
    if req is not None:
        check_request(req)
    zk = {"ts": ts, "id.orig_h": src, "uri": url, "status_code": status, "method": method,
          "user_agent": extra}
    req = zeek.parse_json(json.dumps(zk, allow_nan=True).encode())
    if req is not None:
        check_request(req)
    zeek.validate_json(line, 0, 5, required="event_type", source_key="src_ip")


def _expected(data: bytes, limit: int) -> bytes:
    """What read_chunks yields for plain text: every line cut to ``limit`` bytes."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    *lines, last = data.split(b"\n")
    out = b"".join(ln[:limit] + b"\n" for ln in lines)
    return out + (last[:limit] + b"\n" if len(last) > limit else last)


_text = st.lists(st.one_of(st.binary(max_size=5).filter(lambda b: b"\x00" not in b),
                           st.sampled_from([b"\n", b"a" * 300, b"b" * 257, b"\r\n"])),
                 max_size=60).map(b"".join)


@FUZZ
@given(data=_text, chunk=st.integers(1, 700), limit=st.integers(256, 400),
       kind=st.sampled_from(["plain", "gz", "bz2", "xz", "gz-members"]),
       cut=st.integers(0, 100))
def test_read_chunks_any_boundaries_and_compression(tmp_path_factory: pytest.TempPathFactory,
                                                    data: bytes, chunk: int, limit: int,
                                                    kind: str, cut: int) -> None:
    if kind == "plain":
        raw = data
    elif kind == "gz":
        raw = gzip.compress(data, mtime=0)
    elif kind == "bz2":
        raw = bz2.compress(data)
    elif kind == "xz":
        raw = lzma.compress(data)
    else:  # the same text as several gzip members
        k = len(data) * cut // 100
        raw = gzip.compress(data[:k], mtime=0) + gzip.compress(data[k:], mtime=0)
    p = tmp_path_factory.mktemp("fuzz") / "in.log"
    p.write_bytes(raw)
    stats = ReadStats()
    got: list[bytes] = []
    try:
        for c in read_chunks(Input(str(p)), chunk_size=chunk, limits=Limits(max_line_bytes=limit),
                             stats=stats):
            got.append(c)
    except InputError as exc:  # binary-looking text: the only error plain text can give
        assert "binary" in str(exc) and not got
        return
    assert all(c for c in got)
    assert all(c.endswith(b"\n") for c in got[:-1])
    assert b"".join(got) == _expected(data, limit)
    assert stats.bytes_read == len(raw)


@FUZZ
@given(raw=st.binary(max_size=300), magic=st.sampled_from([b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"]))
def test_broken_archives_end_in_input_errors(tmp_path_factory: pytest.TempPathFactory,
                                             raw: bytes, magic: bytes) -> None:
    p = tmp_path_factory.mktemp("fuzz") / "in.gz"
    p.write_bytes(magic + raw)
    try:
        for _ in read_chunks(Input(str(p)), chunk_size=64):
            pass
    except InputError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(data=st.binary(max_size=300),
       ops=st.lists(st.tuples(st.sampled_from(["peek", "read", "readline"]),
                              st.integers(-1, 50)), max_size=20))
def test_input_stream_reads_what_a_plain_file_reads(data: bytes,
                                                    ops: list[tuple[str, int]]) -> None:
    ours, ref = InputStream(io.BufferedReader(io.BytesIO(data))), io.BytesIO(data)  # type: ignore[arg-type]
    for op, n in ops:
        if op == "peek":
            assert ours.peek(max(n, 0)) == ref.getvalue()[ref.tell():ref.tell() + max(n, 0)]
        elif op == "read":
            assert ours.read(n) == ref.read(n)
        else:
            assert ours.readline(max(n, 1)) == ref.readline(max(n, 1))


@FUZZ
@given(body=st.binary(max_size=400),
       magic=st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a"]))
def test_pcap_reader_on_random_captures(tmp_path_factory: pytest.TempPathFactory, body: bytes,
                                        magic: bytes) -> None:
    pytest.importorskip("dpkt", reason="reading captures needs the pcap extra (dpkt)")
    p: Path = tmp_path_factory.mktemp("fuzz") / "in.pcap"
    p.write_bytes(magic + body)
    with p.open("rb") as f:
        try:
            for _n, req, _ok in pcap.requests(f, str(p)):
                if req is not None:
                    check_request(req)
        except InputError as exc:
            assert "\n" not in str(exc)
