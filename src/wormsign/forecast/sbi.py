"""Simulation-based inference: fit the exact simulator to what one monitor saw.

For strategies with no closed form (local preference, hit lists, removal, defences) the
likelihood of the observations is out of reach, but the simulator (:mod:`wormsign.sim`) can
produce outbreaks seen through the same monitor. :func:`fit` runs Approximate Bayesian
Computation by population Monte Carlo (ABC-SMC; Beaumont, Cornuet, Marin, Robert 2009):

1. draw parameters from the prior (scan rate lognormal around the preset's, vulnerable
   population log-uniform around it, a small initial count, a removal rate when the preset
   removes hosts), simulate each with the monitor's block as a telescope;
2. per run, profile the unknown offset between the simulation's start and the observations'
   time base: the shift (on the run's output grid) that makes the simulated cumulative
   distinct sources (and probes per interval, when counted) closest to the observed ones, on a
   log1p scale; that smallest distance is the run's distance;
3. keep the closest runs, perturb them (a Gaussian kernel in log-parameter space, twice their
   weighted covariance) for the next generation, and weight every run by prior / proposal
   (the deterministic-mixture weights over all generations);
4. accept every run within an adaptive tolerance (the smallest that leaves enough effective
   runs) and read the forecast from the accepted runs: parameters, ``infected_now``, ``t50``,
   ``t90``, ``peak_time``, ``final_size``, ``peak_new_per_min`` and curve bands, as weighted
   5/50/95 % quantiles.

Runs are spread over local processes (``workers``) or a Dask cluster (``scheduler``). Every
random draw comes from ``seed`` in the calling process and run ``i`` always uses the ``i``-th
child seed, so the same seed gives the same forecast however the runs are spread.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from wormsign.errors import ConfigError
from wormsign.forecast.observations import Observations
from wormsign.forecast.result import Curve, Forecast, Interval
from wormsign.sim.scenario import LIMITS, MAX_HOURS, Scenario, check_runs

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
METHOD = "simulation"
MIN_SOURCES = 10
"""Fewer distinct sources than this (or fewer than :data:`MIN_ACTIVE` intervals with any)
is not enough evidence to fit anything."""
MIN_ACTIVE = 3
MAX_DISTANCE = 1.0
"""If no run comes closer than this (root mean square of log1p differences, about a factor
e at every point), no simulated outbreak resembles the observations."""
MAX_SPREAD = 100.0
"""Accepted runs whose infected_now p95 / p5 exceeds this disagree too much to report."""
CURVE_POINTS = 200
MAX_POINTS = 300
"""Longer series are compared at this many interval ends (neighbours merged)."""
REFINE = 24
"""The best shift on the output grid is refined to 1/12 of a step between its neighbours."""
SCAN_SIGMA = 1.0
"""Prior spread of log(scan rate) around the preset's."""
VULN_FACTOR = 2.0
"""The vulnerable population is log-uniform within the preset's / and x this factor."""
REMOVAL_FACTOR = 5.0
DEFAULT_REMOVAL_PER_HOUR = 0.05
MIN_EFFECTIVE = 12
"""The tolerance is the smallest that keeps at least this many effective runs (or a tenth
of the runs, if more)."""
ACCEPT_QUANTILE = 0.3
"""The share of each generation that seeds the next."""


class PriorLike(Protocol):
    """What :func:`fit` reads from a prior (``wormsign.forecast.priors.Prior``)."""

    @property
    def preset(self) -> str | None: ...
    @property
    def strategy(self) -> str: ...
    @property
    def scan_rate(self) -> float: ...
    @property
    def vulnerable(self) -> int: ...
    @property
    def initial(self) -> int: ...
    @property
    def removal(self) -> bool: ...
    @property
    def scan_rate_given(self) -> bool: ...
    @property
    def vulnerable_given(self) -> bool: ...
    @property
    def sources(self) -> tuple[str, ...]: ...


# ---------------------------------------------------------------------------- records
@dataclass(frozen=True, eq=False)
class Target:
    """What every run is compared with, relative to the end of the evidence (``now``):
    ``ends_back`` and ``starts_back`` (seconds before now of each interval's end and start),
    the observed cumulative distinct sources at each interval end and probes per interval
    (None when not counted), and the curve grid (seconds before/after now)."""

    ends_back: F64
    starts_back: F64
    sources: F64 | None
    probes: F64 | None
    grid: F64
    horizon_s: float


@dataclass(frozen=True)
class Draw:
    """One run's parameters and seed."""

    index: int
    seed: int
    scan_rate: float
    vulnerable: int
    initial: int
    removal_per_hour: float | None


