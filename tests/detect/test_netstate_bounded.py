"""TRW's remembered (source, destination) pairs stay within their caps, whatever the input."""

from __future__ import annotations

import numpy as np

from wormsign.detect.netstate import SCANNER, SourceState
from wormsign.logs.conn import ESTABLISHED, UNANSWERED, ConnBatch


def conns(src: int, dst: np.ndarray, t0: float, outcome: int) -> ConnBatch:
    n = len(dst)
    return ConnBatch(
        time=t0 + np.arange(n, dtype=np.float64), src=np.full(n, src, np.uint32),
        dst=dst.astype(np.uint32), sport=np.full(n, 40000, np.int32),
        dport=np.full(n, 80, np.int32), proto=np.full(n, 6, np.uint8),
        outcome=np.full(n, outcome, np.uint8), orig_bytes=np.full(n, -1, np.int64),
        resp_bytes=np.full(n, -1, np.int64), mark=np.zeros(n, np.uint8),
        line=np.arange(1, n + 1, dtype=np.int64), path="t", format="zeek-conn")


PROXY = 0x0A000005


def test_a_proxy_with_many_destinations_stays_within_the_caps() -> None:
    s = SourceState(per_source=100, total=250)
    for k in range(20):  # a proxy: 20 batches of 50 new destinations, all answered
        s.feed(conns(PROXY, 0x50000000 + k * 50 + np.arange(50), k * 50.0, ESTABLISHED))
        assert len(s.seen) <= 100
    assert s.forgotten == 1000 - len(s.seen) > 0
    newest = (s.seen & np.uint64(0xFFFFFFFF)).astype(np.int64)
    assert newest.min() == 0x50000000 + 1000 - 100  # its most recent destinations kept


def test_the_global_cap_drops_the_least_recently_active_sources() -> None:
    s = SourceState(per_source=100, total=250)
    for i in range(5):  # five clients, each 60 answered destinations, one after another
        s.feed(conns(0x0A000010 + i, 0x50000000 + np.arange(60), i * 100.0, ESTABLISHED))
        assert len(s.seen) <= 250
    owners = set((s.seen >> np.uint64(32)).astype(np.int64).tolist())
    assert owners == {0x0A000010 + i for i in (1, 2, 3, 4)}
    assert s.forgotten == 60  # the first client's, the least recently active


def test_a_proxy_over_the_cap_that_turns_scanner_is_still_found() -> None:
    s = SourceState(per_source=64, total=1000)
    s.feed(conns(PROXY, 0x50000000 + np.arange(500), 0.0, ESTABLISHED))
    s.feed(conns(PROXY, 0x60000000 + np.arange(30), 1000.0, UNANSWERED))
    (i,) = np.flatnonzero(s.ip == PROXY)
    assert s.col["verdict"][i] == SCANNER and s.forgotten > 0
    assert not len(s.seen)  # a scanner's pairs are let go
