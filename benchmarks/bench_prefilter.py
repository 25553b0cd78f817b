#!/usr/bin/env python3
"""Benchmark: what the raw 3-byte overlong patterns cost the Hyperscan prefilter.

    python benchmarks/bench_prefilter.py [--lines 300000] [--repeat 11] [--max-ratio 0]

The prefilter flags raw ``e0 80``..``e0 9f`` (overlong UTF-8 leads the readers write as
``\\xe0\\x80``; ``tests/detect/test_prefilter_property.py`` found lines it dropped without
them). In the same run this times :func:`wormsign.detect.prefilter.candidate_lines` over a
background log and a worm-heavy log with the built-in rules, without those patterns
(``before``), with them as shipped (32 literals) and as one class regex, median of --repeat
runs, and prints each ratio to ``before``. ``--max-ratio R`` exits 1 when the shipped ratio
exceeds R (a generous bound for CI; timing is never asserted in unit tests).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterable

from wormsign.detect import prefilter as pf
from wormsign.detect.chunkscan import RuleEngine
from wormsign.logs.synth import combined_lines, events, worm_heavy_lines


def _variants() -> dict[str, pf.Prefilter]:
    rules = RuleEngine().rules
    shipped = pf.OBFUSCATION
    before = tuple(p for p in shipped if not p.startswith(b"\\xe0"))
    out: dict[str, pf.Prefilter] = {}
    try:
        for name, obf in (("before", before), ("shipped", shipped),
                          ("class", (*before, rb"\xe0[\x80-\x9f]"))):
            pf.OBFUSCATION = obf
            out[name] = pf.Prefilter(rules)
    finally:
        pf.OBFUSCATION = shipped
    return out


def _chunk(lines: Iterable[str]) -> bytes:
    return "".join(s if s.endswith("\n") else s + "\n" for s in lines).encode(
        "utf-8", "surrogateescape")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--max-ratio", type=float, default=0.0)
    a = ap.parse_args()
    variants = _variants()
    worst = 0.0
    for label, lines in (("background", combined_lines(events(background=a.lines))),
                         ("worm-heavy", worm_heavy_lines(a.lines))):
        chunk = _chunk(lines)
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(a.repeat):
            for name, p in variants.items():
                t = time.perf_counter()
                pf.candidate_lines(p, chunk)
                times[name].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        ratios = {k: med[k] / med["before"] for k in med}
        worst = max(worst, ratios["shipped"])
        print(f"{label:10} {len(chunk) / 1e6:5.0f} MB  "
              + "  ".join(f"{k} {med[k] * 1000:6.1f} ms ({ratios[k]:.3f})" for k in med))
    if a.max_ratio and worst > a.max_ratio:
        print(f"too slow: shipped/before {worst:.3f} > {a.max_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