ESTIMATES = ("infected_now", "t50", "t90", "peak_time", "final_size", "peak_new_per_min")


@dataclass(frozen=True, eq=False)
class Run:
    """One run scored against the target: its distance, ``now`` in simulation time (the
    profiled offset), the estimates (times relative to now; inf when not reached), the
    growth rate and the curves on the target grid (infected, seen, probe rate)."""

    index: int
    distance: float
    now_sim: float
    values: dict[str, float]
    growth_per_hour: float
    curves: F64


# ---------------------------------------------------------------------------- one run
def _scenario(template: Scenario, d: Draw) -> Scenario:
    kw: dict[str, Any] = {"scan_rate": d.scan_rate, "vulnerable": d.vulnerable,
                          "initial": min(d.initial, d.vulnerable)}
    if d.removal_per_hour is not None:
        kw["removal_rate"] = ((0.0, d.removal_per_hour),)
    return dataclasses.replace(template, **kw)


def _interp(x: F64, t: F64, y: F64) -> F64:
    """``y`` (values at step ends ``t``, 0 at time 0) at times ``x``: 0 before the start,
    the last value after the end."""
    return np.interp(x, np.concatenate(([0.0], t)), np.concatenate(([0.0], y)))


def profile_shift(t: F64, seen: F64, probes: F64, target: Target) -> tuple[float, float]:
    """(smallest distance, ``now`` in simulation time) over every shift on the output grid
    that leaves the horizon inside the run, refined between the best one's neighbours.

    ``seen`` is the cumulative distinct sources at each step end ``t``; ``probes`` the
    monitor's probes per step. The distance is the root mean square of log1p differences of
    cumulative sources at the interval ends and of probes per interval, each averaged over
    its intervals, the two averaged when both were observed.
    """
    # now + horizon must stay inside the run, or its forecast would be cut short
    last = max(1, int(np.searchsorted(t, t[-1] - target.horizon_s, side="right")))
    dist = _distances(t, seen, probes, target, t[:last])
    j = int(np.argmin(dist))
    # refine between the neighbouring grid points (the observations may be finer)
    lo = float(t[j - 1]) if j > 0 else 0.0
    hi = float(t[min(j + 1, last - 1)])
    fine = np.linspace(lo, hi, REFINE + 1)
    fdist = _distances(t, seen, probes, target, fine)
    k = int(np.argmin(fdist))
    if fdist[k] < dist[j]:
        return float(fdist[k]), float(fine[k])
    return float(dist[j]), float(t[j])


def _distances(t: F64, seen: F64, probes: F64, target: Target, nows: F64) -> F64:
    """The distance for each candidate ``now`` (in simulation time)."""
    now = nows[:, None]
    parts = []
    if target.sources is not None:
        sim = _interp((now - target.ends_back[None, :]).ravel(), t, seen).reshape(
            now.size, -1)
        parts.append(np.mean((np.log1p(sim) - np.log1p(target.sources)) ** 2, axis=1))
    if target.probes is not None:
        cum = np.cumsum(probes)
        hi = _interp((now - target.ends_back[None, :]).ravel(), t, cum)
        lo = _interp((now - target.starts_back[None, :]).ravel(), t, cum)
        sim = (hi - lo).reshape(now.size, -1)
        parts.append(np.mean((np.log1p(sim) - np.log1p(target.probes)) ** 2, axis=1))
    return np.asarray(np.sqrt(np.mean(np.vstack(parts), axis=0)), dtype=np.float64)


def _within(dt: float, horizon_s: float) -> float:
    """A time relative to now, +inf when not reached by now + horizon."""
    return dt if math.isfinite(dt) and dt <= horizon_s else math.inf


def _values(res: Any, now_sim: float, horizon_s: float) -> tuple[dict[str, float], float]:
    """A run's estimates (times relative to now, +inf when not reached within the horizon;
    ``final_size`` at now + horizon; ``peak_new_per_min`` the run's peak) and growth/hour."""
    t10, t50, t90 = res.threshold_times
    peak, peak_t = res.peak()
    end = float(res.t[-1])
    at_end = min(now_sim + horizon_s, end)
    vals = {
        "infected_now": float(_interp(np.array([now_sim]), res.t, res.ever_infected)[0]),
        "t50": _within(t50 - now_sim, horizon_s),
        "t90": _within(t90 - now_sim, horizon_s),
        "peak_time": _within(peak_t - now_sim, horizon_s),
        "final_size": float(_interp(np.array([at_end]), res.t, res.ever_infected)[0]),
        "peak_new_per_min": float(peak),
    }
    growth = math.log(9.0) / (t50 - t10) * 3600.0 if t50 > t10 else math.nan
    return vals, growth


