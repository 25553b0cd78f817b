#!/usr/bin/env python3
"""Benchmark: what knowing who asks costs each dashboard request.

    python benchmarks/bench_people.py [--requests 2000] [--repeat 3]

Sends ``GET /api/health`` through the whole ASGI app in process (httpx's ASGI transport), so
the role check and the principal lookup are most of the work, in four ways, alternating
rounds so the machine's other work falls on all of them:

* ``shared token (baseline)``: ``Authorization: Bearer`` with the single token: no query;
* ``open``: no token, no users: one query (does the store have users?);
* ``personal token``: a person's API token: one indexed query by its SHA-256, one by user id;
* ``person's session``: a logged-in cookie: one query by user id (the epoch check that ends
  sessions at once).

Prints the mean time per request of each and its excess over the baseline, and the time of
one argon2 password hash and verification (the login's cost).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from wormsign.incidents import Store
from wormsign.incidents import users as u
from wormsign.web import Settings, create_app

TOKEN = "bench-shared-token-4711-xyz"
PASSWORD = "a bench password"


def _app(store: Store, tmp: Path, token: str | None) -> Any:
    return create_app(Settings(token=token, upload_dir=str(tmp / "up"), notify_interval=None,
                               allowed_hosts=("testserver",)), store=store)


async def _time(app: Any, n: int, headers: dict[str, str], login: bool) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        if login:
            form = (await c.get("/login")).text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf is not None
            r = await c.post("/login", data={"user": "ana", "token": PASSWORD,
                                             "csrf": csrf.group(1), "next": "/"})
            assert r.status_code == 303, r.text
        for _ in range(20):
            assert (await c.get("/api/health", headers=headers)).status_code == 200
        t0 = time.perf_counter()
        for _ in range(n):
            await c.get("/api/health", headers=headers)
        return (time.perf_counter() - t0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wormsign-bench-people-") as d:
        tmp = Path(d)
        open_store = Store.open(f"sqlite:///{tmp / 'open.db'}")
        people = Store.open(f"sqlite:///{tmp / 'people.db'}")
        u.add_user(people, "ana", "admin", PASSWORD)
        personal = u.create_token(people, "ana")
        cases = {
            "shared token (baseline)": (_app(open_store, tmp, TOKEN),
                                        {"Authorization": f"Bearer {TOKEN}"}, False),
            "open": (_app(open_store, tmp, None), {}, False),
            "personal token": (_app(people, tmp, None),
                               {"Authorization": f"Bearer {personal}"}, False),
            "person's session": (_app(people, tmp, None), {}, True),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.repeat):
            for name, (app, headers, login) in cases.items():
                times[name].append(anyio.run(_time, app, args.requests, headers, login))
        base = statistics.median(times["shared token (baseline)"])
        print(f"GET /api/health through the app, {args.requests} requests x {args.repeat} "
              "rounds (median of rounds)")
        for name, ts in times.items():
            m = statistics.median(ts)
            print(f"  {name:<26} {m * 1e6:8.0f} us/request   {(m - base) * 1e6:+7.0f} us")
        t0 = time.perf_counter()
        hashed = u.hash_password(PASSWORD)
        t1 = time.perf_counter()
        u.verify_password(people, "ana", PASSWORD)
        t2 = time.perf_counter()
        print(f"argon2id hash {1e3 * (t1 - t0):.0f} ms, login verification "
              f"{1e3 * (t2 - t1):.0f} ms ({hashed.split('$')[3]})")
        open_store.close()
        people.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
