"""The incremental API: chunks in any cut give the same rows and alerts as one whole chunk."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

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
