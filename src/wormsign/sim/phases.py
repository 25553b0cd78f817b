"""The phases of one kernel step, each a compiled function over the state of :mod:`state`.

A step from ``t0`` to ``t1`` runs, in this order (see :func:`wormsign.sim.kernel.advance`):

1. :func:`calendar_phase`: Code Red calendar changes due by ``t0`` (wake-ups are queued,
   flooding or dormant hosts stop scanning);
2. :func:`due_events`: timed events due by ``t0`` (end of the infection delay or wake-up,
   blacklisting, first probe seen by a telescope); hosts due to scan start;
3. :func:`life_cycle`: patching of susceptible hosts, removal and reboot of infected ones;
4. the spread (:func:`spread`): :func:`walk_sequences` (sequence walkers jump from one
   vulnerable address to the next), :func:`hit_list` (holders probe their share of the list),
   :func:`random_scan` (binomial infections per group and level);
5. :func:`apply_infections`: the new infections leave the pools and start their timers, or
   scan from ``t1`` without a delay.

The order of random draws is part of the model's reproducibility: a seed gives the same run,
so a phase never draws in a different order than it did (``tests/sim/test_kernel_golden.py``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import njit
from wormsign.sim.codes import (
    A_SENT,
    E_ACTIVATE,
    E_BLACKLIST,
    E_TELESCOPE,
    HITLIST,
    PERM,
    PH_FLOOD,
    PH_SPREAD,
    S_INF,
    S_REM,
    S_SUS,
)
from wormsign.sim.heap import heap_pop, heap_push, reserve
from wormsign.sim.hosts import (
    effective_rate,
    first_at_or_after,
    join_pools,
    join_random,
    leave_pools,
    list_add,
    list_remove,
    overlap,
    schedule_value,
    start_scanning,
    stop_scanning,
    walker_start,
)
from wormsign.sim.pools import pool_pick
from wormsign.sim.state import (
    B_FLOOD,
    B_NEW,
    B_PROBES,
    N_EVER,
    N_REMOVED,
    N_SUS,
    IndexList,
    Pool,
    Sim,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@njit
def infect(sim: Sim, j: int, n_new: int) -> int:
    """Susceptible host ``j`` is infected this step: marked, and queued in ``fresh``."""
    sim.hosts.state[j] = S_INF
    sim.scratch.fresh[n_new] = j
    return n_new + 1


# ---------------------------------------------------------------- first infections
@njit
def infect_initial(sim: Sim, rng: np.random.Generator) -> None:
    """The initial hosts are infected at t = 0 (and scan from then on if the calendar lets
    them); with a hit list, each holds an equal share of it."""
    par, hosts, ids = sim.params, sim.hosts, sim.order.initial
    n0 = ids.shape[0]
    for idx in range(n0):
        h = ids[idx]
        hosts.state[h] = S_INF
        if hosts.ever[h] == 0:
            hosts.ever[h] = 1
            hosts.totals[N_EVER] += 1
        hosts.totals[N_SUS] -= 1
        leave_pools(sim.pools, sim.world.side, par.local, h)
        list_add(hosts.infected, h)
        if par.strategy == HITLIST:
            size = sim.order.hitlist.shape[0]
            sim.hit.lo[h] = (idx * size) // n0
            sim.hit.hi[h] = ((idx + 1) * size) // n0
        if par.bl_react >= 0.0:
            heap_push(sim.events.box[0], sim.events.n, par.bl_react, h, E_BLACKLIST,
                      hosts.epoch[h])
    reserve(sim.events, sim.events.n[0] + n0 * (sim.world.qtel.shape[0] + 1) + 8)
    if sim.clock.phase[0] == PH_SPREAD:
        start_scanning(sim, ids, n0, 0.0, rng)


# ---------------------------------------------------------------- 1. calendar
@njit
def calendar_phase(sim: Sim, t0: float, rng: np.random.Generator) -> None:
    """Apply the calendar's phase changes due by ``t0``: waking hosts are queued to start
    within the jitter; hosts that start flooding or sleeping stop scanning."""
    clock, tl, hosts = sim.clock, sim.timeline, sim.hosts
    while clock.cal_i[0] < tl.cal_t.shape[0] and tl.cal_t[clock.cal_i[0]] <= t0:
        newph = tl.cal_ph[clock.cal_i[0]]
        tc = tl.cal_t[clock.cal_i[0]]
        clock.cal_i[0] += 1
        if newph == clock.phase[0]:
            continue
        if newph == PH_SPREAD:
            inf = hosts.infected
            reserve(sim.events, sim.events.n[0] + inf.n[0] + 8)
            rows = sim.events.box[0]
            for ii in range(inf.n[0]):
                h = inf.items[ii]
                heap_push(rows, sim.events.n, tc + rng.random() * sim.params.jitter, h,
                          E_ACTIVATE, hosts.epoch[h])
        elif clock.phase[0] == PH_SPREAD:
            stopping = sim.scan.members.items[:sim.scan.members.n[0]].copy()
            stop_scanning(sim, stopping, stopping.shape[0])
        clock.phase[0] = newph


# ---------------------------------------------------------------- 2. due events
@njit
def blacklist(sim: Sim, h: int) -> None:
    """Infected host ``h`` is blacklisted: a share of its random probes no longer gets out."""
    sim.hosts.black[h] = 1
    if sim.scan.randomer[h]:
        side = sim.world.side[h]
        d = sim.world.rate[h] * sim.params.bl_cov
        sim.scan.agg[side] -= d
        if sim.params.local:
            sim.scan.rate1[sim.world.g1[h] * 2 + side] -= d
            sim.scan.rate2[sim.world.g2[h] * 2 + side] -= d


@njit
def first_seen(sim: Sim, h: int, k: int) -> None:
    """Telescope ``k`` sees its first probe from ``h``; later ones are drawn in bulk."""
    tel = sim.tel
    tel.seen[k, h] = 1
    tel.unique[k] += 1
    sim.scratch.bin_tel[k] += 1
    tel.qsum[k] += sim.world.rate[h] * sim.world.qtel[k, h]


@njit
def due_events(sim: Sim, t0: float) -> int:
    """Handle the timed events due by ``t0`` (stale ones are dropped). Hosts whose infection
    delay or sleep is over are put in ``scratch.fresh``; returns how many."""
    ev, hosts, scan = sim.events, sim.hosts, sim.scan
    rows = ev.box[0]
    n_due = 0
    while ev.n[0] > 0 and rows[0, 0] <= t0:
        h = int(rows[0, 1])
        kind = int(rows[0, 2])
        ep = int(rows[0, 3])
        heap_pop(rows, ev.n)
        if kind == E_ACTIVATE:
            if hosts.state[h] == S_INF and ep == hosts.epoch[h] and scan.scanning[h] == 0 \
                    and sim.clock.phase[0] == PH_SPREAD:
                sim.scratch.fresh[n_due] = h
                n_due += 1
        elif kind == E_BLACKLIST:
            if hosts.state[h] == S_INF and ep == hosts.epoch[h] and hosts.black[h] == 0:
                blacklist(sim, h)
        else:
            k = kind - E_TELESCOPE
            if scan.scanning[h] and ep == scan.sepoch[h] and sim.tel.seen[k, h] == 0:
                first_seen(sim, h, k)
    return n_due


# ---------------------------------------------------------------- 3. life cycle
@njit
def rate_at(sim: Sim, which: int, t: float) -> float:
    """Patch (0), removal (1) or reboot (2) rate per second at ``t``."""
    tl = sim.timeline
    if tl.sched_n[which] == 0:
        return 0.0
    return schedule_value(tl.sched_t[which], tl.sched_v[which], tl.sched_n[which], t)


@njit
def patch(sim: Sim, t0: float, dt: float, rng: np.random.Generator) -> None:
    """Each susceptible host is patched (removed for good) with the step's probability."""
    mu = rate_at(sim, 0, t0)
    if mu <= 0.0:
        return
    pr = -math.expm1(-mu * dt)
    pool, hosts, picked = sim.pools.by_side, sim.hosts, sim.scratch.picked
    for sd in range(2):
        cnt = pool.cnt[sd]
        if cnt == 0:
            continue
        kk = pool_pick(pool.cnt, sd, rng.binomial(cnt, pr))
        for j in range(kk):
            picked[j] = pool.mem[pool.start[sd] + pool.cnt[sd] - kk + j]
        for j in range(kk):
            h = picked[j]
            hosts.state[h] = S_REM
            hosts.totals[N_REMOVED] += 1
            hosts.totals[N_SUS] -= 1
            leave_pools(sim.pools, sim.world.side, sim.params.local, h)


