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

Per-host state is struct-of-arrays, grouped in the named records of :mod:`wormsign.sim.state`;
timed events (end of the infection delay, blacklisting, first probe seen by a telescope,
wake-up) sit in a binary heap. A step is a short list of phases (:mod:`wormsign.sim.phases`):
calendar, due events, life cycle, spread (walkers, hit list, random scan), apply.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

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
    N_BASE_COLS,
    PH_SPREAD,
    SEQ,
)
from wormsign.sim.heap import reserve
from wormsign.sim.hosts import start_scanning
from wormsign.sim.phases import (
    apply_infections,
    calendar_phase,
    due_events,
    infect_initial,
    life_cycle,
    spread,
    walker_telescopes,
)
from wormsign.sim.state import (
    B_FLOOD,
    B_NEW,
    B_PROBES,
    N_EVER,
    N_REMOVED,
    N_SUS,
    Order,
    Pool,
    Pools,
    Sim,
    Timeline,
    World,
    make_params,
    new_sim,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class Output(NamedTuple):
    """What a run fills: ``table`` (one row per output bin, columns by :mod:`codes`) and
    ``thr_t``, when the hosts ever infected first reached each count of ``thr`` (-1: never)."""

    table: F64
    thr: F64
    thr_t: F64


@njit
def advance(sim: Sim, t0: float, t1: float, rng: np.random.Generator) -> int:
    """One step from ``t0`` to ``t1``, phase by phase; returns its new infections."""
    dt = t1 - t0
    calendar_phase(sim, t0, rng)
    # room for every host to (re)start walking this step
    reserve(sim.walk.heap, sim.walk.heap.n[0] + 2 * sim.world.g1.shape[0] + 16)
    n_due = due_events(sim, t0)
    if n_due > 0:
        reserve(sim.events, sim.events.n[0] + n_due * (sim.world.qtel.shape[0] + 1) + 8)
        start_scanning(sim, sim.scratch.fresh, n_due, t0, rng)
    life_cycle(sim, t0, dt, rng)
    capf = 1.0
    sent = sim.scan.agg[A_SENT]
    if sim.params.cap > 0.0 and sent > sim.params.cap:
        capf = sim.params.cap / sent
    spreading = sim.clock.phase[0] == PH_SPREAD
    n_new = 0
    if spreading and sim.scan.members.n[0] > 0:
        n_new = spread(sim, t0, dt, capf, rng)
    if spreading:
        sim.clock.vtime[0] += capf * dt
    apply_infections(sim, n_new, t1, dt, rng)
    return n_new


@njit
def substeps(sim: Sim, blen: float, g_obs: float) -> int:
    """How many steps for a bin of ``blen`` seconds: the fixed ``dt``, or enough that the
    infected grow by at most ``eps`` per step at the observed or expected pace."""
    par = sim.params
    if par.dt > 0.0:
        return max(1, round(blen / par.dt))
    mean_rate = sim.scan.agg[A_SENT] / max(sim.scan.members.n[0], 1)
    g = max(g_obs, mean_rate * sim.hosts.totals[N_SUS] / par.space)
    return int(max(1, min(par.kmax, math.ceil(blen * g / par.eps))))


@njit
def run_bin(sim: Sim, t: float, t_end: float, g_obs: float, output: Output,
            rng: np.random.Generator) -> tuple[float, float]:
    """Steps from ``t`` to ``t_end``; returns the end time and the last step's growth rate."""
    blen = t_end - t
    ksub = substeps(sim, blen, g_obs)
    dt = blen / ksub
    sim.scratch.bins[:] = 0.0
    sim.scratch.bin_tel[:] = 0.0
    for sub in range(ksub):
        t0 = t
        t1 = t + dt
        if sub == ksub - 1:
            t1 = t_end
        dt = t1 - t0
        n_new = advance(sim, t0, t1, rng)
        for k in range(3):
            if output.thr_t[k] < 0.0 and sim.hosts.totals[N_EVER] >= output.thr[k]:
                output.thr_t[k] = t1
        g_obs = n_new / (dt * max(sim.scan.members.n[0], 1))
        t = t1
    return t, g_obs


@njit
def record_bin(sim: Sim, table: F64, b: int, t_end: float) -> None:
    """Row ``b`` of the output table: the state at ``t_end`` and the bin's sums."""
    totals, bins = sim.hosts.totals, sim.scratch.bins
    table[b, C_T] = t_end
    table[b, C_S] = totals[N_SUS]
    table[b, C_I] = sim.hosts.infected.n[0]
    table[b, C_R] = totals[N_REMOVED]
    table[b, C_NEW] = bins[B_NEW]
    table[b, C_PROBES] = bins[B_PROBES]
    table[b, C_EVER] = totals[N_EVER]
    table[b, C_FLOOD] = bins[B_FLOOD]
    table[b, C_SCAN] = sim.scan.members.n[0]
    for k in range(sim.tel.unique.shape[0]):
        table[b, N_BASE_COLS + 2 * k] = sim.scratch.bin_tel[k]
        table[b, N_BASE_COLS + 2 * k + 1] = sim.tel.unique[k]


@njit
def run(pf: F64, pi: I64, world: World, order: Order, timeline: Timeline, pools: Pools,
        output: Output, rng: np.random.Generator) -> None:
    """Run one outbreak and fill ``output``.

    Inputs, prepared by :func:`wormsign.sim.engine.simulate_stochastic`: parameters (``pf``,
    ``pi``, indexed by the codes in :mod:`wormsign.sim.codes`) and the records of
    :mod:`wormsign.sim.state` (the hosts' layout, the initial hosts and target orders, rate
    schedules and calendar, the pools of susceptible hosts).
    """
    sim = new_sim(make_params(pf, pi), world, order, timeline, pools)
    infect_initial(sim, rng)
    for k in range(3):
        if sim.hosts.totals[N_EVER] >= output.thr[k]:
            output.thr_t[k] = 0.0
    par = sim.params
    t = 0.0
    g_obs = 0.0
    for b in range(output.table.shape[0]):
        t_end = min((b + 1) * par.step, par.duration)
        t, g_obs = run_bin(sim, t, t_end, g_obs, output, rng)
        if par.strategy == SEQ and sim.world.qtel.shape[0] > 0:
            walker_telescopes(sim)
        record_bin(sim, output.table, b, t_end)


def run_kernel(*arrays: Any) -> None:
    """The positional form :mod:`wormsign.sim.engine` calls: ``pf, pi, g1, g2, side, rate,
    seq_sorted, seq_order, seq_own, seq_bucket, qtel, tel_lo, tel_hi, init_ids, hl_hosts``,
    the three pools' ``mem, pos, start, cnt`` (by side, own prefix 1, own prefix 2),
    ``sched_t, sched_v, sched_n, cal_t, cal_ph, allow, out, thr, thr_t, rng``.

    It names them once and calls :func:`run`; new callers build the records and call
    :func:`run` directly.
    """
    (pf, pi, g1, g2, side, rate, seq_sorted, seq_order, seq_own, seq_bucket, qtel, tel_lo,
     tel_hi, init_ids, hl_hosts, *pool_arrays, st, sv, sn, cal_t, cal_ph, allow, out, thr,
     thr_t, rng) = arrays
    if len(pool_arrays) != 12:
        raise TypeError(f"run_kernel takes 37 arrays, not {len(arrays)}")
    pools = Pools(Pool(*pool_arrays[0:4]), Pool(*pool_arrays[4:8]), Pool(*pool_arrays[8:12]),
                  np.asarray(g1 * 2 + side, dtype=np.int64),
                  np.asarray(g2 * 2 + side, dtype=np.int64))
    run(pf, pi, World(g1, g2, side, rate, qtel, tel_lo, tel_hi, allow),
        Order(init_ids, seq_sorted, seq_order, seq_own, seq_bucket, hl_hosts),
        Timeline(st, sv, sn, cal_t, cal_ph), pools, Output(out, thr, thr_t), rng)
