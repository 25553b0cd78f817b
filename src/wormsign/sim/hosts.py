"""Per-host bookkeeping for the kernel: index lists, walkers, starting and stopping scanners.

A scanning host contributes to exactly one kind of aggregate: the random-scanning probe rates
(per side of a filtered block, per /8 and /16 group for local preference), the hit-list
holders, or the sequence walkers' event heap. These helpers keep that consistent.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import borrow, njit
from wormsign.sim.codes import (
    A_SENT,
    E_TELESCOPE,
    HITLIST,
    LOCAL,
    P_BL_COV,
    P_SPACE,
    Q_HITLIST_THEN,
    Q_SEQ_START,
    Q_STRATEGY,
    SEQ,
    STATIC,
    UNIFORM,
)
from wormsign.sim.heap import heap_push
from wormsign.sim.state import Run

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


@njit
def list_add(lst: I64, lpos: I64, n: I64, h: int) -> None:
    """Append ``h`` to the index list ``lst[:n[0]]`` (``lpos`` maps members to slots)."""
    lst[n[0]] = h
    lpos[h] = n[0]
    n[0] += 1


@njit
def list_remove(lst: I64, lpos: I64, n: I64, h: int) -> None:
    """Remove ``h`` from the index list by moving the last member into its slot."""
    i = lpos[h]
    last = lst[n[0] - 1]
    lst[i] = last
    lpos[last] = i
    lpos[h] = -1
    n[0] -= 1


@njit
def schedule_value(st: F64, sv: F64, m: int, t: float) -> float:
    """Piecewise-constant rate at time ``t`` (0 before the first point)."""
    v = 0.0
    for i in range(m):
        if st[i] <= t:
            v = sv[i]
    return v


@njit
def first_at_or_after(arr: I64, bucket: I64, x: float, space: float) -> int:
    """Index of the first element >= x in the sorted ``arr``.

    ``bucket[b]`` is the first index at or after ``b * space / (len(bucket) - 1)``, so the
    search starts next to the answer (about one step on average) instead of bisecting.
    """
    nb = bucket.shape[0] - 1
    b = int(x * nb / space) - 1  # one bucket back: safe against rounding
    b = min(max(b, 0), nb)
    i = bucket[b]
    n = arr.shape[0]
    while i < n and arr[i] < x:
        i += 1
    return int(i)


@njit
def overlap(a: float, b: float, lo: int, hi: int) -> int:
    """Integers in [a, b) that fall in [lo, hi)."""
    x = max(math.ceil(a), lo)
    y = min(math.ceil(b), hi)
    return y - x if y > x else 0


@njit
def walker_origin(strategy: int, seq_start: int, own: int, space: float,
                  rng: np.random.Generator) -> float:
    """Where a walker starts: 0 (static sequence), just after its own address (sequential
    from its own), or a random address."""
    if strategy == STATIC:
        return 0.0
    if strategy == SEQ and seq_start == 0:
        return float(own) + 1.0
    return float(math.floor(rng.random() * space))


@njit
def walker_aim(seq_sorted: I64, seq_bucket: I64, pos: float, space: float) -> tuple[int, int]:
    """``(ptr, wrap)``: the next vulnerable position at or after ``pos`` in the walk order, as
    its index and the laps of the space (1 when the walker must wrap around)."""
    ptr = first_at_or_after(seq_sorted, seq_bucket, pos, space)
    if ptr == seq_sorted.shape[0]:
        return 0, 1
    return ptr, 0


@njit
def start_walking(h: int, pos: float, vtime: float, run: Run) -> None:
    """Walker ``h`` stands at ``pos`` at virtual time ``vtime``: queue its first vulnerable
    crossing. The caller guarantees room in the walkers' heap."""
    w = borrow(run.w)
    hq = borrow(run.hq)
    space = w.p.pf[P_SPACE]
    seq_sorted = w.wk.seq_sorted
    ptr, wrap = walker_aim(seq_sorted, w.wk.seq_bucket, pos, space)
    w.wk.pos[h] = pos
    w.wk.acc[h] = pos
    w.wk.ptr[h] = ptr
    w.wk.wrap[h] = wrap
    w.wk.v[h] = vtime
    nxt = vtime + (seq_sorted[ptr] + wrap * space - pos) / w.hs.rate[h]
    heap_push(hq.walk, hq.n_walk, nxt, h, 0, w.sc.sepoch[h])


