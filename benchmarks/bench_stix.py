"""Benchmark of the STIX 2.1 export of a 150,000-entry blocklist (issue 10, point 5).

    python benchmarks/bench_stix.py [--entries 150000] [--baseline-entries 2000]
                                    [--max-seconds 30] [--workdir DIR]

Builds a SQLite store whose evidence rollup holds ``--entries`` distinct sources (80 % IPv4,
20 % IPv6, three families), refreshes its blocklist, then exports it as STIX in a fresh
process writing to a file, twice: with ``wormsign incident export --format stix --out FILE``
and with the library's streaming ``exporters.stream()``; it reports each one's wall time
(refresh included) and peak RSS (the child's ``ru_maxrss``). It also times a feed poll on the
same store (``blocklist_etag``, ``render_blocklist``). Target: the streaming export
<= 30 s (``--max-seconds``; the script exits 1 above it). The machine is shared: the load
average is printed with the figures.

Baseline, in the same run: building and checking the same objects as ``stix2`` library
objects, as the export did before (one ``stix2.parse`` per object of the first
``--baseline-entries`` entries' objects), scaled per entry. The ratio says how much the
streamed plain-JSON writer saves. A random sample of the written bundle's objects is parsed
with ``stix2`` (no custom properties) to show the output is valid STIX 2.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
import stix2

from wormsign.incidents import Store
from wormsign.incidents import schema as t
from wormsign.incidents.blocklist import refresh

FAMILIES = ("code-red", "code-red-ii", "nimda")
NOW = int(time.time())


def build(db: Path, n: int) -> int:
    """A store whose incident has ``n`` distinct blockable sources; returns its id."""
    with Store.open(f"sqlite:///{db}") as store:
        iid = store.create_incident("bench stix")
        rows = []
        for i in range(n):
            ip = (f"{60 + i // 65536}.{i // 256 % 256}.{i % 256}.7" if i % 5
                  else f"2001:db8:{i // 65536:x}:{i % 65536:x}::1")
            rows.append({"incident_id": iid, "source_ip": ip, "family": FAMILIES[i % 3],
                         "internal": 0, "alerts": 1 + i % 50, "first_seen": NOW - 86400,
                         "last_seen": NOW - i % 3600})
        with store.begin() as conn:
            for k in range(0, n, 20_000):
                conn.execute(sa.insert(t.source_families), rows[k:k + 20_000])
        got = refresh(store, iid, "7d", now=NOW)
        assert got["added"] == n, got
    return iid


#: The library's streaming export (refresh, load, write piece by piece), as a child process.
STREAM = """
import sys
from wormsign.incidents import Store
from wormsign.incidents.exporters import stream
with Store.open(sys.argv[1]) as store, open(sys.argv[3], "w", encoding="utf-8") as fh:
    for piece in stream(store, int(sys.argv[2]), "stix"):
        fh.write(piece)
"""


def timed_export(db: Path, iid: int, out: Path, cli: bool) -> tuple[float, float, int]:
    """Wall and CPU seconds and peak RSS (bytes) of the export in a child: the library's
    :func:`~wormsign.incidents.exporters.stream`, or ``incident export --format stix``."""
    url = f"sqlite:///{db}"
    cmd = ([sys.executable, "-m", "wormsign", "incident", "export", str(iid), "--format",
            "stix", "--out", str(out), "--db", url] if cli
           else [sys.executable, "-c", STREAM, url, str(iid), str(out)])
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", RUSAGE, *cmd], check=True,
                         capture_output=True, text=True)
    cpu, rss = res.stdout.split()[-2:]
    return time.perf_counter() - t0, float(cpu), int(rss) * 1024


#: Runs a command and prints its own peak RSS (KiB), apart from any other child's.
RUSAGE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime, r.ru_maxrss)
"""


def feed_figures(db: Path, iid: int) -> str:
    """Seconds for a feed poll on this store: the ETag (first, then while nothing changed)
    and a rendering (nftables, plain aggregated)."""
    from wormsign.incidents.exporters import blocklist_etag, render_blocklist
    out = []
    with Store.open(f"sqlite:///{db}") as store:
        for label, call in (
                ("etag, first", lambda: blocklist_etag(store, iid, "nftables")),
                ("etag, unchanged", lambda: blocklist_etag(store, iid, "nftables")),
                ("render nftables", lambda: render_blocklist(store, iid, "nftables")),
                ("render nftables, cached", lambda: render_blocklist(store, iid, "nftables")),
                ("render plain aggregated",
                 lambda: render_blocklist(store, iid, "plain", aggregated=True))):
            t0 = time.perf_counter()
            call()
            out.append(f"{label} {time.perf_counter() - t0:.3f} s")
    return "; ".join(out)


def baseline(objects: list[dict[str, object]]) -> float:
    """Seconds to build and check these objects as ``stix2`` objects (the old way)."""
    t0 = time.perf_counter()
    for o in objects:
        stix2.parse(o, allow_custom=False)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=150_000)
    ap.add_argument("--baseline-entries", type=int, default=2000)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--sample", type=int, default=3000, help="objects checked with stix2")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        db, out = Path(tmp) / "bench.db", Path(tmp) / "bundle.json"
        t0 = time.perf_counter()
        iid = build(db, args.entries)
        print(f"store: {args.entries:,} entries built in {time.perf_counter() - t0:.1f} s")
        print(f"feed: {feed_figures(db, iid)}")
        cli_wall, cli_cpu, cli_peak = timed_export(db, iid, out, cli=True)
        wall, cpu, peak = timed_export(db, iid, out, cli=False)
        doc = json.loads(out.read_text())
        objs = doc["objects"]
        inds = [o for o in objs if o["type"] == "indicator" and "-addr:" in o["pattern"]]
        assert doc["type"] == "bundle" and len(inds) == args.entries, len(inds)
        sample = random.Random(1).sample(objs, min(args.sample, len(objs)))
        for o in sample:
            stix2.parse(o, allow_custom=False)
        per_entry = len(objs) / args.entries
        base_objs = objs[:int(args.baseline_entries * per_entry)]
        base_s = baseline(base_objs) / max(len(base_objs), 1) * len(objs)
        print(f"`wormsign incident export --format stix --out FILE`: {cli_wall:.1f} s wall, "
              f"{cli_cpu:.1f} s CPU, "
              f"peak RSS {cli_peak / 2**20:.0f} MiB")
        print(f"library stream(): {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak / 2**20:.0f} MiB, "
              f"{out.stat().st_size / 2**20:.0f} MiB written, {len(objs):,} objects "
              f"({len(sample):,} sampled objects valid STIX 2.1)")
        print(f"baseline (stix2 objects, {len(base_objs):,} built, scaled to {len(objs):,}): "
              f"{base_s:.0f} s; ratio export/baseline {wall / base_s:.3f}")
        if wall > args.max_seconds:
            print(f"FAIL: {wall:.1f} s > {args.max_seconds:.0f} s")
            return 1
    print(f"ok (load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
