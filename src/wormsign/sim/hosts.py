"""Per-host bookkeeping for the kernel: index lists, pools, walkers, starting and stopping scanners.

A scanning host contributes to exactly one kind of aggregate: the random-scanning probe rates
(per side of a filtered block, per /8 and /16 group for local preference), the hit-list
holders, or the sequence walkers' event heap. These helpers keep that consistent; each works on
the named records of :mod:`wormsign.sim.state`.
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
    SEQ,
    STATIC,
)
from wormsign.sim.heap import heap_push
from wormsign.sim.pools import pool_add, pool_remove
from wormsign.sim.state import IndexList, Pools, Sim

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@njit
def list_add(lst: IndexList, h: int) -> None:
    """Add ``h`` (not a member) at the end of the list."""
    lst.items[lst.n[0]] = h
    lst.pos[h] = lst.n[0]
    lst.n[0] += 1


@njit
def list_remove(lst: IndexList, h: int) -> None:
    """Remove the member ``h`` by moving the last member into its slot."""
    i = lst.pos[h]
    last = lst.items[lst.n[0] - 1]
    lst.items[i] = last
    lst.pos[last] = i
    lst.pos[h] = -1
    lst.n[0] -= 1


@njit
def leave_pools(pools: Pools, side: I64, local: bool, h: int) -> None:
    """Host ``h`` is no longer susceptible: out of every pool it is in."""
    p = pools.by_side
    pool_remove(p.mem, p.pos, p.start, p.cnt, side[h], h)
    if local:
        p = pools.own1
        pool_remove(p.mem, p.pos, p.start, p.cnt, pools.key1[h], h)
        p = pools.own2
        pool_remove(p.mem, p.pos, p.start, p.cnt, pools.key2[h], h)


@njit
def join_pools(pools: Pools, side: I64, local: bool, h: int,
               rng: np.random.Generator) -> None:
    """Host ``h`` is susceptible again: back in every pool, each at a random slot."""
    p = pools.by_side
    pool_add(p.mem, p.pos, p.start, p.cnt, side[h], h, rng)
    if local:
        p = pools.own1
        pool_add(p.mem, p.pos, p.start, p.cnt, pools.key1[h], h, rng)
        p = pools.own2
        pool_add(p.mem, p.pos, p.start, p.cnt, pools.key2[h], h, rng)


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
def walker_start(sim: Sim, h: int, strategy: int, vtime: float,
                 rng: np.random.Generator) -> None:
    """Place walker ``h`` at its starting point and queue its first vulnerable crossing.

    Positions are unwrapped (``wrap`` laps of the space); ``vt`` is the virtual time (time
    scaled by the congestion factor) at which the walker stood at ``pos``. The caller
    guarantees room in the walkers' heap.
    """
    order, walk, space = sim.order, sim.walk, sim.params.space
    n = order.sorted.shape[0]
    if strategy == STATIC:
        pos = 0.0
    elif strategy == SEQ and sim.params.seq_start == 0:
        pos = float(order.own[h]) + 1.0
    else:
        pos = math.floor(rng.random() * space)
    ptr = first_at_or_after(order.sorted, order.bucket, pos, space)
    wrap = 0
    if ptr == n:
        ptr = 0
        wrap = 1
    walk.pos[h] = pos
    walk.acc[h] = pos
    walk.ptr[h] = ptr
    walk.wrap[h] = wrap
    walk.vt[h] = vtime
    nxt = vtime + (order.sorted[ptr] + wrap * space - pos) / sim.world.rate[h]
    heap_push(walk.heap.box[0], walk.heap.n, nxt, h, 0, sim.scan.sepoch[h])


@njit
def effective_rate(sim: Sim, h: int) -> float:
    """Host ``h``'s probe rate that gets through blacklisting."""
    rate = sim.world.rate[h]
    return float(rate * (1.0 - sim.params.bl_cov) if sim.hosts.black[h] else rate)


@njit
def join_random(sim: Sim, h: int, eff: float) -> None:
    """Scanning host ``h`` picks targets at random from now on, at effective rate ``eff``."""
    scan, side = sim.scan, sim.world.side[h]
    scan.randomer[h] = 1
    scan.agg[side] += eff
    if sim.params.local:
        a = sim.world.g1[h]
        b = sim.world.g2[h]
        scan.rate1[a * 2 + side] += eff
        scan.rate2[b * 2 + side] += eff
        if scan.cnt1[a] == 0:
            list_add(scan.act1, a)
        scan.cnt1[a] += 1
        if scan.cnt2[b] == 0:
            list_add(scan.act2, b)
        scan.cnt2[b] += 1


