"""``simulate(scenario, seed)``: lay out the population, run the compiled kernel, wrap the result.

Everything random comes from one ``numpy.random.Generator`` seeded with ``seed``, which the
kernel keeps drawing from, so a seed gives the same run on any machine with the same numpy.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from wormsign.sim import calendar, codes, kernel, state
from wormsign.sim.pools import build_pool
from wormsign.sim.population import load_density, place_clustered, place_uniform
from wormsign.sim.result import SimResult
from wormsign.sim.scenario import STRATEGIES, Scenario, check_seed

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

ADAPTIVE_EPS = 0.01
"""Largest relative growth of the infected population allowed in one adaptive step."""
MAX_SUBSTEPS = 256


def _excluded(sc: Scenario) -> list[tuple[int, int]]:
    return [sc.block(c) for c in sc.exclude]


def _overlap_len(lo: I64 | int, hi: I64 | int, a: int, b: int) -> I64:
    return np.asarray(np.maximum(0, np.minimum(hi, b) - np.maximum(lo, a)), dtype=np.int64)


def _scan_rates(sc: Scenario, n: int, rng: np.random.Generator) -> F64:
    if sc.scan_rate_dist == "constant":
        return np.full(n, float(sc.scan_rate))
    if sc.scan_rate_dist == "exponential":
        return np.maximum(rng.exponential(sc.scan_rate, n), 1e-9)
    s = sc.scan_rate_sigma
    return rng.lognormal(math.log(sc.scan_rate) - s * s / 2.0, s, n)


def _schedules(sc: Scenario) -> tuple[F64, F64, I64]:
    scheds = (sc.patch_rate, sc.removal_rate, sc.reboot_rate)
    m = max(1, *(len(s) for s in scheds))
    st = np.full((3, m), np.inf)
    sv = np.zeros((3, m))
    sn = np.zeros(3, dtype=np.int64)
    for i, sched in enumerate(scheds):
        for j, (hour, per_hour) in enumerate(sched):
            st[i, j] = hour * 3600.0
            sv[i, j] = per_hour / 3600.0
        sn[i] = len(sched)
    return st, sv, sn


class _Layout(NamedTuple):
    """Where the vulnerable hosts are and how they scan, before the kernel runs."""

    addr: I64
    side: I64
    g1: I64
    g2: I64
    local: bool
    probs: tuple[float, float, float]  # anywhere, own prefix 1, own prefix 2
    sizes: tuple[int, int]  # addresses in one prefix-1 and one prefix-2 group
    any_space: int


Pool = tuple[I64, I64, I64, I64]
"""A grouped pool of susceptible hosts (:func:`wormsign.sim.pools.build_pool`): members,
each member's slot, each group's first slot, each group's count."""


def _layout(sc: Scenario, rng: np.random.Generator,
            ) -> tuple[_Layout, F64, tuple[Pool, Pool, Pool]]:
    """Place the hosts, draw their scan rates and build the pools (draws in this order)."""
    bits, n = sc.address_bits, sc.vulnerable
    excluded = _excluded(sc)
    if sc.placement == "clustered":
        addr = place_clustered(n, bits, load_density(sc.density), excluded, rng)
    else:
        addr = place_uniform(n, bits, excluded, rng)
    rate = _scan_rates(sc, n, rng)
    side = np.zeros(n, dtype=np.int64)
    if sc.filter_block:
        lo, hi = sc.block(sc.filter_block)
        side = ((addr >= lo) & (addr < hi)).astype(np.int64)
    local = sc.strategy == "local-preference"
    pr1, pr2 = sc.local_prefixes if local else (0, 0)
    if local:
        g1, g2 = addr >> (bits - pr1), addr >> (bits - pr2)
        pool1 = build_pool(g1 * 2 + side, 2 << pr1, rng)
        pool2 = build_pool(g2 * 2 + side, 2 << pr2, rng)
        probs = sc.local_probs
    else:
        g1 = g2 = np.zeros(n, dtype=np.int64)
        empty = np.zeros(0, dtype=np.int64)
        pool1 = pool2 = (empty, empty, np.zeros(3, dtype=np.int64), np.zeros(2, dtype=np.int64))
        probs = (1.0, 0.0, 0.0)
    pools = (build_pool(side, 2), pool1, pool2)
    any_space = sc.space - sum(hi - lo for lo, hi in excluded)
    lay = _Layout(addr, side, g1, g2, local, (float(probs[0]), float(probs[1]),
                  float(probs[2])), (1 << (bits - pr1), 1 << (bits - pr2)), any_space)
    return lay, rate, pools


