"""A capture read in chunks gives the attempts of the capture read whole, holding only the
attempts still open (pcapcarry), whatever chunk an answer falls in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wormsign.logs import connwrite, pcapconn
from wormsign.logs.conn import OTHER, UNANSWERED, ConnBatch, concat
from wormsign.logs.connread import ConnStats, read_connections
from wormsign.logs.pcapcarry import Carry
from wormsign.logs.source import Input, open_input

KERNELS = [pcapconn.kernels(), pcapconn.kernels(prefer_c=False)]


def busy_batch(n: int, seed: int, span: float, tcp_other: bool = True) -> ConnBatch:
    """``n`` connections among few addresses and ports (flows come back: retries, new
    attempts on the same ports, answers), over ``span`` seconds."""
    rng = np.random.default_rng(seed)
    proto = rng.choice(np.array([6, 17, 1], np.uint8), n)
    outcome = rng.integers(0, 4, n).astype(np.uint8)
    if not tcp_other:
        outcome[(proto == 6) & (outcome == OTHER)] = UNANSWERED
    return ConnBatch(
        np.sort(rng.uniform(1e9, 1e9 + span, n)).round(6),
        (0x0A000001 + rng.integers(0, 3, n)).astype(np.uint32),
        (0xC6336401 + rng.integers(0, 3, n)).astype(np.uint32),
        (40000 + rng.integers(0, 2, n)).astype(np.int32),
        rng.choice(np.array([53, 80], np.int32), n), proto, outcome,
        rng.integers(-1, 300, n), rng.integers(-1, 300, n),
        rng.integers(0, 2, n).astype(np.uint8), np.arange(1, n + 1, dtype=np.int64))


def whole_and_chunked(path: Path, seed: int, kernels: pcapconn.Kernels,
                      ) -> tuple[list[object], list[object], Carry, int]:
    frame, flows = kernels
    state = np.zeros(7, dtype=np.int64)
    with open_input(Input(str(path))) as stream:
        pk, ts, _, _ = pcapconn._read_frames(stream, stream.peek(4), "x", state, frame)
    whole = pcapconn.attempts(pk, ts, "x", flows)
    rng = np.random.default_rng(seed)
    carry = Carry(flows)
    done = []
    most = 0
    i = 0
    while i < len(pk):
        k = int(rng.integers(1, 10))  # chunks of 1..9 packets: answers in later chunks
        done.append(carry.feed(pk[i:i + k], ts[i:i + k]))
        most = max(most, carry.open)
        i += k
    done.append(carry.finish())
    t = np.concatenate([d[0] for d in done])
    rows = np.concatenate([d[1] for d in done])
    by = np.lexsort((rows[:, 8], t))
    chunked = [(float(a), tuple(r)) for a, r in zip(t[by], rows[by].tolist(), strict=True)]
    want = [(float(r[0]), (r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10]))
            for r in zip(whole.time, whole.src.astype(np.int64), whole.dst.astype(np.int64),
                         whole.sport.astype(np.int64), whole.dport.astype(np.int64),
                         whole.proto.astype(np.int64), whole.outcome.astype(np.int64),
                         whole.orig_bytes, whole.resp_bytes, whole.line,
                         whole.mark.astype(np.int64), strict=True)]
    return [(a, tuple(int(x) for x in r)) for a, r in chunked], \
        [(a, tuple(int(x) for x in r)) for a, r in want], carry, most


@pytest.mark.parametrize("kernels", KERNELS, ids=["c", "numba"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chunked_equals_whole_on_busy_flows(tmp_path: Path, kernels: pcapconn.Kernels,
                                            seed: int) -> None:
    p = tmp_path / "c.pcap"
    connwrite.write_pcap(busy_batch(300, seed, span=90.0), p, seed=seed)
    got, want, carry, _ = whole_and_chunked(p, seed, kernels)
    assert len(want) > 50
    assert got == want
    assert carry.late == carry.overflow == 0


@pytest.mark.parametrize("kernels", KERNELS, ids=["c", "numba"])
@pytest.mark.parametrize("span", [3000.0, 20000.0])  # flows silent ~1 min, ~8 min
def test_open_attempts_are_written_out_and_memory_stays_small(
        tmp_path: Path, kernels: pcapconn.Kernels, span: float) -> None:
    """Over a long capture attempts are written out as flows go silent: what is carried is
    a few packets per open attempt, not the packets read."""
    p = tmp_path / "c.pcap"
    packets = connwrite.write_pcap(busy_batch(1500, 7, span=span, tcp_other=False), p)
    got, want, _, most = whole_and_chunked(p, 7, kernels)
    assert got == want
    flows = 3 * 3 * 2 * 2 * 2 + 3 * 3  # TCP and UDP 5-tuples, ICMP address pairs
    assert most <= 5 * flows + 9  # at most one open attempt a flow, five packets each
    assert packets > 5 * most


def test_a_late_answer_and_an_overflow_are_counted() -> None:
    _, flows = pcapconn.kernels()
    syn = np.array([[1, 2, 1000, 80, 6, 0x02, 0, 0, 1, -1, 1]], dtype=np.int64)
    ack = np.array([[2, 1, 80, 1000, 6, 0x10, 0, 5, 1, -1, 3]], dtype=np.int64)
    other = np.array([[7, 8, 1, 2, 17, 0, 0, 0, 1, -1, 2]], dtype=np.int64)
    carry = Carry(flows, max_open=1)
    _, r1 = carry.feed(np.r_[syn, other], np.array([0.0, 1.0]))
    assert carry.overflow == 1 and len(r1) == 1  # the older attempt written out early
    _, r2 = carry.feed(ack, np.array([500.0]))  # 500 s later: the SYN was written out
    _, r3 = carry.finish()
    assert carry.late == 1
    outcomes = sorted(int(r[5]) for r in np.r_[r1, r2, r3])
    assert outcomes == [UNANSWERED, UNANSWERED, OTHER]  # the late packet is a row of its own


def test_read_connections_streams_in_batches(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "c.pcap"
    connwrite.write_pcap(busy_batch(2000, 5, span=5000.0, tcp_other=False), p)
    whole = concat(list(read_connections(str(p))))
    monkeypatch.setattr(pcapconn, "_READ", 4096)
    monkeypatch.setattr(pcapconn, "BATCH_ROWS", 100)
    stats = ConnStats()
    batches = list(read_connections(str(p), stats=stats))
    assert len(batches) > 5 and stats.records == len(whole)
    got = concat(batches)
    by = np.lexsort((got.line, got.time))
    for c in ("time", "src", "dst", "sport", "dport", "proto", "outcome", "orig_bytes",
              "resp_bytes", "line", "mark"):
        np.testing.assert_array_equal(getattr(got, c)[by], getattr(whole, c), err_msg=c)
