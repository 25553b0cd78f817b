"""Urgency: how soon an internet-facing host receives its first worm probe.

A uniform scanner sends ``r`` probes per second from each of ``I(t)`` infected hosts into an
address space of ``2**bits`` addresses, so one given address is hit at rate
``λ(t) = r·I(t) / 2**bits`` and, probes being independent,

    P(no probe in [t0, t]) = exp(−∫_{t0}^{t} λ(s) ds)
    E[wait from t0]        = ∫_{t0}^{∞} P(no probe in [t0, t]) dt

which at a steady state ``I`` is ``2**bits / (r·I)``: at Code Red's peak (about 360,000
infected hosts at 10 probes/s, ≈3.6 × 10^6 probes/s) every address is probed on average every
``2**32 / 3.6e6 ≈ 1,190 s ≈ 20 min``. Beyond the end of the modelled time series ``λ`` is held
at its last value.

``I(t)`` comes from the simulator (:mod:`wormsign.sim`, ``simulate(load_preset(name),
seed=...)``) when it is importable and the advisory names a preset; otherwise from the closed
form of Random Constant Spread (Staniford, Paxson, Weaver 2002):

    a(t) = 1 / (1 + e^{−K(t−T)}),  K = r·N / 2**bits,  T = ln((1−a0)/a0) / K,  a0 = I0/N

with ``I(t) = N·a(t)``. The outbreak *state* at which urgency is evaluated is ``peak`` (the
busiest moment), a share of the peak rate such as ``10%`` (the first time the rate reaches it:
early in the outbreak), or a time since the start (``3600s``, ``90m``, ``4h``).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.errors import ConfigError, WormsignError
from wormsign.units import parse_duration

F64 = npt.NDArray[np.float64]

DEFAULT_MODEL: dict[str, Any] = {"preset": "code-red-v2", "scan_rate": 10.0,
                                 "vulnerable": 360_000, "address_bits": 32, "initial": 10}


@dataclass(frozen=True)
class Outbreak:
    """A modelled outbreak: times (s) and the probe rate per address (probes/s)."""

    t: F64
    rate: F64
    source: str

    def state_time(self, state: str) -> float:
        """The time (s) of an outbreak state: ``peak``, ``NN%`` of the peak rate, or a time."""
        s = state.strip().lower()
        if s == "peak":
            return float(self.t[int(np.argmax(self.rate))])
        if s.endswith("%"):
            try:
                share = float(s[:-1]) / 100.0
            except ValueError:
                raise ConfigError(f"bad outbreak state {state!r}") from None
            if not 0 < share <= 1:
                raise ConfigError(f"outbreak state {state!r}: share must be in (0, 100]")
            idx = int(np.argmax(self.rate >= share * float(self.rate.max())))
            return float(self.t[idx])
        try:
            return parse_duration(s, default_unit="s")
        except ConfigError:
            raise ConfigError(f"bad outbreak state {state!r}: use peak, NN% or a time "
                              "(4h, 90m, 3600)") from None

    def survival(self, t0: float, horizon: float) -> float:
        """P(no probe reaches a given address in [t0, t0 + horizon])."""
        return math.exp(-self._integral(t0, t0 + horizon))

    def _integral(self, a: float, b: float) -> float:
        grid = np.linspace(a, b, 2001)
        lam = self.rate_at(grid)
        return float(np.sum((lam[1:] + lam[:-1]) * 0.5 * np.diff(grid)))

    def rate_at(self, times: F64) -> F64:
        """λ(t), linear between samples, held constant after the last one."""
        out = np.interp(times, self.t, self.rate, left=self.rate[0], right=self.rate[-1])
        return np.asarray(out, dtype=np.float64)

    def expected_wait(self, t0: float) -> float:
        """E[time from t0 to the first probe of a given address] in seconds (inf if none)."""
        end = float(self.t[-1])
        if t0 < end:
            grid = np.concatenate([[t0], self.t[self.t > t0]])
            lam = self.rate_at(grid)
            dt = np.diff(grid)
            mean = (lam[1:] + lam[:-1]) * 0.5
            cum = np.concatenate([[0.0], np.cumsum(mean * dt)])
            surv = np.exp(-cum)
            # exact for a constant rate inside each segment: S_i (1 - e^{-λ dt}) / λ
            safe = np.where(mean > 0, mean, 1.0)
            seg = np.where(mean > 0, -np.expm1(-mean * dt) / safe, dt)
            inside = float(np.sum(surv[:-1] * seg))
            s_end = float(surv[-1])
        else:
            inside, s_end = 0.0, 1.0
        last = float(self.rate[-1])
        tail = s_end / last if last > 0 else (math.inf if s_end > 0 else 0.0)
        return inside + tail


def closed_form(scan_rate: float, vulnerable: int, address_bits: int = 32, initial: int = 10,
                hours: float = 24.0) -> Outbreak:
    """The Random Constant Spread logistic as an :class:`Outbreak`."""
    if scan_rate <= 0 or vulnerable < 1 or not 1 <= initial <= vulnerable:
        raise ConfigError("outbreak model needs scan_rate > 0 and 1 <= initial <= vulnerable")
    space = float(2**address_bits)
    k = scan_rate * vulnerable / space
    a0 = initial / vulnerable
    t_half = math.log((1 - a0) / a0) / k if a0 < 1 else 0.0
    t = np.linspace(0.0, hours * 3600.0, 4001)
    a = 1.0 / (1.0 + np.exp(-k * (t - t_half)))
    rate = scan_rate * vulnerable * a / space
    return Outbreak(t, rate.astype(np.float64),
                    f"closed-form logistic (r={scan_rate:g}/s, N={vulnerable:,}, I0={initial})")


def from_simulator(preset: str, seed: int = 1) -> Outbreak | None:
    """I(t) from :mod:`wormsign.sim` for ``preset``; None when the simulator or the preset is
    not available (the caller then uses :func:`closed_form`)."""
    return simulate_outbreak(preset, seed)[0]


def simulate_outbreak(preset: str, seed: int = 1) -> tuple[Outbreak | None, str]:
    """``(outbreak, "")`` from the simulator, or ``(None, why not)``.

    The simulator is an optional collaborator: any failure in it (not importable, unknown
    preset, an error inside the engine) means "use the closed form", never a crash here.
    """
    try:
        sim = importlib.import_module("wormsign.sim")
    except ImportError:
        return None, "wormsign.sim is not importable"
    load = getattr(sim, "load_preset", None)
    run = getattr(sim, "simulate", None)
    if load is None or run is None:
        return None, "wormsign.sim has no load_preset/simulate"
    try:
        scenario = load(preset)
        res = run(scenario, seed=seed)
        t = np.asarray(res.t, dtype=np.float64)
        per_address = getattr(res, "probe_rate_per_address", None)
        if callable(per_address):
            rate = np.asarray(per_address(), dtype=np.float64)
        else:
            r = float(getattr(scenario, "scan_rate", 10.0))
            bits = int(getattr(scenario, "address_bits", 32))
            rate = r * np.asarray(res.infected, dtype=np.float64) / float(2**bits)
    except (OSError, KeyError, WormsignError) as exc:
        return None, f"simulator preset {preset!r} not usable ({exc})"
    except Exception as exc:  # the boundary with an optional subsystem
        return None, f"the simulator failed: {type(exc).__name__}"
    if t.size == 0 or rate.shape != t.shape or not np.all(np.isfinite(rate)):
        return None, "the simulator returned no usable probe-rate series"
    return Outbreak(t, rate, f"simulator preset {preset} (seed {seed})"), ""


@dataclass(frozen=True)
class Urgency:
    """The urgency of one outbreak model at one state."""

    wait_s: float
    t0: float
    state: str
    source: str

    def describe(self) -> str:
        return (f"at outbreak state '{self.state}' an internet-facing address gets its first "
                f"probe in about {human(self.wait_s)} on average ({self.source})")


def human(seconds: float) -> str:
    """``1190`` → ``20 min``; ``inf`` → ``never``."""
    if math.isinf(seconds):
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class UrgencyModel:
    """Urgency per outbreak model, computed once per model (``source``: ``auto`` tries the
    simulator first, ``sim`` requires it, ``closed-form`` never uses it)."""

    def __init__(self, state: str = "peak", source: str = "auto", seed: int = 1) -> None:
        if source not in ("auto", "sim", "closed-form"):
            raise ConfigError(f"outbreak model source {source!r}: auto, sim or closed-form")
        self.state = state
        self.source = source
        self.seed = seed
        self._cache: dict[tuple[Any, ...], Urgency] = {}

    def for_model(self, model: Mapping[str, Any] | None) -> Urgency:
        params = dict(DEFAULT_MODEL)
        if model:
            params.update(model)
        key = tuple(sorted((k, str(v)) for k, v in params.items()))
        if key not in self._cache:
            self._cache[key] = self._compute(params)
        return self._cache[key]

    def _compute(self, params: Mapping[str, Any]) -> Urgency:
        outbreak = None
        why = ""
        if self.source in ("auto", "sim") and params.get("preset"):
            outbreak, why = simulate_outbreak(str(params["preset"]), self.seed)
            if outbreak is None and self.source == "sim":
                raise ConfigError(f"--outbreak-model sim: {why}")
        if outbreak is None:
            try:
                outbreak = closed_form(float(params["scan_rate"]), int(params["vulnerable"]),
                                       int(params["address_bits"]), int(params["initial"]))
            except (TypeError, ValueError, KeyError) as exc:
                raise ConfigError(f"bad outbreak model parameters: {exc}") from None
            if why:
                outbreak = Outbreak(outbreak.t, outbreak.rate,
                                    f"{outbreak.source}; simulator not used: {why}")
        t0 = outbreak.state_time(self.state)
        return Urgency(outbreak.expected_wait(t0), t0, self.state, outbreak.source)
