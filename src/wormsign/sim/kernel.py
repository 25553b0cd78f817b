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

Per-host state is struct-of-arrays; timed events (end of the infection delay, blacklisting,
first probe seen by a telescope, wake-up) sit in a binary heap.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import njit
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
    first_at_or_after,
    list_add,
    list_remove,
    overlap,
    schedule_value,
    start_scanning,
    stop_scanning,
    walker_start,
)
from wormsign.sim.pools import pool_add, pool_pick, pool_remove

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


@njit
def infect_level(act: I64, n_act: int, rates: F64, mem: I64, start: I64, cnt: I64,
                 per_probe: float, allow: F64, state: U8, newly: I64, n_new: int,
                 rng: np.random.Generator) -> int:
    """Local-preference infections at one level (own prefix 1 or 2) for one step.

    For each group ``a`` that holds a scanner and each side ``sd`` of a filtered block, the
    hosts of the group on that side share the hazard ``(rates[2a] allow[0, sd] + rates[2a+1]
    allow[1, sd]) * per_probe``; a binomial number of them (the last ones of the pool
    segment, which is in random order) is marked infected and appended to ``newly``. Returns
    the new length of ``newly``.
    """
    for ia in range(n_act):
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
def run_kernel(
    pf: F64, pi: I64,
    g1: I64, g2: I64, side: I64, rate: F64,
    seq_sorted: I64, seq_order: I64, seq_own: I64, seq_bucket: I64,
    qtel: F64, tel_lo: I64, tel_hi: I64,
    init_ids: I64, hl_hosts: I64,
    m0: I64, p0: I64, s0: I64, c0: I64,
    m1: I64, p1: I64, s1: I64, c1: I64,
    m2: I64, p2: I64, s2: I64, c2: I64,
    sched_t: F64, sched_v: F64, sched_n: I64,
    cal_t: F64, cal_ph: I64,
    allow: F64,
    out: F64, thr: F64, thr_t: F64,
    rng: np.random.Generator,
) -> None:
    """Run one outbreak and fill ``out`` (one row per output step) and ``thr_t``.

    Inputs, all prepared by :func:`wormsign.sim.engine.simulate_stochastic`: parameters
    (``pf``, ``pi``, indexed by the codes in :mod:`wormsign.sim.codes`); per host its
    prefix-1 and prefix-2 groups, side of the filtered block and scan rate; the walkers'
    order (sorted positions, the host at each, each host's own position); per telescope the
    chance that one probe of each host lands there and its range; the initial hosts and the
    hit list; three grouped pools (by side, by prefix-1 group and side, by prefix-2 group and
    side); rate schedules; calendar phase changes; the 2 x 2 matrix of allowed side-to-side
    probes. ``thr`` holds the counts for 10/50/90 %, ``thr_t`` receives when each was reached
    (-1 if never).
    """
    n = g1.shape[0]
    strategy = pi[Q_STRATEGY]
    hl_then = pi[Q_HITLIST_THEN]
    ntel = qtel.shape[0]
    space = pf[P_SPACE]
    any_space = pf[P_ANY_SPACE]
    pany = pf[P_ANY]
    pl1 = pf[P_1]
    pl2 = pf[P_2]
    size1 = pf[P_SIZE1]
    size2 = pf[P_SIZE2]
    cap = pf[P_CAP]
    delay = pf[P_DELAY]
    bl_react = pf[P_BL_REACT]
    bl_cov = pf[P_BL_COV]
    cf_react = pf[P_CF_REACT]
    cf_cov = pf[P_CF_COV]
    local = strategy == LOCAL
    walk_restart = strategy == PERM or (strategy == HITLIST and hl_then == 1)

    # per-host state
    state = np.zeros(n, np.uint8)
    scanning = np.zeros(n, np.uint8)
    black = np.zeros(n, np.uint8)
    ever = np.zeros(n, np.uint8)
    seen = np.zeros((ntel, n), np.uint8)
    epoch = np.zeros(n, np.int64)  # infection episodes
    sepoch = np.zeros(n, np.int64)  # scanning spells
    walker = np.zeros(n, np.uint8)
    randomer = np.zeros(n, np.uint8)
    wpos = np.zeros(n, np.float64)
    wptr = np.zeros(n, np.int64)
    budget = np.zeros(n, np.float64)
    wwrap = np.zeros(n, np.int64)
    wv = np.zeros(n, np.float64)
    wacc = np.zeros(n, np.float64)
    vtime = 0.0
    wp = np.empty((2 * n + 1024, 4))  # walkers' next vulnerable crossing (virtual time)
    wn = np.zeros(1, np.int64)
    hl_lo = np.zeros(n, np.int64)
    hl_hi = np.zeros(n, np.int64)
    inf_list = np.empty(n, np.int64)
    inf_pos = np.full(n, -1, np.int64)
    n_inf = np.zeros(1, np.int64)
    scan_list = np.empty(n, np.int64)
    scan_pos = np.full(n, -1, np.int64)
    n_scan = np.zeros(1, np.int64)
    hl_list = np.empty(n, np.int64)
    hl_pos = np.full(n, -1, np.int64)
    n_hl = np.zeros(1, np.int64)
    # aggregates of scanning hosts
    agg = np.zeros(3)
    ng1 = s1.shape[0] - 1
    ng2 = s2.shape[0] - 1
    rate1 = np.zeros(ng1)
    rate2 = np.zeros(ng2)
    cnt_g1 = np.zeros(max(ng1 // 2, 1), np.int64)
    cnt_g2 = np.zeros(max(ng2 // 2, 1), np.int64)
    act1 = np.empty(max(ng1 // 2, 1), np.int64)
    act1_pos = np.full(max(ng1 // 2, 1), -1, np.int64)
    n_act1 = np.zeros(1, np.int64)
    act2 = np.empty(max(ng2 // 2, 1), np.int64)
    act2_pos = np.full(max(ng2 // 2, 1), -1, np.int64)
    n_act2 = np.zeros(1, np.int64)
    qsum = np.zeros(ntel)
    tel_unique = np.zeros(ntel, np.int64)
    # heap
    cap_heap = 2 * n + 1024  # grown before any batch of pushes
    hp = np.empty((cap_heap, 4))
    hn = np.zeros(1, np.int64)
    newly = np.empty(2 * n + 16, np.int64)  # a host may be due twice (delay and wake-up)
    finished = np.empty(n, np.int64)
    picked = np.empty(n, np.int64)
    n_removed = 0
    n_ever = 0
    n_sus = n

    phase = cal_ph[0]
    cal_i = 1

    # ---- initial infections (scan from t = 0)
    n0 = init_ids.shape[0]
    for idx in range(n0):
        h = init_ids[idx]
        state[h] = S_INF
        if ever[h] == 0:
            ever[h] = 1
            n_ever += 1
        n_sus -= 1
        pool_remove(m0, p0, s0, c0, side[h], h)
        if local:
            pool_remove(m1, p1, s1, c1, g1[h] * 2 + side[h], h)
            pool_remove(m2, p2, s2, c2, g2[h] * 2 + side[h], h)
        list_add(inf_list, inf_pos, n_inf, h)
        if strategy == HITLIST:
            L = hl_hosts.shape[0]
            hl_lo[h] = (idx * L) // n0
            hl_hi[h] = ((idx + 1) * L) // n0
        if bl_react >= 0.0:
            heap_push(hp, hn, bl_react, h, E_BLACKLIST, epoch[h])
    hp = grow(hp, hn[0] + n0 * (ntel + 1) + 8)
    if phase == PH_SPREAD:
        start_scanning(init_ids, 0, n0, 0.0, vtime, pi, local, bl_cov, space, scanning,
            sepoch, scan_list, scan_pos, n_scan, rate, black, hl_lo, hl_hi, hl_list,
            hl_pos, n_hl, randomer, walker, side, g1, g2, agg, rate1, rate2, cnt_g1,
            cnt_g2, act1, act1_pos, n_act1, act2, act2_pos, n_act2, wpos, wptr, wwrap, wv,
            wacc, seq_sorted, seq_bucket, seq_own, wp, wn, qtel, qsum, seen, hp, hn, rng)

    for k in range(3):
        if n_ever >= thr[k]:
            thr_t[k] = 0.0

    # ---- main loop over output bins
    duration = pf[P_DURATION]
    step = pf[P_STEP]
    nb = out.shape[0]
    t = 0.0
    g_obs = 0.0
    for b in range(nb):
        t_end = min((b + 1) * step, duration)
        blen = t_end - t
        if pf[P_DT] > 0.0:
            ksub = max(1, round(blen / pf[P_DT]))
        else:
            mean_rate = agg[A_SENT] / max(n_scan[0], 1)
            g = max(g_obs, mean_rate * n_sus / space)
            ksub = max(1, min(pi[Q_KMAX], math.ceil(blen * g / pf[P_EPS])))
        dt = blen / ksub
        bin_new = 0
        bin_probes = 0.0
        bin_flood = 0.0
        bin_tel = np.zeros(ntel)
        for _sub in range(ksub):
            t0 = t
            t1 = t + dt
            if _sub == ksub - 1:
                t1 = t_end
            dt = t1 - t0
            # -- calendar
            while cal_i < cal_t.shape[0] and cal_t[cal_i] <= t0:
                newph = cal_ph[cal_i]
                tc = cal_t[cal_i]
                cal_i += 1
                if newph == phase:
                    continue
                if newph == PH_SPREAD:
                    hp = grow(hp, hn[0] + n_inf[0] + 8)
                    for ii in range(n_inf[0]):
                        h = inf_list[ii]
                        heap_push(hp, hn, tc + rng.random() * pf[P_JITTER], h,
                                  E_ACTIVATE, epoch[h])
                elif phase == PH_SPREAD:
                    stopping = scan_list[:n_scan[0]].copy()
                    stop_scanning(stopping, 0, stopping.shape[0], local,
                        bl_cov, scanning, sepoch, scan_list, scan_pos, n_scan,
                        rate, black, hl_list, hl_pos, n_hl, randomer, walker,
                        side, g1, g2, agg, rate1, rate2, cnt_g1, cnt_g2, act1,
                        act1_pos, n_act1, act2, act2_pos, n_act2, qtel, qsum,
                        seen)
                phase = newph

            # room for every host to (re)start walking this step
            if wn[0] + 2 * n + 16 > wp.shape[0]:
                wp = grow(wp, wn[0] + 2 * n + 16)
            # -- due events
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
            # hosts whose delay or wake-up is over scan from now on
            if n_new > 0:
                if hn[0] + n_new * (ntel + 1) + 8 > hp.shape[0]:
                    hp = grow(hp, hn[0] + n_new * (ntel + 1) + 8)
                start_scanning(newly, 0, n_new, t0, vtime, pi, local, bl_cov,
                    space, scanning, sepoch, scan_list, scan_pos, n_scan, rate,
                    black, hl_lo, hl_hi, hl_list, hl_pos, n_hl, randomer, walker,
                    side, g1, g2, agg, rate1, rate2, cnt_g1, cnt_g2, act1,
                    act1_pos, n_act1, act2, act2_pos, n_act2, wpos, wptr, wwrap,
                    wv, wacc, seq_sorted, seq_bucket, seq_own, wp, wn, qtel, qsum,
                    seen, hp, hn, rng)
            n_new = 0

            # -- life cycle: patching of susceptible hosts, removal and reboot of infected
            mu = schedule_value(sched_t[0], sched_v[0], sched_n[0], t0) if sched_n[0] else 0.0
            if mu > 0.0:
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
                        h = picked[j]
                        state[h] = S_REM
                        n_removed += 1
                        n_sus -= 1
                        pool_remove(m0, p0, s0, c0, side[h], h)
                        if local:
                            pool_remove(m1, p1, s1, c1, g1[h] * 2 + side[h], h)
                            pool_remove(m2, p2, s2, c2, g2[h] * 2 + side[h], h)
            gam = schedule_value(sched_t[1], sched_v[1], sched_n[1], t0) if sched_n[1] else 0.0
            rho = schedule_value(sched_t[2], sched_v[2], sched_n[2], t0) if sched_n[2] else 0.0
            if gam + rho > 0.0 and n_inf[0] > 0:
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
                stop_scanning(picked, 0, kk, local, bl_cov, scanning, sepoch,
                    scan_list, scan_pos, n_scan, rate, black, hl_list, hl_pos,
                    n_hl, randomer, walker, side, g1, g2, agg, rate1, rate2,
                    cnt_g1, cnt_g2, act1, act1_pos, n_act1, act2, act2_pos, n_act2,
                    qtel, qsum, seen)
                for j in range(kk):
                    h = picked[j]
                    list_remove(inf_list, inf_pos, n_inf, h)
                    epoch[h] += 1
                    black[h] = 0
                    hl_lo[h] = 0
                    hl_hi[h] = 0
                    if rng.random() * (gam + rho) < gam:
                        state[h] = S_REM
                        n_removed += 1
                    else:
                        state[h] = S_SUS
                        n_sus += 1
                        pool_add(m0, p0, s0, c0, side[h], h, rng)
                        if local:
                            pool_add(m1, p1, s1, c1, g1[h] * 2 + side[h], h, rng)
                            pool_add(m2, p2, s2, c2, g2[h] * 2 + side[h], h, rng)

            # -- spread
            step_new = 0
            capf_now = 1.0
            if cap > 0.0 and agg[A_SENT] > cap:
                capf_now = cap / agg[A_SENT]
            if phase == PH_SPREAD and n_scan[0] > 0:
                capf = capf_now
                cf = 1.0
                if cf_react >= 0.0 and t0 >= cf_react:
                    cf = 1.0 - cf_cov
                bin_probes += agg[A_SENT] * capf * dt
                for k in range(ntel):
                    if qsum[k] > 0.0:
                        bin_tel[k] += rng.poisson(qsum[k] * capf * dt)
                n_fin = 0
                extra0 = 0.0
                extra1 = 0.0
                # (a) sequence walkers: jump from one vulnerable position to the next
                v1 = vtime + capf * dt
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
                            pa = cf * ((1.0 - bl_cov) if black[h] else 1.0) \
                                * allow[side[h], side[j]]
                            if pa >= 1.0 or rng.random() < pa:
                                state[j] = S_INF
                                newly[n_new] = j
                                n_new += 1
                                step_new += 1
                        elif state[j] == S_INF and walk_restart:
                            wpos[h] = math.floor(rng.random() * space)
                            wwrap[h] = 0
                            ptr = first_at_or_after(seq_sorted, seq_bucket, wpos[h],
                                                    space)
                            if ptr == n:
                                ptr = 0
                                wwrap[h] = 1
                            wptr[h] = ptr
                    nxt = vk + (seq_sorted[wptr[h]] + wwrap[h] * space - wpos[h]) / rate[h]
                    heap_push(wp, wn, nxt, h, 0, sepoch[h])
                # (b) hit-list holders
                if strategy == HITLIST:
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
                                    step_new += 1
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
                                # walks from the end of this step (its probes left in
                                # this step, under one step's worth, are lost)
                                walker[h] = 1
                                walker_start(h, PERM, 1, wpos, wptr, wwrap, wv, wacc,
                                             seq_sorted, seq_bucket, seq_own, space,
                                             vtime + capf * dt,
                                             rate, wp, wn, sepoch, rng)
                        else:
                            ii += 1
                # (c) random scanning: anywhere, own prefix 1, own prefix 2
                if strategy == UNIFORM or local or (strategy == HITLIST and hl_then == 0):
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
                                step_new += 1
                    if local:
                        before = n_new
                        n_new = infect_level(act1, n_act1[0], rate1, m1, s1, c1,
                                             scale * pl1 / size1, allow, state, newly, n_new,
                                             rng)
                        n_new = infect_level(act2, n_act2[0], rate2, m2, s2, c2,
                                             scale * pl2 / size2, allow, state, newly, n_new,
                                             rng)
                        step_new += n_new - before
                # hit-list holders that ran out now scan at random
                for j in range(n_fin):
                    h = finished[j]
                    if hl_then == 0 and scanning[h]:
                        randomer[h] = 1
                        eff = rate[h] * (1.0 - bl_cov) if black[h] else rate[h]
                        agg[side[h]] += eff

            # -- apply: new infections leave the pools and (without a delay) scan from the
            # next step
            if phase == PH_SPREAD:
                vtime += capf_now * dt
            if hn[0] + n_new * (ntel + 2) + 8 > hp.shape[0]:
                hp = grow(hp, hn[0] + n_new * (ntel + 2) + 8)
            for j in range(n_new):
                h = newly[j]
                if ever[h] == 0:
                    ever[h] = 1
                    n_ever += 1
                n_sus -= 1
                epoch[h] += 1
                pool_remove(m0, p0, s0, c0, side[h], h)
                if local:
                    pool_remove(m1, p1, s1, c1, g1[h] * 2 + side[h], h)
                    pool_remove(m2, p2, s2, c2, g2[h] * 2 + side[h], h)
                list_add(inf_list, inf_pos, n_inf, h)
                if bl_react >= 0.0:
                    heap_push(hp, hn, t1 + bl_react, h, E_BLACKLIST, epoch[h])
                if delay > 0.0:
                    heap_push(hp, hn, t1 + delay, h, E_ACTIVATE, epoch[h])
            bin_new += step_new
            n_go = 0
            if phase == PH_SPREAD and delay <= 0.0:
                for j in range(n_new):
                    h = newly[j]
                    if state[h] == S_INF:
                        picked[n_go] = h
                        n_go += 1
            if n_go > 0:
                start_scanning(picked, 0, n_go, t1, vtime, pi, local, bl_cov, space,
                    scanning, sepoch, scan_list, scan_pos, n_scan, rate, black, hl_lo,
                    hl_hi, hl_list, hl_pos, n_hl, randomer, walker, side, g1, g2, agg,
                    rate1, rate2, cnt_g1, cnt_g2, act1, act1_pos, n_act1, act2, act2_pos,
                    n_act2, wpos, wptr, wwrap, wv, wacc, seq_sorted, seq_bucket, seq_own, wp,
                    wn, qtel,
                    qsum, seen, hp, hn, rng)
            if phase == PH_FLOOD:
                bin_flood += n_inf[0] * pf[P_FLOOD] * dt
            for k in range(3):
                if thr_t[k] < 0.0 and n_ever >= thr[k]:
                    thr_t[k] = t1
            g_obs = step_new / (dt * max(n_scan[0], 1))
            t = t1
        # -- sequential walkers: probes that reached each telescope during the bin
        if strategy == SEQ and ntel > 0:
            for ii in range(n_scan[0]):
                h = scan_list[ii]
                if walker[h] == 0:
                    continue
                cur = wpos[h] + rate[h] * (vtime - wv[h])
                a0 = wacc[h]
                for k in range(ntel):
                    c = 0
                    for lap in range(int(a0 // space), int(cur // space) + 1):
                        c += overlap(a0 - lap * space, cur - lap * space, tel_lo[k], tel_hi[k])
                    if c > 0:
                        bin_tel[k] += c
                        if seen[k, h] == 0:
                            seen[k, h] = 1
                            tel_unique[k] += 1
                wacc[h] = cur
        # -- record the bin
        out[b, C_T] = t_end
        out[b, C_S] = n_sus
        out[b, C_I] = n_inf[0]
        out[b, C_R] = n_removed
        out[b, C_NEW] = bin_new
        out[b, C_PROBES] = bin_probes
        out[b, C_EVER] = n_ever
        out[b, C_FLOOD] = bin_flood
        out[b, C_SCAN] = n_scan[0]
        for k in range(ntel):
            out[b, N_BASE_COLS + 2 * k] = bin_tel[k]
            out[b, N_BASE_COLS + 2 * k + 1] = tel_unique[k]
