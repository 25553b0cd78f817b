#!/usr/bin/env python3
"""Benchmark: the dashboard (``wormsign serve``) on an incident with 1,000,000 alerts.

    python benchmarks/bench_web.py [--alerts 1000000] [--db FILE] [--clients 50]
                                   [--requests 40] [--repeat 5] [--think 0.5]
                                   [--baseline-rev REV | --no-baseline] [--closed-loop]
                                   [--bound-ms 300]

1. Builds a SQLite store with one incident of ``--alerts`` alerts (direct Core inserts, three
   families, ~20,000 sources of which 2 % internal, three days; reused when ``--db`` names an
   existing file with that many alerts), with the playbooks applied.
2. Times the incident page rendered server-side (the full ASGI app, in process, through
   httpx's ASGI transport): cold (aggregate cache cleared before each render), warm (served
   from the cache kept per data version), plus the overview page and, as the baseline,
   ``/api/health`` through the same path. Target: incident page <= 500 ms.
3. Starts ``wormsign serve`` on 127.0.0.1 and a free port (a separate process) and runs a
   bounded load test with ``--clients`` concurrent httpx.AsyncClient workers, each sending
   ``--requests`` requests, pausing ``--think`` seconds on average between them (users
   reading, the upload page polling), and with ``--closed-loop`` again without pauses:
   first all to ``/api/health`` (the baseline), then a mix of the incident summary, alert
   pages 1-200 (with and without a family filter), the attacked servers, the task list and
   the incident list. Reports p50/p95/p99 and throughput. Target: p95 <= 300 ms.
4. In the same run, the same load against the dashboard as it was before its read cache
   (``--baseline-rev``, a git revision of this repository, unpacked to a temporary folder and
   served from there over a copy of the same store), so the ratio is measured, not
   remembered. Both servers run side by side (idle while the other is measured) and get
   the load in alternating rounds (``--rounds``), so the machine's other work falls on both.

Exit status 1 when the API mix's p95 (with think time) is above ``--bound-ms``.

The load generator shares the machine (2 cores) with the server, so it takes CPU from it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

from wormsign.incidents import Store
from wormsign.incidents import schema as t
from wormsign.incidents.playbook import apply_playbooks
from wormsign.incidents.rollup import add_batch

#: The dashboard before the read cache (wormsign.web.fastread): the baseline of the load test.
BASELINE_REV = "4b6595d"
FAMILIES = np.array(["code-red", "code-red-ii", "nimda"])
URLS = {"code-red": "/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801",
        "code-red-ii": "/default.ida?" + "X" * 224 + "%u9090%u6858%ucbd3%u7801",
        "nimda": "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir"}
T0 = 995_544_000  # 2001-07-19T12:00:00Z


def build_store(path: Path, n: int, seed: int = 2001) -> tuple[Store, int, float]:
    """A store at ``path`` with one incident of ``n`` alerts; returns (store, id, seconds)."""
    store = Store.open(f"sqlite:///{path}")
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(t.alerts.c.incident_id, sa.func.count())
                           .group_by(t.alerts.c.incident_id)).first()
    if row is not None and int(row[1]) == n:
        return store, int(row[0]), 0.0
    if row is not None:
        raise SystemExit(f"{path} holds another data set; remove it or pass another --db")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    iid = store.create_incident(f"bench: {n:,} alerts")
    n_src = 20_000
    src = (rng.zipf(1.3, n) - 1) % n_src
    fam_of_src = rng.choice(len(FAMILIES), n_src, p=[0.5, 0.3, 0.2])
    ts = T0 + np.sort(rng.integers(0, 3 * 86400, n))
    host = rng.integers(0, 40, n)
    ips = [f"10.{s >> 8}.{s & 255}.7" if s % 50 == 0 else
           f"198.{(s >> 16) + 18}.{(s >> 8) & 255}.{s & 255}" for s in range(n_src)]
    cols = ("incident_id", "akey", "ts", "source_ip", "internal", "family", "rule_family",
            "rule_id", "rule_name", "severity", "url", "method", "status", "user_agent",
            "host", "file_path", "line", "format", "job_id")
    sql = (f"INSERT INTO alerts ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})")
    batch = 100_000
    with store.engine.begin() as conn:
        job = int(conn.execute(t.jobs.insert().values(
            incident_id=iid, path="bench", fingerprint="bench", kind="alerts", status="done",
            position=n, added=n, started_at=int(time.time()))
            .returning(t.jobs.c.id)).scalar_one())
        for lo in range(0, n, batch):
            rows = []
            for i in range(lo, min(n, lo + batch)):
                s = int(src[i])
                fam = str(FAMILIES[fam_of_src[s]])
                rows.append((iid, i, int(ts[i]), ips[s], int(s % 50 == 0), fam, fam,
                             f"{fam}-probe", f"{fam} request", "high", URLS[fam], "GET", 404,
                             "Mozilla/4.0 (compatible; MSIE 5.0)", f"www{host[i]}.example.org",
                             "access.log", i + 1, "apache-combined", job))
            conn.exec_driver_sql(sql, rows)
        # Keep the store's rollups in step, as an ingest batch does.
        add_batch(conn, store.dialect, store.insert, iid, job, after_id=0)
    apply_playbooks(store, iid)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    return store, iid, time.perf_counter() - t0


def quantiles(xs: list[float]) -> dict[str, float]:
    a = np.array(xs) * 1000
    return {"n": len(xs), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max())}


async def _time_asgi(app: Any, paths: list[str], repeat: int,
                     before: Any = None) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {p: [] for p in paths}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        for _ in range(repeat):
            for p in paths:
                if before is not None:
                    before()
                t0 = time.perf_counter()
                r = await c.get(p)
                out[p].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"GET {p}: {r.status_code} {r.text[:200]}")
    return out


def page_timings(store: Store, iid: int, repeat: int) -> dict[str, dict[str, float]]:
    from wormsign.web import Settings, create_app

    app = create_app(Settings(allowed_hosts=None), store=store)
    dash = app.state.wormsign.dashboard
    page = f"/incidents/{iid}"
    cold = asyncio.run(_time_asgi(app, [page, "/"], repeat, before=dash.clear))
    asyncio.run(_time_asgi(app, [page, "/"], 1))  # fill the cache
    warm = asyncio.run(_time_asgi(app, [page, "/", "/api/health"], repeat))
    return {"incident page, cold": quantiles(cold[page]),
            "incident page, warm": quantiles(warm[page]),
            "overview page, cold": quantiles(cold["/"]),
            "overview page, warm": quantiles(warm["/"]),
            "baseline /api/health": quantiles(warm["/api/health"])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(base: str, paths: list[str], clients: int, per_client: int, think: float,
                ) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    # Idle connections expire before the server's 5 s keep-alive timeout closes them.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients,
                          keepalive_expiry=4.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as c:
        async def worker(k: int) -> None:
            nonlocal errors
            rng = np.random.default_rng(k)
            if think:
                await asyncio.sleep(float(rng.uniform(0, think)))  # staggered start
            for _ in range(per_client):
                p = paths[int(rng.integers(len(paths)))]
                if "{page}" in p:
                    p = p.replace("{page}", str(int(rng.integers(1, 201))))
                t0 = time.perf_counter()
                r = await c.get(p)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1
                if think:
                    await asyncio.sleep(float(rng.exponential(think)))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(clients)))
        wall = time.perf_counter() - t0
    return latencies, wall, errors


def unpack_revision(rev: str, into: Path) -> Path | None:
    """The ``src`` folder of git revision ``rev`` of this repository, unpacked under ``into``
    (None, with a note, when git or the revision is not there)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "src"],
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"note: no baseline: cannot unpack revision {rev} ({exc})")
        return None
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    # Compiled extensions are not in git: take them from the current tree.
    for ext in (repo / "src").rglob("*.so"):
        target = into / ext.relative_to(repo)
        if target.parent.is_dir() and not target.exists():
            target.write_bytes(ext.read_bytes())
    return into / "src"


