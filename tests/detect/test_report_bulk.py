"""The bulk text builders of the report writers against the one-at-a-time functions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.detect import report
from wormsign.detect.columns import NO_TIME, to_micros
from wormsign.detect.report import _Block, iso_json, iso_us
from wormsign.detect.scanner import scan_paths
from wormsign.detect.sources import SourceTable
from wormsign.detect.summary import Summary
from wormsign.logs.clf import parse_time
from wormsign.logs.synth import worm_heavy_lines
from wormsign.logs.text import safe


def test_iso_json_is_iso_us_in_json() -> None:
    rng = np.random.default_rng(7)
    us = np.concatenate((
        rng.integers(-62135596800_000000, 253402300799_999999, 2000),
        (rng.integers(-2_000_000_000, 4_000_000_000, 2000) * 1_000_000),
        [0, -1, 1, NO_TIME, 995538225_000000, to_micros(parse_time("01/Jan/0001:00:00:00 +0000"))],
    )).astype(np.int64)
    assert iso_json(us) == [json.dumps(iso_us(int(u))) for u in us.tolist()]
    assert iso_json(np.zeros(0, np.int64)) == []


def test_json_texts_are_each_sources_json() -> None:
    t = SourceTable()
    texts = ["1.2.3.4", "::1", "0.0.0.0", "255.255.255.255", "2001:db8::\u202e", "10.0.0.1",
             'a"b\\c', "1.2.3.4"]
    codes = np.array([t.code(x) for x in texts], np.int64)
    t.codes_ip4(np.array([0x01020305], np.uint32))
    codes = np.concatenate((codes, [len(t) - 1], codes[::-1]))
    def enc(x: str) -> str:
        return json.dumps(safe(x), ensure_ascii=False)
    assert t.json_texts(codes, enc) == [enc(t.values[c]) for c in codes.tolist()]
    assert t.json_texts(np.zeros(0, np.int64), enc) == []


@pytest.mark.parametrize("c_twin", [True, False])
def test_block_bytes_are_its_lines_encoded(c_twin: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not c_twin:
        monkeypatch.setattr(report, "_JOIN", None)
    elif report._JOIN is None:
        pytest.skip("C accelerator not built")
    blk = _Block(['"2001-07-19T10:23:45Z"', "null"], ['"1.2.3.4"', '"::1"'],
                 ['"a": 1', '"url": "/\udcff\u00e9"'], np.array([0, 1, 1]), np.array([1, 0, 0]),
                 np.array([7, 123456789012, -1], np.int64), np.array([1, 0, 1]))
    out = io.BytesIO()
    out.write(blk.utf8())
    assert out.getvalue() == "".join(blk.lines()).encode("utf-8", "backslashreplace")
    assert out.getvalue().count(b"\n") == 3
    for rows in (1, 2, 3, 5):  # in parts of a few rows: the same bytes, cut at row ends
        parts = list(blk.utf8_parts(rows))
        assert b"".join(parts) == out.getvalue()
        assert all(p.count(b"\n") == min(rows, 3) for p in parts[:-1])
    empty = _Block([], [], [], *(np.zeros(0, np.int64),) * 4)
    assert empty.utf8() == b"" and b"".join(empty.utf8_parts()) == b""


@pytest.mark.parametrize("dotted", [True, False])
def test_block_from_cells_is_its_lines_encoded(dotted: bool) -> None:
    if report._JOIN is None or not report._JOIN_CELLS:
        pytest.skip("C accelerator not built")
    from wormsign.detect.sources import SourceTable

    rng = np.random.default_rng(7)
    us = np.array([NO_TIME, 0, 995_587_200_123_456, -62135596800 * 1_000_000 - 1,
                   253402300800 * 1_000_000, 995_587_200_000_000], np.int64)
    table = SourceTable()
    for ip in ("1.2.3.4", "255.255.255.255", "10.0.0.1"):
        table.code(ip)
    if not dotted:
        table.code("2001:db8::1")
    sk = np.arange(len(table), dtype=np.int64)
    cells = table.dotted_cells(sk)
    assert (cells is not None) == dotted
    n = 500
    t, s, r = (rng.integers(0, k, n) for k in (len(us), len(sk), 2))
    line = rng.integers(-5, 2**40, n).astype(np.int64)
    rests = ['"a": 1', '"url": "/\udcff\u00e9"']
    texts = _Block(iso_json(us), table.json_texts(sk, json.dumps), rests, t, s, line, r)
    from_cells = _Block(None, None if dotted else table.json_texts(sk, json.dumps), rests, t,
                        s, line, r, report.iso_cells(us), cells)
    want = "".join(texts.lines()).encode("utf-8", "backslashreplace")
    assert from_cells.lines() == texts.lines()
    for rows in (1, 7, 2048):
        assert b"".join(from_cells.utf8_parts(rows)) == want


def test_join_rows_refuses_bad_columns() -> None:
    join = report._JOIN
    if join is None:
        pytest.skip("C accelerator not built")
    idx = np.array([0, 1], np.int64)
    assert join((([b"a", b"bc"], idx), np.array([-5, 2**62], np.int64)), 2) == (
        b"a-5bc" + str(2**62).encode())
    with pytest.raises(IndexError):
        join((([b"a"], idx),), 2)
    with pytest.raises(ValueError):
        join((([b"a", b"b"], idx),), 3)
    with pytest.raises(TypeError):
        join((([b"a", "b"], idx),), 2)
    with pytest.raises(TypeError):
        join((([b"a"],),), 0)


def test_alerts_are_the_same_whatever_the_rest_memo(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """The encoded rests kept from block to block (and the memo starting afresh when full)
    change nothing in the alerts written."""
    log = tmp_path / "storm.log"
    log.write_text("".join(line + "\n" for line in worm_heavy_lines(120_000)))
    rep = scan_paths([str(log)])
    outs = []
    for memo in (8192, 0, 3):
        monkeypatch.setattr(report, "REST_MEMO", memo)
        buf = io.BytesIO()
        n = report.write_alerts(rep, buf)
        outs.append(buf.getvalue())
        assert n == len(rep.alerts) > 16384  # more than one block
    assert outs[0] == outs[1] == outs[2]
    first = [json.loads(x) for x in outs[0].splitlines()[:50]]
    assert [a["source.ip"] for a in first] == [a.source_ip for a in list(rep.alerts)[:50]]


def test_sort_rank_is_the_order_of_the_texts() -> None:
    """IPv4-only tables rank by numbers (no text per address); mixed ones by text; both as
    Python sorts the texts."""
    rng = np.random.default_rng(3)
    ips = np.unique(np.concatenate((
        rng.integers(0, 2**32, 5000, dtype=np.uint64),
        [0, 1, 9, 10, 11, 99, 100, 255, 256, 2**32 - 1, 0x01020304, 0x0C020304, 0x01160304],
        (rng.integers(0, 256, (3000, 4)) * [1 << 24, 1 << 16, 1 << 8, 1]).sum(axis=1),
    ))).astype(np.uint32)
    rng.shuffle(ips)
    t = SourceTable()
    t.codes_ip4(ips)
    texts = [t.text(c) for c in range(len(t))]
    expect = np.empty(len(t), np.int64)
    expect[sorted(range(len(t)), key=texts.__getitem__)] = np.arange(len(t))
    assert t.sort_rank().tolist() == expect.tolist()
    for extra in ("2001:db8::1", "10.0.0.1x", "::ffff:1.2.3.4"):
        t.code(extra)
    texts = [t.text(c) for c in range(len(t))]
    expect = np.empty(len(t), np.int64)
    expect[sorted(range(len(t)), key=texts.__getitem__)] = np.arange(len(t))
    assert t.sort_rank().tolist() == expect.tolist()


def test_iso_cells_are_iso_json() -> None:
    rng = np.random.default_rng(11)
    us = np.concatenate((
        rng.integers(-62135596800_000000, 253402300799_999999, 2000),
        (rng.integers(-2_000_000_000, 4_000_000_000, 2000) * 1_000_000),
        [0, -1, 1, NO_TIME, 995538225_000000, 951782400_000000, 4107542400_000000],
        # beyond the years 1-9999 (numpy writes those)
        [253402300800_000000, 253402300800_000001, -62135596800_000001, 2**62, -(2**62)],
    )).astype(np.int64)
    cells, width = report.iso_cells(us)
    assert cells.shape == (len(us), width)
    texts = [bytes(row).rstrip(b"\0").decode("ascii") for row in cells]
    unit = {True: "s", False: "us"}
    want = ["null" if u == NO_TIME else '"' + str(np.datetime_as_string(
        np.datetime64(u, "us"), unit=unit[u % 1_000_000 == 0])) + 'Z"' for u in us.tolist()]
    assert texts == want
    assert iso_json(us) == want
    assert report.iso_cells(np.array([NO_TIME], np.int64))[0].tobytes().rstrip(b"\0") == b"null"


def test_join_rows_cells_columns() -> None:
    join = report._JOIN
    if join is None or not report._JOIN_CELLS:
        pytest.skip("C accelerator not built")
    cells = np.array([b"ab", b"", b"xyz"], "S3")
    idx = np.array([0, 1, 0], np.int64)
    assert join(((cells.tobytes(), 3), ([b"-", b"+"], idx)), 3) == b"ab-+xyz-"
    with pytest.raises(ValueError):
        join(((cells.tobytes(), 2),), 3)  # not n * width bytes
    with pytest.raises(ValueError):
        join(((cells.tobytes(), 0),), 3)


@pytest.mark.parametrize("c_twin", [True, False])
def test_json_sources_are_the_rows_encoded(c_twin: bool, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``sources`` of ``scan --json`` (IPv4 blocks joined in C, the others with numpy)
    are :func:`source_rows` encoded one by one: many blocks, IPv4 and IPv6 sources, several
    rules per source, two files (times of every kind: ``test_iso_cells_are_iso_json``)."""
    if c_twin and not report._JOIN_CELLS:
        pytest.skip("C accelerator not built")
    monkeypatch.setattr(report, "_JOIN_CELLS", c_twin)
    log = tmp_path / "storm.log"
    monkeypatch.setattr(report, "JSON_BLOCK", 100)
    lines = list(worm_heavy_lines(6000, seed=4))
    lines[1::50] = [x.replace(x.split(" ", 1)[0], "2001:db8::" + format(k, "x"), 1)
                    for k, x in enumerate(lines[1::50])]
    log.write_text("".join(lines))
    iis = tmp_path / "iis.log"
    iis.write_text("#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status\n"
                   + "".join(f"2001-07-19 10:{k % 60:02d}:{k % 60:02d}.{k:03d} 10.9.{k}.1 GET "
                             "/default.ida NNNN 404\n" for k in range(40)))
    rep = scan_paths([str(log), str(iis)])

    s = Summary.of(rep.attribution)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                              check_circular=False).encode
    blocks = list(report._source_texts(s, encode))
    want = [json.dumps(r, ensure_ascii=False, separators=(",", ":"))
            for r in report.source_rows(s)]
    assert ",".join(blocks) == ",".join(want)
    assert len(want) > 300
    assert any('"ip":"2001:db8::' in r for r in want)  # text sources: the numpy blocks


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=300),
       st.sampled_from([1, 12, 1 << 16, (1 << 32) - 1, 1 << 40]))
