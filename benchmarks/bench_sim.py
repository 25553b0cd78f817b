"""Benchmark of ``wormsign simulate`` against the targets of issue 3.

Run: ``python benchmarks/bench_sim.py`` (add ``--quick`` for fewer repetitions).

Measures, on this machine:
  1. one full-scale run (2^32 addresses, 360,000 vulnerable, 10 probes/s, 10 initial, 8 h,
     uniform) in one process on one core, after JIT warm-up (target <= 0.5 s);
  2. the whole ``wormsign simulate ... --json`` command, a fresh process (target <= 3 s);
  3. 100 Monte Carlo runs of it on 2 local worker processes (target <= 30 s);
and, as the baseline measured in the same run, the per-probe brute force with numpy: the
time to draw and check a sample of probes, extrapolated to the ~5.5e10 probes of one run.
Prints one line per figure; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from wormsign.sim import Scenario, simulate
from wormsign.sim.montecarlo import run_many

FULL = Scenario(address_bits=32, vulnerable=360_000, scan_rate=10.0, initial=10, hours=8.0,
                strategy="uniform")
CLI = ["--address-bits", "32", "--vulnerable", "360000", "--scan-rate", "10", "--initial",
       "10", "--hours", "8", "--strategy", "uniform", "--seed", "1", "--json"]


def bench_one_run(reps: int) -> tuple[float, float]:
    simulate(FULL, seed=0)  # JIT warm-up / cache load
    times, t50 = [], []
    for seed in range(1, reps + 1):
        t0 = time.perf_counter()
        res = simulate(FULL, seed=seed)
        times.append(time.perf_counter() - t0)
        t50.append(res.threshold_times[1])
    return statistics.median(times), statistics.mean(t50)


def bench_cli(reps: int) -> float:
    cmd = [sys.executable, "-m", "wormsign", "simulate", *CLI]
    subprocess.run(cmd, check=True, capture_output=True)  # fill the JIT cache on disk
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_monte_carlo(runs: int, workers: int) -> tuple[float, dict[str, float | None]]:
    t0 = time.perf_counter()
    ens = run_many(FULL, runs, seed=2026, workers=workers)
    elapsed = time.perf_counter() - t0
    return elapsed, ens.summary()["t50_s"]


def baseline_numpy_per_probe(sample: int = 20_000_000) -> float:
    """Seconds per probe for a straightforward numpy brute force (draw, look up, mark)."""
    rng = np.random.default_rng(0)
    vulnerable = np.sort(rng.choice(2**32, size=FULL.vulnerable, replace=False))
    infected = np.zeros(FULL.vulnerable, dtype=bool)
    t0 = time.perf_counter()
    done = 0
    while done < sample:
        probes = rng.integers(0, 2**32, size=1_000_000, dtype=np.int64)
        idx = np.searchsorted(vulnerable, probes)
        idx[idx == vulnerable.size] = 0
        hit = vulnerable[idx] == probes
        infected[idx[hit]] = True
        done += probes.size
    return (time.perf_counter() - t0) / done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--runs", type=int, default=100, help="Monte Carlo runs (default 100)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args()
    reps = 3 if args.quick else 7
    print(f"machine: {os.cpu_count()} cores; figures are medians, wall-clock seconds")

    one, mean_t50 = bench_one_run(reps)
    cli = bench_cli(3 if args.quick else 5)
    mc, t50 = bench_monte_carlo(args.runs, args.workers)
    per_probe = baseline_numpy_per_probe(5_000_000 if args.quick else 20_000_000)
    probes = 5.5e10
    brute = per_probe * probes

    rows = [
        ("one full-scale run (1 core, after warm-up)", one, 0.5),
        ("wormsign simulate ... --json (whole command)", cli, 3.0),
        (f"{args.runs} Monte Carlo runs on {args.workers} workers", mc, 30.0),
    ]
    ok = True
    for name, value, target in rows:
        flag = "ok" if value <= target else "MISSED"
        ok &= value <= target
        print(f"{name:48} {value:8.3f} s   target <= {target:g} s   {flag}")
    print(f"{'baseline: numpy per-probe brute force, one run':48} {brute:8.0f} s   "
          f"({per_probe * 1e9:.1f} ns/probe x {probes:.1e} probes)")
    print(f"{'speed-up of one run over the baseline':48} {brute / one:8.0f} x")
    print(f"t50 over {reps} runs: mean {mean_t50:,.0f} s; over {args.runs} runs: "
          f"mean {t50['mean']:,.0f} s, sd {t50['sd']:,.0f} s "
          f"(per-probe reference: 12,690 +- 550 s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
