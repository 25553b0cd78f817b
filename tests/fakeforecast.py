"""A small, hand-made :class:`Forecast` built from the shared records, for the tests that
join forecasts to assess, incidents, the dashboard and watch (they must not depend on how a
fit is made, only on the record and its JSON document)."""

from __future__ import annotations

import math

import numpy as np

from wormsign.forecast.observations import Monitor, Observations, TimeBase
from wormsign.forecast.result import Curve, Forecast, Interval

ORIGIN = 995_544_000.0   # 2001-07-19T12:00:00Z


def logistic(t: np.ndarray, n: float, k: float, t_half: float) -> np.ndarray:
    return np.asarray(n / (1.0 + np.exp(-k * (t - t_half))), dtype=np.float64)


def fake_observations(*, iso: bool = False, family: str | None = "code-red",
                      hours: float = 4.0, scale: float = 1.0) -> Observations:
    edges = np.linspace(0.0, hours * 3600.0, 25)
    cum = logistic(edges, 3000.0 * scale, 1.0 / 1800.0, 6 * 3600.0)
    tb = TimeBase("iso", ORIGIN) if iso else TimeBase()
    return Observations(Monitor(2**24, ("44.0.0.0/8",), "telescope"), tb, edges,
                        np.diff(cum), None, family=family, inputs=("fake",))


def fake_forecast(obs: Observations | None = None, *, rate_scale: float = 1.0,
                  status: str = "ok") -> Forecast:
    obs = obs if obs is not None else fake_observations()
    if status != "ok":
        return Forecast(status, "closed-form", obs, reason="only 2 sources")
    t = np.linspace(0.0, 24 * 3600.0, 97)
    inf = logistic(t, 360_000.0, 1.0 / 1800.0, 6 * 3600.0)
    seen = inf * obs.monitor.share * 10
    rate = 10.0 * inf / 2.0**32 * rate_scale
    curve = Curve(t, (inf * 0.8, inf, inf * 1.2), (seen * 0.8, seen, seen * 1.2),
                  (rate * 0.8, rate, rate * 1.2))
    est = {"infected_now": Interval(20_000.0, 15_000.0, 26_000.0),
           "t50": Interval(6 * 3600.0, 5.5 * 3600.0, 6.5 * 3600.0),
           "t90": Interval(6 * 3600.0 + 1800 * math.log(9), 7 * 3600.0, 8 * 3600.0),
           "peak_time": Interval(6 * 3600.0, 5.5 * 3600.0, 6.5 * 3600.0),
           "final_size": Interval(360_000.0, 300_000.0, 420_000.0),
           "peak_new_per_min": Interval(3000.0, 2500.0, 3500.0)}
    params = {"growth_per_hour": Interval(2.0, 1.8, 2.2)}
    return Forecast("ok", "closed-form", obs, params=params, estimates=est, curve=curve,
                    notes=("fake forecast for tests",), preset="code-red-v2", seed=1)