@njit
def pick_infected(inf: IndexList, picked: I64, kk: int, rng: np.random.Generator) -> None:
    """``picked[:kk]``: ``kk`` distinct infected hosts at random (a partial shuffle)."""
    for j in range(kk):
        r = j + rng.integers(0, inf.n[0] - j)
        a = inf.items[j]
        bb = inf.items[r]
        inf.items[j] = bb
        inf.items[r] = a
        inf.pos[bb] = j
        inf.pos[a] = r
    for j in range(kk):
        picked[j] = inf.items[j]


@njit
def cure(sim: Sim, t0: float, dt: float, rng: np.random.Generator) -> None:
    """Each infected host is removed (cleaned and patched) or rebooted (cleaned, susceptible
    again) with the step's probability; it stops scanning and its pending events go stale."""
    gam = rate_at(sim, 1, t0)
    rho = rate_at(sim, 2, t0)
    hosts, picked = sim.hosts, sim.scratch.picked
    if gam + rho <= 0.0 or hosts.infected.n[0] == 0:
        return
    pr = -math.expm1(-(gam + rho) * dt)
    kk = rng.binomial(hosts.infected.n[0], pr)
    pick_infected(hosts.infected, picked, kk, rng)
    stop_scanning(sim, picked, kk)
    for j in range(kk):
        h = picked[j]
        list_remove(hosts.infected, h)
        hosts.epoch[h] += 1
        hosts.black[h] = 0
        sim.hit.lo[h] = 0
        sim.hit.hi[h] = 0
        if rng.random() * (gam + rho) < gam:
            hosts.state[h] = S_REM
            hosts.totals[N_REMOVED] += 1
        else:
            hosts.state[h] = S_SUS
            hosts.totals[N_SUS] += 1
            join_pools(sim.pools, sim.world.side, sim.params.local, h, rng)


