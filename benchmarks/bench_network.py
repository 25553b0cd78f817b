#!/usr/bin/env python3
"""Network analysis speed and state size on synthetic connections (netsynth, seeded).

    python benchmarks/bench_network.py [--scale 1.0] [--batch 65536]

Prints, for the traffic at ``scale`` and at twice as many connections from the same sources
(longer scans, more visits), the rows per second of the analysis alone (columns in memory,
fed in batches as the readers give them) and the bytes of state it keeps: per-source
columns plus the (source, destination) pairs of sources not yet found scanning. The state
follows the number of sources, not of connections: the second line's connections double,
its state should not. Each size is run with the built-in network rule pack (as ``scan``
runs it) and without rules, alternately, best of ``--repeat``; the ratio is the cost of
the rules.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from wormsign.detect.netsynth import SynthConfig, synth_network
from wormsign.detect.network import NetworkAnalysis
from wormsign.logs.conn import ConnBatch
from wormsign.rules.netloader import NetPack, load_network_pack


def once(pieces: list[ConnBatch], pack: NetPack) -> tuple[float, NetworkAnalysis, int]:
    a = NetworkAnalysis(pack=pack)
    t = time.perf_counter()
    for p in pieces:
        a.feed(p)
    report = a.report()
    return time.perf_counter() - t, a, report.sources


def run(cfg: SynthConfig, batch: int, repeat: int) -> None:
    b, _ = synth_network(1, cfg)
    pieces = [b.take(np.arange(i, min(i + batch, len(b)))) for i in range(0, len(b), batch)]
    best = {"rules": float("inf"), "none": float("inf")}
    packs = {"rules": load_network_pack(), "none": NetPack(())}
    for _ in range(repeat):
        for name, pack in packs.items():
            dt, a, sources = once(pieces, pack)
            best[name] = min(best[name], dt)
    cols = sum(v.nbytes for v in a.state.col.values()) + a.state.ip.nbytes
    pairs = a.state.seen.nbytes
    print(f"{len(b):>10,} rows {sources:>7,} sources  {len(b) / best['rules']:>10,.0f} rows/s "
          f"with rules, {len(b) / best['none']:>10,.0f} without (time ratio "
          f"{best['rules'] / best['none']:.3f})  state {cols / 2**20:6.1f} MiB columns + "
          f"{pairs / 2**20:6.1f} MiB pairs ({(cols + pairs) / max(sources, 1):,.0f} B/source)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=65536)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    cfg = SynthConfig(scanners=int(1000 * args.scale), clients=int(8000 * args.scale))
    run(cfg, args.batch, args.repeat)
    run(dataclasses.replace(cfg, max_probes=cfg.max_probes * 2, hours=cfg.hours * 2),
        args.batch, args.repeat)


if __name__ == "__main__":
    main()
