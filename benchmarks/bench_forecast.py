"""The skill of ``wormsign forecast``, measured (issue 11, point 6).

Run: ``python benchmarks/bench_forecast.py [--quick] [--outbreaks N] [--cases uniform,...]
[--methods auto,closed-form] [--intervals laplace|bootstrap|profile] [--json OUT.json]``.

Generates outbreaks from hidden parameters with the simulator (scan rate log-uniform in
2..20 probes/s, population log-uniform in 80,000..400,000, 1..50 initially infected; uniform
or local-preference scanning, with or without removal), observes each through a /8
(44.0.0.0/8), a /16 (44.1.0.0/16) and one address (44.2.3.4), and forecasts from what each
monitor saw up to the moment 1 %, 5 % and 10 % of the population is infected. For t50, t90
(seconds from the outbreak's start) and the final size it reports the coverage of the 90 %
interval and the median absolute percentage error (MdAPE), against two naive baselines:

- ``exp``: exponential growth fitted to the observed cumulative sources, scaled up by the
  share of infected hosts a monitor of that size has seen (at the preset's scan rate), and
  extrapolated to half and 90 % of the preset's population;
- ``preset``: the preset's own simulated curve seen through the same monitor, shifted in time
  so that it has the observed count now.

MdAPE is over the cases where the forecast answered (a ``not-enough-evidence`` answer is
counted in ``answered``, not as an error); a baseline with no answer there counts as an
infinite error. Also times a closed-form fit of a 48-point series (bar: <= 1 s).
Prints a markdown table; exits 1 when a bar of the issue is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from wormsign.forecast.observations import Monitor, Observations, TimeBase
from wormsign.forecast.priors import Prior, prior_for
from wormsign.forecast.result import Forecast
from wormsign.sim import Scenario, SimResult, load_preset, simulate

TELESCOPES = {"/8": ("44.0.0.0/8", 2**24), "/16": ("44.1.0.0/16", 2**16),
              "/32": ("44.2.3.4/32", 1)}
SOURCES_ONLY = {"/8 sources": "/8", "/16 sources": "/16"}
"""Extra monitors (``--monitors``): the same telescopes with the probe counts withheld, as
when the evidence is the first-seen time of each source in a log."""
MONITORS = ["/8", "/16", "/32"]
FRACTIONS = (0.01, 0.05, 0.10)
TARGETS = ("t50", "t90", "final_size")
PARAMS = ("growth_per_hour", "scan_rate")
"""Parameters whose 90 % intervals are checked against the hidden values (the growth
K = r N / 2^32 and the scan rate r; removal and local preference make K only nominal)."""
CASES = {"uniform": ("uniform", False), "uniform+removal": ("uniform", True),
         "local": ("local-preference", False), "local+removal": ("local-preference", True)}
PRESET_OF = {"uniform": "code-red-v2", "local-preference": "code-red-ii"}
GENERIC_REMOVAL = 0.3
"""Removal rate (per hour) of the prior preset for the cases with removal: the forecaster is
told that hosts are being removed, not how fast (the hidden rate differs per outbreak)."""


def prior_presets(folder: str) -> dict[str, str]:
    """Case -> the preset (name or YAML file) that serves as the forecast's prior: the
    family's preset, plus a generic removal rate for the cases with removal."""
    import yaml

    out = {}
    for case, (strategy, removal) in CASES.items():
        name = PRESET_OF[strategy]
        if removal:
            data = load_preset(name).to_dict()
            data.update(name=f"{name}+removal", removal_rate=[[0.0, GENERIC_REMOVAL]])
            path = os.path.join(folder, f"{name}+removal.yaml")
            with open(path, "w", encoding="utf-8") as fh:
                yaml.safe_dump(data, fh)
            name = path
        out[case] = name
    return out
SPACE = float(2**32)


@dataclasses.dataclass(frozen=True)
class Outbreak:
    case: str
    seed: int
    scenario: Scenario
    result: SimResult

    def truth(self) -> dict[str, float]:
        _t10, t50, t90 = self.result.threshold_times
        return {"t50": t50, "t90": t90, "final_size": float(self.result.ever_infected[-1]),
                "growth_per_hour": self.scenario.scan_rate * self.scenario.vulnerable / SPACE
                * 3600.0, "scan_rate": self.scenario.scan_rate}


