"""The forecast entry point: observations and a prior in, one :class:`Forecast` out.

:func:`forecast` builds the prior from the family's preset (with the user's overrides),
refuses too little evidence up front (a ``not-enough-evidence`` result with its reason, never
a confident number), dispatches to the closed-form fit (uniform scanning) or to
simulation-based inference (other strategies, or on request), and adds the early-warning
alarm and, for an inventory, each host's expected first probe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import numpy as np

from wormsign.errors import ConfigError
from wormsign.forecast.observations import Observations
from wormsign.forecast.result import Forecast

METHODS = ("auto", "closed-form", "simulation")
INTERVALS = ("laplace", "bootstrap", "profile")
"""The closed form's interval methods (closedform.INTERVALS)."""
MIN_SOURCES = 10
MIN_PROBES = 50
MIN_INTERVALS = 3
MAX_RUNS = 100_000

Hosts = Sequence[tuple[str, str]]


def evidence_problem(obs: Observations) -> str:
    """Why ``obs`` is too little to forecast from ("" when it is enough): fewer than
    :data:`MIN_SOURCES` sources and fewer than :data:`MIN_PROBES` probes, or fewer than
    :data:`MIN_INTERVALS` intervals with anything in them."""
    sources, probes = obs.sources_total, obs.probes_total
    if sources < MIN_SOURCES and probes < MIN_PROBES:
        return (f"only {sources} source(s) and {probes} probe(s) seen: at least "
                f"{MIN_SOURCES} sources or {MIN_PROBES} probes are needed to forecast")
    counts = obs.new_sources if obs.new_sources is not None and sources else obs.probes
    busy = int(np.count_nonzero(np.asarray(counts))) if counts is not None else 0
    if busy < MIN_INTERVALS:
        return (f"activity in only {busy} interval(s): at least {MIN_INTERVALS} are needed to "
                "see growth")
    return ""


def resolve_method(method: str, strategy: str, removal: bool) -> str:
    """``closed-form`` or ``simulation``: auto picks the closed form for uniform scanning and
    the simulation for other strategies.

    A preset's removal does not send a uniform worm to the simulation: removal cannot be told
    apart from a lower scan rate while the outbreak grows exponentially (what early evidence
    shows), the closed form is exact without it and fast, and on uniform outbreaks without
    removal a removal prior biases every forecast (measured in benchmarks/bench_forecast.py).
    ``--method simulation`` models the preset's removal; the note says so."""
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, not {method[:40]!r}")
    if method != "auto":
        return method
    del removal
    return "closed-form" if strategy == "uniform" else "simulation"


def _prior_notes(prior: Any, method: str) -> list[str]:
    notes = []
    if getattr(prior, "note", ""):
        notes.append(str(prior.note))
    if prior.scan_rate_given:
        notes.append("from one monitor only scan rate x infected count is identifiable; the "
                     f"scan rate {prior.scan_rate:g}/s is the one given (--scan-rate)")
    else:
        notes.append("from one monitor only scan rate x infected count is identifiable; the "
                     f"scan rate comes from preset {prior.preset} (use --scan-rate/"
                     "--vulnerable)")
    return notes