def run_one(template: Scenario, target: Target, d: Draw, block: str) -> Run:
    """Simulate one draw and score it (a draw the limits refuse scores +inf)."""
    from wormsign.sim.engine import simulate

    try:
        sc = _scenario(template, d)
    except ConfigError:
        return Run(d.index, math.inf, math.nan, {}, math.nan, np.zeros((3, 0)))
    res = simulate(sc, d.seed)
    probes, seen = res.telescopes[block]
    dist, now_sim = profile_shift(res.t, seen, probes, target)
    vals, growth = _values(res, now_sim, target.horizon_s)
    x = now_sim + target.grid
    rate = res.probe_rate_per_address()
    curves = np.vstack([_interp(x, res.t, res.ever_infected), _interp(x, res.t, seen),
                        np.interp(x, res.t, rate, left=0.0)])
    return Run(d.index, dist, now_sim, vals, growth, curves)


def run_chunk(template: Scenario, target: Target, draws: Sequence[Draw],
              block: str) -> list[Run]:
    """Score several draws (one task for a worker process or a Dask worker)."""
    return [run_one(template, target, d, block) for d in draws]


# ---------------------------------------------------------------------------- the prior
@dataclass(frozen=True)
class Space:
    """The sampled parameters in log space: names, prior bounds (uniform dims) or the
    lognormal centre (scan rate), and the fixed values of the others."""

    names: tuple[str, ...]
    lo: F64
    hi: F64
    normal: tuple[bool, ...]
    centre: F64
    fixed: dict[str, float]

    def log_prior(self, x: F64) -> F64:
        """Log prior density (normalised, truncation aside) of rows ``x``; -inf outside
        the support."""
        out = np.zeros(x.shape[0])
        for k, is_normal in enumerate(self.normal):
            if is_normal:
                z = (x[:, k] - self.centre[k]) / SCAN_SIGMA
                out -= 0.5 * z * z + math.log(SCAN_SIGMA * math.sqrt(2.0 * math.pi))
            else:
                out -= math.log(max(self.hi[k] - self.lo[k], 1e-12))
            inside = (x[:, k] >= self.lo[k]) & (x[:, k] <= self.hi[k])
            out[~inside] = -np.inf
        return out

    def sample(self, rng: np.random.Generator, n: int) -> F64:
        cols = []
        for k, is_normal in enumerate(self.normal):
            if is_normal:
                cols.append(np.clip(rng.normal(self.centre[k], SCAN_SIGMA, n),
                                    self.lo[k], self.hi[k]))
            else:
                cols.append(rng.uniform(self.lo[k], self.hi[k], n))
        return np.column_stack(cols) if cols else np.zeros((n, 0))


