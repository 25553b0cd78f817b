"""When each host can expect its first probe, from a forecast's probe rate.

A host is probed as a Poisson process of rate λ(t), the forecast's probe rate reaching one
address (median band). The chance of no probe in ``[now, t]`` is ``exp(-∫λ)``, so the median
first probe is where ``∫λ = ln 2`` and the 5th percentile where ``∫λ = -ln 0.95``. Beyond the
end of the curve the last rate holds; a host that the rate never reaches gets NaN (written
as null in the JSON).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from wormsign.forecast.observations import F64
from wormsign.forecast.result import Curve, HostForecast

LEVELS = (math.log(2.0), -math.log(0.95))
"""Cumulative hazard at the median and at the 5th percentile of the first probe."""


def _cumulative(curve: Curve, now: float) -> tuple[F64, F64, float]:
    """Times from ``now`` on, the integrated rate at them, and the rate held after."""
    t = np.asarray(curve.t, dtype=np.float64)
    rate = np.clip(np.nan_to_num(np.asarray(curve.probe_rate[1], dtype=np.float64)), 0, None)
    if t.size == 0:
        return np.array([now]), np.array([0.0]), 0.0
    r_now = float(np.interp(now, t, rate))
    keep = t > now
    ts = np.concatenate([[now], t[keep]])
    rs = np.concatenate([[r_now], rate[keep]])
    steps = np.diff(ts) * (rs[1:] + rs[:-1]) / 2.0
    return ts, np.concatenate([[0.0], np.cumsum(steps)]), float(rs[-1])


def _crossing(ts: F64, cum: F64, tail: float, level: float) -> float:
    i = int(np.searchsorted(cum, level, side="left"))
    if i == 0:
        return float(ts[0])
    if i < cum.size:
        lo, hi = float(cum[i - 1]), float(cum[i])
        frac = (level - lo) / (hi - lo) if hi > lo else 0.0
        return float(ts[i - 1] + frac * (ts[i] - ts[i - 1]))
    if tail <= 0.0:
        return math.nan
    return float(ts[-1] + (level - cum[-1]) / tail)


def first_probes(curve: Curve, now: float,
                 hosts: Sequence[tuple[str, str]]) -> tuple[HostForecast, ...]:
    """For each ``(name, address)``: the median and 5th percentile of the time of its first
    probe after ``now`` (seconds from the time base origin, like the curve)."""
    if not hosts:
        return ()
    ts, cum, tail = _cumulative(curve, now)
    median, p5 = (_crossing(ts, cum, tail, lv) for lv in LEVELS)
    return tuple(HostForecast(host=name, address=addr, median=median, p5=p5)
                 for name, addr in hosts)


__all__ = ["LEVELS", "first_probes"]