def make_outbreak(case: str, seed: int) -> Outbreak | None:
    """One outbreak with hidden parameters drawn from ``seed`` (None when it never got to
    90 % within the simulated time)."""
    strategy, removal = CASES[case]
    rng = np.random.default_rng([2026, seed])
    r = float(np.exp(rng.uniform(math.log(2.0), math.log(20.0))))
    n = int(np.exp(rng.uniform(math.log(8e4), math.log(4e5))))
    i0 = int(rng.integers(1, 51))
    k_h = r * n / SPACE * 3600.0
    extra: dict[str, Any] = {}
    if removal:
        extra["removal_rate"] = ((0.0, float(rng.uniform(0.1, 0.4)) * k_h),)
    if strategy == "local-preference":
        extra.update(placement="clustered", exclude=("127.0.0.0/8", "224.0.0.0/3"),
                     local_probs=(0.125, 0.5, 0.375), local_prefixes=(8, 16))
    t99_h = (math.log(n / i0) + math.log(99.0)) / k_h * (1.6 if removal else 1.3)
    step = float(np.clip(round(t99_h * 3600 / 200 / 60) * 60, 60, 300))
    sc = Scenario(name=f"{case}-{seed}", vulnerable=n, scan_rate=r, initial=i0,
                  hours=min(t99_h + 1.0, 24 * 30), step_s=step, strategy=strategy,
                  telescopes=tuple(b for b, _ in TELESCOPES.values()), **extra)
    res = simulate(sc, seed=seed)
    if not math.isfinite(res.threshold_times[2]):
        return None
    return Outbreak(case, seed, sc, res)


def observe(ob: Outbreak, monitor: str, frac: float) -> Observations | None:
    """What ``monitor`` saw up to the step in which ``frac`` of the population was infected."""
    if monitor in SOURCES_ONLY:
        obs = observe(ob, SOURCES_ONLY[monitor], frac)
        return None if obs is None else dataclasses.replace(obs, probes=None)
    res = ob.result
    hit = np.nonzero(res.ever_infected >= frac * ob.scenario.vulnerable)[0]
    if hit.size == 0:
        return None
    j = int(hit[0]) + 1
    block, size = TELESCOPES[monitor]
    probes, sources = res.telescopes[block]
    return Observations(
        monitor=Monitor(size, (block,), monitor), timebase=TimeBase(),
        edges=np.concatenate(([0.0], res.t[:j])),
        new_sources=np.diff(sources[:j], prepend=0.0), probes=np.asarray(probes[:j], float),
        family=None, now=float(res.t[j - 1]))


