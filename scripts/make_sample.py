#!/usr/bin/env python3
"""Write wormsign's synthetic sample logs (background traffic plus Code Red, Code Red II and
Nimda, in Apache combined, IIS W3C and Apache error-log form). Generated, not real traffic.

    python scripts/make_sample.py [--out sample] [--background 20000] [--seed 2001]
    python scripts/make_sample.py --worm-heavy 1000000 [--share 0.18]

``--worm-heavy N`` also writes ``synthetic-worm-heavy.log``: N combined-log lines of which
about ``--share`` are worm requests (Code Red, Code Red II, full and partial Nimda bursts,
scanners) from tens of thousands of sources, the storm benchmark of ``bench_scan.py``.
"""

import argparse
from pathlib import Path

from wormsign.logs.synth import LABEL, write_sample, write_worm_heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="sample")
    ap.add_argument("--background", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=2001)
    ap.add_argument("--worm-heavy", type=int, default=0, metavar="N",
                    help="also write a worm-heavy combined log of N lines")
    ap.add_argument("--share", type=float, default=0.18, help="worm share of --worm-heavy")
    a = ap.parse_args()
    for p in write_sample(a.out, a.background, a.seed):
        print(f"wrote {p} ({LABEL})")
    if a.worm_heavy:
        p = write_worm_heavy(Path(a.out) / "synthetic-worm-heavy.log", a.worm_heavy, a.share,
                             a.seed)
        print(f"wrote {p} ({LABEL})")


if __name__ == "__main__":
    main()