def test_stable_order_is_numpys_stable_argsort(values: list[int], bound: int) -> None:
    """The tallies' radix order equals numpy's stable argsort for keys of every range
    (16-bit, 32-bit, wider, negative), ties in their first order."""
    from wormsign.detect.columns import stable_order

    key = np.array([v % bound if v >= 0 else v for v in values], np.int64)
    assert stable_order(key).tolist() == np.argsort(key, kind="stable").tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=300),
       st.sampled_from([1, 3, 1 << 15, 1 << 20, 1 << 40]),
       st.sampled_from([np.int16, np.int32, np.int64]))
def test_distinct_is_numpys_unique(values: list[int], bound: int, dtype: type) -> None:
    """The alerts writer's distinct codes (a table over a small range, numpy beyond) equal
    ``np.unique(..., return_inverse=True)``, dtype included."""
    info = np.iinfo(dtype)
    arr = np.array([min(max(v % bound if v >= 0 else v, info.min), info.max) for v in values],
                   dtype)
    from wormsign.detect.columns import distinct

    got, inv = distinct(arr)
    want, want_inv = np.unique(arr, return_inverse=True)
    assert got.dtype == want.dtype and got.tolist() == want.tolist()
    assert inv.ravel().tolist() == want_inv.ravel().tolist()


def test_json_of_text_and_ipv6_sources_with_several_rules(tmp_path: Path) -> None:
    """Sources that are not all IPv4 take the numpy form of the ``--json`` writer; its
    sources with several rules give the same document as the dictionaries do."""
    from wormsign.logs.synth import worm_heavy_lines

    lines = list(worm_heavy_lines(3000, seed=3))
    p = tmp_path / "v6.log"
    p.write_text("".join(f"2001:db8::{i % 40:x}{x[x.index(' '):]}" for i, x in enumerate(lines)))
    rep = scan_paths([str(p)], workers=1)
    buf = io.StringIO()
    report.write_json(rep, buf)
    doc = json.loads(buf.getvalue())
    assert doc == report.to_json(rep)
    assert any(len(s["rules"]) > 1 for s in doc["sources"])