@njit
def life_cycle(sim: Sim, t0: float, dt: float, rng: np.random.Generator) -> None:
    """Patching of susceptible hosts, then removal and reboot of infected ones."""
    patch(sim, t0, dt, rng)
    cure(sim, t0, dt, rng)


# ---------------------------------------------------------------- 4a. sequence walkers
@njit
def jump(sim: Sim, h: int, rng: np.random.Generator) -> None:
    """Walker ``h`` met an infected host: it goes on from a random point."""
    walk, order, space = sim.walk, sim.order, sim.params.space
    walk.pos[h] = math.floor(rng.random() * space)
    walk.wrap[h] = 0
    ptr = first_at_or_after(order.sorted, order.bucket, walk.pos[h], space)
    if ptr == order.sorted.shape[0]:
        ptr = 0
        walk.wrap[h] = 1
    walk.ptr[h] = ptr


@njit
def walk_step(sim: Sim, h: int, vk: float, cf: float, n_new: int,
              rng: np.random.Generator) -> int:
    """Walker ``h`` reaches its next vulnerable position at virtual time ``vk`` and probes it;
    returns the new length of ``fresh``."""
    walk, order, hosts, space = sim.walk, sim.order, sim.hosts, sim.params.space
    side = sim.world.side
    ptr = walk.ptr[h]
    j = order.host[ptr]
    walk.pos[h] = order.sorted[ptr] + walk.wrap[h] * space
    walk.vt[h] = vk
    ptr += 1
    if ptr == order.sorted.shape[0]:
        ptr = 0
        walk.wrap[h] += 1
    walk.ptr[h] = ptr
    if j != h:
        if hosts.state[j] == S_SUS:
            pa = cf * ((1.0 - sim.params.bl_cov) if hosts.black[h] else 1.0) \
                * sim.world.allow[side[h], side[j]]
            if pa >= 1.0 or rng.random() < pa:
                n_new = infect(sim, j, n_new)
        elif hosts.state[j] == S_INF and sim.params.walk_restart:
            jump(sim, h, rng)
    return n_new


