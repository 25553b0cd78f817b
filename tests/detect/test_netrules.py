"""Network rules on hand-built connection columns: each worm's footprint fires its rule, and
the everyday traffic on the same ports does not."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.detect.netrules import condition_mask, match_connections, rule_mask
from wormsign.logs.conn import ESTABLISHED, MARK_SEQ_IS_DST, REFUSED, UNANSWERED, ConnBatch
from wormsign.rules.netloader import NetMatch, NetPack, NetRule, load_network_pack

TCP, UDP = 6, 17
Row = tuple[float, str, str, int, int, int, int, int, int]  # time src dst sport dport proto outcome orig mark


def batch(rows: list[Row]) -> ConnBatch:
    def ip(a: str) -> int:
        return int(ipaddress.IPv4Address(a))

    n = len(rows)
    return ConnBatch(
        time=np.array([r[0] for r in rows], np.float64),
        src=np.array([ip(r[1]) for r in rows], np.uint32),
        dst=np.array([ip(r[2]) for r in rows], np.uint32),
        sport=np.array([r[3] for r in rows], np.int32),
        dport=np.array([r[4] for r in rows], np.int32),
        proto=np.array([r[5] for r in rows], np.uint8),
        outcome=np.array([r[6] for r in rows], np.uint8),
        orig_bytes=np.array([r[7] for r in rows], np.int64),
        resp_bytes=np.full(n, -1, np.int64),
        mark=np.array([r[8] for r in rows], np.uint8),
        line=np.arange(1, n + 1, dtype=np.int64),
        path="hand.log", format="zeek-conn",
    )


@pytest.fixture(scope="module")
def pack() -> NetPack:
    return load_network_pack()


A, V, W = "198.51.100.7", "10.0.0.5", "10.0.0.6"
CASES: dict[str, tuple[list[Row], list[Row]]] = {
    "slammer-udp-1434": (
        [(0, A, V, 1234, 1434, UDP, UNANSWERED, 376, 0)],
        [(0, A, V, 1234, 1434, UDP, ESTABLISHED, 1, 0),     # SSRS ping (one byte)
         (0, A, V, 1234, 1433, UDP, UNANSWERED, 376, 0),    # other port
         (0, A, V, 1234, 1434, TCP, REFUSED, 376, 0),       # TCP
         (0, A, V, 1234, 1434, UDP, UNANSWERED, -1, 0)]),   # size unknown
    "witty-udp-4000": (
        [(0, A, V, 4000, 31337, UDP, UNANSWERED, 900, 0),
         (1, A, W, 4000, 53, UDP, UNANSWERED, 1279, 0)],
        [(0, A, V, 4000, 31337, UDP, UNANSWERED, 40, 0),    # ICQ-sized datagram
         (0, A, V, 4001, 31337, UDP, UNANSWERED, 900, 0)]),
    "blaster-dcom-shell": (
        [(0, A, V, 3000, 135, TCP, ESTABLISHED, 1600, 0),
         (2, A, V, 3001, 4444, TCP, ESTABLISHED, 30, 0)],
        [(0, A, V, 3000, 135, TCP, ESTABLISHED, 1600, 0),   # RPC alone: everyday Windows
         (2, A, W, 3001, 4444, TCP, ESTABLISHED, 30, 0),    # 4444 on another host
         (100, A, V, 3002, 4444, TCP, ESTABLISHED, 30, 0),  # too late
         (-5, A, W, 3003, 4444, TCP, ESTABLISHED, 30, 0)]),
    "blaster-tftp-back": (
        [(0, A, V, 3000, 135, TCP, ESTABLISHED, 1600, 0),
         (3, V, A, 2000, 69, UDP, ESTABLISHED, 20, 0)],
        [(0, A, V, 3000, 135, TCP, ESTABLISHED, 1600, 0),
         (3, A, V, 2000, 69, UDP, ESTABLISHED, 20, 0)]),    # TFTP the wrong way
    "sasser-lsass-shell": (
        [(0, A, V, 3000, 445, TCP, ESTABLISHED, 4000, 0),
         (1, A, V, 3001, 9996, TCP, ESTABLISHED, 80, 0)],
        [(0, A, V, 3000, 445, TCP, ESTABLISHED, 4000, 0),
         (0, W, V, 3000, 445, TCP, ESTABLISHED, 4000, 0),
         (1, A, W, 3001, 9996, TCP, ESTABLISHED, 80, 0)]),
    "sasser-ftp-back": (
        [(0, A, V, 3000, 445, TCP, ESTABLISHED, 4000, 0),
         (5, V, A, 1026, 5554, TCP, ESTABLISHED, 30, 0)],
        [(0, A, V, 3000, 445, TCP, ESTABLISHED, 4000, 0),
         (5, V, W, 1026, 5554, TCP, ESTABLISHED, 30, 0)]),
    "mirai-telnet-syn": (
        [(0, A, V, 40000, 23, TCP, UNANSWERED, 0, MARK_SEQ_IS_DST),
         (0, A, W, 40001, 2323, TCP, REFUSED, 0, MARK_SEQ_IS_DST)],
        [(0, A, V, 40000, 23, TCP, ESTABLISHED, 50, 0),     # an ordinary telnet client
         (0, A, V, 40000, 80, TCP, UNANSWERED, 0, MARK_SEQ_IS_DST)]),
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_on_its_footprint_only(pack: NetPack, rule_id: str) -> None:
    pos, neg = CASES[rule_id]
    rule = pack.get(rule_id)
    assert rule is not None
    assert rule_mask(batch(pos), rule).all()
    assert not rule_mask(batch(neg), rule).any()


def test_every_network_rule_has_cases_and_references(pack: NetPack) -> None:
    assert {r.id for r in pack.rules} == set(CASES)
    assert all(r.references and pack.families[r.family].worm for r in pack.rules)


def test_best_rule_per_row_and_unknown_times(pack: NetPack) -> None:
    rows: list[Row] = [
        (0, A, V, 1, 1434, UDP, UNANSWERED, 376, 0),
        (1, A, V, 3000, 80, TCP, ESTABLISHED, 300, 0),
        (2, A, V, 3000, 445, TCP, ESTABLISHED, 4000, 0),
        (3, A, V, 3001, 9996, TCP, ESTABLISHED, 80, 0),
        (float("nan"), A, W, 3000, 445, TCP, ESTABLISHED, 4000, 0),
        (float("nan"), A, W, 3001, 9996, TCP, ESTABLISHED, 80, 0),
    ]
    m = match_connections(batch(rows), pack)
    assert m.row.tolist() == [0, 2, 3]
    assert m.rule_ids() == ["slammer-udp-1434", "sasser-lsass-shell", "sasser-lsass-shell"]
    assert m.counts() == {"slammer-udp-1434": 1, "sasser-lsass-shell": 2}


def test_pairs_are_found_among_many_hosts(pack: NetPack) -> None:
    """Many attackers and targets interleaved: only the pairs within the window match, the
    same as a direct quadratic check."""
    rng = np.random.default_rng(7)
    n = 1200
    srcs = [f"10.1.0.{i}" for i in rng.integers(0, 40, n).tolist()]
    dsts = [f"10.2.0.{i}" for i in rng.integers(0, 10, n).tolist()]
    ports = rng.choice([445, 9996, 80], n).tolist()
    times = np.round(rng.uniform(0, 20000, n), 1).tolist()
    rows: list[Row] = [(t, s, d, 1000, p, TCP, ESTABLISHED, 10, 0)
                       for t, s, d, p in zip(times, srcs, dsts, ports, strict=True)]
    rule = pack.get("sasser-lsass-shell")
    assert rule is not None
    got = rule_mask(batch(rows), rule)
    want = np.zeros(n, bool)
    for i, (t, s, d, _sp, p, *_rest) in enumerate(rows):
        if p not in (445, 9996):
            continue
        other = 9996 if p == 445 else 445
        for t2, s2, d2, _sp2, p2, *_r in rows:
            if (s2, d2, p2) == (s, d, other) and (
                    0 <= t2 - t <= 60 if p == 445 else 0 <= t - t2 <= 60):
                want[i] = True
                break
    assert 0 < want.sum() < (got.size // 2)
    assert got.tolist() == want.tolist()


_PORT = st.sampled_from([135, 445, 4444, 9996, 5554, 69, 80])
_ROW = st.tuples(st.one_of(st.integers(0, 200).map(float), st.just(float("nan"))),
                 st.sampled_from([A, V, W]), st.sampled_from([A, V, W]), _PORT,
                 st.sampled_from([TCP, UDP]))


def _holds(r: Row, m: NetMatch) -> bool:
    return bool(condition_mask(batch([r]), m)[0])


def _paired(rule: NetRule, a: Row, z: Row) -> bool:
    """``a`` is the rule's first connection and ``z`` its second (the definition, row by row)."""
    then = rule.then
    assert then is not None
    same = (z[1], z[2]) == ((a[1], a[2]) if then.direction == "same" else (a[2], a[1]))
    return (same and _holds(a, rule.match) and _holds(z, then.match)
            and 0 <= z[0] - a[0] <= then.within)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ROW, max_size=25))