def baseline_copy(db: Path, src: Path, into: Path) -> Path:
    """A copy of the SQLite store that the baseline revision opens: its schema head written
    in ``alembic_version`` (newer tables and columns are left alone; old code does not see
    them) and the columns newer migrations dropped added back."""
    import re
    import shutil
    import sqlite3

    store_py = (src / "wormsign" / "incidents" / "store.py").read_text()
    m = re.search(r'^SCHEMA_HEAD = "(\w+)"', store_py, re.M)
    if m is None:
        raise SystemExit("the baseline revision names no SCHEMA_HEAD")
    out = into / "baseline.db"
    shutil.copyfile(db, out)
    with sqlite3.connect(out) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (m.group(1),))
        cols = {r[1] for r in conn.execute("PRAGMA table_info(tasks)")}
        if "notes" not in cols:  # task notes became rows in 0004
            conn.execute("ALTER TABLE tasks ADD COLUMN notes TEXT NOT NULL DEFAULT ''")
    return out


@contextlib.contextmanager
def serving(db: Path, iid: int, src: Path | None = None) -> Iterator[tuple[str, int]]:
    """``wormsign serve`` over ``db`` (from ``src`` when given) on a free loopback port, its
    incident aggregates warmed; yields the base URL and the process id."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "WORMSIGN_TOKEN"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    proc = subprocess.Popen([sys.executable, "-m", "wormsign", "serve", "--db", str(db),
                             "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"the server did not start: {err[-500:]}")
            time.sleep(0.2)
        # Warm the incident's aggregates once, as the server does after an upload.
        httpx.get(f"{base}/api/incidents/{iid}", timeout=60)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(20)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_test(servers: dict[str, tuple[str, int]], iid: int, clients: int, per_client: int,
              think: float, closed_loop: bool = False, rounds: int = 3,
              ) -> dict[str, dict[str, dict[str, float]]]:
    """The same load against every server, in ``rounds`` alternating rounds (the machine's
    other work then falls on all of them alike); per server and phase, the quantiles."""
    mix = [f"/api/incidents/{iid}", f"/api/incidents/{iid}/alerts?page={{page}}",
           f"/api/incidents/{iid}/alerts?family=nimda&page={{page}}",
           f"/api/incidents/{iid}/servers", f"/api/incidents/{iid}/tasks", "/api/incidents"]
    each = max(1, per_client // rounds)
    raw: dict[str, dict[str, tuple[list[float], float, int, float]]] = {s: {} for s in servers}
    for _ in range(rounds):
        for server, (base, pid) in servers.items():
            for pause in (think, 0.0) if closed_loop else (think,):
                label = f"think {pause:g} s" if pause else "closed loop"
                for name, paths in (("baseline /api/health", ["/api/health"]),
                                    ("API mix", mix)):
                    cpu0 = cpu_seconds(pid)
                    lat, wall, errors = asyncio.run(_load(base, paths, clients, each, pause))
                    cpu = cpu_seconds(pid) - cpu0
                    key = f"{name}, {label}"
                    old = raw[server].get(key, ([], 0.0, 0, 0.0))
                    raw[server][key] = (old[0] + lat, old[1] + wall, old[2] + errors,
                                        old[3] + cpu)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for server, phases in raw.items():
        results[server] = {}
        for key, (lat, wall, errors, cpu) in phases.items():
            q = quantiles(lat)
            q.update(rps=len(lat) / wall, errors=errors, cpu_ms=1000 * cpu / len(lat))
            results[server][key] = q
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alerts", type=int, default=1_000_000)
    ap.add_argument("--db", help="SQLite file to build or reuse (default: a temporary one)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=40, help="requests per client")
    ap.add_argument("--think", type=float, default=0.5, metavar="S",
                    help="mean pause of a client between requests (exponential; the upload "
                    "page polls every 0.4 s)")
    ap.add_argument("--closed-loop", action="store_true",
                    help="also run the clients back to back, without pauses")
    ap.add_argument("--repeat", type=int, default=5, help="renders per page timing")
    ap.add_argument("--baseline-rev", default=BASELINE_REV,
                    help=f"git revision served as the baseline (default {BASELINE_REV}, the "
                    "dashboard before its read cache)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the baseline server")
    ap.add_argument("--rounds", type=int, default=4,
                    help="alternating rounds per server (the requests are split over them)")
    ap.add_argument("--bound-ms", type=float, default=300.0,
                    help="fail (exit 1) when the API mix's p95 is above this")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="wormsign-bench-web-")
    db = Path(args.db) if args.db else Path(tmp.name) / "bench.db"
    store, iid, built = build_store(db, args.alerts)
    print(f"store: {args.alerts:,} alerts in {db}"
          + (f" (built in {built:.1f} s)" if built else " (reused)"))
    print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} "
          "(shared machine: timings are noisy)")
    print("\npage render, server-side (ms; in-process ASGI):")
    pages = page_timings(store, iid, args.repeat)
    for name, q in pages.items():
        print(f"  {name:24s} p50 {q['p50']:8.1f}  max {q['max']:8.1f}  (n={q['n']})")
    store.close()
    with contextlib.ExitStack() as stack:
        servers: dict[str, tuple[str, int]] = {}
        if not args.no_baseline:
            src = unpack_revision(args.baseline_rev, Path(tmp.name))
            if src is not None:
                old_db = baseline_copy(db, src, Path(tmp.name))
                servers[f"baseline {args.baseline_rev}"] = stack.enter_context(
                    serving(old_db, iid, src))
        servers["this version"] = stack.enter_context(serving(db, iid))
        runs = load_test(servers, iid, args.clients, args.requests, args.think,
                         args.closed_loop, args.rounds)
    label = f"think {args.think:g} s" if args.think else "closed loop"
    print(f"\nload test: {args.clients} concurrent clients x {args.requests} requests, "
          "wormsign serve on 127.0.0.1 (ms):")
    for server, load in runs.items():
        print(f"  [{server}]")
        for name, q in load.items():
            print(f"  {name:36s} p50 {q['p50']:7.1f}  p95 {q['p95']:7.1f}  "
                  f"p99 {q['p99']:7.1f}  max {q['max']:7.1f}  {q['rps']:4.0f} req/s  "
                  f"server CPU {q['cpu_ms']:5.2f} ms/req  errors {int(q['errors'])}")
    p95 = runs["this version"][f"API mix, {label}"]["p95"]
    cold = pages["incident page, cold"]["p50"]
    print(f"\ntargets: incident page <= 500 ms: cold {cold:.0f} ms "
          f"{'OK' if cold <= 500 else 'MISSED'}; API mix p95 <= {args.bound_ms:g} ms "
          f"({label}): {p95:.0f} ms {'OK' if p95 <= args.bound_ms else 'MISSED'}")
    for server, load in runs.items():
        if server != "this version":
            before = load[f"API mix, {label}"]["p95"]
            print(f"API mix p95: {before:.0f} ms before ({server}) -> {p95:.0f} ms now: "
                  f"{before / max(p95, 1e-9):.1f}x")
            cpu_before = load[f"API mix, {label}"]["cpu_ms"]
            cpu_now = runs["this version"][f"API mix, {label}"]["cpu_ms"]
            print(f"API mix server CPU per request: {cpu_before:.2f} ms before -> "
                  f"{cpu_now:.2f} ms now: {cpu_before / max(cpu_now, 1e-9):.1f}x")
    tmp.cleanup()
    return 0 if p95 <= args.bound_ms else 1


if __name__ == "__main__":
    sys.exit(main())