# ------------------------------------------------------------------------- baselines
def exp_baseline(obs: Observations, prior: Prior) -> dict[str, float]:
    """Exponential extrapolation of the observed cumulative sources."""
    nan = dict.fromkeys(TARGETS, math.nan)
    if obs.new_sources is None:
        return nan
    cum = np.cumsum(obs.new_sources)
    t = obs.edges[1:]
    ok = np.nonzero(cum >= 1)[0]
    ok = ok[ok.size // 2:]
    if ok.size < 2 or float(np.ptp(t[ok])) <= 0:
        return nan
    g = float(np.polyfit(t[ok], np.log(cum[ok]), 1)[0])
    if not g > 0:
        return nan
    delta = prior.scan_rate * obs.monitor.size / SPACE
    seen_share = delta / (g + delta)
    i_now = float(cum[-1]) / seen_share
    n0 = float(prior.vulnerable)
    now = obs.end
    return {"t50": now + math.log(max(n0 / 2 / i_now, 1e-9)) / g,
            "t90": now + math.log(max(0.9 * n0 / i_now, 1e-9)) / g, "final_size": n0}


class PresetBaseline:
    """The preset's own curve through the same monitors, aligned at the observed count."""

    def __init__(self, preset: str) -> None:
        sc = load_preset(preset)
        sc = dataclasses.replace(sc, telescopes=tuple(b for b, _ in TELESCOPES.values()),
                                 calendar=False, hours=max(sc.hours, 48.0), step_s=60.0,
                                 placement=sc.placement)
        self.result = simulate(sc, seed=0)
        self.n = float(self.result.ever_infected[-1])

    def predict(self, obs: Observations, monitor: str) -> dict[str, float]:
        res = self.result
        cum_now = float(np.sum(obs.new_sources)) if obs.new_sources is not None else 0.0
        nan = dict.fromkeys(TARGETS, math.nan)
        sources = res.telescopes[TELESCOPES[SOURCES_ONLY.get(monitor, monitor)][0]][1]
        hit = np.nonzero(sources >= cum_now)[0]
        if cum_now < 1 or hit.size == 0:
            return nan
        shift = obs.end - float(res.t[int(hit[0])])
        t50, t90 = res.threshold_times[1], res.threshold_times[2]
        return {"t50": t50 + shift, "t90": t90 + shift, "final_size": self.n}


# ------------------------------------------------------------------------- forecasts
INTERVALS = ["laplace"]
"""How the closed form makes its intervals (``--intervals``)."""


def forecaster(method: str) -> Callable[[Observations, str], Forecast]:
    """``auto``: wormsign.forecast.api.forecast when it exists (it dispatches local
    preference and removal to the simulation-based fit), else the closed form."""
    from wormsign.forecast import closedform

    api: Any = None
    if method == "auto":
        try:
            api = importlib.import_module("wormsign.forecast.api")
        except ImportError:
            api = None

    def run(obs: Observations, preset: str) -> Forecast:
        if api is not None:
            return api.forecast(  # type: ignore[no-any-return]
                obs, preset=preset, seed=1, intervals=INTERVALS[0])
        return closedform.fit(obs, prior_for(None, preset=preset), seed=1,
                              intervals=INTERVALS[0])

    return run


def _ape(pred: float, truth: float) -> float:
    return abs(pred - truth) / abs(truth) if math.isfinite(pred) else math.inf


def evaluate(outbreaks: list[Outbreak], methods: list[str],
             preset_of: dict[str, str]) -> list[dict[str, Any]]:
    """One record per (outbreak, monitor, fraction, method) with predictions and truth."""
    rows: list[dict[str, Any]] = []
    presets: dict[str, PresetBaseline] = {}
    fitters = {m: forecaster(m) for m in methods}
    for ob in outbreaks:
        preset = preset_of[ob.case]
        if preset not in presets:
            presets[preset] = PresetBaseline(preset)
        prior = prior_for(None, preset=preset)
        truth = ob.truth()
        for monitor in MONITORS:
            for frac in FRACTIONS:
                obs = observe(ob, monitor, frac)
                if obs is None:
                    continue
                base = {"case": ob.case, "seed": ob.seed, "monitor": monitor, "at": frac,
                        "truth": truth, "sources": obs.sources_total}
                for name, fn in fitters.items():
                    t0 = time.perf_counter()
                    fc = fn(obs, preset)
                    el = time.perf_counter() - t0
                    pred = {k: (fc.estimates[k].estimate, fc.estimates[k].p5,
                                fc.estimates[k].p95) if fc.ok else None for k in TARGETS}
                    par = {k: (fc.params[k].p5, fc.params[k].p95)
                           for k in PARAMS if fc.ok and k in fc.params}
                    rows.append({**base, "method": name, "ok": fc.ok, "seconds": el,
                                 "method_used": fc.method, "reason": fc.reason, "pred": pred,
                                 "params": par})
                for name, p in (("exp", exp_baseline(obs, prior)),
                                ("preset", presets[preset].predict(obs, monitor))):
                    rows.append({**base, "method": name, "ok": True, "seconds": 0.0,
                                 "pred": {k: (p[k], math.nan, math.nan) for k in TARGETS}})
    return rows


def summarise(rows: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """Coverage and MdAPE per (case, monitor, fraction, method), on the cases where the
    first forecast method answered."""
    out = []
    keys = sorted({(r["case"], r["monitor"], r["at"]) for r in rows},
                  key=lambda k: (list(CASES).index(k[0]), MONITORS.index(k[1]), k[2]))
    lead = methods[0]
    for case, mon, at in keys:
        group = [r for r in rows if (r["case"], r["monitor"], r["at"]) == (case, mon, at)]
        answered = {(r["seed"]) for r in group if r["method"] == lead and r["ok"]}
        total = len({r["seed"] for r in group})
        for m in [*methods, "exp", "preset"]:
            sel = [r for r in group if r["method"] == m and r["seed"] in answered]
            rec: dict[str, Any] = {"case": case, "monitor": mon, "at": at, "method": m,
                                   "answered": len(answered), "outbreaks": total}
            for k in TARGETS:
                apes, cover = [], []
                for r in sel:
                    truth = r["truth"][k]
                    pred = r["pred"][k]
                    if pred is None:
                        apes.append(math.inf)
                        continue
                    apes.append(_ape(pred[0], truth))
                    if math.isfinite(pred[1]):
                        cover.append(pred[1] <= truth <= pred[2])
                rec[f"mdape_{k}"] = statistics.median(apes) if apes else math.nan
                rec[f"cover_{k}"] = sum(cover) / len(cover) if cover else math.nan
            secs = [r["seconds"] for r in sel if r["seconds"] > 0]
            rec["median_s"] = statistics.median(secs) if secs else math.nan
            out.append(rec)
    return out


def param_table(rows: list[dict[str, Any]], method: str) -> str:
    """Coverage of the hidden growth and scan rate by the 90 % parameter intervals of
    ``method``, per case, monitor and fraction (answered forecasts only)."""
    lines = ["| case | monitor | at | cov growth | cov scan rate |", "|---|---|---|---|---|"]
    keys = sorted({(r["case"], r["monitor"], r["at"]) for r in rows},
                  key=lambda k: (list(CASES).index(k[0]), MONITORS.index(k[1]), k[2]))
    for key in keys:
        sel = [r for r in rows if (r["case"], r["monitor"], r["at"]) == key
               and r["method"] == method and r["ok"]]
        cells = []
        for k in PARAMS:
            hits = [r["params"][k][0] <= r["truth"][k] <= r["params"][k][1]
                    for r in sel if k in r.get("params", {})]
            cells.append(_pct(sum(hits) / len(hits)) if hits else "–")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]:.0%} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def _pct(x: float) -> str:
    if not math.isfinite(x):
        return "–" if math.isnan(x) else "∞"
    return f"{100 * x:.0f}%" if x >= 0.1 else f"{100 * x:.1f}%"


