#!/usr/bin/env python3
"""Benchmark: the built-in rule pack read from its cache against parsed from YAML.

    python benchmarks/bench_pack_cache.py [--lines 2000] [--repeat 21] [--min-saving-ms 0]

Same run, fresh processes, interleaved (A B A B ...), min and median of --repeat each:

1. pack load alone: importing ``wormsign.rules.loader`` and loading the built-in pack, once
   from the warm cache (``wormsign.rules.packcache``) and once parsed from YAML as without
   the cache (PyYAML imported, every pack file parsed); the modules a scan imports anyway
   (numpy, re2, ...) are imported before the clock starts. It also says whether PyYAML was
   imported.
2. the whole ``wormsign scan --json`` process on a small log (--lines lines of the
   1.5 %-attack log of ``benchmarks/bench_scan.py``), Hyperscan's cache warm in both; the
   pack cache warm in one, kept off in the other (a file where its folder would be).

``--min-saving-ms X`` exits 1 when the median saving of 1. is below X ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_scan import generate

_LOAD = """
import sys, time
import numpy, re2, hashlib, pickle, tempfile, zipfile, importlib.resources
import wormsign.logs.normalize, wormsign.logs.record, wormsign.errors
t = time.perf_counter()
from wormsign.rules import loader
if sys.argv[1] == "cached":
    loader.load_pack()
else:
    for name, text in loader._builtin_files():
        loader.parse_text(text, name, builtin=True)
print((time.perf_counter() - t) * 1e3, "yaml" in sys.modules)
"""


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(OPENBLAS_NUM_THREADS="1", WORMSIGN_CACHE_DIR=str(cache))
    return env


def load_times(cache: Path, repeat: int) -> dict[str, list[float]]:
    """Milliseconds of the pack load per way (it prints whether PyYAML was imported)."""
    times: dict[str, list[float]] = {"cached": [], "parsed": []}
    yaml: dict[str, str] = {}
    for k in range(repeat + 1):
        for way in (list(times) if k % 2 == 0 else list(times)[::-1]):
            out = subprocess.run([sys.executable, "-c", _LOAD, way], env=_env(cache),
                                 capture_output=True, text=True, check=True).stdout.split()
            if k:  # the first round writes the caches and the .pyc files
                times[way].append(float(out[0]))
                yaml[way] = out[1]
    print("PyYAML imported: " + ", ".join(f"{way} {v}" for way, v in yaml.items()))
    return times


def scan_times(log: Path, caches: dict[str, Path], repeat: int) -> dict[str, list[float]]:
    """Milliseconds of whole ``wormsign scan --json`` processes per cache folder."""
    times: dict[str, list[float]] = {way: [] for way in caches}
    for k in range(repeat + 1):
        for way in (list(caches) if k % 2 == 0 else list(caches)[::-1]):
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "wormsign", "scan", "--json", str(log)],
                                  env=_env(caches[way]), stdout=subprocess.DEVNULL,
                                  check=False)
            if done.returncode not in (0, 1):
                raise SystemExit(f"wormsign scan failed with status {done.returncode}")
            if k:
                times[way].append((time.perf_counter() - t) * 1e3)
    return times


def show(label: str, times: dict[str, list[float]]) -> float:
    """Print min and median per way; returns the median saving (ms)."""
    print(label)
    for way, ts in times.items():
        print(f"  {way:<22} min {min(ts):7.1f} ms  median {statistics.median(ts):7.1f} ms"
              f"  ({len(ts)} runs)")
    a, b = times.values()
    saving = statistics.median(b) - statistics.median(a)
    print(f"  median saving: {saving:.1f} ms")
    return saving


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--min-saving-ms", type=float, default=0.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        on, off = Path(tmp) / "cache-on", Path(tmp) / "cache-off"
        off.mkdir(mode=0o700)
        (off / "packs").write_text("a file where the pack cache's folder would be")
        saving = show("pack load (import loader + built-in pack)", load_times(on, args.repeat))
        log = Path(tmp) / "small.log"
        generate(log, args.lines, 0.015)
        show(f"wormsign scan --json, {args.lines:,} lines",
             scan_times(log, {"pack cache warm": on, "pack cache off": off}, args.repeat))
    if args.min_saving_ms and saving < args.min_saving_ms:
        print(f"FAIL: saving {saving:.1f} ms < {args.min_saving_ms} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