@njit
def start_scanning(hosts: I64, t: float, vtime: float, run: Run,
                   rng: np.random.Generator) -> None:
    """The ``hosts`` start scanning at time ``t`` (those already scanning are skipped): each
    joins the aggregates of its kind. Walkers are placed at ``vtime`` (the virtual time). One
    call per batch, not per host. The caller guarantees room in the event heap for
    ``w.tel.q.shape[0]`` events per host and in the walkers' heap for one.
    """
    w = borrow(run.w)
    hq = borrow(run.hq)
    pf = w.p.pf
    pi = w.p.pi
    strategy = pi[Q_STRATEGY]
    seq_start = pi[Q_SEQ_START]
    random_too = strategy == HITLIST and pi[Q_HITLIST_THEN] == 0
    local = strategy == LOCAL
    bl_cov = pf[P_BL_COV]
    space = pf[P_SPACE]
    side, g1, g2, rate, black = w.hs.side, w.hs.g1, w.hs.g2, w.hs.rate, w.hs.black
    sc = w.sc
    scanning, sepoch, randomer, walker, agg = sc.scanning, sc.sepoch, sc.randomer, sc.walker, sc.agg
    scan_list, scan_pos, n_scan = sc.scan
    rate1, rate2, cnt_g1, cnt_g2 = sc.rate1, sc.rate2, sc.cnt1, sc.cnt2
    act1, act1_pos, n_act1 = sc.act1
    act2, act2_pos, n_act2 = sc.act2
    hl_lo, hl_hi = w.hl.lo, w.hl.hi
    hl_list, hl_pos, n_hl = w.hl.holders
    seq_own = w.wk.seq_own
    qtel, qsum, seen = w.tel.q, w.tel.qsum, w.tel.seen
    hp, hn = hq.ev, hq.n_ev
    for idx in range(hosts.shape[0]):
        h = hosts[idx]
        if scanning[h]:
            continue
        scanning[h] = 1
        sepoch[h] += 1
        list_add(scan_list, scan_pos, n_scan, h)
        agg[A_SENT] += rate[h]
        eff = rate[h] * (1.0 - bl_cov) if black[h] else rate[h]
        if strategy == HITLIST and hl_lo[h] < hl_hi[h]:
            list_add(hl_list, hl_pos, n_hl, h)
        elif strategy == UNIFORM or local or random_too:
            randomer[h] = 1
            agg[side[h]] += eff
            if local:
                a = g1[h]
                b = g2[h]
                rate1[a * 2 + side[h]] += eff
                rate2[b * 2 + side[h]] += eff
                if cnt_g1[a] == 0:
                    list_add(act1, act1_pos, n_act1, a)
                cnt_g1[a] += 1
                if cnt_g2[b] == 0:
                    list_add(act2, act2_pos, n_act2, b)
                cnt_g2[b] += 1
        else:
            walker[h] = 1
            start_walking(h, walker_origin(strategy, seq_start, seq_own[h], space, rng), vtime,
                          run)
        # telescopes: a host's probes reach block k as a Poisson process of rate rate * q; its
        # first one is a timed event, the later ones are drawn in bulk with the seen hosts
        for k in range(qtel.shape[0]):
            q = qtel[k, h]
            if q <= 0.0:
                continue
            if seen[k, h]:
                qsum[k] += rate[h] * q
            else:
                heap_push(hp, hn, t + rng.exponential(1.0 / (rate[h] * q)), h,
                          E_TELESCOPE + k, sepoch[h])


@njit
def stop_scanning(hosts: I64, run: Run) -> None:
    """The ``hosts`` stop scanning (those not scanning are skipped): each leaves every
    aggregate, and its pending events go stale."""
    w = borrow(run.w)
    local = w.p.pi[Q_STRATEGY] == LOCAL
    bl_cov = w.p.pf[P_BL_COV]
    side, g1, g2, rate, black = w.hs.side, w.hs.g1, w.hs.g2, w.hs.rate, w.hs.black
    sc = w.sc
    scanning, sepoch, randomer, walker, agg = sc.scanning, sc.sepoch, sc.randomer, sc.walker, sc.agg
    scan_list, scan_pos, n_scan = sc.scan
    rate1, rate2, cnt_g1, cnt_g2 = sc.rate1, sc.rate2, sc.cnt1, sc.cnt2
    act1, act1_pos, n_act1 = sc.act1
    act2, act2_pos, n_act2 = sc.act2
    hl_list, hl_pos, n_hl = w.hl.holders
    qtel, qsum, seen = w.tel.q, w.tel.qsum, w.tel.seen
    for idx in range(hosts.shape[0]):
        h = hosts[idx]
        if not scanning[h]:
            continue
        scanning[h] = 0
        sepoch[h] += 1
        list_remove(scan_list, scan_pos, n_scan, h)
        agg[A_SENT] -= rate[h]
        eff = rate[h] * (1.0 - bl_cov) if black[h] else rate[h]
        if hl_pos[h] >= 0:
            list_remove(hl_list, hl_pos, n_hl, h)
        if randomer[h]:
            randomer[h] = 0
            agg[side[h]] -= eff
            if local:
                a = g1[h]
                b = g2[h]
                rate1[a * 2 + side[h]] -= eff
                rate2[b * 2 + side[h]] -= eff
                cnt_g1[a] -= 1
                if cnt_g1[a] == 0:  # reset exactly, no float drift
                    list_remove(act1, act1_pos, n_act1, a)
                    rate1[a * 2] = 0.0
                    rate1[a * 2 + 1] = 0.0
                cnt_g2[b] -= 1
                if cnt_g2[b] == 0:
                    list_remove(act2, act2_pos, n_act2, b)
                    rate2[b * 2] = 0.0
                    rate2[b * 2 + 1] = 0.0
        walker[h] = 0
        for k in range(qtel.shape[0]):
            if seen[k, h]:
                qsum[k] -= rate[h] * qtel[k, h]
        if n_scan[0] == 0:
            agg[0] = 0.0
            agg[1] = 0.0
            agg[A_SENT] = 0.0
            for k in range(qtel.shape[0]):
                qsum[k] = 0.0