def _walk_order(sc: Scenario, addr: I64, rng: np.random.Generator) -> tuple[I64, I64, I64, I64]:
    """The order sequence walkers follow: ``(sorted positions, host at each, each host's own
    position, buckets)``, a bucket holding about one vulnerable address."""
    n, code = sc.vulnerable, STRATEGIES.index(sc.strategy)
    walks = code in (codes.STATIC, codes.PERM, codes.SEQ) or (
        code == codes.HITLIST and sc.hitlist_then == "permutation")
    if code == codes.SEQ:
        seqpos = addr
    elif walks:
        seqpos = place_uniform(n, sc.address_bits, [], rng)
    else:
        seqpos = np.zeros(n, dtype=np.int64)
    order = np.argsort(seqpos, kind="stable").astype(np.int64)
    seq_sorted = seqpos[order].astype(np.int64)
    n_buckets = n if walks else 1
    bucket = np.searchsorted(seq_sorted, np.arange(n_buckets + 1) * (sc.space / n_buckets))
    return seq_sorted, order, np.asarray(seqpos, dtype=np.int64), bucket.astype(np.int64)


def _telescopes(sc: Scenario, lay: _Layout) -> tuple[F64, I64, I64]:
    """Per telescope the chance that one probe of each host lands in it, and its range."""
    k_tel, n = len(sc.telescopes), sc.vulnerable
    qtel = np.zeros((k_tel, n))
    tel_lo = np.zeros(k_tel, dtype=np.int64)
    tel_hi = np.zeros(k_tel, dtype=np.int64)
    excluded = _excluded(sc)
    p_any, p1, p2 = lay.probs
    size1, size2 = lay.sizes
    for k, cidr in enumerate(sc.telescopes):
        lo, hi = sc.block(cidr)
        tel_lo[k], tel_hi[k] = lo, hi
        if sc.strategy == "sequential":
            continue
        allowed = (hi - lo) - sum(int(_overlap_len(lo, hi, a, b)) for a, b in excluded)
        qtel[k, :] = p_any * allowed / lay.any_space
        if lay.local:
            g1, g2 = lay.g1, lay.g2
            qtel[k, :] += p1 * _overlap_len(g1 * size1, (g1 + 1) * size1, lo, hi) / size1
            qtel[k, :] += p2 * _overlap_len(g2 * size2, (g2 + 1) * size2, lo, hi) / size2
    return qtel, tel_lo, tel_hi


def _allowed(sc: Scenario) -> F64:
    """The 2 x 2 matrix of allowed probes between the sides of the filtered block."""
    allow = np.ones((2, 2))
    if sc.filter_block:
        if sc.filter_egress:
            allow[1, 0] = 0.0
        if sc.filter_ingress:
            allow[0, 1] = 0.0
    return allow


def _parameters(sc: Scenario, lay: _Layout) -> tuple[F64, I64]:
    """The scenario's numbers as the kernel reads them (indexed by :mod:`codes`)."""
    pf = np.zeros(codes.N_PF)
    pf[codes.P_SPACE] = sc.space
    pf[codes.P_ANY_SPACE] = lay.any_space
    pf[codes.P_SIZE1], pf[codes.P_SIZE2] = lay.sizes
    pf[codes.P_ANY], pf[codes.P_1], pf[codes.P_2] = lay.probs
    pf[codes.P_DURATION] = sc.duration_s
    pf[codes.P_STEP] = sc.output_step()
    pf[codes.P_DT] = sc.dt_s or 0.0
    pf[codes.P_EPS] = ADAPTIVE_EPS
    pf[codes.P_CAP] = sc.probe_cap or 0.0
    pf[codes.P_DELAY] = sc.infection_delay_s
    pf[codes.P_BL_REACT] = -1.0 if sc.blacklist_reaction_s is None else sc.blacklist_reaction_s
    pf[codes.P_BL_COV] = sc.blacklist_coverage
    pf[codes.P_CF_REACT] = (-1.0 if sc.content_filter_reaction_s is None
                             else sc.content_filter_reaction_s)
    pf[codes.P_CF_COV] = sc.content_filter_coverage
    pf[codes.P_FLOOD] = sc.flood_rate
    pf[codes.P_JITTER] = sc.wake_jitter_hours * 3600.0
    pi = np.zeros(codes.N_PI, dtype=np.int64)
    pi[codes.Q_STRATEGY] = STRATEGIES.index(sc.strategy)
    pi[codes.Q_HITLIST_THEN] = 1 if sc.hitlist_then == "permutation" else 0
    pi[codes.Q_SEQ_START] = 0 if sc.sequential_start == "own" else 1
    pi[codes.Q_KMAX] = MAX_SUBSTEPS
    return pf, pi


