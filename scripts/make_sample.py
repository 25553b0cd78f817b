#!/usr/bin/env python3
"""Write wormsign's synthetic sample logs (background traffic plus Code Red, Code Red II and
Nimda, in Apache combined, IIS W3C and Apache error-log form). Generated, not real traffic.

    python scripts/make_sample.py [--out sample] [--background 20000] [--seed 2001]
"""

import argparse

from wormsign.logs.synth import LABEL, write_sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="sample")
    ap.add_argument("--background", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=2001)
    a = ap.parse_args()
    for p in write_sample(a.out, a.background, a.seed):
        print(f"wrote {p} ({LABEL})")


if __name__ == "__main__":
    main()
