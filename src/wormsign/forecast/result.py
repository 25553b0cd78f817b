"""A forecast as one record, :class:`Forecast`, and its ``--json`` contract.

The JSON shape (``Forecast.to_json``) is stable and documented in docs/forecast.md: every
estimate is ``{"estimate", "p5", "p95"}``; times are written in the input's time base
(seconds in, seconds out; ISO 8601 in, ISO 8601 out); a result without enough evidence says
so in ``status`` and ``reason`` and carries no numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.forecast.observations import Observations, TimeBase

F64 = npt.NDArray[np.float64]
SCHEMA = "wormsign.forecast/1"
STATUSES = ("ok", "not-enough-evidence")
TIME_KEYS = ("t50", "t90", "peak_time")
"""Estimates that are instants (written in the input's time base)."""
COUNT_KEYS = ("infected_now", "final_size", "peak_new_per_min")
PARAM_TIME_KEYS = ("midpoint",)
"""Parameters that are instants (written in the input's time base too)."""


def _num(x: float, digits: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


@dataclass(frozen=True)
class Interval:
    """An estimate with its 90 % interval (5th and 95th percentiles); NaN when unknown."""

    estimate: float
    p5: float
    p95: float

    @classmethod
    def from_samples(cls, samples: F64, estimate: float | None = None) -> Interval:
        """Median (or ``estimate``) and the 5/95 % quantiles of finite samples."""
        s = np.asarray(samples, dtype=np.float64)
        s = s[np.isfinite(s)]
        if s.size == 0:
            return cls(math.nan, math.nan, math.nan)
        p5, p50, p95 = (float(v) for v in np.quantile(s, (0.05, 0.5, 0.95)))
        return cls(p50 if estimate is None else float(estimate), p5, p95)

    def json(self, timebase: TimeBase | None = None) -> dict[str, Any]:
        if timebase is not None:
            return {"estimate": timebase.format(self.estimate), "p5": timebase.format(self.p5),
                    "p95": timebase.format(self.p95)}
        return {"estimate": _num(self.estimate), "p5": _num(self.p5), "p95": _num(self.p95)}


@dataclass(frozen=True, eq=False)
class Curve:
    """The forecast over time: ``t`` (seconds from the time base origin) and, per time, the
    5/50/95 % of hosts ever infected, of sources the monitor has seen, and of the probe rate
    reaching one address (probes per second, for urgency)."""

    t: F64
    infected: tuple[F64, F64, F64]
    seen: tuple[F64, F64, F64]
    probe_rate: tuple[F64, F64, F64]

    def json(self, timebase: TimeBase) -> dict[str, Any]:
        out: dict[str, Any] = {"t": [timebase.format(float(x)) for x in self.t]}
        for name in ("infected", "seen", "probe_rate"):
            for tag, arr in zip(("p5", "p50", "p95"), getattr(self, name), strict=True):
                out[f"{name}_{tag}"] = [_num(float(x)) for x in arr]
        return out


@dataclass(frozen=True)
class HostForecast:
    """When one inventory host can expect its first probe (median and 5th percentile)."""

    host: str
    address: str
    median: float
    p5: float


@dataclass(frozen=True)
class Alarm:
    """The early warning: when exponential growth first showed, and how many sources had been
    seen by then (``time`` NaN when it never did)."""

    time: float
    sources: int
    method: str
    detail: str = ""


@dataclass(frozen=True, eq=False)
class Forecast:
    """What a fit says: parameters and outcomes with 90 % intervals, the curve, notes.

    ``estimates`` holds ``infected_now``, ``t50``, ``t90``, ``peak_time``, ``final_size`` and
    ``peak_new_per_min`` (times in seconds from the time base origin); ``params`` the fitted
    model parameters (``growth_per_hour``, ``scan_rate``, ``vulnerable``, ...). ``notes``
    say what could not be identified and which priors filled the gap.
    """

    status: str
    method: str
    observations: Observations
    reason: str = ""
    params: dict[str, Interval] = field(default_factory=dict)
    estimates: dict[str, Interval] = field(default_factory=dict)
    curve: Curve | None = None
    notes: tuple[str, ...] = ()
    alarm: Alarm | None = None
    hosts: tuple[HostForecast, ...] = ()
    preset: str | None = None
    seed: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        """The stable ``--json`` document (see docs/forecast.md)."""
        obs = self.observations
        tb = obs.timebase
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "status": self.status,
            "reason": self.reason or None,
            "method": self.method,
            "family": obs.family,
            "preset": self.preset,
            "seed": self.seed,
            "time_base": tb.kind,
            "monitor": {"addresses": obs.monitor.size, "blocks": list(obs.monitor.blocks),
                        "label": obs.monitor.label},
            "evidence": {"from": tb.format(float(obs.edges[0])), "to": tb.format(obs.end),
                         "intervals": int(obs.edges.size - 1),
                         "sources": obs.sources_total, "probes": obs.probes_total,
                         "skipped": obs.skipped, "inputs": list(obs.inputs)},
            "notes": list(self.notes) + list(obs.notes),
        }
        if not self.ok:
            return out
        out["params"] = {k: v.json(tb if k in PARAM_TIME_KEYS else None)
                         for k, v in self.params.items()}
        for key, iv in self.estimates.items():
            out[key] = iv.json(tb if key in TIME_KEYS else None)
        out["hosts"] = [{"host": h.host, "address": h.address,
                         "first_probe_median": tb.format(h.median),
                         "first_probe_p5": tb.format(h.p5)} for h in self.hosts]
        out["alarm"] = None if self.alarm is None else {
            "time": tb.format(self.alarm.time), "sources": self.alarm.sources,
            "method": self.alarm.method, "detail": self.alarm.detail}
        out["curve"] = None if self.curve is None else self.curve.json(tb)
        return out
