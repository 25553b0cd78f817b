"""Per-host bookkeeping for the kernel: index lists, walkers, starting and stopping scanners.

A scanning host contributes to exactly one kind of aggregate: the random-scanning probe rates
(per side of a filtered block, per /8 and /16 group for local preference), the hit-list
holders, or the sequence walkers' event heap. These helpers keep that consistent.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import njit
from wormsign.sim.codes import (
    A_SENT,
    E_TELESCOPE,
    HITLIST,
    Q_HITLIST_THEN,
    Q_SEQ_START,
    Q_STRATEGY,
    SEQ,
    STATIC,
    UNIFORM,
)
from wormsign.sim.heap import heap_push

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
def walker_start(h: int, strategy: int, seq_start: int, wpos: F64, wptr: I64, wwrap: I64,
                 wv: F64, wacc: F64, seq_sorted: I64, seq_bucket: I64, seq_own: I64,
                 space: float, vtime: float,
                 rate: F64, wp: F64, wn: I64, sepoch: I64,
                 rng: np.random.Generator) -> None:
    """Place a walker at its starting point and queue its first vulnerable crossing.

    Positions are unwrapped (``wwrap`` laps of the space); ``wv`` is the virtual time (time
    scaled by the congestion factor) at which the walker stood at ``wpos``.
    """
    n = seq_sorted.shape[0]
    if strategy == STATIC:
        pos = 0.0
    elif strategy == SEQ and seq_start == 0:
        pos = float(seq_own[h]) + 1.0
    else:
        pos = math.floor(rng.random() * space)
    ptr = first_at_or_after(seq_sorted, seq_bucket, pos, space)
    wrap = 0
    if ptr == n:
        ptr = 0
        wrap = 1
    wpos[h] = pos
    wacc[h] = pos
    wptr[h] = ptr
    wwrap[h] = wrap
    wv[h] = vtime
    nxt = vtime + (seq_sorted[ptr] + wrap * space - pos) / rate[h]
    heap_push(wp, wn, nxt, h, 0, sepoch[h])


@njit
def start_scanning(hosts: I64, lo: int, hi: int, t: float, vtime: float, pi: I64,
                   local: bool, bl_cov: float,
                   space: float, scanning: U8, sepoch: I64, scan_list: I64, scan_pos: I64,
                   n_scan: I64, rate: F64, black: U8, hl_lo: I64, hl_hi: I64, hl_list: I64,
                   hl_pos: I64, n_hl: I64, randomer: U8, walker: U8, side: I64, g1: I64,
                   g2: I64, agg: F64, rate1: F64, rate2: F64, cnt_g1: I64, cnt_g2: I64,
                   act1: I64, act1_pos: I64, n_act1: I64, act2: I64, act2_pos: I64,
                   n_act2: I64, wpos: F64, wptr: I64, wwrap: I64, wv: F64, wacc: F64,
                   seq_sorted: I64, seq_bucket: I64, seq_own: I64, wp: F64, wn: I64, qtel: F64,
                   qsum: F64,
                   seen: U8, hp: F64, hn: I64, rng: np.random.Generator) -> None:
    """Hosts ``hosts[lo:hi]`` start scanning at time ``t`` (those already scanning are
    skipped): each joins the aggregates of its kind. One call per batch, not per host, since
    a call passes every array. The caller guarantees room in the event heap for
    ``qtel.shape[0]`` events per host.
    """
    strategy = pi[Q_STRATEGY]
    for idx in range(lo, hi):
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
        elif strategy == UNIFORM or local or (strategy == HITLIST and pi[Q_HITLIST_THEN] == 0):
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
            walker_start(h, strategy, pi[Q_SEQ_START], wpos, wptr, wwrap, wv, wacc, seq_sorted,
                         seq_bucket, seq_own, space, vtime, rate, wp, wn, sepoch, rng)
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
def stop_scanning(hosts: I64, lo: int, hi: int, local: bool, bl_cov: float, scanning: U8,
                  sepoch: I64,
                  scan_list: I64, scan_pos: I64, n_scan: I64, rate: F64, black: U8,
                  hl_list: I64, hl_pos: I64, n_hl: I64, randomer: U8, walker: U8, side: I64,
                  g1: I64, g2: I64, agg: F64, rate1: F64, rate2: F64, cnt_g1: I64,
                  cnt_g2: I64, act1: I64, act1_pos: I64, n_act1: I64, act2: I64,
                  act2_pos: I64, n_act2: I64, qtel: F64, qsum: F64, seen: U8) -> None:
    """Hosts ``hosts[lo:hi]`` stop scanning (those not scanning are skipped): each leaves
    every aggregate, and its pending events go stale."""
    for idx in range(lo, hi):
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