def _result(sc: Scenario, seed: int | None, out: F64, thr_t: F64) -> SimResult:
    """Wrap the kernel's output table."""
    tel = {cidr: (out[:, codes.N_BASE_COLS + 2 * k].copy(),
                  out[:, codes.N_BASE_COLS + 2 * k + 1].copy())
           for k, cidr in enumerate(sc.telescopes)}
    times = tuple(float(x) if x >= 0 else math.nan for x in thr_t)
    return SimResult(
        scenario=sc, seed=seed,
        t=out[:, codes.C_T].copy(),
        susceptible=out[:, codes.C_S].copy(),
        infected=out[:, codes.C_I].copy(),
        removed=out[:, codes.C_R].copy(),
        new_infections=out[:, codes.C_NEW].copy(),
        probes=out[:, codes.C_PROBES].copy(),
        ever_infected=out[:, codes.C_EVER].copy(),
        scanning=out[:, codes.C_SCAN].copy(),
        flood=out[:, codes.C_FLOOD].copy(),
        telescopes=tel,
        threshold_times=(times[0], times[1], times[2]),
    )


def simulate_stochastic(sc: Scenario, seed: int | None = None) -> SimResult:
    """One stochastic run of ``sc`` (see :mod:`wormsign.sim.kernel` for the model).

    The random draws happen in a fixed order (placement, scan rates, pools, walk order,
    initial hosts, hit list, then the kernel), so a seed gives the same outbreak.
    """
    rng = np.random.default_rng(seed)
    lay, rate, pools = _layout(sc, rng)
    seq_sorted, order, seqpos, bucket = _walk_order(sc, lay.addr, rng)
    qtel, tel_lo, tel_hi = _telescopes(sc, lay)
    n = sc.vulnerable
    init_ids = rng.choice(n, size=sc.initial, replace=False).astype(np.int64)
    if sc.strategy == "hitlist":
        hl_hosts = rng.choice(n, size=min(sc.hitlist_size, n), replace=False).astype(np.int64)
    else:
        hl_hosts = np.zeros(0, dtype=np.int64)
    st, sv, sn = _schedules(sc)
    cal_t, cal_ph = calendar.transitions(sc.start_datetime(), sc.duration_s, sc.calendar)
    pf, pi = _parameters(sc, lay)
    nb = max(1, math.ceil(sc.duration_s / sc.output_step() - 1e-9))
    out = np.zeros((nb, codes.N_BASE_COLS + 2 * len(sc.telescopes)))
    thr = np.ceil(np.array([0.1, 0.5, 0.9]) * n - 1e-9)
    thr_t = np.full(3, -1.0)
    p = state.Params(pf, pi, _allowed(sc), thr, st, sv, sn, cal_t, cal_ph)
    world = state.World(
        p, state.new_hosts((lay.side, lay.g1, lay.g2, rate), init_ids),
        state.new_scanners(n, pools[1][2].shape[0] - 1, pools[2][2].shape[0] - 1),
        state.new_walkers((seq_sorted, order, seqpos, bucket), n),
        state.new_hitlist(hl_hosts, n), state.new_telescopes(qtel, tel_lo, tel_hi),
        state.Pools(state.Pool(*pools[0]), state.Pool(*pools[1]), state.Pool(*pools[2])),
        state.new_tally(n, len(sc.telescopes)))
    kernel.run_kernel(world, state.new_heaps(n), out, thr_t, rng)
    return _result(sc, seed, out, thr_t)


def compile_cache_cold() -> bool:
    """True when numba has no usable on-disk compilation of the kernel yet, so the next run
    compiles it first (about a minute; later processes load it from the cache)."""
    try:
        cache = getattr(kernel.run_kernel, "_cache", None)
        cache_file = getattr(cache, "_cache_file", None)
        if cache_file is None:
            return False
        return not cache_file._load_index()
    except Exception:
        return False


def simulate(scenario: Scenario, seed: int | None = None) -> SimResult:
    """Run ``scenario`` once: stochastic, or the deterministic model it names."""
    check_seed(seed)
    if scenario.model == "stochastic":
        return simulate_stochastic(scenario, seed)
    from wormsign.sim import models

    return models.solve(scenario, seed)
