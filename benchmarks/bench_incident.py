"""Benchmark of the incident store: ingest 1,000,000 alerts into SQLite, then `show --json`.

    python benchmarks/bench_incident.py [--alerts 1000000] [--batch 50000] [--workdir DIR]
                                        [--pg postgresql+psycopg://user:pw@host/db]

Targets (issue 5): ingest <= 60 s, ``incident show --json`` <= 2 s. The baseline, measured in
the same run on the same JSON Lines, is the least a SQLite loader can do: ``json.loads``
each line, hash the natural key, raw ``sqlite3`` ``executemany`` with ``INSERT OR IGNORE``
into the same table and indexes, same PRAGMAs, same batch size. The ratio says what the
library's extra work costs (Alert objects, classification, SQLAlchemy Core, job records).
With ``--pg URL`` the same ingest and summary also run on PostgreSQL, in a schema of their
own that is dropped afterwards (figures only; the targets are for SQLite). The machine is
shared, so figures are noisy: run it twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from wormsign.detect.alert import Alert
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents.schema import alerts as alerts_table

FAMILIES = ("code-red", "code-red-ii", "nimda")
URLS = ("/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801",
        "/default.ida?" + "X" * 224 + "%u9090%u6858%ucbd3%u7801",
        "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir")


def generate(path: Path, n: int, seed: int = 2001) -> None:
    """``n`` alerts from 50,000 sources (5 % internal) over 14 hours, as scan --alerts."""
    rng = np.random.default_rng(seed)
    n_src = 50_000
    fam = rng.integers(0, 3, n_src)
    internal = rng.random(n_src) < 0.05
    src = rng.integers(0, n_src, n)
    offs = np.sort(rng.integers(0, 14 * 3600, n))
    t0 = datetime(2001, 7, 19, 10, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            s = int(src[i])
            ip = (f"10.{s // 65536}.{s // 256 % 256}.{s % 256}" if internal[s]
                  else f"{60 + s // 65536}.{s // 256 % 256}.{s % 256}.{1 + s % 200}")
            f = int(fam[s])
            a = Alert(t0 + timedelta(seconds=int(offs[i])), ip, f"ws-{FAMILIES[f]}",
                      f"{FAMILIES[f]} request", FAMILIES[f], FAMILIES[f], "high", URLS[f], "GET",
                      404, "-", "www.example.org", "/var/log/apache2/access.log", i + 1,
                      "combined")
            fh.write(json.dumps(a.to_ecs()))
            fh.write("\n")


def baseline(path: Path, db: Path, batch: int) -> float:
    """Raw sqlite3: parse, key, INSERT OR IGNORE into the same table and indexes."""
    engine = sa.create_engine(f"sqlite:///{db}")
    alerts_table.metadata.create_all(engine, tables=[alerts_table])
    engine.dispose()
    cols = [c.name for c in alerts_table.columns if c.name != "id"]
    sql = (f"INSERT OR IGNORE INTO alerts ({', '.join(cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")
    con = sqlite3.connect(db)
    for p in ("journal_mode=WAL", "synchronous=NORMAL", "temp_store=MEMORY",
              "cache_size=-65536"):
        con.execute(f"PRAGMA {p}")
    t = time.perf_counter()
    rows = []
    with path.open("rb") as fh:
        for line in fh:
            d = json.loads(line)
            key = "\x1f".join((d["log.file.path"], str(d["log.file.line"]), d["rule.id"],
                               d["source.ip"], d["@timestamp"] or ""))
            akey = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big",
                                  signed=True)
            ts = int(datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00")).timestamp())
            rows.append((1, akey, ts, d["source.ip"], 0, d["wormsign.family"],
                         d["rule.category"], d["rule.id"], d["rule.name"], d["wormsign.severity"],
                         d["url.original"], d["http.request.method"],
                         d["http.response.status_code"], d["user_agent.original"],
                         d["destination.domain"], d["log.file.path"], d["log.file.line"],
                         d["event.dataset"], None))
            if len(rows) >= batch:
                with con:
                    con.executemany(sql, rows)
                rows = []
    with con:
        con.executemany(sql, rows)
    elapsed = time.perf_counter() - t
    con.close()
    return elapsed


def bench_pg(url: str, src: Path, n: int, batch: int) -> None:
    """Ingest and summary on PostgreSQL, in a throw-away schema."""
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        with Store.open(f"{url}{sep}options=-csearch_path%3D{schema}") as store:
            iid = store.create_incident("benchmark")
            t = time.perf_counter()
            res = ingest_paths(store, iid, [src], batch_size=batch)
            t_ingest = time.perf_counter() - t
            assert res.added == n
            t = time.perf_counter()
            store.get_incident_summary(iid)
            t_summary = time.perf_counter() - t
        print(f"PostgreSQL ingest:                            {t_ingest:6.1f} s "
              f"({n / t_ingest:,.0f} alerts/s)")
        print(f"PostgreSQL get_incident_summary:              {t_summary:6.2f} s")
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alerts", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--pg", metavar="URL", help="also measure PostgreSQL at this URL")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        src = work / "alerts.jsonl"
        t = time.perf_counter()
        generate(src, args.alerts)
        print(f"generated {args.alerts:,} alerts ({src.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t:.1f} s")

        db = work / "bench.db"
        with Store.open(str(db)) as store:
            iid = store.create_incident("benchmark")
            t = time.perf_counter()
            res = ingest_paths(store, iid, [src], batch_size=args.batch)
            t_ingest = time.perf_counter() - t
            assert res.added == args.alerts, res.to_dict()
            t = time.perf_counter()
            again = ingest_paths(store, iid, [src], batch_size=args.batch, reread=True)
            t_again = time.perf_counter() - t
            assert again.added == 0
            t = time.perf_counter()
            summary = store.get_incident_summary(iid)
            t_summary = time.perf_counter() - t
            assert summary["totals"]["alerts"] == args.alerts
        t_base = baseline(src, work / "baseline.db", args.batch)

        env = {**os.environ, "WORMSIGN_DB": str(db)}
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "wormsign", "incident", "show", str(iid),
                              "--json"], capture_output=True, text=True, env=env, check=True)
        t_cli = time.perf_counter() - t
        assert json.loads(out.stdout)["totals"]["alerts"] == args.alerts

        rate = args.alerts / t_ingest
        print(f"ingest (wormsign.incidents, SQLAlchemy Core): {t_ingest:6.1f} s "
              f"({rate:,.0f} alerts/s)  target <= 60 s: {'ok' if t_ingest <= 60 else 'MISSED'}")
        print(f"baseline (raw sqlite3 executemany):           {t_base:6.1f} s "
              f"({args.alerts / t_base:,.0f} alerts/s)  ratio {t_ingest / t_base:.2f}x")
        print(f"re-read of the same file (all duplicates):    {t_again:6.1f} s")
        print(f"get_incident_summary (in process):           {t_summary:6.2f} s")
        print(f"`wormsign incident show --json` (new process): {t_cli:5.2f} s  "
              f"target <= 2 s: {'ok' if t_cli <= 2 else 'MISSED'}")
        print(f"store size: {db.stat().st_size / 1e6:.0f} MB "
              f"(+ WAL {Path(str(db) + '-wal').stat().st_size / 1e6 if Path(str(db) + '-wal').exists() else 0:.0f} MB)")
        if args.pg:
            bench_pg(args.pg, src, args.alerts, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