@njit
def walk_sequences(sim: Sim, cf: float, v1: float, n_new: int,
                   rng: np.random.Generator) -> int:
    """Every walker crossing a vulnerable position before virtual time ``v1`` probes it and
    queues its next crossing; returns the new length of ``fresh``."""
    walk, order, sepoch = sim.walk, sim.order, sim.scan.sepoch
    wp = walk.heap.box[0]
    wn = walk.heap.n
    while wn[0] > 0 and wp[0, 0] < v1:
        h = int(wp[0, 1])
        vk = wp[0, 0]
        ep = int(wp[0, 3])
        heap_pop(wp, wn)
        if ep != sepoch[h] or walk.walker[h] == 0:
            continue
        n_new = walk_step(sim, h, vk, cf, n_new, rng)
        nxt = vk + (order.sorted[walk.ptr[h]] + walk.wrap[h] * sim.params.space
                    - walk.pos[h]) / sim.world.rate[h]
        heap_push(wp, wn, nxt, h, 0, sepoch[h])
    return n_new


@njit
def walker_telescopes(sim: Sim) -> None:
    """Sequential walkers: the probes that reached each telescope during the bin (their
    addresses are known, so they are counted, not drawn)."""
    walk, tel, world, space = sim.walk, sim.tel, sim.world, sim.params.space
    vtime = sim.clock.vtime[0]
    members = sim.scan.members
    for ii in range(members.n[0]):
        h = members.items[ii]
        if walk.walker[h] == 0:
            continue
        cur = walk.pos[h] + world.rate[h] * (vtime - walk.vt[h])
        a0 = walk.acc[h]
        for k in range(world.qtel.shape[0]):
            c = 0
            for lap in range(int(a0 // space), int(cur // space) + 1):
                c += overlap(a0 - lap * space, cur - lap * space, world.tel_lo[k],
                             world.tel_hi[k])
            if c > 0:
                sim.scratch.bin_tel[k] += c
                if tel.seen[k, h] == 0:
                    tel.seen[k, h] = 1
                    tel.unique[k] += 1
        walk.acc[h] = cur


# ---------------------------------------------------------------- 4b. hit list
@njit
def hit_probes(sim: Sim, h: int, succ: float, n_new: int, rng: np.random.Generator) -> int:
    """Holder ``h`` spends its whole probes on its share of the list; each victim takes half
    of what is left. Returns the new length of ``fresh``."""
    hit, hosts, side = sim.hit, sim.hosts, sim.world.side
    while hit.budget[h] >= 1.0 and hit.lo[h] < hit.hi[h]:
        j = sim.order.hitlist[hit.lo[h]]
        hit.lo[h] += 1
        hit.budget[h] -= 1.0
        if hosts.state[j] == S_SUS:
            pa = succ * sim.world.allow[side[h], side[j]]
            if pa >= 1.0 or rng.random() < pa:
                n_new = infect(sim, j, n_new)
                mid = hit.lo[h] + (hit.hi[h] - hit.lo[h]) // 2
                hit.lo[j] = mid
                hit.hi[j] = hit.hi[h]
                hit.hi[h] = mid
    return n_new


@njit
def hit_list(sim: Sim, cf: float, capf: float, dt: float, n_new: int,
             rng: np.random.Generator) -> tuple[int, int, float, float]:
    """Every holder probes its share of the list. Holders that run out are put in
    ``scratch.finished`` and either walk (from the end of this step) or, with the uniform
    fall-back, spend their probes left in this step at random.

    Returns the new length of ``fresh``, how many finished, and those leftover probe rates
    from side 0 and side 1."""
    par, hit, black = sim.params, sim.hit, sim.hosts.black
    n_fin = 0
    extra0 = 0.0
    extra1 = 0.0
    ii = 0
    while ii < hit.holders.n[0]:
        h = hit.holders.items[ii]
        succ = cf * ((1.0 - par.bl_cov) if black[h] else 1.0)
        hit.budget[h] += sim.world.rate[h] * capf * dt
        n_new = hit_probes(sim, h, succ, n_new, rng)
        if hit.lo[h] < hit.hi[h]:
            ii += 1
            continue
        left = hit.budget[h]
        hit.budget[h] = 0.0
        list_remove(hit.holders, h)
        sim.scratch.finished[n_fin] = h
        n_fin += 1
        if par.hitlist_then == 0:
            if sim.world.side[h] == 0:
                extra0 += left * ((1.0 - par.bl_cov) if black[h] else 1.0)
            else:
                extra1 += left * ((1.0 - par.bl_cov) if black[h] else 1.0)
        else:
            # its probes left in this step, under one step's worth, are lost
            sim.walk.walker[h] = 1
            walker_start(sim, h, PERM, sim.clock.vtime[0] + capf * dt, rng)
    return n_new, n_fin, extra0, extra1


@njit
def hit_list_fallback(sim: Sim, n_fin: int) -> None:
    """Holders that ran out this step scan at random from the next (uniform fall-back)."""
    for j in range(n_fin):
        h = sim.scratch.finished[j]
        if sim.params.hitlist_then == 0 and sim.scan.scanning[h]:
            join_random(sim, h, effective_rate(sim, h))


# ---------------------------------------------------------------- 4c. random scanning
@njit
def infect_picked(sim: Sim, pool: Pool, grp: int, kk: int, n_new: int) -> int:
    """The last ``kk`` available members of group ``grp`` (random ones) are infected."""
    end = pool.start[grp] + pool.cnt[grp]
    for j in range(kk):
        h = pool.mem[end - kk + j]
        if sim.hosts.state[h] == S_SUS:
            n_new = infect(sim, h, n_new)
    return n_new


@njit
def infect_level(sim: Sim, act: IndexList, rates: F64, pool: Pool, per_probe: float,
                 n_new: int, rng: np.random.Generator) -> int:
    """Local-preference infections at one level (own prefix 1 or 2) for one step.

    For each group ``a`` that holds a scanner and each side ``sd`` of a filtered block, the
    hosts of the group on that side share the hazard ``(rates[2a] allow[0, sd] + rates[2a+1]
    allow[1, sd]) * per_probe``; a binomial number of them is infected. Returns the new length
    of ``fresh``.
    """
    allow = sim.world.allow
    for ia in range(act.n[0]):
        a = act.items[ia]
        for sd in range(2):
            grp = a * 2 + sd
            n = pool.cnt[grp]
            if n == 0:
                continue
            lam = (rates[a * 2] * allow[0, sd] + rates[a * 2 + 1] * allow[1, sd]) * per_probe
            if lam <= 0.0:
                continue
            kk = pool_pick(pool.cnt, grp, rng.binomial(n, -math.expm1(-lam)))
            n_new = infect_picked(sim, pool, grp, kk, n_new)
    return n_new


@njit
def random_scan(sim: Sim, scale: float, cf: float, extra0: float, extra1: float, n_new: int,
                rng: np.random.Generator) -> int:
    """Infections by random probes: anywhere (per side of the filtered block), then in the
    scanners' own prefix groups. ``scale`` is the step's probes per unit of rate; ``extra0``
    and ``extra1`` are hit-list leftovers. Returns the new length of ``fresh``."""
    par, allow, agg = sim.params, sim.world.allow, sim.scan.agg
    pool = sim.pools.by_side
    for sd in range(2):
        cnt = pool.cnt[sd]
        if cnt == 0:
            continue
        lam = ((agg[0] * allow[0, sd] + agg[1] * allow[1, sd]) * scale
               + extra0 * allow[0, sd] * cf + extra1 * allow[1, sd] * cf)
        lam *= par.p_any / par.any_space
        if lam <= 0.0:
            continue
        kk = pool_pick(pool.cnt, sd, rng.binomial(cnt, -math.expm1(-lam)))
        n_new = infect_picked(sim, pool, sd, kk, n_new)
    if par.local:
        scan = sim.scan
        n_new = infect_level(sim, scan.act1, scan.rate1, sim.pools.own1,
                             scale * par.p1 / par.size1, n_new, rng)
        n_new = infect_level(sim, scan.act2, scan.rate2, sim.pools.own2,
                             scale * par.p2 / par.size2, n_new, rng)
    return n_new


# ---------------------------------------------------------------- 4. spread
@njit
def spread(sim: Sim, t0: float, dt: float, capf: float, rng: np.random.Generator) -> int:
    """One step of probes from every scanning host (``capf`` scales them down to the probe
    cap); the infected are put in ``scratch.fresh``, their number returned."""
    par, tel = sim.params, sim.tel
    cf = 1.0
    if par.cf_react >= 0.0 and t0 >= par.cf_react:
        cf = 1.0 - par.cf_cov
    sim.scratch.bins[B_PROBES] += sim.scan.agg[A_SENT] * capf * dt
    for k in range(tel.qsum.shape[0]):
        if tel.qsum[k] > 0.0:
            sim.scratch.bin_tel[k] += rng.poisson(tel.qsum[k] * capf * dt)
    n_new = walk_sequences(sim, cf, sim.clock.vtime[0] + capf * dt, 0, rng)
    n_fin = 0
    extra0 = 0.0
    extra1 = 0.0
    if par.strategy == HITLIST:
        n_new, n_fin, extra0, extra1 = hit_list(sim, cf, capf, dt, n_new, rng)
    if par.random_scan:
        n_new = random_scan(sim, capf * cf * dt, cf, extra0, extra1, n_new, rng)
    hit_list_fallback(sim, n_fin)
    return n_new


# ---------------------------------------------------------------- 5. apply
@njit
def apply_infections(sim: Sim, n_new: int, t1: float, dt: float,
                     rng: np.random.Generator) -> None:
    """The step's new infections (``fresh[:n_new]``) leave the pools and start their timers
    (blacklisting, end of the delay); without a delay they scan from ``t1``."""
    par, hosts, fresh = sim.params, sim.hosts, sim.scratch.fresh
    reserve(sim.events, sim.events.n[0] + n_new * (sim.world.qtel.shape[0] + 2) + 8)
    rows = sim.events.box[0]
    for j in range(n_new):
        h = fresh[j]
        if hosts.ever[h] == 0:
            hosts.ever[h] = 1
            hosts.totals[N_EVER] += 1
        hosts.totals[N_SUS] -= 1
        hosts.epoch[h] += 1
        leave_pools(sim.pools, sim.world.side, par.local, h)
        list_add(hosts.infected, h)
        if par.bl_react >= 0.0:
            heap_push(rows, sim.events.n, t1 + par.bl_react, h, E_BLACKLIST, hosts.epoch[h])
        if par.delay > 0.0:
            heap_push(rows, sim.events.n, t1 + par.delay, h, E_ACTIVATE, hosts.epoch[h])
    sim.scratch.bins[B_NEW] += n_new
    spreading = sim.clock.phase[0] == PH_SPREAD
    n_go = 0
    if spreading and par.delay <= 0.0:
        for j in range(n_new):
            h = fresh[j]
            if hosts.state[h] == S_INF:
                sim.scratch.picked[n_go] = h
                n_go += 1
    if n_go > 0:
        start_scanning(sim, sim.scratch.picked, n_go, t1, rng)
    if sim.clock.phase[0] == PH_FLOOD:
        sim.scratch.bins[B_FLOOD] += hosts.infected.n[0] * par.flood * dt
