"""How close the forecast came to the truth: t50, t90 and the final size, the simulation's
values against the forecast's estimate and 90 % interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wormsign.demo.steps import OutbreakTruth

if TYPE_CHECKING:
    from wormsign.forecast.result import Forecast

QUANTITIES = ("t50", "t90", "final_size")


def iso(unix: float) -> str | None:
    """A Unix time as ISO 8601 UTC (None when not finite)."""
    if not math.isfinite(unix):
        return None
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(x: float) -> float | int | None:
    if not math.isfinite(x):
        return None
    return int(x) if float(x).is_integer() else round(x, 3)


@dataclass(frozen=True)
class Check:
    """One quantity: the truth and the forecast's estimate with its 90 % interval. Times
    are Unix seconds; the final size is hosts. NaN where unknown."""

    quantity: str
    truth: float
    estimate: float
    p5: float
    p95: float

    @property
    def is_time(self) -> bool:
        return self.quantity != "final_size"

    @property
    def inside(self) -> bool | None:
        """Whether the truth lies inside the 90 % interval (None when either is unknown)."""
        if not all(math.isfinite(x) for x in (self.truth, self.p5, self.p95)):
            return None
        return self.p5 <= self.truth <= self.p95

    @property
    def error(self) -> float:
        """Estimate minus truth: seconds for times, a share of the truth for the size."""
        diff = self.estimate - self.truth
        if self.is_time or not self.truth:
            return diff
        return diff / self.truth

    def to_json(self) -> dict[str, Any]:
        show = iso if self.is_time else _num
        return {"quantity": self.quantity, "truth": show(self.truth),
                "estimate": show(self.estimate), "p5": show(self.p5), "p95": show(self.p95),
                "inside": self.inside,
                ("error_s" if self.is_time else "error_share"): _num(self.error)}


@dataclass(frozen=True)
class Comparison:
    """Every :class:`Check`; ``reason`` says why the forecast has no numbers, if so."""

    checks: tuple[Check, ...]
    reason: str = ""

    @property
    def covered(self) -> int:
        """How many truths lie inside their interval."""
        return sum(1 for c in self.checks if c.inside)

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason or None, "covered": self.covered,
                "checks": [c.to_json() for c in self.checks]}


def _truths(truth: OutbreakTruth) -> dict[str, float]:
    t0 = truth.start.timestamp()
    return {"t50": t0 + truth.t50_s, "t90": t0 + truth.t90_s,
            "final_size": float(truth.final_size)}


def compare(truth: OutbreakTruth, forecast: Forecast | None, reason: str = "") -> Comparison:
    """The truth against ``forecast`` (None, or a result without numbers: NaN estimates and
    the reason)."""
    truths = _truths(truth)
    nan = math.nan
    if forecast is None or not forecast.ok:
        why = reason or (forecast.reason if forecast is not None else "") or "no forecast"
        return Comparison(tuple(Check(q, truths[q], nan, nan, nan) for q in QUANTITIES), why)
    origin = forecast.observations.timebase.origin
    checks = []
    for q in QUANTITIES:
        iv = forecast.estimates.get(q)
        if iv is None:
            checks.append(Check(q, truths[q], nan, nan, nan))
            continue
        shift = origin if q != "final_size" else 0.0
        checks.append(Check(q, truths[q], iv.estimate + shift, iv.p5 + shift, iv.p95 + shift))
    return Comparison(tuple(checks))
