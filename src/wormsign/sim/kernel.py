"""The compiled inner loop: one stochastic outbreak, every probe's outcome without drawing it.

Model (the per-probe reference in ``tests/sim/bruteforce.py`` draws each probe of the same
model). Time runs in steps of ``dt``; a host infected during a step starts scanning at the
next one. Every scanning host sends ``rate * dt`` probes per step.

* Random scanners (``uniform``, ``local-preference``, hitlist's uniform fall-back): a probe picks
  its target independently, so the number of probes reaching one address in a step is Poisson
  with a mean that depends only on where the address is (its side of a filtered block, its /8,
  its /16). Each susceptible host is therefore infected with probability ``1 - exp(-hazard)``
  independently: a binomial draw per group and level, then that many distinct hosts picked at
  random. The hazard sums three independent parts (anywhere, own prefix 1, own prefix 2), so
  the levels are drawn separately from the step-start population and united.
* Sequence walkers (``static-sequence``, ``permutation``, ``sequential``): a probe's target is
  fixed by the walker's position in a known order, so the walker jumps straight from one
  vulnerable address to the next in that order (a sorted array) and skips the empty ones.
* ``hitlist``: each holder probes its share of the list in order, handing half of what is left
  to every host it infects (Staniford et al.'s divide and conquer), then falls back.

Per-host state is struct-of-arrays, grouped in a few records (:mod:`wormsign.sim.state`);
timed events (end of the infection delay, blacklisting, first probe seen by a telescope,
wake-up) sit in a binary heap. A step runs in phases, each a compiled function: calendar,
due events, life cycle, walkers, hit list, random scan, apply; then the bin is recorded.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import borrow, njit
from wormsign.sim.codes import (
    A_SENT,
    C_EVER,
    C_FLOOD,
    C_I,
    C_NEW,
    C_PROBES,
    C_R,
    C_S,
    C_SCAN,
    C_T,
    E_ACTIVATE,
    E_BLACKLIST,
    E_TELESCOPE,
    HITLIST,
    LOCAL,
    N_BASE_COLS,
    P_1,
    P_2,
    P_ANY,
    P_ANY_SPACE,
    P_BL_COV,
    P_BL_REACT,
    P_CAP,
    P_CF_COV,
    P_CF_REACT,
    P_DELAY,
    P_DT,
    P_DURATION,
    P_EPS,
    P_FLOOD,
    P_JITTER,
    P_SIZE1,
    P_SIZE2,
    P_SPACE,
    P_STEP,
    PERM,
    PH_FLOOD,
    PH_SPREAD,
    Q_HITLIST_THEN,
    Q_KMAX,
    Q_STRATEGY,
    S_INF,
    S_REM,
    S_SUS,
    SEQ,
    UNIFORM,
)
from wormsign.sim.heap import grow, heap_pop, heap_push
from wormsign.sim.hosts import (
    list_add,
    list_remove,
    overlap,
    schedule_value,
    start_scanning,
    start_walking,
    stop_scanning,
    walker_aim,
    walker_origin,
)
from wormsign.sim.pools import pool_add, pool_pick, pool_remove
from wormsign.sim.state import N_EVER, N_REM, N_SUS, Heaps, IndexList, Pool, Run, World

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


@njit
def leave_pools(hosts: I64, run: Run) -> None:
    """The ``hosts`` (available in the pools) leave them: they are no longer susceptible."""
    w = borrow(run.w)
    local = w.p.pi[Q_STRATEGY] == LOCAL
    m0, p0, s0, c0 = w.pools.side
    m1, p1, s1, c1 = w.pools.one
    m2, p2, s2, c2 = w.pools.two
    side, g1, g2 = w.hs.side, w.hs.g1, w.hs.g2
    for idx in range(hosts.shape[0]):
        h = hosts[idx]
        pool_remove(m0, p0, s0, c0, side[h], h)
        if local:
            pool_remove(m1, p1, s1, c1, g1[h] * 2 + side[h], h)
            pool_remove(m2, p2, s2, c2, g2[h] * 2 + side[h], h)


@njit
def infect_level(level: tuple[IndexList, F64, Pool], per_probe: float, allow: F64, state: U8,
                 newly: I64, n_new: int, rng: np.random.Generator) -> int:
    """Local-preference infections at one level (own prefix 1 or 2) for one step.

    ``level`` holds the groups with a scanner, the probe rates per group and side, and the
    pool. For each group ``a`` that holds a scanner and each side ``sd`` of a filtered block,
    the hosts of the group on that side share the hazard ``(rates[2a] allow[0, sd] +
    rates[2a+1] allow[1, sd]) * per_probe``; a binomial number of them (the last ones of the
    pool segment, which is in random order) is marked infected and appended to ``newly``.
    Returns the new length of ``newly``.
    """
    act_list, rates, pool = level
    act, _, n_act = act_list
    mem, _, start, cnt = pool
    for ia in range(n_act[0]):
        a = act[ia]
        for sd in range(2):
            grp = a * 2 + sd
            n = cnt[grp]
            if n == 0:
                continue
            lam = (rates[a * 2] * allow[0, sd] + rates[a * 2 + 1] * allow[1, sd]) * per_probe
            if lam <= 0.0:
                continue
            kk = pool_pick(cnt, grp, rng.binomial(n, -math.expm1(-lam)))
            for j in range(kk):
                h = mem[start[grp] + n - kk + j]
                if state[h] == S_SUS:
                    state[h] = S_INF
                    newly[n_new] = h
                    n_new += 1
    return n_new


@njit
def infect_initial(run: Run) -> None:
    """The initial hosts are infected (they scan from t = 0, see :func:`run_kernel`)."""
    w = borrow(run.w)
    hq = borrow(run.hq)
    strategy = w.p.pi[Q_STRATEGY]
    bl_react = w.p.pf[P_BL_REACT]
    init_ids, state, ever, epoch = w.hs.init_ids, w.hs.state, w.hs.ever, w.hs.epoch
    inf_list, inf_pos, n_inf = w.hs.infected
    hl_hosts, hl_lo, hl_hi = w.hl.hosts, w.hl.lo, w.hl.hi
    count = w.tally.totals
    hp, hn = hq.ev, hq.n_ev
    n0 = init_ids.shape[0]
    for idx in range(n0):
        h = init_ids[idx]
        state[h] = S_INF
        if ever[h] == 0:
            ever[h] = 1
            count[N_EVER] += 1
        count[N_SUS] -= 1
        list_add(inf_list, inf_pos, n_inf, h)
        if strategy == HITLIST:
            L = hl_hosts.shape[0]
            hl_lo[h] = (idx * L) // n0
            hl_hi[h] = ((idx + 1) * L) // n0
        if bl_react >= 0.0:
            heap_push(hp, hn, bl_react, h, E_BLACKLIST, epoch[h])
    leave_pools(init_ids, run)


@njit
def calendar(cal_i: int, phase: int, run: Run, rng: np.random.Generator) -> int:
    """The calendar's change ``cal_i``: waking up queues each infected host's wake-up (with
    jitter; the caller makes room in the heap), leaving the spread phase stops every scanner.
    Returns the new phase."""
    w = borrow(run.w)
    hq = borrow(run.hq)
    jitter = w.p.pf[P_JITTER]
    epoch = w.hs.epoch
    inf_list, _, n_inf = w.hs.infected
    scan_list, _, n_scan = w.sc.scan
    hp, hn = hq.ev, hq.n_ev
    newph = int(w.p.cal_ph[cal_i])
    tc = w.p.cal_t[cal_i]
    if newph == phase:
        return phase
    if newph == PH_SPREAD:
        for ii in range(n_inf[0]):
            h = inf_list[ii]
            heap_push(hp, hn, tc + rng.random() * jitter, h, E_ACTIVATE, epoch[h])
    elif phase == PH_SPREAD:
        stop_scanning(scan_list[:n_scan[0]].copy(), run)
    return newph


@njit
def due_events(t0: float, phase: int, run: Run) -> int:
    """Pop the events due by ``t0``: blacklisting takes effect, a telescope sees a host's
    first probe; hosts whose delay or wake-up is over go to ``newly``. Returns how many."""
    w = borrow(run.w)
    hq = borrow(run.hq)
    bl_cov = w.p.pf[P_BL_COV]
    local = w.p.pi[Q_STRATEGY] == LOCAL
    state, epoch, black = w.hs.state, w.hs.epoch, w.hs.black
    side, g1, g2 = w.hs.side, w.hs.g1, w.hs.g2
    rate = w.hs.rate
    scanning, sepoch, randomer = w.sc.scanning, w.sc.sepoch, w.sc.randomer
    agg, rate1, rate2 = w.sc.agg, w.sc.rate1, w.sc.rate2
    seen, qtel, qsum, tel_unique = w.tel.seen, w.tel.q, w.tel.qsum, w.tel.unique
    newly, bin_tel = w.tally.newly, w.tally.bin_tel
    hp, hn = hq.ev, hq.n_ev
    n_new = 0
    while hn[0] > 0 and hp[0, 0] <= t0:
        h = int(hp[0, 1])
        kind = int(hp[0, 2])
        ep = int(hp[0, 3])
        heap_pop(hp, hn)
        if kind == E_ACTIVATE:
            if state[h] == S_INF and ep == epoch[h] and scanning[h] == 0 \
                    and phase == PH_SPREAD:
                newly[n_new] = h
                n_new += 1
        elif kind == E_BLACKLIST:
            if state[h] == S_INF and ep == epoch[h] and black[h] == 0:
                black[h] = 1
                if randomer[h]:
                    d = rate[h] * bl_cov
                    agg[side[h]] -= d
                    if local:
                        rate1[g1[h] * 2 + side[h]] -= d
                        rate2[g2[h] * 2 + side[h]] -= d
        else:
            k = kind - E_TELESCOPE
            if scanning[h] and ep == sepoch[h] and seen[k, h] == 0:
                seen[k, h] = 1
                tel_unique[k] += 1
                bin_tel[k] += 1
                qsum[k] += rate[h] * qtel[k, h]
    return n_new


@njit
def patch(mu: float, dt: float, run: Run, rng: np.random.Generator) -> None:
    """Susceptible hosts are patched at rate ``mu`` during ``dt``."""
    w = borrow(run.w)
    m0, _, s0, c0 = w.pools.side
    state, picked, count = w.hs.state, w.tally.picked, w.tally.totals
    pr = -math.expm1(-mu * dt)
    for sd in range(2):
        cnt = c0[sd]
        if cnt == 0:
            continue
        kk = rng.binomial(cnt, pr)
        kk = pool_pick(c0, sd, kk)
        for j in range(kk):
            picked[j] = m0[s0[sd] + c0[sd] - kk + j]
        for j in range(kk):
            state[picked[j]] = S_REM
            count[N_REM] += 1
            count[N_SUS] -= 1
        leave_pools(picked[:kk], run)


@njit
def recover(gam: float, rho: float, dt: float, run: Run, rng: np.random.Generator) -> None:
    """Infected hosts are removed (rate ``gam``) or rebooted back to susceptible (``rho``)
    during ``dt``; they stop scanning and their pending events go stale."""
    w = borrow(run.w)
    local = w.p.pi[Q_STRATEGY] == LOCAL
    m0, p0, s0, c0 = w.pools.side
    m1, p1, s1, c1 = w.pools.one
    m2, p2, s2, c2 = w.pools.two
    state, epoch, black = w.hs.state, w.hs.epoch, w.hs.black
    side, g1, g2 = w.hs.side, w.hs.g1, w.hs.g2
    inf_list, inf_pos, n_inf = w.hs.infected
    hl_lo, hl_hi = w.hl.lo, w.hl.hi
    picked, count = w.tally.picked, w.tally.totals
    pr = -math.expm1(-(gam + rho) * dt)
    kk = rng.binomial(n_inf[0], pr)
    for j in range(kk):
        r = j + rng.integers(0, n_inf[0] - j)
        a = inf_list[j]
        bb = inf_list[r]
        inf_list[j] = bb
        inf_list[r] = a
        inf_pos[bb] = j
        inf_pos[a] = r
    for j in range(kk):
        picked[j] = inf_list[j]
    stop_scanning(picked[:kk], run)
    for j in range(kk):
        h = picked[j]
        list_remove(inf_list, inf_pos, n_inf, h)
        epoch[h] += 1
        black[h] = 0
        hl_lo[h] = 0
        hl_hi[h] = 0
        if rng.random() * (gam + rho) < gam:
            state[h] = S_REM
            count[N_REM] += 1
        else:
            state[h] = S_SUS
            count[N_SUS] += 1
            pool_add(m0, p0, s0, c0, side[h], h, rng)
            if local:
                pool_add(m1, p1, s1, c1, g1[h] * 2 + side[h], h, rng)
                pool_add(m2, p2, s2, c2, g2[h] * 2 + side[h], h, rng)


@njit
def life_cycle(t0: float, dt: float, run: Run, rng: np.random.Generator) -> None:
    """Patching of susceptible hosts, removal and reboot of infected ones during the step."""
    w = borrow(run.w)
    sched_t, sched_v, sched_n = w.p.sched_t, w.p.sched_v, w.p.sched_n
    mu = schedule_value(sched_t[0], sched_v[0], sched_n[0], t0) if sched_n[0] else 0.0
    if mu > 0.0:
        patch(mu, dt, run, rng)
    gam = schedule_value(sched_t[1], sched_v[1], sched_n[1], t0) if sched_n[1] else 0.0
    rho = schedule_value(sched_t[2], sched_v[2], sched_n[2], t0) if sched_n[2] else 0.0
    if gam + rho > 0.0 and w.hs.infected.n[0] > 0:
        recover(gam, rho, dt, run, rng)


@njit
def walk(v1: float, cf: float, n_new: int, run: Run,
         rng: np.random.Generator) -> int:
    """Sequence walkers jump from one vulnerable position to the next until virtual time
    ``v1``; a susceptible one is infected (into ``newly``, returns its new length)."""
    w = borrow(run.w)
    hq = borrow(run.hq)
    pi = w.p.pi
    strategy = pi[Q_STRATEGY]
    walk_restart = strategy == PERM or (strategy == HITLIST and pi[Q_HITLIST_THEN] == 1)
    space = w.p.pf[P_SPACE]
    bl_cov = w.p.pf[P_BL_COV]
    allow = w.p.allow
    state, black, side, rate = w.hs.state, w.hs.black, w.hs.side, w.hs.rate
    sepoch, walker = w.sc.sepoch, w.sc.walker
    wk = w.wk
    seq_sorted, seq_order, seq_bucket = wk.seq_sorted, wk.seq_order, wk.seq_bucket
    wpos, wptr, wwrap, wv = wk.pos, wk.ptr, wk.wrap, wk.v
    newly = w.tally.newly
    wp, wn = hq.walk, hq.n_walk
    n = seq_sorted.shape[0]
    while wn[0] > 0 and wp[0, 0] < v1:
        h = int(wp[0, 1])
        vk = wp[0, 0]
        ep = int(wp[0, 3])
        heap_pop(wp, wn)
        if ep != sepoch[h] or walker[h] == 0:
            continue
        ptr = wptr[h]
        j = seq_order[ptr]
        wpos[h] = seq_sorted[ptr] + wwrap[h] * space
        wv[h] = vk
        ptr += 1
        if ptr == n:
            ptr = 0
            wwrap[h] += 1
        wptr[h] = ptr
        if j != h:
            if state[j] == S_SUS:
                pa = cf * ((1.0 - bl_cov) if black[h] else 1.0) * allow[side[h], side[j]]
                if pa >= 1.0 or rng.random() < pa:
                    state[j] = S_INF
                    newly[n_new] = j
                    n_new += 1
            elif state[j] == S_INF and walk_restart:
                pos = walker_origin(PERM, 1, 0, space, rng)
                wpos[h] = pos
                wptr[h], wwrap[h] = walker_aim(seq_sorted, seq_bucket, pos, space)
        nxt = vk + (seq_sorted[wptr[h]] + wwrap[h] * space - wpos[h]) / rate[h]
        heap_push(wp, wn, nxt, h, 0, sepoch[h])
    return n_new


@njit
def hitlist(capf: float, dt: float, cf: float, vtime: float, n_new: int, run: Run,
            rng: np.random.Generator) -> tuple[int, int, float, float]:
    """Hit-list holders probe their share in order, handing half of what is left to every
    host they infect. Returns the length of ``newly``, how many holders ran out (in
    ``finished``) and the probes left of those that fall back to random scanning, per side."""
    w = borrow(run.w)
    hl_then = w.p.pi[Q_HITLIST_THEN]
    space = w.p.pf[P_SPACE]
    bl_cov = w.p.pf[P_BL_COV]
    allow = w.p.allow
    state, black, side, rate = w.hs.state, w.hs.black, w.hs.side, w.hs.rate
    walker = w.sc.walker
    hl_hosts, hl_lo, hl_hi, budget = w.hl.hosts, w.hl.lo, w.hl.hi, w.hl.budget
    hl_list, hl_pos, n_hl = w.hl.holders
    newly, finished = w.tally.newly, w.tally.finished
    n_fin = 0
    extra0 = 0.0
    extra1 = 0.0
    ii = 0
    while ii < n_hl[0]:
        h = hl_list[ii]
        succ = cf * ((1.0 - bl_cov) if black[h] else 1.0)
        budget[h] += rate[h] * capf * dt
        while budget[h] >= 1.0 and hl_lo[h] < hl_hi[h]:
            j = hl_hosts[hl_lo[h]]
            hl_lo[h] += 1
            budget[h] -= 1.0
            if state[j] == S_SUS:
                pa = succ * allow[side[h], side[j]]
                if pa >= 1.0 or rng.random() < pa:
                    state[j] = S_INF
                    newly[n_new] = j
                    n_new += 1
                    mid = hl_lo[h] + (hl_hi[h] - hl_lo[h]) // 2
                    hl_lo[j] = mid
                    hl_hi[j] = hl_hi[h]
                    hl_hi[h] = mid
        if hl_lo[h] >= hl_hi[h]:
            left = budget[h]
            budget[h] = 0.0
            list_remove(hl_list, hl_pos, n_hl, h)
            finished[n_fin] = h
            n_fin += 1
            if hl_then == 0:
                if side[h] == 0:
                    extra0 += left * ((1.0 - bl_cov) if black[h] else 1.0)
                else:
                    extra1 += left * ((1.0 - bl_cov) if black[h] else 1.0)
            else:
                # walks from the end of this step (its probes left in this step, under one
                # step's worth, are lost)
                walker[h] = 1
                start_walking(h, walker_origin(PERM, 1, 0, space, rng), vtime + capf * dt, run)
        else:
            ii += 1
    return n_new, n_fin, extra0, extra1


@njit
def random_scan(capf: float, cf: float, dt: float, extra: tuple[float, float], n_new: int,
                run: Run, rng: np.random.Generator) -> int:
    """Random scanning: anywhere, own prefix 1, own prefix 2. ``extra``: probes left of
    hit-list holders that ran out, per side. Returns the length of ``newly``."""
    w = borrow(run.w)
    pf = w.p.pf
    local = w.p.pi[Q_STRATEGY] == LOCAL
    pany, any_space = pf[P_ANY], pf[P_ANY_SPACE]
    allow, agg, state, newly = w.p.allow, w.sc.agg, w.hs.state, w.tally.newly
    m0, _, s0, c0 = w.pools.side
    extra0, extra1 = extra
    scale = capf * cf * dt
    for sd in range(2):
        cnt = c0[sd]
        if cnt == 0:
            continue
        lam = ((agg[0] * allow[0, sd] + agg[1] * allow[1, sd]) * scale
               + extra0 * allow[0, sd] * cf + extra1 * allow[1, sd] * cf)
        lam *= pany / any_space
        if lam <= 0.0:
            continue
        kk = rng.binomial(cnt, -math.expm1(-lam))
        kk = pool_pick(c0, sd, kk)
        for j in range(kk):
            h = m0[s0[sd] + c0[sd] - kk + j]
            if state[h] == S_SUS:
                state[h] = S_INF
                newly[n_new] = h
                n_new += 1
    if local:
        sc = w.sc
        n_new = infect_level((sc.act1, sc.rate1, w.pools.one), scale * pf[P_1] / pf[P_SIZE1],
                             allow, state, newly, n_new, rng)
        n_new = infect_level((sc.act2, sc.rate2, w.pools.two), scale * pf[P_2] / pf[P_SIZE2],
                             allow, state, newly, n_new, rng)
    return n_new


@njit
def hitlist_fallback(n_fin: int, run: Run) -> None:
    """Hit-list holders that ran out (``finished``) now scan at random."""
    w = borrow(run.w)
    bl_cov = w.p.pf[P_BL_COV]
    black, side, rate = w.hs.black, w.hs.side, w.hs.rate
    scanning, randomer, agg = w.sc.scanning, w.sc.randomer, w.sc.agg
    finished = w.tally.finished
    for j in range(n_fin):
        h = finished[j]
        if scanning[h]:
            randomer[h] = 1
            eff = rate[h] * (1.0 - bl_cov) if black[h] else rate[h]
            agg[side[h]] += eff


@njit
def spread(t0: float, dt: float, capf: float, vtime: float, run: Run,
           rng: np.random.Generator) -> int:
    """One step of scanning by every scanning host: telescope hits, walkers, hit list,
    random scanning. New infections go to ``newly``; returns how many."""
    w = borrow(run.w)
    hq = borrow(run.hq)
    pf = w.p.pf
    strategy = w.p.pi[Q_STRATEGY]
    hl_then = w.p.pi[Q_HITLIST_THEN]
    cf = 1.0
    if pf[P_CF_REACT] >= 0.0 and t0 >= pf[P_CF_REACT]:
        cf = 1.0 - pf[P_CF_COV]
    qsum, bin_tel = w.tel.qsum, w.tally.bin_tel
    for k in range(qsum.shape[0]):
        if qsum[k] > 0.0:
            bin_tel[k] += rng.poisson(qsum[k] * capf * dt)
    n_new = 0
    v1 = vtime + capf * dt
    wp = hq.walk
    if hq.n_walk[0] > 0 and wp[0, 0] < v1:
        n_new = walk(v1, cf, n_new, run, rng)
    n_fin = 0
    extra0 = 0.0
    extra1 = 0.0
    if strategy == HITLIST:
        n_new, n_fin, extra0, extra1 = hitlist(capf, dt, cf, vtime, n_new, run, rng)
    if strategy in (UNIFORM, LOCAL) or (strategy == HITLIST and hl_then == 0):
        n_new = random_scan(capf, cf, dt, (extra0, extra1), n_new, run, rng)
        if n_fin > 0:
            hitlist_fallback(n_fin, run)
    return n_new


@njit
def apply(t1: float, n_new: int, phase: int, vtime: float, run: Run,
          rng: np.random.Generator) -> None:
    """New infections (``newly[:n_new]``) leave the pools, queue their events and (without
    a delay, in the spread phase) scan from the next step."""
    w = borrow(run.w)
    hq = borrow(run.hq)
    bl_react = w.p.pf[P_BL_REACT]
    delay = w.p.pf[P_DELAY]
    state, ever, epoch = w.hs.state, w.hs.ever, w.hs.epoch
    inf_list, inf_pos, n_inf = w.hs.infected
    newly, picked, count = w.tally.newly, w.tally.picked, w.tally.totals
    hp, hn = hq.ev, hq.n_ev
    for j in range(n_new):
        h = newly[j]
        if ever[h] == 0:
            ever[h] = 1
            count[N_EVER] += 1
        count[N_SUS] -= 1
        epoch[h] += 1
        list_add(inf_list, inf_pos, n_inf, h)
        if bl_react >= 0.0:
            heap_push(hp, hn, t1 + bl_react, h, E_BLACKLIST, epoch[h])
        if delay > 0.0:
            heap_push(hp, hn, t1 + delay, h, E_ACTIVATE, epoch[h])
    leave_pools(newly[:n_new], run)
    n_go = 0
    if phase == PH_SPREAD and delay <= 0.0:
        for j in range(n_new):
            h = newly[j]
            if state[h] == S_INF:
                picked[n_go] = h
                n_go += 1
    if n_go > 0:
        start_scanning(picked[:n_go], t1, vtime, run, rng)


@njit
def walker_telescopes(vtime: float, run: Run) -> None:
    """Sequential walkers: the probes that reached each telescope during the bin."""
    w = borrow(run.w)
    space = w.p.pf[P_SPACE]
    rate = w.hs.rate
    scan_list, _, n_scan = w.sc.scan
    walker = w.sc.walker
    wpos, wv, wacc = w.wk.pos, w.wk.v, w.wk.acc
    tel_lo, tel_hi, seen, tel_unique = w.tel.lo, w.tel.hi, w.tel.seen, w.tel.unique
    bin_tel = w.tally.bin_tel
    for ii in range(n_scan[0]):
        h = scan_list[ii]
        if walker[h] == 0:
            continue
        cur = wpos[h] + rate[h] * (vtime - wv[h])
        a0 = wacc[h]
        for k in range(tel_lo.shape[0]):
            c = 0
            for lap in range(int(a0 // space), int(cur // space) + 1):
                c += overlap(a0 - lap * space, cur - lap * space, tel_lo[k], tel_hi[k])
            if c > 0:
                bin_tel[k] += c
                if seen[k, h] == 0:
                    seen[k, h] = 1
                    tel_unique[k] += 1
        wacc[h] = cur


@njit
def record_bin(row: F64, bin_new: int, bin_probes: float, bin_flood: float, run: Run) -> None:
    """Fill one output row (its time is already there)."""
    w = borrow(run.w)
    count = w.tally.totals
    bin_tel, tel_unique = w.tally.bin_tel, w.tel.unique
    row[C_S] = count[N_SUS]
    row[C_I] = w.hs.infected.n[0]
    row[C_R] = count[N_REM]
    row[C_NEW] = bin_new
    row[C_PROBES] = bin_probes
    row[C_EVER] = count[N_EVER]
    row[C_FLOOD] = bin_flood
    row[C_SCAN] = w.sc.scan.n[0]
    for k in range(bin_tel.shape[0]):
        row[N_BASE_COLS + 2 * k] = bin_tel[k]
        row[N_BASE_COLS + 2 * k + 1] = tel_unique[k]


@njit
def reserve(hq: Heaps, events: int, walks: int) -> Heaps:
    """``hq`` with room for ``events`` more timed events and ``walks`` more crossings (the
    same heaps, or bigger copies). ``hq`` must be owned, not borrowed."""
    return Heaps(grow(hq.ev, hq.n_ev[0] + events), hq.n_ev, grow(hq.walk, hq.n_walk[0] + walks),
                 hq.n_walk)


@njit
def run_kernel(w: World, hq: Heaps, out: F64, thr_t: F64, rng: np.random.Generator) -> None:
    """Run one outbreak and fill ``out`` (one row per output step) and ``thr_t``.

    ``w`` and ``hq`` are prepared by :func:`wormsign.sim.engine.simulate_stochastic`
    (:mod:`wormsign.sim.state`); ``thr_t`` receives when 10/50/90 % were reached (-1 if never).
    """
    run = Run(w, hq)
    w = borrow(w)  # owned by the caller, like rng, for the whole run
    rng = borrow(rng)
    pf, pi = w.p.pf, w.p.pi
    strategy = pi[Q_STRATEGY]
    cap, space, duration, step, pdt = pf[P_CAP], pf[P_SPACE], pf[P_DURATION], pf[P_STEP], pf[P_DT]
    cal_t, sched_n, thr = w.p.cal_t, w.p.sched_n, w.p.thr
    life = sched_n[0] > 0 or sched_n[1] > 0 or sched_n[2] > 0
    agg, n_scan, n_inf = w.sc.agg, w.sc.scan.n, w.hs.infected.n
    count, newly, bin_tel = w.tally.totals, w.tally.newly, w.tally.bin_tel
    ntel = bin_tel.shape[0]
    n = w.hs.side.shape[0]
    phase = w.p.cal_ph[0]
    cal_i = 1
    vtime = 0.0
    infect_initial(run)
    run.hq = reserve(run.hq, w.hs.init_ids.shape[0] * (ntel + 1) + 8, 0)
    hb = borrow(run.hq)  # run owns the heaps, which grow
    hn, wn = hb.n_ev, hb.n_walk
    if phase == PH_SPREAD:
        start_scanning(w.hs.init_ids, 0.0, 0.0, run, rng)
    for k in range(3):
        if count[N_EVER] >= thr[k]:
            thr_t[k] = 0.0
    t = 0.0
    g_obs = 0.0
    for b in range(out.shape[0]):
        t_end = min((b + 1) * step, duration)
        blen = t_end - t
        if pdt > 0.0:
            ksub = max(1, round(blen / pdt))
        else:
            mean_rate = agg[A_SENT] / max(n_scan[0], 1)
            g = max(g_obs, mean_rate * count[N_SUS] / space)
            ksub = max(1, min(pi[Q_KMAX], math.ceil(blen * g / pf[P_EPS])))
        dt = blen / ksub
        bin_new = 0
        bin_probes = 0.0
        bin_flood = 0.0
        bin_tel[:] = 0.0
        for sub in range(ksub):
            t0 = t
            t1 = t + dt
            if sub == ksub - 1:
                t1 = t_end
            dt = t1 - t0
            while cal_i < cal_t.shape[0] and cal_t[cal_i] <= t0:
                if hn[0] + n_inf[0] + 8 > hb.ev.shape[0]:
                    run.hq = reserve(run.hq, n_inf[0] + 8, 0)
                    hb = borrow(run.hq)
                phase = calendar(cal_i, phase, run, rng)
                cal_i += 1
            # room for every host to (re)start walking this step
            if wn[0] + 2 * n + 16 > hb.walk.shape[0]:
                run.hq = reserve(run.hq, 0, 2 * n + 16)
                hb = borrow(run.hq)
            n_new = 0
            if hn[0] > 0 and hb.ev[0, 0] <= t0:
                n_new = due_events(t0, phase, run)
            if n_new > 0:  # their delay or wake-up is over: they scan from now on
                if hn[0] + n_new * (ntel + 1) + 8 > hb.ev.shape[0]:
                    run.hq = reserve(run.hq, n_new * (ntel + 1) + 8, 0)
                    hb = borrow(run.hq)
                start_scanning(newly[:n_new], t0, vtime, run, rng)
            if life:
                life_cycle(t0, dt, run, rng)
            capf = 1.0
            if cap > 0.0 and agg[A_SENT] > cap:
                capf = cap / agg[A_SENT]
            n_new = 0
            if phase == PH_SPREAD and n_scan[0] > 0:
                bin_probes += agg[A_SENT] * capf * dt
                n_new = spread(t0, dt, capf, vtime, run, rng)
            if phase == PH_SPREAD:
                vtime += capf * dt
            if n_new > 0:
                if hn[0] + n_new * (ntel + 2) + 8 > hb.ev.shape[0]:
                    run.hq = reserve(run.hq, n_new * (ntel + 2) + 8, 0)
                    hb = borrow(run.hq)
                apply(t1, n_new, phase, vtime, run, rng)
            bin_new += n_new
            if phase == PH_FLOOD:
                bin_flood += n_inf[0] * pf[P_FLOOD] * dt
            for k in range(3):
                if thr_t[k] < 0.0 and count[N_EVER] >= thr[k]:
                    thr_t[k] = t1
            g_obs = n_new / (dt * max(n_scan[0], 1))
            t = t1
        if strategy == SEQ and ntel > 0:
            walker_telescopes(vtime, run)
        out[b, C_T] = t_end
        record_bin(out[b], bin_new, bin_probes, bin_flood, run)