def make_space(prior: PriorLike, template: Scenario, sources: int) -> Space:
    """The prior over what is not given (see the module docstring)."""
    names: list[str] = []
    lo: list[float] = []
    hi: list[float] = []
    normal: list[bool] = []
    fixed: dict[str, float] = {}
    rate0 = float(prior.scan_rate) if prior.scan_rate else template.scan_rate
    if prior.scan_rate_given:
        fixed["scan_rate"] = rate0
    else:
        names.append("scan_rate")
        lo.append(math.log(rate0) - 4 * SCAN_SIGMA)
        hi.append(min(math.log(rate0) + 4 * SCAN_SIGMA, math.log(1e6)))
        normal.append(True)
    n0 = int(prior.vulnerable) if prior.vulnerable else template.vulnerable
    n_max = min(1_000_000, (template.space - template.excluded_size()) // 2)
    if prior.vulnerable_given:
        fixed["vulnerable"] = float(min(max(n0, 1), n_max))
    else:
        n_lo = max(n0 / VULN_FACTOR, 1.2 * sources, 2.0)
        n_hi = max(min(n0 * VULN_FACTOR, n_max), min(n_lo * VULN_FACTOR, n_max))
        names.append("vulnerable")
        lo.append(math.log(min(n_lo, n_hi)))
        hi.append(math.log(n_hi))
        normal.append(False)
    i0 = max(1, int(prior.initial) if prior.initial else template.initial)
    names.append("initial")
    lo.append(0.0)
    hi.append(math.log(max(2.0, 3.0 * i0)))
    normal.append(False)
    r0 = _mean_removal(template)
    if prior.removal or r0 > 0:
        r0 = r0 if r0 > 0 else DEFAULT_REMOVAL_PER_HOUR
        names.append("removal_per_hour")
        lo.append(math.log(r0 / REMOVAL_FACTOR))
        hi.append(math.log(min(r0 * REMOVAL_FACTOR, 3600.0)))
        normal.append(False)
    centre = np.array([math.log(rate0) if n == "scan_rate" else 0.0 for n in names])
    return Space(tuple(names), np.array(lo), np.array(hi), tuple(normal), centre, fixed)


def _mean_removal(sc: Scenario) -> float:
    """The preset's removal rate per hour (time-weighted over its schedule), 0 when none."""
    if not sc.removal_rate:
        return 0.0
    hours = [h for h, _ in sc.removal_rate] + [max(sc.hours, sc.removal_rate[-1][0])]
    span = hours[-1] - hours[0]
    if span <= 0:
        return float(sc.removal_rate[-1][1])
    return float(sum(r * (hours[i + 1] - hours[i])
                     for i, (_, r) in enumerate(sc.removal_rate)) / span)


def to_draws(space: Space, x: F64, seeds: Sequence[int], first: int) -> list[Draw]:
    """Rows of log parameters as :class:`Draw` records (indices from ``first``)."""
    out = []
    for i, row in enumerate(x):
        v = dict(space.fixed)
        v.update({n: math.exp(float(row[k])) for k, n in enumerate(space.names)})
        vuln = max(1, round(v["vulnerable"]))
        out.append(Draw(first + i, seeds[first + i], float(v["scan_rate"]), vuln,
                        max(1, min(round(v["initial"]), vuln)), v.get("removal_per_hour")))
    return out


# ---------------------------------------------------------------------------- ABC-SMC
@dataclass(frozen=True, eq=False)
class Proposal:
    """One generation's proposal: the prior (``parents`` None) or a Gaussian mixture around
    weighted parents with covariance ``cov``; ``size`` runs were drawn from it."""

    size: int
    parents: F64 | None = None
    weights: F64 | None = None
    cov: F64 | None = None

    def log_density(self, space: Space, x: F64) -> F64:
        if self.parents is None or self.weights is None or self.cov is None:
            return space.log_prior(x)
        d = x.shape[1]
        chol = np.linalg.cholesky(self.cov)
        diff = x[:, None, :] - self.parents[None, :, :]
        z = np.linalg.solve(chol, diff.reshape(-1, d).T).T.reshape(diff.shape)
        log_k = (-0.5 * np.sum(z * z, axis=2) - np.sum(np.log(np.diag(chol)))
                 - 0.5 * d * math.log(2.0 * math.pi))
        return np.asarray(_logsumexp(log_k + np.log(self.weights)[None, :]), dtype=np.float64)


def _logsumexp(a: F64) -> F64:
    from scipy.special import logsumexp

    return np.asarray(logsumexp(a, axis=1), dtype=np.float64)


def generation_sizes(runs: int) -> list[int]:
    """Runs per generation: one rejection round for few runs, else half then two quarters."""
    if runs < 40:
        return [runs]
    later = runs // 4
    return [runs - 2 * later, later, later]


def importance_weights(space: Space, x: F64, props: Sequence[Proposal]) -> F64:
    """Prior / proposal of every run, the proposal being the mixture of all generations'
    (deterministic-mixture weights), normalised to sum 1 over finite values."""
    total = sum(p.size for p in props)
    logq = np.vstack([p.log_density(space, x) + math.log(p.size / total) for p in props])
    from scipy.special import logsumexp

    logw = space.log_prior(x) - logsumexp(logq, axis=0)
    logw[~np.isfinite(logw)] = -np.inf
    if not np.any(np.isfinite(logw)):
        return np.full(x.shape[0], 1.0 / max(1, x.shape[0]))
    w = np.exp(logw - np.max(logw))
    return np.asarray(w / np.sum(w), dtype=np.float64)


def next_proposal(space: Space, x: F64, dist: F64, w: F64, size: int) -> Proposal:
    """The closest :data:`ACCEPT_QUANTILE` of the runs so far, with their weights, and twice
    their weighted covariance as the kernel (Beaumont et al. 2009)."""
    finite = np.flatnonzero(np.isfinite(dist))
    keep = max(2, math.ceil(ACCEPT_QUANTILE * finite.size))
    best = finite[np.argsort(dist[finite], kind="stable")[:keep]]
    pw = w[best] + 1e-300
    pw = pw / pw.sum()
    mean = pw @ x[best]
    diff = x[best] - mean
    cov = 2.0 * (diff.T * pw) @ diff
    floor = np.diag(((space.hi - space.lo) * 0.02) ** 2 + 1e-6)
    return Proposal(size, x[best], pw, cov + floor)


def propose(space: Space, prop: Proposal, rng: np.random.Generator) -> F64:
    """``prop.size`` draws from the mixture, redrawn (then clipped) until inside the prior's
    support."""
    assert prop.parents is not None and prop.weights is not None and prop.cov is not None
    out = np.empty((prop.size, prop.parents.shape[1]))
    for i in range(prop.size):
        for _ in range(20):
            j = rng.choice(prop.parents.shape[0], p=prop.weights)
            cand = rng.multivariate_normal(prop.parents[j], prop.cov)
            if np.all(cand >= space.lo) and np.all(cand <= space.hi):
                break
        out[i] = np.clip(cand, space.lo, space.hi)
    return out


Runner = Callable[[list[Draw]], list[Run]]


def smc(space: Space, runner: Runner, runs: int, seed: int) -> tuple[F64, list[Run], F64]:
    """All generations: (log parameters, scored runs, importance weights), in run order."""
    from wormsign.sim.montecarlo import run_seeds

    seeds = run_seeds(seed, runs)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    props: list[Proposal] = []
    xs = np.zeros((0, len(space.names)))
    results: list[Run] = []
    w = np.zeros(0)
    for size in generation_sizes(runs):
        if not props:
            prop, x = Proposal(size), space.sample(rng, size)
        else:
            dist = np.array([r.distance for r in results])
            prop = next_proposal(space, xs, dist, w, size)
            x = propose(space, prop, rng)
        props.append(prop)
        results.extend(runner(to_draws(space, x, seeds, xs.shape[0])))
        xs = np.vstack([xs, x])
        w = importance_weights(space, xs, props)
    return xs, results, w


def accept(dist: F64, w: F64, runs: int) -> tuple[I64, float]:
    """Indices within the adaptive tolerance (the smallest distance that keeps
    ``max(MIN_EFFECTIVE, runs / 10)`` effective runs) and that tolerance."""
    finite = np.flatnonzero(np.isfinite(dist) & (w > 0))
    if finite.size == 0:
        return np.zeros(0, dtype=np.int64), math.inf
    order = finite[np.argsort(dist[finite], kind="stable")]
    cw = np.cumsum(w[order])
    cw2 = np.cumsum(w[order] ** 2)
    ess = cw * cw / np.maximum(cw2, 1e-300)
    need = min(max(MIN_EFFECTIVE, runs / 10.0), float(ess[-1]))
    k = int(np.flatnonzero(ess >= need - 1e-9)[0]) + 1
    return order[:k].astype(np.int64), float(dist[order[k - 1]])


# ---------------------------------------------------------------------------- executors
CHUNK = 2
def _chunks(draws: list[Draw], n: int) -> list[list[Draw]]:
    """At least ``n`` tasks of about :data:`CHUNK` runs (small tasks keep every worker busy
    to the end of a generation)."""
    n = max(1, min(len(draws), max(n, math.ceil(len(draws) / CHUNK))))
    return [draws[i::n] for i in range(n)]


def _ordered(parts: Sequence[list[Run]]) -> list[Run]:
    return sorted((r for p in parts for r in p), key=lambda r: r.index)


def _with_runner(template: Scenario, target: Target, block: str, workers: int | None,
                 scheduler: str | None, body: Callable[[Runner], Any]) -> Any:
    """Call ``body`` with a runner on the Dask cluster, local processes or this process."""
    if scheduler:
        from wormsign.cluster import dask_client

        client: Any = dask_client(scheduler)
        try:
            n = max(1, sum(client.nthreads().values()))

            def on_dask(draws: list[Draw]) -> list[Run]:
                futs = [client.submit(run_chunk, template, target, c, block, pure=False)
                        for c in _chunks(draws, n)]
                return _ordered(client.gather(futs))

            return body(on_dask)
        finally:
            client.close()
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers <= 1:
        return body(lambda draws: run_chunk(template, target, draws, block))
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:

        def on_pool(draws: list[Draw]) -> list[Run]:
            futs = [pool.submit(run_chunk, template, target, c, block)
                    for c in _chunks(draws, n_workers)]
            return _ordered([f.result() for f in futs])

        return body(on_pool)


# ---------------------------------------------------------------------------- set-up
def monitor_block(obs: Observations, template: Scenario) -> tuple[str, str | None]:
    """The one telescope block standing for the monitor, and a note when it is not simply
    the monitor's own block: several blocks become one block of their total size (rounded
    down to a power of two) around the first; a monitor without blocks is placed in the most
    populated /8 of the scenario's density."""
    mon = obs.monitor
    prefix = 32 - min(32, math.floor(math.log2(mon.size)))
    if len(mon.blocks) == 1:
        return str(ipaddress.IPv4Network(mon.blocks[0], strict=False)), None
    if mon.blocks:
        first = ipaddress.IPv4Network(mon.blocks[0], strict=False)
        net = ipaddress.IPv4Network((int(first.network_address), prefix), strict=False)
        return str(net), (f"the monitor's {len(mon.blocks)} blocks are simulated as one block "
                          f"of its size, {net}")
    top = _populated_slash8(template)
    net = ipaddress.IPv4Network((top << 24, prefix), strict=False)
    return str(net), (f"the monitor's addresses are unknown: simulated as {net} (its size, in "
                      "a populated /8); with local preference where it sits matters")


def _populated_slash8(sc: Scenario) -> int:
    if sc.placement == "clustered":
        from wormsign.sim.population import load_density

        shares = load_density(sc.density).slash8
        for s8, _share in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])):
            if not any(sc.block(c)[0] <= sc.block(f"{s8}.0.0.0/8")[0] < sc.block(c)[1]
                       for c in sc.exclude):
                return s8
    return 44


