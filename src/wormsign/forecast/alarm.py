"""The early warning: when the observations first show exponential growth.

After Zou, Gao, Gong and Towsley ("Monitoring and early warning for Internet worms", ACM CCS
2003): a Kalman filter estimates the infection (growth) rate from the monitor's counts as they
arrive, and the alarm goes off when the estimate is positive and stable. Here the filter's
state is the log of the count rate per interval and its growth per unit time (a local linear
trend); the counts (new sources per interval, else probes) are Poisson around ``exp(level)``,
taken in by the usual linearised update (a dynamic generalised linear model), with an extra
observation variance for bursts. The alarm fires at the end of the first interval in which the
growth estimate has been positive by :data:`Z` standard errors for :data:`STABLE` intervals in
a row while changing by less than half its value: a constant background of scanners keeps the
growth near zero, pure noise does not stay positive, and a worm's does.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wormsign.forecast.observations import Observations
from wormsign.forecast.result import Alarm

F64 = npt.NDArray[np.float64]
METHOD = "kalman"
Z = 3.0
"""How many standard errors the growth estimate must stand above zero."""
STABLE = 6
"""For how many consecutive intervals."""
MIN_SOURCES = 3
"""No alarm before this many sources (or probes) have been seen."""
EARLY_VAR = 1.0
"""Extra observation variance while there are too few counts to measure their spread."""
WARMUP = 6
"""No alarm in the first intervals, while the filter learns the background."""
LEVEL_VAR = 0.03
"""Process variance of the log level per time unit (lets a background level drift)."""
SLOPE_VAR = 1e-4
"""Process variance of the growth (per unit) per unit (lets the growth change slowly)."""
UNIT_S = 3600.0
UNIT_INTERVALS = 12
"""The time unit: an hour, or 12 intervals when they are shorter (a Slammer-fast monitor
counting per second is judged on its own time scale)."""
BURST_VAR = 0.01
"""Least extra observation variance of the log count; more when the counts are bursty."""


def _series(obs: Observations) -> tuple[F64, str]:
    if obs.new_sources is not None and obs.sources_total >= MIN_SOURCES:
        return np.asarray(obs.new_sources, dtype=np.float64), "new sources"
    if obs.probes is not None:
        return np.asarray(obs.probes, dtype=np.float64), "probes"
    return np.asarray(obs.new_sources, dtype=np.float64), "new sources"


def _burst(y: F64) -> F64:
    """Extra observation variance of the log count after each interval, from the spread of
    the changes of the log counts so far (robust: median absolute deviation), less the part
    Poisson noise explains; never below :data:`BURST_VAR`."""
    ly = np.log(y + 0.5)
    out = np.full(y.size, EARLY_VAR)
    for i in range(4, y.size):
        d = np.diff(ly[: i + 1])
        mad = float(np.median(np.abs(d - np.median(d)))) * 1.4826
        poisson = float(np.mean(1.0 / (y[: i + 1] + 0.5)))
        out[i] = max(BURST_VAR, mad * mad / 2.0 - poisson)
    return out


def _filter(y: F64, dt: F64) -> tuple[F64, F64]:
    """Growth estimates (per time unit) and their standard errors after each interval
    (``dt`` in time units)."""
    first = max(float(np.mean(y[: min(3, y.size)])), 0.1)
    x = np.array([math.log(first), 0.0])
    p = np.diag([4.0, 1.0])
    extra = _burst(y)
    slope = np.empty(y.size)
    se = np.empty(y.size)
    for i, (yi, h) in enumerate(zip(y, dt, strict=True)):
        f = np.array([[1.0, h], [0.0, 1.0]])
        x = f @ x
        p = f @ p @ f.T + np.diag([LEVEL_VAR * h, SLOPE_VAR * h])
        mu = math.exp(min(float(x[0]), 50.0))
        # linearised Poisson update: working observation z = level + (y - mu) / mu
        r = 1.0 / max(mu, 1e-3) + float(extra[max(i - 1, 0)])
        z = float(x[0]) + (float(yi) - mu) / max(mu, 1e-3)
        z = float(np.clip(z, x[0] - 10.0, x[0] + 10.0))
        s = float(p[0, 0]) + r
        gain = p[:, 0] / s
        x = x + gain * (z - float(x[0]))
        p = p - np.outer(gain, p[0, :])
        slope[i] = x[1]
        se[i] = math.sqrt(max(float(p[1, 1]), 0.0))
    return slope, se


def detect(obs: Observations) -> Alarm:
    """When ``obs`` first shows exponential growth, and how many sources had been seen then
    (``time`` NaN with a ``detail`` saying why when it never did)."""
    y, what = _series(obs)
    widths = np.diff(obs.edges)
    unit = min(UNIT_S, UNIT_INTERVALS * float(np.median(widths)))
    slope, se = _filter(y, widths / unit)
    slope, se = slope * 3600.0 / unit, se * 3600.0 / unit
    seen = np.cumsum(y)
    sources = (np.cumsum(obs.new_sources) if obs.new_sources is not None
               else np.zeros(y.size))
    run = 0
    for i in range(y.size):
        ok = (i >= WARMUP and slope[i] - Z * se[i] > 0 and seen[i] >= MIN_SOURCES)
        if ok and i >= 1 and run > 0:
            ok = abs(slope[i] - slope[i - 1]) < 0.5 * slope[i]
        run = run + 1 if ok else 0
        if run >= STABLE:
            per_h = slope[i]
            return Alarm(time=float(obs.edges[i + 1]), sources=round(float(sources[i])),
                         method=METHOD,
                         detail=(f"{what} growing {per_h:.3g}/h (+-{Z * se[i]:.2g}),"
                                 f" positive and stable for {STABLE} intervals"))
    last = slope[-1] if y.size else math.nan
    return Alarm(time=math.nan, sources=round(float(sources[-1])) if y.size else 0,
                 method=METHOD,
                 detail=(f"no sustained exponential growth of {what} in {y.size} intervals "
                         f"(last growth estimate {last:.3g}/h)"))
