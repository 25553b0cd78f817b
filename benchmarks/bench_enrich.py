"""Benchmark of offline enrichment of 150,000 sources (issue 14, point 3).

    python benchmarks/bench_enrich.py [--sources 150000] [--networks 4000]
                                      [--max-seconds 10] [--workdir DIR]

Writes a country and an AS database in MaxMind DB format (``tests/mmdbwriter.py``: IPv4
/16 and IPv6 /32 networks, GeoLite2 layout), builds a SQLite store whose incident's
evidence rollup holds ``--sources`` distinct sources (80 % IPv4, 20 % IPv6, most inside the
databases' networks), then times ``wormsign.incidents.enrich.enrich_incident`` (read the
sources, look up both databases, write the cache) end to end. Target: at most
``--max-seconds`` (the script exits 1 above it).

Baseline, in the same run: the bare ``maxminddb`` reader's ``get`` on both databases for
the same addresses, with nothing else; the ratio says what reading the store and writing
the cache add. The load average is printed with the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import maxminddb
import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mmdbwriter import write_mmdb
from wormsign.incidents import Store
from wormsign.incidents import schema as t
from wormsign.incidents.enrich import Enricher, enrich_incident

COUNTRIES = ("NL", "DE", "US", "JP", "BR", "CN", "KR", "FR", "GB", "RU")


def databases(d: Path, networks: int, rng: np.random.Generator) -> tuple[Path, Path]:
    v4 = [f"{60 + i // 256}.{i % 256}.0.0/16" for i in range(networks * 4 // 5)]
    v6 = [f"2001:{0xd00 + i:x}::/32" for i in range(networks - len(v4))]
    nets = v4 + v6
    cc = rng.integers(0, len(COUNTRIES), len(nets))
    asn = rng.integers(1, 400_000, len(nets))
    country = write_mmdb(d / "country.mmdb", [
        (n, {"country": {"iso_code": COUNTRIES[int(c)]}}) for n, c in zip(nets, cc,
                                                                            strict=True)])
    asdb = write_mmdb(d / "asn.mmdb", [
        (n, {"autonomous_system_number": int(a),
             "autonomous_system_organization": f"Example AS {int(a)}"})
        for n, a in zip(nets, asn, strict=True)])
    return country, asdb


def addresses(n: int, networks: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct addresses: 80 % IPv4 (a few outside every network), 20 % IPv6."""
    v4n = networks * 4 // 5
    out: set[str] = set()
    while len(out) < n:
        k = int(rng.integers(0, v4n + 50))
        if rng.random() < 0.8:
            out.add(f"{60 + k // 256}.{k % 256}.{int(rng.integers(0, 256))}."
                    f"{int(rng.integers(1, 255))}")
        else:
            x = int(rng.integers(1, 1 << 32))
            out.add(f"2001:{0xd00 + k % max(networks - v4n, 1):x}::{x >> 16:x}:{x & 0xFFFF:x}")
    return sorted(out)


def build(db: Path, addrs: list[str]) -> int:
    with Store.open(f"sqlite:///{db}") as store:
        iid = store.create_incident("bench enrich")
        rows = [{"incident_id": iid, "source_ip": a, "family": "code-red", "internal": 0,
                 "alerts": 1, "first_seen": 0, "last_seen": 0} for a in addrs]
        with store.begin() as conn:
            for k in range(0, len(rows), 20_000):
                conn.execute(sa.insert(t.source_families), rows[k:k + 20_000])
    return iid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", type=int, default=150_000)
    ap.add_argument("--networks", type=int, default=4000)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    rng = np.random.default_rng(14)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        d = Path(tmp)
        country, asdb = databases(d, args.networks, rng)
        addrs = addresses(args.sources, args.networks, rng)
        iid = build(d / "bench.db", addrs)
        t0 = time.perf_counter()
        with maxminddb.open_database(str(country)) as a, maxminddb.open_database(str(asdb)) as b:
            hits = sum(1 for x in addrs if a.get(x) is not None and b.get(x) is not None)
        base = time.perf_counter() - t0
        with Store.open(f"sqlite:///{d / 'bench.db'}") as store:
            t0 = time.perf_counter()
            with Enricher(str(country), str(asdb)) as en:
                counts = enrich_incident(store, iid, en)
            took = time.perf_counter() - t0
    print(f"sources {len(addrs):,}; found in both databases {hits:,}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"baseline (bare maxminddb get, both databases): {base:.2f} s")
    print(f"enrich_incident (store read, lookups, cache write): {took:.2f} s "
          f"({len(addrs) / took:,.0f} sources/s; {took / base:.2f}x the baseline); {counts}")
    ok = took <= args.max_seconds
    print(f"target <= {args.max_seconds:g} s: {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
