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

A forecast (``wormsign forecast --json``, :meth:`Outbreak.from_forecast`) replaces the preset:
its median probe-rate curve is ``λ(t)`` and its evidence end is the state ``now``, the
default then (urgency from what the logs show, not from a preset).
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.errors import ConfigError, WormsignError
from wormsign.fleet.files import read_limited
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
    now: float = math.nan
    """The end of the evidence (s, a forecast's ``now``); NaN for a modelled outbreak."""

    @classmethod
    def from_forecast(cls, doc: Mapping[str, Any], *, name: str = "forecast") -> Outbreak:
        """The median probe-rate curve of a forecast JSON document (``Forecast.to_json``).

        Times (seconds or ISO 8601, the document's ``time_base``) become seconds from the
        first curve time; ``now`` is the evidence end. A document that is not an ``ok``
        forecast with a usable curve is refused with a :class:`ConfigError` naming ``name``.
        """
        return _forecast_outbreak(doc, name)

    def state_time(self, state: str) -> float:
        """The time (s) of an outbreak state: ``now`` (a forecast's evidence end), ``peak``,
        ``NN%`` of the peak rate, or a time since the start."""
        s = state.strip().lower()
        if s == "now":
            if not math.isfinite(self.now):
                raise ConfigError("outbreak state 'now' needs a forecast (--forecast FILE)")
            return float(self.now)
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
            raise ConfigError(f"bad outbreak state {state!r}: use now, peak, NN% or a time "
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


MAX_FORECAST_BYTES = 16 * 1024 * 1024
"""Largest forecast JSON file read (a curve of a few thousand points is well under 1 MB)."""


def _bad(name: str, why: str) -> ConfigError:
    return ConfigError(f"not a usable forecast: {why}", path=name)


def _seconds(values: Sequence[Any], kind: str, name: str, what: str) -> F64:
    """Times of a forecast document (seconds or ISO text) as absolute seconds."""
    from wormsign.forecast.observations import TimeBase

    tb = TimeBase(kind)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or isinstance(v, bool) or not isinstance(v, str | int | float):
            raise _bad(name, f"{what}[{i}] is not a time")
        try:
            out[i] = tb.parse(v)
        except ConfigError:
            raise _bad(name, f"{what}[{i}] is not a time ({kind})") from None
    if not np.all(np.isfinite(out)):
        raise _bad(name, f"{what} has a time that is not finite")
    return out


def _forecast_outbreak(doc: Mapping[str, Any], name: str) -> Outbreak:
    if not isinstance(doc, Mapping):
        raise _bad(name, "the document is not a JSON object")
    schema = doc.get("schema")
    if not isinstance(schema, str) or not schema.startswith("wormsign.forecast/"):
        raise _bad(name, "no wormsign.forecast schema (write it with `wormsign forecast --json`)")
    status = doc.get("status")
    if status != "ok":
        reason = " ".join(str(doc.get("reason") or "").split())[:160]
        raise _bad(name, f"status is {str(status)[:40]!r}" + (f" ({reason})" if reason else ""))
    kind = doc.get("time_base", "seconds")
    if kind not in ("seconds", "iso"):
        raise _bad(name, "time_base must be seconds or iso")
    curve = doc.get("curve")
    if not isinstance(curve, Mapping):
        raise _bad(name, "no curve")
    times, rates = curve.get("t"), curve.get("probe_rate_p50")
    if not isinstance(times, list) or not isinstance(rates, list) or len(times) != len(rates):
        raise _bad(name, "curve.t and curve.probe_rate_p50 must be lists of one length")
    keep = [i for i, r in enumerate(rates) if isinstance(r, int | float)
            and not isinstance(r, bool) and math.isfinite(r) and r >= 0]
    if len(keep) < 2:
        raise _bad(name, "the curve has fewer than 2 usable points")
    t = _seconds([times[i] for i in keep], str(kind), name, "curve.t")
    if np.any(np.diff(t) <= 0):
        raise _bad(name, "curve.t is not increasing")
    rate = np.array([float(rates[i]) for i in keep], dtype=np.float64)
    evidence = doc.get("evidence")
    end = evidence.get("to") if isinstance(evidence, Mapping) else None
    now = _seconds([end], str(kind), name, "evidence.to")[0] if end is not None else t[-1]
    family = doc.get("family")
    fam = f"family {str(family)[:40]}, " if isinstance(family, str) and family else ""
    source = (f"forecast {name} ({fam}{str(doc.get('method', ''))[:20]} fit, "
              f"evidence to {str(end)[:40]})")
    return Outbreak(t - t[0], rate, source, now=float(now - t[0]))


def read_forecast(path: str) -> dict[str, Any]:
    """A forecast JSON file (``wormsign forecast --json``) as a checked document.

    A file that cannot be read, is not JSON or not an ``ok`` forecast with a usable curve
    is a one-line :class:`ConfigError` naming the file.
    """
    raw = read_limited(path, MAX_FORECAST_BYTES, "forecast", allow_pipe=True)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _bad(path, "not a JSON document") from None
    Outbreak.from_forecast(doc, name=path)
    return dict(doc)


def forecast_advisories(family: object, advisories: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """The advisories (id → worm families) a forecast of ``family`` speaks for: those whose
    worms include it, or every advisory when the family is unknown or names none of them."""
    if isinstance(family, str) and family:
        ids = frozenset(i for i, worms in advisories.items() if family in worms)
        if ids:
            return ids
    return frozenset(advisories)


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
    simulator first, ``sim`` requires it, ``closed-form`` never uses it).

    With a ``forecast`` outbreak, the advisories named in ``forecast_ids`` take their urgency
    from it (state ``now`` by default); the others keep their preset, at ``peak`` when the
    state is ``now`` (a preset has no "now").
    """

    def __init__(self, state: str | None = None, source: str = "auto", seed: int = 1, *,
                 forecast: Outbreak | None = None,
                 forecast_ids: frozenset[str] = frozenset()) -> None:
        if source not in ("auto", "sim", "closed-form"):
            raise ConfigError(f"outbreak model source {source!r}: auto, sim or closed-form")
        self.state = state or ("now" if forecast is not None else "peak")
        self.source = source
        self.seed = seed
        self.forecast = forecast
        self.forecast_ids = forecast_ids
        self._cache: dict[tuple[Any, ...], Urgency] = {}
        self._forecast_urgency: Urgency | None = None
        if forecast is not None:
            t0 = forecast.state_time(self.state)
            self._forecast_urgency = Urgency(forecast.expected_wait(t0), t0, self.state,
                                             forecast.source)

    def for_advisory(self, advisory_id: str, model: Mapping[str, Any] | None) -> Urgency:
        """The urgency of one advisory: from the forecast when it applies, else its model."""
        if self._forecast_urgency is not None and advisory_id in self.forecast_ids:
            return self._forecast_urgency
        return self.for_model(model)

    def describe_source(self) -> str:
        """One line saying where urgency comes from (the forecast file, or presets)."""
        if self._forecast_urgency is None:
            return f"urgency from the advisories' outbreak presets at state '{self.state}'"
        ids = ", ".join(sorted(self.forecast_ids)) or "no advisory"
        return (f"urgency from {self._forecast_urgency.source} at state '{self.state}' for "
                f"{ids}: first probe of an internet-facing address in about "
                f"{human(self._forecast_urgency.wait_s)}")

    def to_dict(self) -> dict[str, Any]:
        """The ``urgency`` member of ``assess --json`` (present only with a forecast)."""
        u = self._forecast_urgency
        return {"source": "forecast" if u is not None else "preset", "state": self.state,
                "detail": None if u is None else u.source,
                "advisories": sorted(self.forecast_ids),
                "wait_s": None if u is None or math.isinf(u.wait_s) else round(u.wait_s, 1)}

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
        state = "peak" if self.state.strip().lower() == "now" else self.state
        t0 = outbreak.state_time(state)
        return Urgency(outbreak.expected_wait(t0), t0, state, outbreak.source)