def make_target(obs: Observations, horizon_s: float) -> Target:
    """The observations relative to their end, and the curve grid up to now + horizon."""
    end = obs.end
    edges = np.asarray(obs.edges, dtype=np.float64)
    # at most MAX_POINTS intervals: merge neighbours (cumulative counts stay exact)
    keep = np.unique(np.linspace(0, edges.size - 1, min(edges.size, MAX_POINTS + 1))
                     .round().astype(np.int64))
    src = None
    if obs.new_sources is not None:
        cum = np.concatenate(([0.0], np.cumsum(np.asarray(obs.new_sources, dtype=np.float64))))
        src = cum[keep][1:]
    probes = None
    if obs.probes is not None:
        cum_p = np.concatenate(([0.0], np.cumsum(np.asarray(obs.probes, dtype=np.float64))))
        probes = np.diff(cum_p[keep])
    edges = edges[keep]
    grid = np.linspace(float(edges[0]) - end, horizon_s, CURVE_POINTS)
    return Target(end - edges[1:], end - edges[:-1], src, probes, grid, horizon_s)


NICE_STEPS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Output steps: the largest no longer than the typical observation interval (a finer step
costs a run more and gains little, since the shift is refined between steps anyway)."""
MAX_ROWS = 4000


LEAD_S = 12 * 3600.0
MAX_GROWTH_PER_STEP = 0.1
"""A fixed internal step (cheaper than the adaptive one) is used when the observations grow
by at most this much per output step."""


def observed_growth(obs: Observations) -> float:
    """Rough growth rate (per second) of the cumulative counts over their last eighth-fold
    rise (NaN when there is too little to tell)."""
    counts = obs.new_sources if obs.new_sources is not None else obs.probes
    assert counts is not None
    cum = np.cumsum(np.asarray(counts, dtype=np.float64))
    if cum[-1] <= 0:
        return math.nan
    i = int(np.searchsorted(cum, max(cum[-1] / 8.0, 1.0)))
    span = float(obs.edges[-1] - obs.edges[i + 1])
    return math.log(cum[-1] / cum[i]) / span if span > 0 and cum[i] > 0 else math.nan


def run_template(base: Scenario, obs: Observations, block: str,
                 horizon_s: float) -> Scenario:
    """``base`` watched through ``block``, long enough for a lead-up (half the base's own
    duration, at most :data:`LEAD_S` or four times the evidence's span), the evidence and
    the horizon, on a coarse output grid (a step no longer than the typical observation
    interval where the row limit allows), with that step as a fixed internal step too when
    the observed growth per step is small."""
    span = obs.end - float(obs.edges[0])
    lead = min(base.duration_s / 2.0, max(LEAD_S, 4.0 * span))
    hours = min((lead + span + horizon_s) / 3600.0, MAX_HOURS)
    typical = max(NICE_STEPS[0], float(np.median(np.diff(obs.edges))))
    fits = [s for s in NICE_STEPS if hours * 3600.0 / s <= MAX_ROWS] or [NICE_STEPS[-1]]
    fine = [s for s in fits if s <= typical]
    step = fine[-1] if fine else fits[0]
    dt = base.dt_s
    growth = observed_growth(obs)
    if dt is None and math.isfinite(growth) and growth * step <= MAX_GROWTH_PER_STEP:
        dt = step
    return dataclasses.replace(base, telescopes=(block,), hours=hours, step_s=step, dt_s=dt)


def evidence_problem(obs: Observations) -> str | None:
    """Why the observations cannot support a fit, or None."""
    counts = obs.new_sources if obs.new_sources is not None else obs.probes
    assert counts is not None
    active = int(np.count_nonzero(np.asarray(counts) > 0))
    if obs.new_sources is not None and obs.sources_total < MIN_SOURCES:
        return (f"only {obs.sources_total} distinct sources seen; a simulation-based fit "
                f"needs at least {MIN_SOURCES}")
    if obs.new_sources is None and obs.probes_total < MIN_SOURCES:
        return f"only {obs.probes_total} probes seen; at least {MIN_SOURCES} are needed"
    if active < MIN_ACTIVE:
        return (f"counts in only {active} interval(s); growth needs at least {MIN_ACTIVE} "
                "intervals with sightings")
    return None


# ---------------------------------------------------------------------------- the forecast
def weighted_quantiles(x: F64, w: F64, qs: Sequence[float] = (0.05, 0.5, 0.95)) -> F64:
    """Quantiles of ``x`` (inf allowed: not reached) under weights ``w`` (inverse of the
    weighted empirical distribution function)."""
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    cw = cw / cw[-1]
    idx = np.minimum(np.searchsorted(cw, np.asarray(qs) - 1e-12), order.size - 1)
    return np.asarray(x[order][idx], dtype=np.float64)


def _interval(x: F64, w: F64, shift: float = 0.0) -> Interval:
    ok = ~np.isnan(x)
    if not np.any(ok):
        return Interval(math.nan, math.nan, math.nan)
    p5, p50, p95 = (float(v) + shift if math.isfinite(v) else math.nan
                    for v in weighted_quantiles(x[ok], w[ok]))
    return Interval(p50, p5, p95)


def _curve(runs: Sequence[Run], w: F64, target: Target, end: float) -> Curve:
    stack = np.stack([r.curves for r in runs])  # runs x 3 x points
    bands = []
    for k in range(3):
        cols = stack[:, k, :]
        q = np.array([weighted_quantiles(cols[:, j], w) for j in range(cols.shape[1])]).T
        bands.append((q[0], q[1], q[2]))
    return Curve(t=target.grid + end, infected=bands[0], seen=bands[1], probe_rate=bands[2])


def _identified(space: Space, x: F64, w: F64) -> list[str]:
    """Per sampled parameter: how far the observations narrowed the prior."""
    notes = []
    for k, name in enumerate(space.names):
        prior_w = (2 * 1.645 * SCAN_SIGMA if space.normal[k]
                   else 0.9 * float(space.hi[k] - space.lo[k]))
        if prior_w <= 1e-9:
            continue
        p5, _, p95 = weighted_quantiles(x[:, k], w)
        ratio = float(p95 - p5) / max(prior_w, 1e-12)
        if ratio > 0.6:
            notes.append(f"{name}: not identified by these observations (its interval is "
                         f"{ratio:.0%} of the prior's width: mostly the prior)")
        else:
            notes.append(f"{name}: the observations narrowed it to {ratio:.0%} of the "
                         "prior's width")
    return notes


@dataclass(frozen=True, eq=False)
class Fitted:
    """What the ABC produced: the space, every run's log parameters, runs and weights."""

    space: Space
    x: F64
    runs: list[Run]
    w: F64


def assemble(obs: Observations, fitted: Fitted, target: Target, total: int,
             notes: list[str], prior: PriorLike, seed: int) -> Forecast:
    """The forecast from the accepted runs (or not-enough-evidence with the reason)."""
    dist = np.array([r.distance for r in fitted.runs])
    idx, tol = accept(dist, fitted.w, total)
    base: dict[str, Any] = {"observations": obs, "method": METHOD,
                            "preset": prior.preset, "seed": seed}
    if idx.size == 0 or not math.isfinite(tol) or float(np.min(dist[idx])) > MAX_DISTANCE:
        best = float(np.min(dist)) if np.any(np.isfinite(dist)) else math.inf
        return Forecast(status="not-enough-evidence", notes=tuple(notes), **base,
                        reason=f"no simulated outbreak resembles the observations (closest "
                               f"distance {best:.2f}, at most {MAX_DISTANCE} needed)")
    runs = [fitted.runs[i] for i in idx]
    w = fitted.w[idx] / np.sum(fitted.w[idx])
    end = obs.end
    est = {k: _interval(np.array([r.values[k] for r in runs]), w,
                        end if k in ("t50", "t90", "peak_time") else 0.0) for k in ESTIMATES}
    now = est["infected_now"]
    if not (now.p5 > 0 and now.p95 / now.p5 <= MAX_SPREAD):
        return Forecast(status="not-enough-evidence", notes=tuple(notes), **base,
                        reason=f"the accepted runs disagree too much (infected now between "
                               f"{now.p5:.3g} and {now.p95:.3g})")
    params = {n: _interval(np.exp(fitted.x[idx, k]), w) for k, n in enumerate(fitted.space.names)}
    for n, v in fitted.space.fixed.items():
        params[n] = Interval(v, v, v)
        notes.append(f"{n}: given ({v:g}), not fitted")
    params["growth_per_hour"] = _interval(np.array([r.growth_per_hour for r in runs]), w)
    ess = 1.0 / float(np.sum(w * w))
    notes.insert(0, f"ABC-SMC over the simulator: {total} runs in "
                    f"{len(generation_sizes(total))} generation(s), {idx.size} accepted "
                    f"(effective {ess:.0f}) within distance {tol:.3f}")
    ident = _identified(fitted.space, fitted.x[idx], w)
    notes.extend(ident)
    if any(n.startswith("vulnerable: not identified") for n in ident):
        notes.append("from one monitor before saturation only scan rate x infected hosts "
                     "is well identified: final_size, t50 and t90 lean on the preset's "
                     "vulnerable population (give --vulnerable if known)")
    return Forecast(status="ok", params=params, estimates=est,
                    curve=_curve(runs, w, target, end), notes=tuple(notes), **base)


def default_horizon(obs: Observations, template: Scenario) -> float:
    """A day (or the scenario's own duration when shorter), at least twice the evidence's
    span and six hours."""
    span = obs.end - float(obs.edges[0])
    return max(min(template.duration_s, 24 * 3600.0), 2.0 * span, 6 * 3600.0)


def fit(obs: Observations, prior: PriorLike, *, horizon_s: float | None = None,
        runs: int = 150, seed: int = 1, workers: int | None = None,
        scheduler: str | None = None, scenario: Scenario | None = None) -> Forecast:
    """Fit the simulator to ``obs`` by ABC-SMC and forecast (see the module docstring).

    The template is ``scenario`` or the prior's preset, watched through the monitor's block;
    ``runs`` simulations in all, on ``workers`` local processes (all cores by default; 1
    runs here) or the Dask cluster at ``scheduler``. The same seed gives the same forecast.
    """
    check_runs(runs, workers, seed)
    if horizon_s is not None and not 0 < horizon_s <= MAX_HOURS * 3600.0:
        raise ConfigError(f"horizon must be within (0, {MAX_HOURS:g}] hours")
    base: dict[str, Any] = {"observations": obs, "method": METHOD, "preset": prior.preset,
                            "seed": seed}
    problem = evidence_problem(obs)
    if problem:
        return Forecast(status="not-enough-evidence", reason=problem, **base)
    if scenario is None:
        from wormsign.sim.presets import load_preset

        if not prior.preset:
            raise ConfigError("a simulation-based fit needs a preset or a scenario")
        scenario = load_preset(prior.preset)
    horizon = horizon_s if horizon_s is not None else default_horizon(obs, scenario)
    block, block_note = monitor_block(obs, scenario)
    template = run_template(scenario, obs, block, horizon)
    space = make_space(prior, template, obs.sources_total)
    target = make_target(obs, horizon)
    notes = [f"simulated {template.strategy} spread ({scenario.name}), monitor as telescope "
             f"{block}, {template.hours:.3g} h per run at {template.output_step():g} s steps"
             f"{' (fixed)' if template.dt_s else ''}; "
             "each run's start is aligned to the observations by the shift that fits best"]
    if block_note:
        notes.append(block_note)

    def body(runner: Runner) -> Fitted:
        x, results, w = smc(space, runner, runs, seed)
        return Fitted(space, x, results, w)

    fitted = _with_runner(template, target, block, workers, scheduler, body)
    return assemble(obs, fitted, target, runs, notes, prior, seed)


def observe(res: Any, block: str, *, until_s: float, interval_s: float,
            monitor: Any = None, probes: bool = False) -> Observations:
    """What ``block`` saw of a simulated run up to ``until_s`` (seconds from its start), in
    intervals of ``interval_s``: new distinct sources (and probes) per interval, as
    :class:`Observations` with a seconds time base (for benchmarks, tests and demos)."""
    from wormsign.forecast.observations import Monitor, TimeBase

    p, seen = res.telescopes[block]
    edges = np.arange(0.0, until_s + 1e-9, interval_s)
    cum = _interp(edges, res.t, seen)
    cum_p = _interp(edges, res.t, np.cumsum(p))
    if monitor is None:
        net = ipaddress.IPv4Network(block, strict=False)
        monitor = Monitor(size=net.num_addresses, blocks=(str(net),), label=str(net))
    return Observations(monitor=monitor, timebase=TimeBase(), edges=edges,
                        new_sources=np.diff(np.round(cum)),
                        probes=np.diff(np.round(cum_p)) if probes else None,
                        now=float(edges[-1]))


__all__ = ["LIMITS", "PriorLike", "fit", "observe", "profile_shift", "weighted_quantiles"]
