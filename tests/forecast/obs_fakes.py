"""Small stand-ins for the fit modules (priors, closedform, sbi, alarm) written by other
helpers: the API, CLI and plot tests check the plumbing, not the statistics."""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import wormsign.forecast as pkg
from wormsign.forecast.observations import Observations
from wormsign.forecast.result import Alarm, Curve, Forecast, Interval


@dataclass(frozen=True)
class FakePrior:
    preset: str
    strategy: str
    scan_rate: float
    vulnerable: int
    initial: int = 1
    removal: bool = False
    scan_rate_given: bool = False
    vulnerable_given: bool = False
    sources: tuple[str, ...] = ()
    note: str = ""


class Calls:
    """What the fakes were called with."""

    def __init__(self) -> None:
        self.fits: list[tuple[str, dict[str, Any]]] = []


def _curve(obs: Observations, prior: Any, horizon_s: float | None) -> Curve:
    end = obs.end + (horizon_s if horizon_s is not None else 6 * 3600.0)
    t = np.linspace(float(obs.edges[0]), end, 60)
    rate = 1.0 / 3600.0
    infected = np.minimum(10.0 * np.exp(rate * (t - t[0])), float(prior.vulnerable))
    seen = np.minimum(infected, float(obs.sources_total) * np.exp(rate * (t - obs.end)))
    probe = infected * prior.scan_rate / 2.0**32
    return Curve(t=t, infected=(infected * 0.5, infected, infected * 2.0),
                 seen=(seen * 0.5, seen, seen * 2.0),
                 probe_rate=(probe * 0.5, probe, probe * 2.0))


def fake_fit(method: str, calls: Calls) -> Any:
    def fit(obs: Observations, prior: Any, **kw: Any) -> Forecast:
        calls.fits.append((method, kw))
        c = _curve(obs, prior, kw.get("horizon_s"))
        iv = Interval(1000.0, 500.0, 2000.0)
        t50 = Interval(obs.end + 3600.0, obs.end + 1800.0, obs.end + 7200.0)
        return Forecast(
            status="ok", method=method, observations=obs,
            params={"scan_rate": Interval(prior.scan_rate, prior.scan_rate, prior.scan_rate),
                    "growth_per_hour": Interval(1.0, 0.8, 1.2)},
            estimates={"infected_now": iv, "t50": t50, "t90": t50, "peak_time": t50,
                       "final_size": iv, "peak_new_per_min": Interval(5.0, 2.0, math.nan)},
            curve=c, notes=(f"fake {method} fit",), preset=prior.preset, seed=kw.get("seed"))
    return fit


def prior_for(family: str | None, *, preset: str | None = None, scan_rate: float | None = None,
              vulnerable: int | None = None) -> FakePrior:
    strategy = "local-preference" if (family or "") == "code-red-ii" else "uniform"
    return FakePrior(preset=preset or "code-red-v2", strategy=strategy,
                     scan_rate=scan_rate or 6.0, vulnerable=vulnerable or 360_000,
                     scan_rate_given=scan_rate is not None,
                     vulnerable_given=vulnerable is not None)


def install(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Put the fakes where ``from wormsign.forecast import X`` finds them."""
    calls = Calls()
    mods = {
        "priors": {"prior_for": prior_for},
        "closedform": {"fit": fake_fit("closed-form", calls)},
        "sbi": {"fit": fake_fit("simulation", calls)},
        "alarm": {"detect": lambda obs: Alarm(time=float(obs.edges[1]), sources=3,
                                              method="fake", detail="")},
    }
    for name, attrs in mods.items():
        mod = types.ModuleType(f"wormsign.forecast.{name}")
        for k, v in attrs.items():
            setattr(mod, k, v)
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
        monkeypatch.setattr(pkg, name, mod, raising=False)
    return calls
