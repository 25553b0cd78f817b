"""Benchmark: one event across sensors, on columns.

    python benchmarks/bench_events.py [--requests 300000] [--sensors 3] [--repeat 3]

Builds (seeded) the evidence of ``--requests`` worm requests, each recorded by ``--sensors``
sensor kinds (access log, Zeek http.log, error log with file paths), with identical requests
repeated within a second, a whole-zone offset on the error log and a 5-second skew on Zeek.
Times, in the same run:

- baseline: one ``np.lexsort`` of the records by (source, time): the least any grouping by
  source and time must do;
- :func:`wormsign.detect.events.correlate` end to end (offsets, the grouping, primaries),

and checks that the events equal the requests made. Prints records per second and the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from wormsign.detect.events import Kind, MatchKey, build_evidence, correlate

_FORMATS = ("combined", "zeek-http", "apache-error")
_PATHS = ("/default.ida", "/scripts/root.exe", "/c/winnt/system32/cmd.exe")


def make(requests: int, sensors: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n_src = max(1, requests // 8)
    src = rng.integers(0, n_src, requests)
    t = rng.integers(0, 86_400, requests).astype(np.int64) * 1_000_000
    t[1::4] = t[0::4][: len(t[1::4])]  # repeats: identical requests in the same second
    src[1::4] = src[0::4][: len(src[1::4])]
    path = rng.integers(0, len(_PATHS), requests)
    path[1::4] = path[0::4][: len(path[1::4])]
    offsets = (0, 5_000_000, -7 * 3600 * 1_000_000)
    cols = [[], [], [], []]
    for s in range(sensors):
        cols[0].append(src)
        cols[1].append(t + offsets[s] + rng.integers(0, 300_000, requests))
        cols[2].append(np.full(requests, s))
        cols[3].append(s * len(_PATHS) + path)
    return tuple(np.concatenate(c).astype(np.int64) for c in cols)


def kinds() -> list[Kind]:
    out = []
    for f in _FORMATS:
        for p in _PATHS:
            err = f == "apache-error"
            out.append(Kind("/var/www" + p if err else p + "?x", None if err else "GET", f, 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300_000)
    ap.add_argument("--sensors", type=int, default=3, choices=(2, 3))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    src, t, stream, kind = make(a.requests, a.sensors)
    n = len(src)
    base, full = [], []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        np.lexsort((t, src))
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ev = build_evidence(src, t, stream, kind, kinds())
        out = correlate(ev, MatchKey())
        full.append(time.perf_counter() - t0)
    b, f = min(base), min(full)
    print(f"records {n:,} ({a.requests:,} requests x {a.sensors} sensors)")
    print(f"baseline lexsort      {b:.3f} s  {n / b:,.0f} records/s")
    print(f"correlate             {f:.3f} s  {n / f:,.0f} records/s  ({f / b:.1f}x baseline)")
    print(f"events {len(out):,} (requests made {a.requests:,}); offsets {out.offsets}")


if __name__ == "__main__":
    main()
