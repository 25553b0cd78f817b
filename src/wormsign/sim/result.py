"""What a run produces: per-step time series as numpy arrays, and the JSON summary contract.

The ``summary()`` keys are a stable contract (``wormsign simulate --json``):
``t10_s``, ``t50_s``, ``t90_s`` (seconds until 10/50/90 % of the vulnerable population has
been infected, counting every host ever infected; null when not reached), ``final_infected``
(hosts ever infected by the end), ``peak_new_per_min`` (most new infections in any 60-second
window), ``peak_time_s`` (end of that window) and ``probes`` (probes sent in all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.sim.scenario import Scenario

F64 = npt.NDArray[np.float64]
SUMMARY_KEYS = ("t10_s", "t50_s", "t90_s", "final_infected", "peak_new_per_min",
                "peak_time_s", "probes")
SERIES = ("t", "susceptible", "infected", "removed", "new_infections", "probes",
          "ever_infected", "scanning", "flood")


def _num(x: float) -> float | int | None:
    if x is None or not math.isfinite(x):
        return None
    return int(x) if float(x).is_integer() else float(x)


@dataclass
class SimResult:
    """Time series of one run, one row per output step (``t`` is the step's end, seconds).

    ``susceptible``, ``infected`` (currently infected, latent included), ``removed`` and
    ``ever_infected`` are states at the end of each step; ``new_infections``, ``probes`` (sent,
    before any filtering) and ``flood`` (packets sent at the flood target) are counts during
    the step. ``telescopes`` maps each monitored block to ``(probes, unique_sources)``: probes
    that arrived during the step and distinct sources seen so far. ``threshold_times`` holds
    the exact times to 10/50/90 % (NaN when not reached).
    """

    scenario: Scenario
    seed: int | None
    t: F64
    susceptible: F64
    infected: F64
    removed: F64
    new_infections: F64
    probes: F64
    ever_infected: F64
    scanning: F64
    flood: F64
    telescopes: dict[str, tuple[F64, F64]] = field(default_factory=dict)
    threshold_times: tuple[float, float, float] = (math.nan, math.nan, math.nan)

    @property
    def step_s(self) -> F64:
        """Length of each output step in seconds."""
        return np.diff(self.t, prepend=0.0)

    def probe_rate_per_address(self) -> F64:
        """Probes per second reaching one address, averaged over the space, per step.

        For random scanning this is the rate at which any given address (for instance an
        exposed server) is probed: P(no probe by t) = exp(-sum(rate * step)).
        """
        return self.probes / np.maximum(self.step_s, 1e-12) / float(self.scenario.space)

    def prob_probed_by(self) -> F64:
        """Chance that one given address has received at least one probe by the end of each
        step: ``1 - exp(-cumsum(probe_rate_per_address() * step_s))``."""
        return np.asarray(-np.expm1(-np.cumsum(self.probes) / float(self.scenario.space)),
                          dtype=np.float64)

    def peak(self) -> tuple[float, float]:
        """(most new infections in a 60-second window, end time of that window)."""
        new = self.new_infections
        if new.size == 0:
            return 0.0, math.nan
        steps = self.step_s
        step = float(np.median(steps))
        if step >= 60.0:
            per_min = new / np.maximum(steps, 1e-12) * 60.0
            i = int(np.argmax(per_min))
            return float(per_min[i]), float(self.t[i])
        w = max(1, round(60.0 / step))
        csum = np.concatenate(([0.0], np.cumsum(new)))
        if new.size <= w:
            return float(csum[-1]), float(self.t[-1])
        win = csum[w:] - csum[:-w]
        i = int(np.argmax(win))
        return float(win[i]), float(self.t[i + w - 1])

    def summary(self) -> dict[str, Any]:
        """The JSON contract: see the module docstring."""
        peak, peak_t = self.peak()
        t10, t50, t90 = self.threshold_times
        final = float(self.ever_infected[-1]) if self.ever_infected.size else 0.0
        return {
            "t10_s": _num(round(t10, 3)),
            "t50_s": _num(round(t50, 3)),
            "t90_s": _num(round(t90, 3)),
            "final_infected": _num(round(final)),
            "peak_new_per_min": _num(round(peak, 3)),
            "peak_time_s": _num(peak_t),
            "probes": _num(round(float(self.probes.sum()))),
        }

    def columns(self) -> dict[str, F64]:
        """Every series by column name (telescope columns as ``telescope[BLOCK].probes``)."""
        cols: dict[str, F64] = {name: getattr(self, name) for name in SERIES}
        for block, (probes, sources) in self.telescopes.items():
            cols[f"telescope[{block}].probes"] = probes
            cols[f"telescope[{block}].sources"] = sources
        return cols
