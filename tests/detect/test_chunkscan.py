"""The incremental API: chunks in any cut give the same rows and alerts as one whole chunk."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from wormsign.detect import ChunkScanner, attribute_batches
from wormsign.detect.chunkscan import RuleEngine
from wormsign.detect.columns import NO_TIME, Tables, from_micros, merge, to_micros
from wormsign.detect.scanner import scan_paths
from wormsign.logs.synth import CODE_RED, worm_heavy_lines


def _cuts(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """``data`` cut into ``n`` pieces at line ends."""
    ends = [i + 1 for i, c in enumerate(data) if c == 10]
    picks = sorted(rng.sample(ends[:-1], min(n - 1, len(ends) - 1)))
    out, lo = [], 0
    for hi in [*picks, len(data)]:
        out.append(data[lo:hi])
        lo = hi
    return out


def test_chunks_in_any_cut_give_the_same_alerts(tmp_path: Path) -> None:
    data = "".join(worm_heavy_lines(4000, seed=3)).encode()
    p = tmp_path / "a.log"
    p.write_bytes(data)
    whole = list(scan_paths([str(p)]).alerts)
    engine = RuleEngine()
    for seed in range(3):
        sc = ChunkScanner(engine, path=str(p.resolve()))
        batches, line = [], 1
        for chunk in _cuts(data, random.Random(seed), 7):
            batches.append(sc.scan(chunk, line))
            line += chunk.count(b"\n")
        assert sc.stats.lines == 4000 and sc.stats.skipped == 0
        assert sum(len(b) for b in batches) >= len(whole) > 500
        assert list(attribute_batches(batches, sc.rules)) == whole


def test_batch_columns_are_compact_and_exact() -> None:
    sc = ChunkScanner(fmt="combined", path="live")
    line = f'9.9.9.9 - - [19/Jul/2001:10:23:45 +0000] "GET {CODE_RED} HTTP/1.0" 404 1 "-" "-"\n'
    b = sc.scan(b"junk\n" + line.encode() * 3, 41)
    assert len(b) == 3 and b.nbytes == 3 * 28
    assert b.line.tolist() == [42, 43, 44]
    assert b.time.dtype == np.int64 and b.source.dtype == np.int32
    assert sc.stats.lines == 4 and sc.stats.skipped == 1 and sc.stats.first_skipped == [41]
    assert len(b.tables.variants) == 1 and list(b.tables.sources.values) == ["9.9.9.9"]
    alerts = list(attribute_batches([b], sc.rules))
    assert [(a.rule_id, a.line, a.file_path) for a in alerts] == [
        ("code-red", 42, "live"), ("code-red", 43, "live"), ("code-red", 44, "live")]


def test_merge_recodes_batches_of_different_tables() -> None:
    line = '{ip} - - [19/Jul/2001:10:23:45 +0000] "GET {u} HTTP/1.0" 404 1 "-" "-"\n'
    a = ChunkScanner(fmt="combined", path="a", tables=Tables())
    b = ChunkScanner(fmt="combined", path="b", tables=Tables())
    ba = a.scan(line.format(ip="1.1.1.1", u=CODE_RED).encode(), 1)
    bb = b.scan((line.format(ip="2.2.2.2", u="/NULL.printer")
                 + line.format(ip="1.1.1.1", u=CODE_RED)).encode(), 1)
    m = merge([ba, bb])
    assert list(m.tables.sources.values) == ["1.1.1.1", "2.2.2.2"]
    assert m.source.tolist() == [0, 1, 0] and m.file.tolist() == [0, 1, 1]
    assert m.variant[0] == m.variant[2] != m.variant[1]


def test_micros_round_trip() -> None:
    from datetime import UTC, datetime

    t = datetime(2001, 7, 19, 10, 23, 45, 123456, tzinfo=UTC)
    assert from_micros(to_micros(t)) == t
    assert to_micros(None) == NO_TIME and from_micros(int(NO_TIME)) is None


@pytest.mark.parametrize("vhost", [False, True])
def test_memo_of_request_texts_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch,
                                                   vhost: bool) -> None:
    """Distinct 40 KB request texts do not pile up in the memo: past MEMO_BYTES it starts
    afresh after the chunk, and the rows are the same as with an unbounded memo."""
    from wormsign.detect import chunkscan

    lines = []
    for i in range(120):
        pad = (b"%04d" % i) * 10_000
        lines.append((b"www.example.com " if vhost else b"")
                     + b'10.0.%d.%d - - [19/Jul/2001:00:00:%02d +0000] "GET /default.ida?'
                     % (i // 250, i % 250 + 1, i % 60) + pad
                     + b' HTTP/1.0" 404 0 "-" "-"\n')
    chunks = [b"".join(lines[k:k + 10]) for k in range(0, len(lines), 10)]
    fmt = "vhost_combined" if vhost else "combined"

    def run(limit: int) -> tuple[list[int], list[int], int]:
        monkeypatch.setattr(chunkscan, "MEMO_BYTES", limit)
        sc = ChunkScanner(fmt=fmt)
        rows: list[int] = []
        times: list[int] = []
        most = 0
        line = 1
        for c in chunks:
            b = sc.scan(c, line)
            line = sc.stats.lines + 1
            rows += b.line.tolist()
            times += b.time.tolist()
            most = max(most, sc._memo_bytes)
        return rows, times, most

    free = run(1 << 40)
    bounded = run(100_000)
    assert free[0] == bounded[0] == list(range(1, 121))
    assert free[1] == bounded[1]
    assert free[2] > 4_000_000  # every text kept
    assert bounded[2] <= 100_000  # cleared after each chunk that passed the bound


def test_scanners_of_one_engine_share_the_variants_they_read() -> None:
    """A worker's scanners (one per task) share an engine: a request text one of them read is
    not parsed and matched again by the next, whose columns and variants are those a fresh
    engine gives."""
    text = "".join(worm_heavy_lines(3000, seed=7)).encode()
    cut = text.rindex(b"\n", 0, len(text) // 2) + 1
    first, second = text[:cut], text[cut:]
    engine = RuleEngine()
    ChunkScanner(engine, "combined", "x.log", Tables()).scan(first, 1)
    assert engine.variants
    calls: list[int] = []
    real = engine.match

    def counted(mask: int, req: object) -> tuple[int, ...]:
        calls.append(1)
        return real(mask, req)  # type: ignore[arg-type]

    engine.match = counted  # type: ignore[method-assign]
    got = ChunkScanner(engine, "combined", "x.log", Tables()).scan(second, 1)
    want = ChunkScanner(RuleEngine(), "combined", "x.log", Tables()).scan(second, 1)
    assert got.tables.variants.values == want.tables.variants.values
    for name in ("source", "time", "line", "variant", "file"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist()
    assert len(calls) < len(want.tables.variants)  # the texts read before: not matched again


def test_an_engines_shared_variants_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from wormsign.detect import chunkscan

    monkeypatch.setattr(chunkscan, "MEMO_LIMIT", 10)
    engine = RuleEngine()
    for k in range(25):
        engine.known_variant((b"GET /%d" % k, b"", "combined"), None)
        assert len(engine.variants) <= 10
