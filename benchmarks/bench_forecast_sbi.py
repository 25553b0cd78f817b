"""Benchmark of the simulation-based forecast (``wormsign.forecast.sbi.fit``), issue 11.

Run: ``python benchmarks/bench_forecast_sbi.py`` (``--quick`` for fewer outbreaks and runs;
``--skip-timing`` / ``--skip-skill`` for one part).

Measures, on this machine:
  1. timing: one fit at the default settings (150 runs, the code-red-ii preset as prior and
     template, 2 local worker processes) of a hidden code-red-ii-like outbreak seen through
     44.0.0.0/8 at 5 % infected: wall time (target <= 60 s on 2 cores) and CPU time (this
     process and its workers);
  2. skill: outbreaks with hidden parameters drawn inside the prior's range (local
     preference; half of them with removal), each observed through a /8 and a /16 up to
     the moment 5 % of the vulnerable hosts are infected, fitted, and compared with what the
     hidden run did next: coverage of the 90 % intervals of infected_now, t50, t90 and
     final_size (at now + horizon), and the median absolute error of t50 / t90 as a share
     of the time still to go from now (|forecast - truth| / (truth - now)) and of
     final_size / infected_now as a share of the truth (a time the hidden run did not reach
     within the horizon counts for coverage only). ``--scale small`` (default) uses a
     2^28-address clustered population of 20,000 so that many outbreaks fit in minutes;
     ``--scale preset`` the code-red-ii preset itself (about 2 CPU minutes per fit).
Prints one line per figure; exits 1 if the timing target is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from wormsign.forecast import sbi
from wormsign.forecast.result import Forecast
from wormsign.sim import Scenario, load_preset, simulate

HORIZON_S = 36 * 3600.0
SMALL = Scenario(name="small-crii", address_bits=28, vulnerable=20_000, scan_rate=0.3,
                 initial=10, hours=24, strategy="local-preference", placement="clustered",
                 exclude=("127.0.0.0/8", "224.0.0.0/3"), step_s=60)
MONITORS = ("44.0.0.0/8", "24.0.0.0/16")


@dataclass(frozen=True)
class BenchPrior:
    """The attributes of forecast.priors.Prior that sbi.fit reads."""

    preset: str | None
    strategy: str
    scan_rate: float
    vulnerable: int
    initial: int
    removal: bool = False
    scan_rate_given: bool = False
    vulnerable_given: bool = False
    sources: tuple[str, ...] = ()


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def hidden_run(sc: Scenario, seed: int, block: str) -> tuple[Any, float]:
    """The hidden outbreak watched through ``block`` (long enough for the horizon) and the
    moment 5 % of its vulnerable hosts are infected."""
    first = simulate(dataclasses.replace(sc, telescopes=(block,)), seed)
    t5 = float(np.interp(0.05 * sc.vulnerable, first.ever_infected, first.t))
    hours = max(sc.hours, (t5 + HORIZON_S) / 3600.0 + 1.0)
    res = simulate(dataclasses.replace(sc, telescopes=(block,), hours=hours), seed)
    return res, float(np.interp(0.05 * sc.vulnerable, res.ever_infected, res.t))


def observe(res: Any, block: str, t5: float) -> Any:
    """What ``block`` saw up to ``t5`` in about 24 intervals (whole minutes)."""
    interval = max(60.0, 60.0 * round(t5 / 24.0 / 60.0))
    until = interval * math.floor(t5 / interval)
    return sbi.observe(res, block, until_s=until, interval_s=interval)


def bench_timing(runs: int, workers: int) -> float:
    preset = load_preset("code-red-ii")
    truth = dataclasses.replace(preset, scan_rate=0.6, vulnerable=200_000, step_s=60)
    res, t5 = hidden_run(truth, 21, "44.0.0.0/8")
    obs = observe(res, "44.0.0.0/8", t5)
    prior = BenchPrior("code-red-ii", preset.strategy, preset.scan_rate, preset.vulnerable,
                       preset.initial)
    sbi.fit(obs, prior, runs=8, seed=9, workers=1, horizon_s=HORIZON_S)  # JIT cache load
    c0, t0 = _cpu(), time.perf_counter()
    fc = sbi.fit(obs, prior, runs=runs, seed=1, workers=workers)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    print(f"timing: one fit, {runs} runs, code-red-ii, {workers} workers, "
          f"{obs.sources_total} sources in {obs.edges.size - 1} intervals: "
          f"wall {wall:.1f} s (target <= 60 s), CPU {cpu:.1f} s, status {fc.status}")
    if fc.ok:
        now = fc.estimates["infected_now"]
        print(f"        infected_now {now.estimate:.0f} [{now.p5:.0f}, {now.p95:.0f}] "
              f"(truth {np.interp(obs.end, res.t, res.ever_infected):.0f})")
    return wall


def _reached(t: float) -> float:
    """A threshold time, +inf when the hidden run never reached it."""
    return t if math.isfinite(t) else math.inf


def truth_of(res: Any, now: float, vulnerable: int) -> dict[str, float]:
    return {"infected_now": float(np.interp(now, res.t, res.ever_infected)),
            "t50": _reached(res.threshold_times[1]), "t90": _reached(res.threshold_times[2]),
            "final_size": float(np.interp(now + HORIZON_S, res.t, res.ever_infected)),
            "vulnerable": float(vulnerable)}


def score(fc: Forecast, truth: dict[str, float], now: float) -> dict[str, tuple[bool, float]]:
    """Per estimate: (truth inside the 90 % interval, relative error)."""
    out = {}
    for key in ("infected_now", "t50", "t90", "final_size"):
        iv, true = fc.estimates[key], truth[key]
        if math.isinf(true):  # not reached in the hidden run: covered if p95 is beyond too
            out[key] = (not math.isfinite(iv.p95), math.nan)
            continue
        lo = iv.p5 if math.isfinite(iv.p5) else -math.inf
        hi = iv.p95 if math.isfinite(iv.p95) else math.inf
        scale = (true - now) if key in ("t50", "t90") else true
        err = abs(iv.estimate - true) / scale if math.isfinite(iv.estimate) else math.inf
        out[key] = (lo <= true <= hi, err)
    return out


def hidden_scenarios(base: Scenario, n: int, seed: int) -> list[tuple[Scenario, float | None]]:
    """``n`` outbreaks with parameters drawn from the prior; every other one with removal."""
    rng = np.random.default_rng(seed)
    out: list[tuple[Scenario, float | None]] = []
    for i in range(n):
        rate = base.scan_rate * math.exp(rng.normal(0.0, 0.6))
        vuln = round(base.vulnerable * math.exp(rng.uniform(-0.5, 0.5)))
        removal = float(math.exp(rng.uniform(math.log(0.03), math.log(0.2)))) if i % 2 else None
        sc = dataclasses.replace(base, scan_rate=rate, vulnerable=vuln,
                                 removal_rate=((0.0, removal),) if removal else ())
        out.append((sc, removal))
    return out


def _pct(e: float) -> str:
    return "not reached" if math.isnan(e) else f"{e:.0%}"


def bench_skill(base: Scenario, preset: str | None, n: int, runs: int, workers: int) -> None:
    rows: dict[str, list[tuple[bool, float]]] = {}
    fits, enough, cpu0 = 0, 0, _cpu()
    t0 = time.perf_counter()
    for i, (sc, removal) in enumerate(hidden_scenarios(base, n, 5)):
        for block in MONITORS:
            res, t5 = hidden_run(sc, 100 + i, block)
            obs = observe(res, block, t5)
            prior = BenchPrior(preset, base.strategy, base.scan_rate, base.vulnerable,
                               base.initial, removal=removal is not None)
            fc = sbi.fit(obs, prior, runs=runs, seed=1, workers=workers, horizon_s=HORIZON_S,
                         scenario=None if preset else base)
            fits += 1
            tag = f"{'removal' if removal else 'no-removal'} {block}"
            if not fc.ok:
                print(f"  outbreak {i} {tag}: {fc.status} ({fc.reason}); "
                      f"{obs.sources_total} sources")
                continue
            enough += 1
            s = score(fc, truth_of(res, obs.end, sc.vulnerable), obs.end)
            for key, v in s.items():
                rows.setdefault(f"{key} {block}", []).append(v)
                rows.setdefault(key, []).append(v)
            print(f"  outbreak {i} {tag}: rate {sc.scan_rate:.2f} N {sc.vulnerable} "
                  f"{obs.sources_total} sources; " + ", ".join(
                      f"{k} {'in' if c else 'OUT'} {_pct(e)}" for k, (c, e) in s.items()))
    print(f"skill: {fits} fits ({enough} with enough evidence), {runs} runs each, "
          f"{time.perf_counter() - t0:.0f} s wall, {_cpu() - cpu0:.0f} s CPU")
    for key, vals in rows.items():
        cov = sum(c for c, _ in vals) / len(vals)
        errs = [e for _, e in vals if not math.isnan(e)]
        mdape = f"{statistics.median(errs):.0%}" if errs else "-"
        print(f"  {key:<24} n={len(vals):<3} coverage(90%) {cov:.0%}  median abs error "
              f"{mdape} (n={len(errs)}; {len(vals) - len(errs)} not reached in the "
              "hidden run)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-skill", action="store_true")
    ap.add_argument("--scale", choices=("small", "preset"), default="small")
    ap.add_argument("--outbreaks", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    ok = True
    if not a.skip_timing:
        ok = bench_timing(a.runs or 150, a.workers) <= 60.0
    if not a.skip_skill:
        n = a.outbreaks or (2 if a.quick else 6)
        runs = a.runs or (60 if a.quick else 200)
        if a.scale == "preset":
            bench_skill(load_preset("code-red-ii"), "code-red-ii", n, runs, a.workers)
        else:
            bench_skill(SMALL, None, n, runs, a.workers)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