@njit
def leave_random(sim: Sim, h: int, eff: float) -> None:
    """Random scanner ``h`` stops; a group left without one is reset exactly (no drift)."""
    scan, side = sim.scan, sim.world.side[h]
    scan.randomer[h] = 0
    scan.agg[side] -= eff
    if sim.params.local:
        a = sim.world.g1[h]
        b = sim.world.g2[h]
        scan.rate1[a * 2 + side] -= eff
        scan.rate2[b * 2 + side] -= eff
        scan.cnt1[a] -= 1
        if scan.cnt1[a] == 0:
            list_remove(scan.act1, a)
            scan.rate1[a * 2] = 0.0
            scan.rate1[a * 2 + 1] = 0.0
        scan.cnt2[b] -= 1
        if scan.cnt2[b] == 0:
            list_remove(scan.act2, b)
            scan.rate2[b * 2] = 0.0
            scan.rate2[b * 2 + 1] = 0.0


@njit
def watch(sim: Sim, h: int, t: float, rng: np.random.Generator) -> None:
    """Telescopes: host ``h``'s probes reach block k as a Poisson process of rate rate * q;
    its first one is a timed event, the later ones are drawn in bulk with the seen hosts."""
    tel, rate = sim.tel, sim.world.rate[h]
    for k in range(sim.world.qtel.shape[0]):
        q = sim.world.qtel[k, h]
        if q <= 0.0:
            continue
        if tel.seen[k, h]:
            tel.qsum[k] += rate * q
        else:
            heap_push(sim.events.box[0], sim.events.n, t + rng.exponential(1.0 / (rate * q)),
                      h, E_TELESCOPE + k, sim.scan.sepoch[h])


@njit
def start_scanning(sim: Sim, hosts: I64, count: int, t: float,
                   rng: np.random.Generator) -> None:
    """Hosts ``hosts[:count]`` start scanning at time ``t`` (those already scanning are
    skipped): each joins the aggregates of its kind. The caller guarantees room in the event
    heap for one event per telescope and host.
    """
    par, scan, hit = sim.params, sim.scan, sim.hit
    for idx in range(count):
        h = hosts[idx]
        if scan.scanning[h]:
            continue
        scan.scanning[h] = 1
        scan.sepoch[h] += 1
        list_add(scan.members, h)
        scan.agg[A_SENT] += sim.world.rate[h]
        eff = effective_rate(sim, h)
        if par.strategy == HITLIST and hit.lo[h] < hit.hi[h]:
            list_add(hit.holders, h)
        elif par.random_scan:
            join_random(sim, h, eff)
        else:
            sim.walk.walker[h] = 1
            walker_start(sim, h, par.strategy, sim.clock.vtime[0], rng)
        watch(sim, h, t, rng)


@njit
def stop_scanning(sim: Sim, hosts: I64, count: int) -> None:
    """Hosts ``hosts[:count]`` stop scanning (those not scanning are skipped): each leaves
    every aggregate, and its pending events go stale."""
    scan, tel, qtel = sim.scan, sim.tel, sim.world.qtel
    for idx in range(count):
        h = hosts[idx]
        if not scan.scanning[h]:
            continue
        scan.scanning[h] = 0
        scan.sepoch[h] += 1
        list_remove(scan.members, h)
        scan.agg[A_SENT] -= sim.world.rate[h]
        eff = effective_rate(sim, h)
        if sim.hit.holders.pos[h] >= 0:
            list_remove(sim.hit.holders, h)
        if scan.randomer[h]:
            leave_random(sim, h, eff)
        sim.walk.walker[h] = 0
        for k in range(qtel.shape[0]):
            if tel.seen[k, h]:
                tel.qsum[k] -= sim.world.rate[h] * qtel[k, h]
        if scan.members.n[0] == 0:
            scan.agg[0] = 0.0
            scan.agg[1] = 0.0
            scan.agg[A_SENT] = 0.0
            for k in range(qtel.shape[0]):
                tel.qsum[k] = 0.0
