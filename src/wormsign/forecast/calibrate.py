"""Fitting a simulator scenario to a published cumulative infection curve.

:func:`fit_scenario` adjusts chosen parameters of a :class:`~wormsign.sim.Scenario` so that the
median of a few seeded simulator runs follows a published curve of hosts ever infected (for
instance CAIDA's Code Red curve of 19 July 2001, packaged as ``code-red-2001-07-19``; see
:func:`wormsign.sim.curves.published_curve`). The objective is the mean squared log error
``mean((log(1 + sim) - log(1 + published))^2)`` over the curve's points, so that 5,000 hosts at
13:00 weigh as much as 300,000 at 20:00.

It runs in two stages:

1. a deterministic mean-field surrogate (susceptible, infected, removed; uniform scanning at
   the mean scan rate, with the scenario's patch, removal and reboot schedules), minimised
   with Nelder-Mead from the middle of the bounds, which finds the region cheaply;
2. the simulator itself, from the surrogate's optimum: the median over ``seeds`` runs, with
   the same seeds at every evaluation (common random numbers, so that two parameter sets are
   compared on the same luck), minimised with Nelder-Mead for at most ``evaluations`` steps.

Parameters that can be fitted (``params``):

* numeric scenario fields: ``initial``, ``vulnerable`` (rounded to whole hosts),
  ``scan_rate``, ``scan_rate_sigma`` (with ``scan_rate_dist: lognormal``),
  ``infection_delay_s``;
* ``offset_h``: hours after the curve's origin that the outbreak starts (the scenario's
  ``start`` moves by as much and its ``hours`` shrink, so that it ends at the same instant);
* ``SCHEDULE@HOUR`` for ``patch_rate``, ``removal_rate`` or ``reboot_rate``: the rate per hour
  from that hour of the run on (other points of the schedule are kept), e.g.
  ``removal_rate@0`` and ``removal_rate@7`` for a rate that changes seven hours in.

Every time here is seconds from the template scenario's start (its ``t = 0``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypedDict, Unpack

import numpy as np
import numpy.typing as npt

from wormsign.errors import ConfigError
from wormsign.sim.curves import PublishedCurve, published_curve
from wormsign.sim.scenario import Scenario

F64 = npt.NDArray[np.float64]
FIELDS = ("initial", "vulnerable", "scan_rate", "scan_rate_sigma", "infection_delay_s")
"""Scenario fields that :func:`fit_scenario` can fit directly."""
SCHEDULES = ("patch_rate", "removal_rate", "reboot_rate")
INT_PARAMS = frozenset({"initial", "vulnerable"})
__all__ = ["Calibration", "FitKw", "FitOptions", "PublishedCurve", "apply", "fit_scenario",
           "log_error", "mean_field", "published_curve", "simulated_median"]


@dataclass(frozen=True)
class Calibration:
    """The outcome of :func:`fit_scenario`.

    ``values`` holds the fitted parameters in the order asked; ``scenario`` is the template
    with them applied. ``fitted`` is the simulator's median (over ``seeds``) at ``times_s``,
    ``residuals_pct`` is ``100 (fitted / observed - 1)`` per point, ``objective`` the mean
    squared log error there; ``surrogate_objective`` is the mean-field model's at its own
    optimum (NaN when that stage was skipped). ``evaluations`` counts simulator evaluations
    (each ``len(seeds)`` runs).
    """

    scenario: Scenario
    values: tuple[tuple[str, float], ...]
    times_s: tuple[float, ...]
    observed: tuple[float, ...]
    fitted: tuple[float, ...]
    residuals_pct: tuple[float, ...]
    objective: float
    surrogate_objective: float
    seeds: tuple[int, ...]
    evaluations: int

    @property
    def params(self) -> dict[str, float]:
        """The fitted values by name."""
        return dict(self.values)

    @property
    def runs(self) -> int:
        """Simulator runs used in all."""
        return self.evaluations * len(self.seeds)


def _check_param(name: str) -> None:
    if name in FIELDS or name == "offset_h":
        return
    sched, _, hour = name.partition("@")
    if sched in SCHEDULES:
        try:
            if math.isfinite(float(hour)) and float(hour) >= 0:
                return
        except ValueError:
            pass
    raise ConfigError(f"cannot fit {name!r}: use one of {', '.join(FIELDS)}, offset_h or "
                      f"SCHEDULE@HOUR with SCHEDULE one of {', '.join(SCHEDULES)}")


def apply(template: Scenario, values: Mapping[str, float]) -> Scenario:
    """``template`` with the parameter ``values`` (named as for :func:`fit_scenario`) set."""
    changes: dict[str, object] = {}
    scheds = {s: dict(getattr(template, s)) for s in SCHEDULES}
    for name, value in values.items():
        _check_param(name)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, not {value}")
        if name in INT_PARAMS:
            changes[name] = max(1, round(value))
        elif name in FIELDS:
            changes[name] = float(value)
        elif name == "offset_h":
            start = template.start_datetime()
            if start is not None:
                changes["start"] = (start + timedelta(hours=value)).isoformat()
            changes["hours"] = template.hours - value
        else:
            sched, _, hour = name.partition("@")
            scheds[sched][float(hour)] = max(0.0, float(value))
    for sched, points in scheds.items():
        if points != dict(getattr(template, sched)):
            changes[sched] = tuple(sorted((h, r) for h, r in points.items()))
    return dataclasses.replace(template, **changes)  # type: ignore[arg-type]


def _offset_s(values: Mapping[str, float]) -> float:
    return float(values.get("offset_h", 0.0)) * 3600.0


def _schedule_at(sched: tuple[tuple[float, float], ...], t_s: float) -> float:
    rate = 0.0
    for hour, per_hour in sched:
        if hour * 3600.0 <= t_s:
            rate = per_hour / 3600.0
    return rate


def mean_field(sc: Scenario, times_s: Sequence[float] | F64) -> F64:
    """Hosts ever infected at ``times_s`` (seconds of the run) in the deterministic mean-field
    model of uniform scanning: ``dS = -b S I - p S + c I``, ``dI = b S I - (g + c) I``, where
    ``b = scan_rate / addresses`` and ``p``, ``g``, ``c`` are the patch, removal and reboot
    schedules. Scan-rate spread, defences and the calendar are not modelled."""
    from scipy.integrate import solve_ivp

    beta = sc.scan_rate / float(sc.space - sc.excluded_size())

    def rhs(t: float, y: F64) -> list[float]:
        s, i = max(y[0], 0.0), max(y[1], 0.0)
        p = _schedule_at(sc.patch_rate, t)
        g = _schedule_at(sc.removal_rate, t)
        c = _schedule_at(sc.reboot_rate, t)
        inf = beta * s * i
        return [-inf - p * s + c * i, inf - (g + c) * i, inf]

    ts = np.asarray(times_s, dtype=np.float64)
    end = max(float(ts.max()), 1.0)
    n0 = float(sc.initial)
    sol = solve_ivp(rhs, (0.0, end), [sc.vulnerable - n0, n0, n0], method="LSODA",
                    dense_output=True, rtol=1e-7, atol=1e-3)
    ever = sol.sol(np.clip(ts, 0.0, end))[2]
    return np.where(ts >= 0.0, ever, 0.0).astype(np.float64)


def simulated_median(sc: Scenario, times_s: Sequence[float] | F64, seeds: Sequence[int],
                     offset_s: float = 0.0) -> F64:
    """The median over ``seeds`` of simulated hosts ever infected at ``times_s`` (seconds from
    the curve's origin; the run starts ``offset_s`` later)."""
    from wormsign.sim.engine import simulate

    ts = np.asarray(times_s, dtype=np.float64) - offset_s
    runs = []
    for s in seeds:
        res = simulate(sc, s)
        t = np.concatenate(([0.0], res.t))
        ever = np.concatenate(([float(sc.initial)], res.ever_infected))
        runs.append(np.where(ts >= 0.0, np.interp(ts, t, ever), 0.0))
    return np.asarray(np.median(np.vstack(runs), axis=0), dtype=np.float64)


def log_error(model: F64, observed: F64) -> float:
    """Mean squared error of ``log(1 + x)`` between two curves."""
    return float(np.mean((np.log1p(np.maximum(model, 0.0)) - np.log1p(observed)) ** 2))


class _Space:
    """Maps parameter values to the unit cube (log scale where the bounds span a factor > 10)."""

    def __init__(self, params: Sequence[str], bounds: Mapping[str, tuple[float, float]]) -> None:
        self.params = tuple(params)
        self.lo = np.array([float(bounds[p][0]) for p in params])
        self.hi = np.array([float(bounds[p][1]) for p in params])
        self.log = (self.lo > 0) & (self.hi > 10 * self.lo)

    def values(self, u: F64) -> dict[str, float]:
        u = np.clip(u, 0.0, 1.0)
        lin = self.lo + u * (self.hi - self.lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.exp(np.log(self.lo) + u * (np.log(self.hi) - np.log(self.lo)))
        x = np.where(self.log, lg, lin)
        return {p: float(v) for p, v in zip(self.params, x, strict=True)}

    def unit(self, values: Mapping[str, float]) -> F64:
        x = np.array([values[p] for p in self.params], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = (np.log(x) - np.log(self.lo)) / (np.log(self.hi) - np.log(self.lo))
        lin = (x - self.lo) / (self.hi - self.lo)
        return np.asarray(np.clip(np.where(self.log, lg, lin), 0.0, 1.0), dtype=np.float64)


def _minimise(f: Callable[[F64], float], u0: F64, step: float, maxfev: int) -> F64:
    from scipy.optimize import minimize

    k = u0.size
    simplex = np.vstack([u0] + [np.clip(u0 + step * np.eye(k)[j]
                                        * (1.0 if u0[j] + step <= 1.0 else -1.0), 0.0, 1.0)
                                for j in range(k)])
    res = minimize(f, u0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * k,
                   options={"initial_simplex": simplex, "maxfev": maxfev,
                            "xatol": 1e-3, "fatol": 1e-5})
    return np.asarray(res.x, dtype=np.float64)


def _check_inputs(template: Scenario, curve: Sequence[tuple[float, float]],
                  params: Sequence[str], bounds: Mapping[str, tuple[float, float]]) -> None:
    if template.model != "stochastic":
        raise ConfigError("fit_scenario fits the stochastic simulator: use model stochastic")
    if len(curve) < 2 or not params:
        raise ConfigError("fit_scenario needs at least two curve points and one parameter")
    if len(set(params)) != len(params):
        raise ConfigError("fit_scenario: a parameter is named twice")
    for t, n in curve:
        if not (math.isfinite(t) and math.isfinite(n) and n >= 0):
            raise ConfigError(f"bad curve point ({t}, {n}): times and counts must be finite, "
                              "counts non-negative")
    for p in params:
        _check_param(p)
        lo, hi = bounds.get(p, (math.nan, math.nan))
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"fit_scenario: {p} needs finite bounds (low, high), low < high")


@dataclass(frozen=True)
class FitOptions:
    """How :func:`fit_scenario` searches: ``seeds`` runs per evaluation from ``seed``,
    ``start`` values, ``evaluations`` of the simulator, the mean-field ``surrogate`` first."""

    seeds: int = 10
    seed: int = 1
    start: Mapping[str, float] | None = None
    evaluations: int = 40
    surrogate: bool = True


class FitKw(TypedDict, total=False):
    """:class:`FitOptions` as keyword arguments of :func:`fit_scenario`."""

    seeds: int
    seed: int
    start: Mapping[str, float] | None
    evaluations: int
    surrogate: bool


def fit_scenario(template: Scenario, curve: Sequence[tuple[float, float]],
                 params: Sequence[str], bounds: Mapping[str, tuple[float, float]],
                 options: FitOptions | None = None, **overrides: Unpack[FitKw]) -> Calibration:
    """Fit ``params`` of ``template`` to ``curve``: ``(seconds from the template's start,
    hosts ever infected)`` pairs, each parameter within ``bounds[name] = (low, high)``;
    ``options`` or the keyword ``overrides`` of its fields say how:

    ``seeds`` runs per evaluation, their seeds derived from ``seed`` as ``wormsign simulate
    --runs SEEDS --seed SEED`` derives them; ``start`` gives starting values (default: the
    mean-field optimum when ``surrogate``, else the middle of the bounds); ``evaluations``
    caps the simulator stage (0 skips it and reports the surrogate's fit, simulated).
    """
    opts = dataclasses.replace(options or FitOptions(), **overrides)
    from wormsign.sim.montecarlo import run_seeds

    _check_inputs(template, curve, params, bounds)
    space = _Space(params, bounds)
    times = np.array([t for t, _ in curve], dtype=np.float64)
    observed = np.array([n for _, n in curve], dtype=np.float64)
    run_seed_list = run_seeds(opts.seed, opts.seeds)

    def scenario_for(u: F64) -> tuple[Scenario, float] | None:
        vals = space.values(u)
        try:
            return apply(template, vals), _offset_s(vals)
        except ConfigError:
            return None

    def surrogate_loss(u: F64) -> float:
        got = scenario_for(u)
        if got is None:
            return 1e9
        sc, off = got
        return log_error(mean_field(sc, times - off), observed)

    def sim_loss(u: F64) -> float:
        got = scenario_for(u)
        if got is None:
            return 1e9
        sc, off = got
        return log_error(simulated_median(sc, times, run_seed_list, off), observed)

    u = space.unit(opts.start) if opts.start else np.full(len(params), 0.5)
    surrogate_obj = math.nan
    if opts.surrogate:
        u = _minimise(surrogate_loss, u, 0.25, 4000)
        surrogate_obj = surrogate_loss(u)
    counter = _Counter(sim_loss)
    if opts.evaluations > 0:
        u = _minimise(counter, u, 0.05, opts.evaluations)
    vals = space.values(u)
    best = apply(template, vals)
    fitted = simulated_median(best, times, run_seed_list, _offset_s(vals))
    return Calibration(
        scenario=best,
        values=tuple((p, vals[p] if p not in INT_PARAMS else float(round(vals[p])))
                     for p in params),
        times_s=tuple(float(x) for x in times), observed=tuple(float(x) for x in observed),
        fitted=tuple(float(x) for x in fitted),
        residuals_pct=tuple(float(x) for x in 100.0 * (fitted / np.maximum(observed, 1e-9)
                                                       - 1.0)),
        objective=log_error(fitted, observed), surrogate_objective=surrogate_obj,
        seeds=tuple(run_seed_list), evaluations=counter.calls + 1)


class _Counter:
    """A loss function that counts its calls."""

    def __init__(self, f: Callable[[F64], float]) -> None:
        self.f = f
        self.calls = 0

    def __call__(self, u: F64) -> float:
        self.calls += 1
        return self.f(u)
