#!/usr/bin/env python3
"""Fit the code-red-v2 preset to CAIDA's cumulative curve of 19 July 2001 and print the table.

    python scripts/fit_code_red.py [--seeds 10] [--seed 1] [--evaluations 50] [--json FILE]

Fits ``initial`` (hosts infected at 11:00 UTC, one hour after the onset Moore, Shannon and
Brown report), ``scan_rate``, ``vulnerable``, a constant ``removal_rate`` (infected hosts that
stop scanning) and a constant ``patch_rate`` (susceptible hosts patched) with
:func:`wormsign.forecast.calibrate.fit_scenario` to the hours 14:00-24:00 of the packaged curve
(13:00 is shown but not fitted: it is the least certain reading of the paper's figure). Then
checks the fit on ``--check-runs`` runs from other seeds: the median at every hour and the
peak of new infections per minute. The fitted values go into
``src/wormsign/sim/presets/code-red-v2.yaml`` by hand, with this table in docs/code-red-fit.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import timedelta

import numpy as np

from wormsign.forecast.calibrate import fit_scenario, published_curve
from wormsign.sim import load_preset
from wormsign.sim.montecarlo import run_many

PARAMS = ("initial", "scan_rate", "vulnerable", "removal_rate@0", "patch_rate@0")
BOUNDS = {
    "initial": (1.0, 3000.0),
    "scan_rate": (2.0, 12.0),
    "vulnerable": (250_000.0, 600_000.0),
    "removal_rate@0": (0.001, 2.0),
    "patch_rate@0": (0.0001, 1.0),
}
FIRST_FITTED_HOUR = 14
START = "2001-07-19T11:00:00Z"
"""The simulated outbreak starts one hour after CRv2's onset (about 10:00 UTC), from the hosts
infected by then: the luck of the first few hosts no longer moves the median of 10 runs."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="runs per evaluation")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--evaluations", type=int, default=50, help="simulator evaluations")
    ap.add_argument("--check-runs", type=int, default=20)
    ap.add_argument("--check-seed", type=int, default=2001)
    ap.add_argument("--json", default=None, metavar="FILE", help="write the fit as JSON")
    ap.add_argument("--params", default=",".join(PARAMS), help="parameters to fit")
    a = ap.parse_args()

    params = a.params.split(",")
    template = dataclasses.replace(load_preset("code-red-v2"), start=START, hours=13.0)
    pub = published_curve("code-red-2001-07-19")
    assert template.start is not None
    points = [(t, n) for (t, n), h in zip(pub.seconds_from(template.start), pub.hours,
                                          strict=True) if h >= FIRST_FITTED_HOUR]
    cal = fit_scenario(template, points, params, BOUNDS, seeds=a.seeds, seed=a.seed,
                       evaluations=a.evaluations)
    print(f"fitted ({cal.runs} runs in {cal.evaluations} evaluations; mean squared log error "
          f"{cal.objective:.5f}, mean field {cal.surrogate_objective:.5f}):")
    for name, value in cal.values:
        print(f"  {name:16} {value:,.6g}")
    print("  at its own seeds: " + ", ".join(
        f"{h:g}h {r:+.1f}%" for h, r in zip(pub.hours[-len(points):], cal.residuals_pct,
                                           strict=True)))

    sc = cal.scenario
    ens = run_many(sc, a.check_runs, seed=a.check_seed, workers=1)
    start = sc.start_datetime()
    assert start is not None
    day = start.replace(hour=0, minute=0, second=0)
    mid = ens.bands["ever_infected"][1]
    print(f"\ncheck: median of {a.check_runs} runs (seed {a.check_seed}) against the curve")
    print("hour UTC  published  simulated  residual")
    rows = []
    for h, n in zip(pub.hours, pub.infected, strict=True):
        t = (day + timedelta(hours=h) - start).total_seconds()
        got = float(np.interp(t, np.concatenate(([0.0], ens.t)),
                              np.concatenate(([float(sc.initial)], mid))))
        rows.append({"hour_utc": h, "published": n, "simulated": round(got),
                     "residual_pct": round(100 * (got / n - 1), 1)})
        print(f"{h:6g}:00  {n:9,.0f}  {got:9,.0f}  {100 * (got / n - 1):+6.1f} %")
    summ = ens.summary()
    peak = summ["peak_new_per_min"]
    peak_t = summ["peak_time_s"]
    # infected hosts that stopped scanning (patched, rebooted, off) by the end
    stopped = float(ens.bands["ever_infected"][1][-1] - ens.bands["infected"][1][-1])
    peak_utc = start + timedelta(seconds=peak_t["p50"])
    print(f"\npeak new infections per minute: median {peak['p50']:,.0f} "
          f"(p5 {peak['p5']:,.0f}, p95 {peak['p95']:,.0f}) at {peak_utc:%H:%M} UTC (median)")
    print(f"infected hosts that stopped scanning by the end: median {stopped:,.0f}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"values": dict(cal.values), "objective": cal.objective,
                       "runs": cal.runs, "check": rows, "peak": peak,
                       "peak_time_utc": peak_utc.isoformat(), "stopped": stopped}, fh,
                      indent=1)


if __name__ == "__main__":
    main()