def test_pair_rules_agree_with_a_direct_check(rows: list[tuple[float, str, str, int, int]],
                                              ) -> None:
    pack = load_network_pack()
    full: list[Row] = [(t, s, d, 1000, p, pr, ESTABLISHED, 10, 0) for t, s, d, p, pr in rows]
    b = batch(full)
    for rule in pack.rules:
        if rule.then is None:
            continue
        want = [any(_paired(rule, r, z) for z in full) or any(_paired(rule, a, r) for a in full)
                for r in full]
        assert rule_mask(b, rule).tolist() == want, rule.id


def test_extreme_times_pair_exactly(pack: NetPack) -> None:
    """Times far apart, huge or not finite: pairs are found from exact differences, and rows
    with no usable time never pair."""
    rule = pack.get("sasser-lsass-shell")
    assert rule is not None
    big = 1e15
    rows: list[Row] = [
        (big, A, V, 1, 445, TCP, ESTABLISHED, 10, 0),
        (big + 59.5, A, V, 1, 9996, TCP, ESTABLISHED, 10, 0),   # pairs with the row above
        (-big, A, W, 1, 445, TCP, ESTABLISHED, 10, 0),
        (-big + 61, A, W, 1, 9996, TCP, ESTABLISHED, 10, 0),    # 61 s: too late
        (float("inf"), V, W, 1, 445, TCP, ESTABLISHED, 10, 0),
        (float("inf"), V, W, 1, 9996, TCP, ESTABLISHED, 10, 0),
        (float("-inf"), W, V, 1, 445, TCP, ESTABLISHED, 10, 0),
        (float("nan"), W, V, 1, 9996, TCP, ESTABLISHED, 10, 0),
    ]
    assert rule_mask(batch(rows), rule).tolist() == [True, True] + [False] * 6
