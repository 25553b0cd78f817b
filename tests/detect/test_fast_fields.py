"""The C reader of flagged access-log lines (``_clfscan.access_fields``) against the Python
loop it replaces: the same rows, the same table codes in the same order, on lines that take
every branch (sources, times, shapes, vhosts, line ends)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from wormsign.detect import chunkscan
from wormsign.detect.chunkscan import ChunkScanner, RuleEngine
from wormsign.detect.columns import MatchBatch
from wormsign.logs.synth import CODE_RED, CODE_RED_II, NIMDA, worm_heavy_lines

FIELDS = chunkscan._FIELDS
pytestmark = pytest.mark.skipif(FIELDS is None, reason="C accelerator not built")

SOURCES = ["10.1.2.3", "255.255.255.255", "0.0.0.0", "010.1.2.3", "1.2.3", "1.2.3.4.5",
           "256.1.1.1", "::1", "2001:db8::1", "::ffff:10.9.8.7", "ab", "1.2.3.04", "9.9.9.9"]
TIMES = ["19/Jul/2001:10:23:45 -0700", "19/Jul/2001:10:23:45 +0000", "29/Feb/2000:00:00:00 +0000",
         "29/Feb/2001:00:00:00 +0000", "31/Apr/2001:01:02:03 +0100", "00/Jul/2001:10:23:45 +0000",
         "19/Foo/2001:10:23:45 +0000", "19/jul/2001:10:23:45 +0000", "01/Jan/1969:00:00:00 +0000",
         "31/Dec/1969:23:59:59 -0100", "01/Jan/1970:00:00:00 +0000", "19/Jul/2001:24:00:00 +0000",
         "19/Jul/2001:10:60:00 +0000", "19/Jul/2001:10:23:60 +0000", "19/Jul/2001:10:23:45 +2400",
         "19/Jul/2001:10:23:45 +0099", "19/Jul/1899:10:23:45 +0000", "19/Jul/2999:10:23:45 +1359",
         "19/Jul/2001:10:23:45", "19/Jul/2001:10:23:45 +00000", "", "garbage"]
URLS = [CODE_RED, CODE_RED_II, *NIMDA, "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
        "/index.html"]


def _line(rng: random.Random, vhost: bool) -> str:
    src, ts, url = rng.choice(SOURCES), rng.choice(TIMES), rng.choice(URLS)
    tail = rng.choice([f' HTTP/1.0" 404 {rng.randrange(3)} "-" "-"', '" 400 -', " HTTP/1.0",
                       '" 200 5 "ref" "Mozilla', ""])
    line = f'{src} - - [{ts}] "GET {url}{tail}'
    if vhost:
        line = rng.choice(["www.example.com", "a:80", "b"]) + " " + line
    shape = rng.random()
    if shape < 0.03:
        line = line.replace(" - - ", " -  - ", 1)  # an empty token: the general reader
    elif shape < 0.05:
        line = line.replace("] \"", "]\"", 1)
    return line + rng.choice(["\n", "\r\n", "\r\r\n"])


def _rows(b: MatchBatch) -> tuple[list[int], ...]:
    return (b.source.tolist(), b.time.tolist(), b.line.tolist(), b.variant.tolist())


def _scan(data: bytes, fmt: str, fast: bool, monkeypatch: pytest.MonkeyPatch,
          engine: RuleEngine) -> tuple[object, ...]:
    monkeypatch.setattr(chunkscan, "_FIELDS", FIELDS if fast else None)
    sc = ChunkScanner(engine, fmt, path="x")
    rows: list[tuple[list[int], ...]] = []
    pos, line = 0, 1
    while pos < len(data):  # several chunks: the memos carry from one to the next
        end = data.find(b"\n", pos + 4000)
        end = len(data) if end < 0 else end + 1
        rows.append(_rows(sc.scan(data[pos:end], line)))
        line += data.count(b"\n", pos, end)
        pos = end
    t = sc.tables
    return (rows, list(t.sources.values), list(t.variants.values), sc.stats.lines,
            sc.stats.skipped, sc.stats.first_skipped)


def _unexpected(*_args: object) -> None:
    raise AssertionError("the general reader ran")


@pytest.mark.parametrize("fmt,vhost", [("combined", False), ("vhost_combined", True)])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("odd", [True, False])
def test_c_fields_give_the_python_loops_rows(fmt: str, vhost: bool, seed: int, odd: bool,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    lines = [_line(rng, vhost) for _ in range(3000)]
    if not odd:  # no line of the general shape: every chunk takes the C reader
        lines = [ln for ln in lines if " -  - " not in ln and ']"' not in ln]
    data = "".join(lines).encode()
    engine = RuleEngine()
    slow = _scan(data, fmt, False, monkeypatch, engine)
    if not odd:
        monkeypatch.setattr(chunkscan, "candidate_lines", _unexpected)
    fast = _scan(data, fmt, True, monkeypatch, engine)
    assert fast == slow
    assert sum(len(r[0]) for r in slow[0]) > 300  # type: ignore[attr-defined]


def test_c_fields_on_the_worm_storm(monkeypatch: pytest.MonkeyPatch) -> None:
    data = "".join(worm_heavy_lines(20000, seed=5)).encode()
    engine = RuleEngine()
    assert _scan(data, "combined", True, monkeypatch, engine) == _scan(
        data, "combined", False, monkeypatch, engine)


def test_c_fields_report_the_fields() -> None:
    assert FIELDS is not None
    chunk = b'1.2.3.4 - - [19/Jul/2001:10:23:45 -0700] "GET /a HTTP/1.0" 404 1\r\nx\n'
    out = np.empty((2, 8), np.int64)
    starts = np.array([0, chunk.index(b"x")], np.int64)
    ends = np.array([chunk.index(b"\n"), len(chunk) - 1], np.int64)
    assert FIELDS(chunk, starts, ends, 3, out) == 1
    row = out[0].tolist()
    assert row[0] == 0 and row[1] == -2 - 0x01020304
    assert row[2] == (995538225 + 7 * 3600) * 1_000_000  # 2001-07-19T17:23:45Z
    assert chunk[row[3]:row[4]] == b"1.2.3.4" and chunk[row[5]:row[5] + 1] == b"["
    assert chunk[row[6]:row[7]] == b'GET /a HTTP/1.0" 404 1'
    assert out[1, 0] == -1
    with pytest.raises(ValueError):
        FIELDS(chunk, starts, ends + 100, 3, out)


def test_c_newlines_are_numpys() -> None:
    from wormsign.detect import prefilter

    if prefilter._NEWLINES is None:
        pytest.skip("C accelerator not built")
    rng = np.random.default_rng(3)
    for data in (b"", b"\n", b"abc", b"a\nb\n\nc", b"\n" * 5000,
                 rng.choice([10, 65, 0], 100_000, p=[0.3, 0.6, 0.1]).astype(np.uint8).tobytes()):
        got = prefilter._newlines(data)
        want = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        assert got.dtype == want.dtype and got.tolist() == want.tolist()


def test_c_long_lines_are_numpys() -> None:
    from wormsign.detect import prefilter
    from wormsign.logs import clf

    c_long = getattr(getattr(clf, "_clfscan", None), "long_lines", None)
    if c_long is None:
        pytest.skip("C accelerator not built")
    rng = np.random.default_rng(5)
    for _ in range(200):
        lengths = rng.choice([0, 10, 4096, 4097, 9000], rng.integers(0, 30))
        data = b"".join(b"x" * int(n) + b"\n" for n in lengths)
        data += b"y" * int(rng.choice([0, 5, 5000]))
        nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        limit = int(rng.choice([0, 10, 4096]))
        want = prefilter._long_lines_numpy(nl, len(data)) if limit == prefilter.LONG_LINE else [
            (s, e) for s, e in zip([0, *(nl + 1).tolist()], [*nl.tolist(), len(data)],
                                   strict=True) if e - s > limit]
        assert c_long(nl.astype(np.int64).tobytes(), len(data), limit) == want
        if limit == prefilter.LONG_LINE:
            assert prefilter.long_lines(nl, len(data)) == want
    with pytest.raises(ValueError):
        c_long(np.array([5, 3], np.int64).tobytes(), 10, 1)
    with pytest.raises(ValueError):
        c_long(b"abc", 10, 1)



def test_c_line_spans_are_numpys() -> None:
    """``_clfscan.line_spans`` (one merge) gives the lines, starts and stops the numpy twin
    gives, for ends at line ends, inside lines, repeated, at the chunk's end without a
    newline; ends out of order give None (the twin decides)."""
    from wormsign.detect import prefilter
    from wormsign.logs import clf

    spans = getattr(getattr(clf, "_clfscan", None), "line_spans", None)
    if spans is None:
        pytest.skip("C accelerator not built")
    rng = np.random.default_rng(7)
    for _ in range(300):
        lengths = rng.integers(1, 40, rng.integers(0, 25))
        data = b"".join(b"x" * int(n) + b"\n" for n in lengths) + b"y" * int(rng.choice([0, 7]))
        nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10).astype(np.int64)
        starts = np.concatenate(([0], nl + 1))
        stops = np.concatenate((nl, [len(data)]))
        pick = [k for k in range(len(starts)) if stops[k] > starts[k] and rng.random() < 0.4]
        ends = sorted(int(rng.integers(starts[k] + 1, stops[k] + 1))
                      for k in pick for _ in range(int(rng.integers(1, 3))))
        raw = np.array(ends, np.int64)
        want = prefilter._lines_ending_at_numpy(raw, nl, len(data))
        got = spans(nl.tobytes(), raw.tobytes(), len(data))
        assert got is not None
        for part, expected in zip(got, (want.line, want.start, want.end), strict=True):
            assert np.frombuffer(part, np.int64).tolist() == expected.tolist()
        fl = prefilter.lines_ending_at(raw.tobytes(), nl, len(data))
        assert fl.line.tolist() == want.line.tolist() and fl.end.tolist() == want.end.tolist()
    assert spans(np.array([3, 9], np.int64).tobytes(), np.array([9, 3], np.int64).tobytes(),
                 12) is None
    with pytest.raises(ValueError):
        spans(b"abc", b"", 10)
    with pytest.raises(ValueError):
        spans(b"", b"", -1)


def test_c_end_collector_is_the_twins() -> None:
    """``_clfscan.EndCollector`` keeps what its Python twin keeps, as a Hyperscan match
    handler (with the offset of a scanned piece added), and refuses a call without an end."""
    from wormsign.detect import keywords
    from wormsign.detect.chunkscan import RuleEngine

    if keywords._COLLECTOR is None:
        pytest.skip("C accelerator not built")
    db = RuleEngine().prefilter.databases.line_db
    assert db is not None
    chunk = "".join(worm_heavy_lines(3000, seed=4)).encode()
    kept = []
    for handler in (keywords._COLLECTOR(), keywords._Ends()):
        handler.base = 0
        db.scan(chunk, match_event_handler=handler)
        handler.base = 1000
        db.scan(chunk[:5000], match_event_handler=handler)
        kept.append(handler.take())
        assert handler.take() == b""
    assert kept[0] == kept[1] and len(kept[0]) > 8 * 100
    with pytest.raises(TypeError):
        keywords._COLLECTOR()(1, 2)
    with pytest.raises(TypeError):
        keywords._COLLECTOR()(0, 0, "x", 0, None)


def test_flagged_lines_without_the_c_helpers_are_the_same(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """The flagged lines of a chunk with long lines, with the C collector and merge and with
    their twins."""
    from wormsign.detect import keywords, prefilter
    from wormsign.detect.chunkscan import RuleEngine

    pf = RuleEngine().prefilter
    lines = list(worm_heavy_lines(2000, seed=9))
    lines[100] = lines[100].rstrip("\n") + "A" * 9000 + "\n"
    lines[700] = "B" * 6000 + "cmd.exe" + "C" * 3000 + "\n"
    chunk = "".join(lines).encode()
    fast = prefilter.flagged_lines(pf, chunk)
    monkeypatch.setattr(keywords, "_COLLECTOR", None)
    monkeypatch.setattr(prefilter, "_LINE_SPANS", None)
    slow = prefilter.flagged_lines(pf, chunk)
    assert 700 in slow.line.tolist()
    for a, b in ((fast.line, slow.line), (fast.start, slow.start), (fast.end, slow.end)):
        assert a.tolist() == b.tolist()


def _burst_events(rng: random.Random) -> list[str]:
    """Sources sending Nimda requests (all, some, repeated) at random paces, with other
    requests between: windows that qualify, fall short of requests, kinds or share."""
    from datetime import UTC, datetime, timedelta

    from wormsign.logs.synth import Event, combined_lines

    t0 = datetime(2001, 9, 18, 13, 0, tzinfo=UTC)
    evs: list[Event] = []
    for k in range(300):
        ip = f"10.0.{k // 250}.{k % 250 + 1}"
        t = t0 + timedelta(seconds=rng.uniform(0, 600))
        for _ in range(rng.randrange(1, 30)):
            t += timedelta(milliseconds=rng.choice([0, 50, 400, 5000, 30000, 61000]))
            url = rng.choice([*NIMDA, *NIMDA[:3], "/index.html", "/a.gif"])
            method = rng.choice(["GET"] * 8 + ["get", "HEAD"])
            evs.append(Event(t, ip, method, url, 404, 1, "-", "-"))
    evs.sort(key=lambda e: e.when)
    return list(combined_lines(evs))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_c_burst_windows_give_the_python_windows(seed: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from wormsign.detect import attribute

    if attribute._WINDOWS is None:
        pytest.skip("C accelerator not built")
    data = "".join(_burst_events(random.Random(seed))).encode()
    engine = RuleEngine()
    sc = ChunkScanner(engine, "combined", path="x")
    batch = sc.scan(data, 1)
    fast = attribute.attribute_columns(batch, engine.rules)
    monkeypatch.setattr(attribute, "_WINDOWS", None)
    slow = attribute.attribute_columns(batch, engine.rules)
    for name in ("row", "rule", "family", "rule_family"):
        assert getattr(fast, name).tolist() == getattr(slow, name).tolist(), name
    nimda = slow.families.index("nimda")
    assert 50 < int((slow.family == nimda).sum()) < len(slow) - 50  # both outcomes occur


def test_c_validate_nl_is_validate_and_newlines() -> None:
    from wormsign.detect import prefilter
    from wormsign.logs import clf

    validate_nl = chunkscan._VALIDATE_NL
    if validate_nl is None:
        pytest.skip("C accelerator not built")
    rng = random.Random(4)
    for vhost in (False, True):
        lines = [_line(rng, vhost) for _ in range(500)]
        for data in ("".join(lines).encode(), b"", b"\n", b"x", b"\n\nx\r\n",
                     "".join(lines).encode()[:-1], b"junk\n" * 50):
            prefix = 4 if vhost else 3
            lines_n, bad, first, nl = validate_nl(data, prefix, 5)
            assert (lines_n, bad, first) == clf.validate(data, prefix, 5, force_python=True)
            assert np.frombuffer(nl, np.intp).tolist() == np.flatnonzero(
                np.frombuffer(data, np.uint8) == 10).tolist()
            assert prefilter._newlines(data).tolist() == np.frombuffer(nl, np.intp).tolist()


def test_c_dotted_is_numpys() -> None:
    """``_clfscan.dotted`` writes the rows of 15 bytes its numpy twin writes (one, two and
    three digit octets, 0.0.0.0, 255.255.255.255), and refuses a mismatched output."""
    from wormsign.detect import sources

    if sources._DOTTED is None:
        pytest.skip("C accelerator not built")
    rng = np.random.default_rng(11)
    ips = np.concatenate([rng.integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32),
                          np.array([0, 2**32 - 1, 0x0A000001, 0x64646464, 0x0909090A],
                                   np.uint32)])
    got = sources._dotted(ips)
    assert got.tolist() == sources._dotted_numpy(ips).tolist()
    assert bytes(got[-1]).rstrip(b"\0") == b"9.9.9.10"
    assert bytes(got[-4]).rstrip(b"\0") == b"255.255.255.255"
    with pytest.raises(ValueError):
        sources._DOTTED(ips, np.zeros((len(ips), 14), np.uint8))
    with pytest.raises(ValueError):
        sources._DOTTED(b"abc", np.zeros(15, np.uint8))
