"""The per-probe reference model: every single probe is drawn and delivered.

Same model as ``wormsign.sim.kernel`` (steps of ``dt``; a host infected in a step scans from
the next; each scanning host sends ``rate * dt`` probes per step), written the obvious way so
that the fast engine can be checked against it statistically. Only for small spaces.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from wormsign.sim import Scenario
from wormsign.sim.population import load_density, place_clustered, place_uniform

STRATS = {"uniform": 0, "static-sequence": 1, "local-preference": 2, "hitlist": 3,
          "permutation": 4, "sequential": 5}


@numba.njit(cache=True)
def _run(strategy: int, bits: int, addr: npt.NDArray[np.int64], rate: float, dt: float,
         nsteps: int, init: npt.NDArray[np.int64], perm: npt.NDArray[np.int64],
         hitlist: npt.NDArray[np.int64], hl_then_perm: bool, p_any: float, p1: float,
         pre1: int, pre2: int, mu: float, gamma: float, rho: float, bl_react: float,
         bl_cov: float, seq_random: bool, cf_react: float, cf_cov: float,
         delay: float, side: npt.NDArray[np.int64], allow: npt.NDArray[np.float64],
         rng: np.random.Generator) -> npt.NDArray[np.int64]:
    space = 1 << bits
    n = addr.shape[0]
    host_at = np.full(space, -1, np.int64)
    for i in range(n):
        host_at[addr[i]] = i
    inv = np.empty(space, np.int64)  # address -> index in the permutation
    if perm.shape[0] == space:
        for i in range(space):
            inv[perm[i]] = i
    state = np.zeros(n, np.int64)  # 0 S, 1 I, 2 R
    scanning = np.zeros(n, np.bool_)
    tinf = np.zeros(n)
    counter = np.zeros(n, np.int64)
    budget = np.zeros(n)
    hl_lo = np.zeros(n, np.int64)
    hl_hi = np.zeros(n, np.int64)
    waiting = np.zeros(n, np.bool_)
    ever = np.zeros(nsteps, np.int64)  # distinct hosts ever infected, per step
    was = np.zeros(n, np.bool_)
    n_ever = 0
    n0 = init.shape[0]
    for k in range(n0):
        h = init[k]
        state[h] = 1
        scanning[h] = True
        was[h] = True
        n_ever += 1
        hl_lo[h] = (k * hitlist.shape[0]) // n0
        hl_hi[h] = ((k + 1) * hitlist.shape[0]) // n0
        if strategy == 4 or (strategy == 3 and hl_then_perm):
            counter[h] = rng.integers(0, space)
        elif strategy == 5:
            counter[h] = rng.integers(0, space) if seq_random else addr[h] + 1
    size1 = 1 << (bits - pre1)
    size2 = 1 << (bits - pre2)
    newly = np.empty(n, np.int64)
    for step in range(nsteps):
        t0 = step * dt
        # life cycle
        for h in range(n):
            if state[h] == 0 and mu > 0 and rng.random() < -math.expm1(-mu * dt):
                state[h] = 2
            elif state[h] == 1 and gamma + rho > 0 and \
                    rng.random() < -math.expm1(-(gamma + rho) * dt):
                scanning[h] = False
                waiting[h] = False
                hl_lo[h] = 0
                hl_hi[h] = 0
                state[h] = 2 if rng.random() * (gamma + rho) < gamma else 0
        for h in range(n):  # end of the infection delay
            if state[h] == 1 and not scanning[h] and waiting[h] and \
                    t0 >= tinf[h] + delay - 1e-9:
                scanning[h] = True
                waiting[h] = False
        m = 0
        for h in range(n):
            if not scanning[h]:
                continue
            succ = 1.0
            if bl_react >= 0 and t0 >= tinf[h] + bl_react - 1e-9:
                succ = 1.0 - bl_cov
            if cf_react >= 0 and t0 >= cf_react - 1e-9:
                succ *= 1.0 - cf_cov
            budget[h] += rate * dt
            while budget[h] >= 1.0:
                budget[h] -= 1.0
                target = -1
                listed = False
                if strategy == 3 and hl_lo[h] < hl_hi[h]:
                    target = addr[hitlist[hl_lo[h]]]
                    hl_lo[h] += 1
                    listed = True
                elif strategy == 0 or (strategy == 3 and not hl_then_perm):
                    target = rng.integers(0, space)
                elif strategy == 2:
                    u = rng.random()
                    if u < p_any:
                        target = rng.integers(0, space)
                    elif u < p_any + p1:
                        target = (addr[h] // size1) * size1 + rng.integers(0, size1)
                    else:
                        target = (addr[h] // size2) * size2 + rng.integers(0, size2)
                elif strategy == 1 or strategy == 4 or strategy == 3:
                    target = perm[counter[h] % space]
                    counter[h] += 1
                else:
                    target = counter[h] % space
                    counter[h] += 1
                j = host_at[target]
                if j < 0 or j == h:
                    continue
                if state[j] == 0:
                    pa = succ * allow[side[h], side[j]]
                    if pa >= 1.0 or rng.random() < pa:
                        state[j] = 1
                        tinf[j] = t0 + dt
                        newly[m] = j
                        m += 1
                        if not was[j]:
                            was[j] = True
                            n_ever += 1
                        if listed:
                            mid = hl_lo[h] + (hl_hi[h] - hl_lo[h]) // 2
                            hl_lo[j] = mid
                            hl_hi[j] = hl_hi[h]
                            hl_hi[h] = mid
                        if strategy == 4 or (strategy == 3 and hl_then_perm):
                            counter[j] = rng.integers(0, space)
                        elif strategy == 5:
                            counter[j] = rng.integers(0, space) if seq_random else addr[j] + 1
                        else:
                            counter[j] = 0
                elif state[j] == 1 and not listed and (
                        strategy == 4 or (strategy == 3 and hl_then_perm)):
                    counter[h] = rng.integers(0, space)
        for k in range(m):
            if state[newly[k]] == 1:
                if delay > 0:
                    waiting[newly[k]] = True
                else:
                    scanning[newly[k]] = True
        ever[step] = n_ever
    return ever


def bruteforce(sc: Scenario, seed: int) -> tuple[float, float, float]:
    """(t50, final ever-infected, t90) of one per-probe run of ``sc`` (steps of ``sc.dt_s``)."""
    assert sc.dt_s is not None
    rng = np.random.default_rng(seed)
    bits = sc.address_bits
    if sc.placement == "clustered":
        addr = place_clustered(sc.vulnerable, bits, load_density(sc.density), [], rng)
    else:
        addr = place_uniform(sc.vulnerable, bits, [], rng)
    space = 1 << bits
    walks = sc.strategy in ("static-sequence", "permutation") or (
        sc.strategy == "hitlist" and sc.hitlist_then == "permutation")
    perm = rng.permutation(space).astype(np.int64) if walks else np.zeros(0, np.int64)
    init = rng.choice(sc.vulnerable, sc.initial, replace=False).astype(np.int64)
    hitlist = (rng.choice(sc.vulnerable, min(sc.hitlist_size, sc.vulnerable), replace=False)
               .astype(np.int64) if sc.strategy == "hitlist" else np.zeros(0, np.int64))
    nsteps = round(sc.duration_s / sc.dt_s)
    side = np.zeros(sc.vulnerable, np.int64)
    allow = np.ones((2, 2))
    if sc.filter_block:
        lo, hi = sc.block(sc.filter_block)
        side = ((addr >= lo) & (addr < hi)).astype(np.int64)
        allow[1, 0] = 0.0 if sc.filter_egress else 1.0
        allow[0, 1] = 0.0 if sc.filter_ingress else 1.0

    def first(sched: tuple[tuple[float, float], ...]) -> float:
        return sched[0][1] / 3600.0 if sched else 0.0

    ever = _run(STRATS[sc.strategy], bits, addr, sc.scan_rate, sc.dt_s, nsteps, init, perm,
                hitlist, sc.hitlist_then == "permutation", sc.local_probs[0],
                sc.local_probs[1], sc.local_prefixes[0], sc.local_prefixes[1],
                first(sc.patch_rate), first(sc.removal_rate), first(sc.reboot_rate),
                -1.0 if sc.blacklist_reaction_s is None else sc.blacklist_reaction_s,
                sc.blacklist_coverage, sc.sequential_start == "random",
                -1.0 if sc.content_filter_reaction_s is None else sc.content_filter_reaction_s,
                sc.content_filter_coverage, sc.infection_delay_s, side, allow, rng)
    t = (np.arange(nsteps) + 1) * sc.dt_s

    def cross(frac: float) -> float:
        idx = np.nonzero(ever >= math.ceil(frac * sc.vulnerable - 1e-9))[0]
        return float(t[idx[0]]) if idx.size else math.nan

    return cross(0.5), float(ever[-1]), cross(0.9)
