#!/usr/bin/env python3
"""Write the shipped sample fleet under examples/fleet/ (synthetic; deterministic).

    python scripts/make_fleet_sample.py [OUT_DIR]

Every host, address and configuration in it is invented: names under ``example.test`` and
addresses from the documentation ranges (RFC 5737). The data lives in
``wormsign.demo.fleet`` (so that ``wormsign demo`` has it in any installation).
"""

from __future__ import annotations

import sys
from pathlib import Path

from wormsign.demo.fleet import CONFIGS, INVENTORY, LABEL, write

__all__ = ["CONFIGS", "INVENTORY", "LABEL", "write"]

if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        Path(__file__).resolve().parent.parent / "examples" / "fleet")
    for p in write(root):
        print(p)