def inventory_hosts(path: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``(name, address)`` of each inventory host, and notes on what was skipped."""
    from wormsign.fleet.inventory import load_inventory

    inv = load_inventory(path)
    notes = []
    if inv.skipped:
        notes.append(f"inventory: {len(inv.skipped)} row(s) skipped")
    return [(h.host, h.address) for h in inv.hosts], notes


def _check_intervals(intervals: str) -> None:
    if intervals not in INTERVALS:
        raise ConfigError(f"--intervals must be one of {', '.join(INTERVALS)}, "
                          f"not {intervals[:40]!r}")


def _check(runs: int | None, workers: int | None, horizon_s: float | None) -> None:
    if runs is not None and not 1 <= runs <= MAX_RUNS:
        raise ConfigError(f"--runs must be from 1 to {MAX_RUNS}, not {runs}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {workers})")
    if horizon_s is not None and not 0 < horizon_s < 100 * 366 * 86400:
        raise ConfigError(f"--horizon must be positive, not {horizon_s!r}")


@dataclass(frozen=True)
class ForecastOptions:
    """How :func:`forecast` fits: ``method`` (:data:`METHODS`); the prior's ``preset``,
    ``scan_rate`` and ``vulnerable`` overrides; the ``horizon_s``; the simulation's ``runs``,
    ``scheduler`` and ``workers``; the ``seed``; an ``inventory`` file or ``(name, address)``
    pairs; the closed form's ``intervals`` (:data:`INTERVALS`)."""

    method: str = "auto"
    preset: str | None = None
    scan_rate: float | None = None
    vulnerable: int | None = None
    horizon_s: float | None = None
    runs: int | None = None
    seed: int = 1
    scheduler: str | None = None
    workers: int | None = None
    inventory: str | Hosts | None = None
    intervals: str = "laplace"


class ForecastKw(TypedDict, total=False):
    """:class:`ForecastOptions` as keyword arguments of :func:`forecast`."""

    method: str
    preset: str | None
    scan_rate: float | None
    vulnerable: int | None
    horizon_s: float | None
    runs: int | None
    seed: int
    scheduler: str | None
    workers: int | None
    inventory: str | Hosts | None
    intervals: str


def forecast(obs: Observations, options: ForecastOptions | None = None,
             **overrides: Unpack[ForecastKw]) -> Forecast:
    """Forecast the outbreak ``obs`` shows (see the module doc), with ``options`` and the
    keyword ``overrides`` of its fields (``forecast(obs, method="simulation", runs=200)``).
    ``inventory`` is an inventory file or ``(name, address)`` pairs. ``intervals``
    (``laplace``, ``bootstrap`` or ``profile``) is how the closed form makes its intervals;
    the simulation-based fit has its own."""
    from wormsign.forecast import priors

    opts = dataclasses.replace(options or ForecastOptions(), **overrides)
    _check(opts.runs, opts.workers, opts.horizon_s)
    _check_intervals(opts.intervals)
    prior = priors.prior_for(obs.family, preset=opts.preset, scan_rate=opts.scan_rate,
                             vulnerable=opts.vulnerable)
    chosen = resolve_method(opts.method, prior.strategy, prior.removal)
    hosts, inv_notes = _hosts(opts.inventory)
    notes = _prior_notes(prior, chosen)
    if chosen != "closed-form" and opts.intervals != "laplace":
        notes.append(f"--intervals {opts.intervals} applies to the closed form only; the "
                     "simulation-based fit's intervals come from its accepted runs")
    problem = evidence_problem(obs)
    if problem:
        return Forecast(status="not-enough-evidence", method=chosen, observations=obs,
                        reason=problem, notes=tuple(notes + inv_notes), preset=prior.preset,
                        seed=opts.seed)
    result = _fit(obs, prior, chosen, opts)
    return _finish(result, obs, notes + inv_notes, hosts, prior.preset, opts.seed)


def _hosts(inventory: str | Hosts | None) -> tuple[list[tuple[str, str]], list[str]]:
    if inventory is None:
        return [], []
    if isinstance(inventory, str):
        return inventory_hosts(inventory)
    return [(str(n), str(a)) for n, a in inventory], []


def _fit(obs: Observations, prior: Any, method: str, opts: ForecastOptions) -> Forecast:
    if method == "closed-form":
        from wormsign.forecast import closedform

        return closedform.fit(obs, prior, horizon_s=opts.horizon_s, seed=opts.seed,
                              intervals=opts.intervals)
    from wormsign.forecast import sbi

    return sbi.fit(obs, prior, horizon_s=opts.horizon_s,
                   runs=150 if opts.runs is None else opts.runs, seed=opts.seed,
                   workers=opts.workers, scheduler=opts.scheduler)


def _finish(result: Forecast, obs: Observations, notes: list[str], hosts: list[tuple[str, str]],
            preset: str, seed: int) -> Forecast:
    """The fit's result with the notes (once each), the alarm and the hosts added."""
    from wormsign.forecast import alarm as alarm_mod
    from wormsign.forecast.hosts import first_probes

    if any("identifiable" in n for n in result.notes):  # the fit said it in its own words
        notes = [n for n in notes if "identifiable" not in n]
    merged = list(dict.fromkeys([*notes, *result.notes]))
    changes: dict[str, Any] = {"notes": tuple(merged),
                               "preset": result.preset or preset,
                               "seed": seed if result.seed is None else result.seed}
    if result.ok:
        changes["alarm"] = result.alarm if result.alarm is not None else alarm_mod.detect(obs)
        if hosts and result.curve is not None:
            changes["hosts"] = first_probes(result.curve, obs.end, hosts)
        elif hosts:
            changes["notes"] = (*changes["notes"], "no forecast curve: no host first-probe "
                                "times")
    return dataclasses.replace(result, **changes)


__all__ = ["INTERVALS", "METHODS", "MIN_INTERVALS", "MIN_PROBES", "MIN_SOURCES",
           "ForecastKw", "ForecastOptions", "evidence_problem", "forecast", "inventory_hosts",
           "resolve_method"]
