"""Speed of the simulator kernel now against the kernel of an earlier commit, same machine, same run.

Run: ``python benchmarks/bench_kernel.py`` (``--quick`` for fewer repetitions,
``--baseline REV`` for another reference, ``--max-ratio 1.05`` to fail when slower).

The baseline's ``src/wormsign`` is extracted with ``git archive`` into a temporary folder (kept
between runs so that numba's on-disk cache spares the compile) and both versions run in fresh
worker processes, alternated round by round so that a busy machine slows both alike. Each
scenario runs after a warm-up with fixed seeds; the figure is the median wall-clock time of
``simulate`` per scenario, and the ratio is after / before (below 1 is faster). Both versions
must also give the same outbreak (the hosts ever infected at every step), or the comparison
is void.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "41ab795"
"""The commit whose kernel is the reference: the goldens of tests/sim/test_kernel_golden.py."""


def scenarios() -> dict[str, object]:
    """The benchmarked scenarios by name: the full-scale run and a few option-heavy ones."""
    from wormsign.sim import Scenario, load_preset

    full = Scenario(address_bits=32, vulnerable=360_000, scan_rate=10.0, initial=10, hours=8.0,
                    strategy="uniform")
    return {
        "full-scale uniform (bench_sim FULL)": full,
        "code-red-v2 (calendar, telescope)": load_preset("code-red-v2"),
        "code-red-v1 (static walk, reboots)": load_preset("code-red-v1"),
        "code-red-ii 16 h (local preference)": dataclasses.replace(
            load_preset("code-red-ii"), hours=16.0),
        "warhol 9 min (hit list, permutation)": dataclasses.replace(
            load_preset("warhol"), hours=0.15),
        # 9 minutes: the scenario work limit refuses 8 hours of sequential walkers at full scale
        "sequential 9 min, telescope": dataclasses.replace(
            full, strategy="sequential", telescopes=("44.0.0.0/8",), hours=0.15),
        "life cycle and every defence": dataclasses.replace(
            full, patch_rate=((0.0, 0.02),), reboot_rate=((2.0, 0.05),),
            removal_rate=((0.0, 0.01),), blacklist_reaction_s=600.0, blacklist_coverage=0.5,
            content_filter_reaction_s=3600.0, content_filter_coverage=0.3,
            infection_delay_s=30.0, filter_block="0.0.0.0/2", filter_ingress=True,
            telescopes=("44.0.0.0/8", "10.0.0.0/8")),
    }


def worker(reps: int) -> None:
    """Time every scenario with the ``wormsign`` on ``sys.path``; print JSON on stdout."""
    from wormsign.sim import simulate

    cases = scenarios()
    result: dict[str, dict[str, object]] = {}
    for name, sc in cases.items():
        simulate(sc, seed=0)  # type: ignore[arg-type]  # JIT warm-up / cache load
        times = []
        fingerprint = 0.0
        for seed in range(1, reps + 1):
            t0 = time.perf_counter()
            res = simulate(sc, seed=seed)  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
            fingerprint += float(res.ever_infected.sum()) * seed + float(res.probes.sum())
        result[name] = {"times": times, "fingerprint": fingerprint}
    json.dump(result, sys.stdout)


def baseline_tree(rev: str) -> Path:
    """``src`` of ``rev`` extracted once into the temporary folder."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout.strip()
    dest = Path(tempfile.gettempdir()) / f"wormsign-bench-{sha[:12]}"
    if not (dest / "src" / "wormsign" / "__init__.py").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src/wormsign"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def run_worker(src: Path, reps: int) -> dict[str, dict[str, object]]:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, __file__, "--worker", "--reps", str(reps)], env=env,
                         check=True, capture_output=True, text=True).stdout
    data: dict[str, dict[str, object]] = json.loads(out)
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--baseline", default=BASELINE, help=f"git revision (default {BASELINE})")
    ap.add_argument("--max-ratio", type=float, default=None,
                    help="exit 1 if any scenario's after/before ratio exceeds this")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.reps)
        return 0
    rounds, reps = (2, 2) if args.quick else (3, 3)
    before_src, after_src = baseline_tree(args.baseline), ROOT / "src"
    before: dict[str, list[float]] = {}
    after: dict[str, list[float]] = {}
    prints: dict[str, set[float]] = {}
    for _ in range(rounds):
        for src, into in ((before_src, before), (after_src, after)):
            for name, row in run_worker(src, reps).items():
                into.setdefault(name, []).extend(row["times"])  # type: ignore[arg-type]
                prints.setdefault(name, set()).add(row["fingerprint"])  # type: ignore[arg-type]
    print(f"machine: {os.cpu_count()} cores; baseline {args.baseline}; medians of "
          f"{rounds * reps} runs per side, wall-clock seconds")
    ok = True
    ratios = []
    for name in before:
        b, a = statistics.median(before[name]), statistics.median(after[name])
        ratio = a / b
        ratios.append(ratio)
        same = "same outbreaks" if len(prints[name]) == 1 else "OUTBREAKS DIFFER"
        ok &= len(prints[name]) == 1
        if args.max_ratio is not None and ratio > args.max_ratio:
            ok = False
        print(f"{name:40} before {b:7.3f}  after {a:7.3f}  ratio {ratio:5.3f}  {same}")
    print(f"{'geometric mean ratio':40} {statistics.geometric_mean(ratios):5.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