def _secs(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.2f}"


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def table(summary: list[dict[str, Any]]) -> str:
    head = ("| case | monitor | at | method | answered | cov t50 | cov t90 | cov final "
            "| MdAPE t50 | MdAPE t90 | MdAPE final | fit s |")
    lines = [head, "|" + "---|" * 12]
    for r in summary:
        lines.append(
            f"| {r['case']} | {r['monitor']} | {r['at']:.0%} | {r['method']} "
            f"| {r['answered']}/{r['outbreaks']} | {_pct(r['cover_t50'])} "
            f"| {_pct(r['cover_t90'])} | {_pct(r['cover_final_size'])} "
            f"| {_pct(r['mdape_t50'])} | {_pct(r['mdape_t90'])} "
            f"| {_pct(r['mdape_final_size'])} "
            f"| {_secs(r['median_s'])} |")
    return "\n".join(lines)


def time_48(ob: Outbreak, intervals: str = "laplace") -> float:
    """Median seconds of a closed-form fit of a 48-interval series (the /8 at 5 %, rebinned)
    with ``intervals``."""
    from wormsign.forecast import closedform

    obs = observe(ob, "/8", 0.05)
    assert obs is not None and obs.new_sources is not None and obs.probes is not None
    idx = np.linspace(0, obs.edges.size - 1, 49).round().astype(int)
    cs = np.concatenate(([0.0], np.cumsum(obs.new_sources)))
    cp = np.concatenate(([0.0], np.cumsum(obs.probes)))
    o48 = Observations(monitor=obs.monitor, timebase=obs.timebase, edges=obs.edges[idx],
                       new_sources=np.diff(cs[idx]), probes=np.diff(cp[idx]))
    prior = prior_for("code-red")
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        closedform.fit(o48, prior, seed=1, intervals=intervals)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def alarm_table(outbreaks: list[Outbreak]) -> tuple[str, dict[str, Any]]:
    """When the early warning fired, as the share of the population infected by then, per
    case and monitor (observations up to 50 % infected)."""
    from wormsign.forecast.alarm import detect

    shares: dict[tuple[str, str], list[float]] = {}
    for ob in outbreaks:
        for monitor in MONITORS:
            obs = observe(ob, monitor, 0.5)
            if obs is None:
                continue
            alarm = detect(obs)
            share = math.inf
            if math.isfinite(alarm.time):
                j = int(np.searchsorted(ob.result.t, alarm.time))
                share = float(ob.result.ever_infected[j]) / ob.scenario.vulnerable
            shares.setdefault((ob.case, monitor), []).append(share)
    lines = ["| case | monitor | fired | median share infected | worst |", "|---|---|---|---|---|"]
    doc = {}
    for (case, monitor), vals in shares.items():
        fired = [v for v in vals if math.isfinite(v)]
        med = statistics.median(vals)
        lines.append(f"| {case} | {monitor} | {len(fired)}/{len(vals)} | {_pct(med)} "
                     f"| {_pct(max(vals))} |")
        doc[f"{case} {monitor}"] = {"fired": len(fired), "of": len(vals), "median": med,
                                    "worst": max(vals)}
    return "\n".join(lines), doc


