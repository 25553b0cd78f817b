#!/usr/bin/env python3
"""Benchmark: network rules on connection columns (rows/s), and the same matching done row by
row in Python on a slice, in the same run.

    python benchmarks/bench_netrules.py [--rows 2000000] [--seed 1]

Builds a seeded synthetic ConnBatch (a day of connections among 5,000 sources and 2,000
targets, ports drawn from web, RPC, SMB, telnet, SQL and DNS so that the pair rules have many
candidates), times ``match_connections`` with the built-in network pack (best of 3, CPU
time) and a plain per-row loop over the first 20,000 rows (single-connection rules only),
and prints both rates and the matches per rule.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from wormsign.detect.netrules import condition_mask, match_connections
from wormsign.logs.conn import ConnBatch
from wormsign.rules.netloader import NetMatch, Range, load_network_pack

PORTS = np.array([80, 443, 445, 135, 9996, 4444, 23, 2323, 1434, 53, 69, 5554], np.int32)


def synthetic(rows: int, seed: int) -> ConnBatch:
    rng = np.random.default_rng(seed)
    return ConnBatch(
        time=np.sort(rng.uniform(0, 86400, rows)),
        src=rng.integers(0, 5000, rows).astype(np.uint32),
        dst=rng.integers(0, 2000, rows).astype(np.uint32),
        sport=rng.integers(1024, 65536, rows).astype(np.int32),
        dport=rng.choice(PORTS, rows),
        proto=rng.choice(np.array([6, 17], np.uint8), rows),
        outcome=rng.integers(0, 4, rows).astype(np.uint8),
        orig_bytes=rng.integers(-1, 2000, rows),
        resp_bytes=rng.integers(-1, 2000, rows),
        mark=rng.integers(0, 2, rows).astype(np.uint8),
        line=np.arange(1, rows + 1, dtype=np.int64),
    )


def _row_holds(b: ConnBatch, i: int, m: NetMatch) -> bool:
    def within(v: int, ranges: tuple[Range, ...]) -> bool:
        return not ranges or any(r.low <= v <= r.high for r in ranges)

    return ((not m.proto or int(b.proto[i]) in m.proto)
            and (not m.outcome or int(b.outcome[i]) in m.outcome)
            and (int(b.mark[i]) & m.mark) == m.mark
            and within(int(b.sport[i]), m.sport) and within(int(b.dport[i]), m.dport)
            and within(int(b.orig_bytes[i]), m.orig_bytes)
            and within(int(b.resp_bytes[i]), m.resp_bytes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    pack = load_network_pack()
    batch = synthetic(args.rows, args.seed)
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        found = match_connections(batch, pack)
        best = min(best, time.process_time() - t0)
    print(f"match_connections: {args.rows:,} rows in {best:.3f} s CPU, "
          f"{args.rows / best:,.0f} rows/s")
    print(f"  matches per rule: {found.counts()}")
    single = [r for r in pack.rules if r.then is None]
    n = min(20_000, args.rows)
    head = batch.take(np.arange(n))
    t0 = time.process_time()
    loop = sum(1 for i in range(n) if any(_row_holds(head, i, r.match) for r in single))
    dt = time.process_time() - t0
    vec = int(np.any([condition_mask(head, r.match) for r in single], axis=0).sum())
    assert loop == vec, (loop, vec)
    print(f"per-row Python loop (single-connection rules): {n / dt:,.0f} rows/s "
          f"({loop} matches, the same as the columns)")


if __name__ == "__main__":
    main()