def bars(summary: list[dict[str, Any]], methods: list[str]) -> list[str]:
    """The issue's bars that were missed."""
    missed = []
    lead = methods[0]
    for r in summary:
        if r["method"] != lead:
            continue
        if (r["case"], r["monitor"], r["at"]) == ("uniform", "/8", 0.05):
            for k in TARGETS:
                if not r[f"cover_{k}"] >= 0.8:
                    missed.append(f"uniform /8 at 5 %: coverage of {k} {_pct(r[f'cover_{k}'])}")
            if not r["mdape_t90"] <= 0.2:
                missed.append(f"uniform /8 at 5 %: MdAPE of t90 {_pct(r['mdape_t90'])}")
        if r["answered"] == 0:
            continue
        for other in ("exp", "preset"):
            b = next(x for x in summary if x["method"] == other and
                     (x["case"], x["monitor"], x["at"]) == (r["case"], r["monitor"], r["at"]))
            for k in ("t50", "t90"):
                if not r[f"mdape_{k}"] < b[f"mdape_{k}"]:
                    missed.append(f"{r['case']} {r['monitor']} at {r['at']:.0%}: {k} MdAPE "
                                  f"{_pct(r[f'mdape_{k}'])} does not beat {other} "
                                  f"{_pct(b[f'mdape_{k}'])}")
    return missed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 outbreaks per case")
    ap.add_argument("--outbreaks", type=int, default=None, help="outbreaks per case (20)")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    ap.add_argument("--methods", default="auto", help="comma-separated: auto, closed-form")
    ap.add_argument("--monitors", default=",".join(MONITORS),
                    help="comma-separated: " + ", ".join([*TELESCOPES, *SOURCES_ONLY]))
    ap.add_argument("--intervals", default="laplace", choices=("laplace", "bootstrap", "profile"),
                    help="how the closed form makes its intervals (laplace)")
    ap.add_argument("--json", dest="json_path", default=None, help="write the figures here")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    methods = [m for m in args.methods.split(",") if m]
    if any(c not in CASES for c in cases) or any(m not in ("auto", "closed-form")
                                                  for m in methods):
        ap.error("unknown case or method")
    monitors = [m for m in args.monitors.split(",") if m]
    if any(m not in TELESCOPES and m not in SOURCES_ONLY for m in monitors):
        ap.error("unknown monitor")
    MONITORS[:] = monitors
    INTERVALS[:] = [args.intervals]
    per_case = args.outbreaks or (4 if args.quick else 20)
    t_start = time.perf_counter()
    outbreaks: list[Outbreak] = []
    dropped = 0
    for case in cases:
        for seed in range(1, per_case + 1):
            ob = make_outbreak(case, seed)
            if ob is None:
                dropped += 1
            else:
                outbreaks.append(ob)
    t_sim = time.perf_counter() - t_start
    with tempfile.TemporaryDirectory() as folder:
        rows = evaluate(outbreaks, methods, prior_presets(folder))
    summary = summarise(rows, methods)
    fit48 = time_48(outbreaks[0]) if outbreaks else math.nan
    fit48_iv = (time_48(outbreaks[0], args.intervals) if outbreaks and args.intervals != "laplace"
                else fit48)
    print(f"{len(outbreaks)} outbreaks ({per_case} per case, {dropped} that never reached 90 % "
          f"dropped), simulated in {t_sim:.1f} s; forecasts in "
          f"{time.perf_counter() - t_start - t_sim:.1f} s")
    print(table(summary))
    print(f"\nparameter intervals ({methods[0]}, {args.intervals}):\n"
          + param_table(rows, methods[0]))
    print(f"\nclosed-form fit of a 48-point series: {fit48:.3f} s with the default (laplace) "
          f"intervals (bar 1 s)")
    if args.intervals != "laplace":
        print(f"closed-form fit of a 48-point series with {args.intervals} intervals: "
              f"{fit48_iv:.3f} s" + (" (slower than the bar: not the default)"
                                     if fit48_iv > 1.0 else ""))
    alarms, alarm_doc = alarm_table(outbreaks)
    print("\nearly warning (alarm.detect):\n" + alarms)
    missed = bars(summary, methods)
    if fit48 > 1.0:
        missed.append(f"48-point fit took {fit48:.2f} s")
    for m in missed:
        print("MISSED:", m)
    if args.json_path:
        doc = {"outbreaks": len(outbreaks), "per_case": per_case, "dropped": dropped,
               "methods": methods, "intervals": args.intervals, "fit48_s": fit48,
               "fit48_intervals_s": fit48_iv, "summary": summary, "missed": missed,
               "alarm": alarm_doc,
               "rows": rows}
        with open(args.json_path, "w", encoding="utf-8") as fh:
            json.dump(_clean(doc), fh, indent=1)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
