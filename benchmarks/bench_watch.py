"""Benchmark ``wormsign watch``: delay from a worm line written to its alert in the store.

A writer appends ``--rate`` lines/s (about 15 % worm requests: Code Red, Code Red II, full
Nimda bursts, scanner user agents; every worm line from its own source, so each alert maps to
exactly one written line) to a watched file for ``--seconds``; at 1/3 of the run it rotates
the file by rename (``access.log`` -> ``access.log.1``, a new ``access.log``), at 2/3 by
copy-truncate. A reader polls the incident store every 50 ms and records when each alert
appears. With ``--kill`` the watcher is killed with SIGKILL at 1/2 of the run and restarted.

Reports p50/p95/max delay and checks that every worm line written is in the store exactly
once (exit status 1 otherwise, or when p95 exceeds ``--max-p95``).

    python benchmarks/bench_watch.py [--rate 20000] [--seconds 20] [--kill] [--max-p95 1.0]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wormsign.incidents import Store  # noqa: E402
from wormsign.logs.synth import CODE_RED, CODE_RED_II, NIMDA  # noqa: E402

UA = '"Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.0)"'


def _line(ip: str, url: str, ts: str, ua: str = UA, status: int = 404) -> bytes:
    return f'{ip} - - [{ts}] "GET {url} HTTP/1.0" {status} 120 "-" {ua}\n'.encode()


class Writer:
    """Appends the mix and remembers when each worm line (by source and line) was written."""

    def __init__(self, log: Path, rate: int) -> None:
        self.log = log
        self.rate = rate
        self.f = open(log, "ab")  # noqa: SIM115
        self.line = 0
        self.k = 0  # worm sources handed out
        self.written: dict[tuple[str, int], float] = {}
        self.nimda_left = 0
        self.nimda_ip = ""

    def _ip(self) -> str:
        self.k += 1
        return str(ipaddress.IPv4Address(0x0B000000 + self.k))

    def tick(self, n: int) -> None:
        ts = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        out: list[bytes] = []
        worm: list[tuple[str, int]] = []
        for _ in range(n):
            self.line += 1
            r = self.line % 100
            if self.nimda_left:
                ip, url = self.nimda_ip, NIMDA[(16 - self.nimda_left) % len(NIMDA)]
                self.nimda_left -= 1
                out.append(_line(ip, url, ts))
                worm.append((ip, self.line))
            elif r < 7:
                ip = self._ip()
                out.append(_line(ip, CODE_RED, ts))
                worm.append((ip, self.line))
            elif r < 10:
                ip = self._ip()
                out.append(_line(ip, CODE_RED_II, ts))
                worm.append((ip, self.line))
            elif r < 13:
                ip = self._ip()
                out.append(_line(ip, "/index.php?id=1", ts, ua='"Nikto/2.1.6"'))
                worm.append((ip, self.line))
            elif r == 13 and self.line % 400 == 13:
                self.nimda_ip, self.nimda_left = self._ip(), 15
                out.append(_line(self.nimda_ip, NIMDA[0], ts))
                worm.append((self.nimda_ip, self.line))
            else:
                out.append(_line(f"198.51.100.{self.line % 250 + 1}",
                                 f"/products/item{self.line % 5000}.html", ts, status=200))
        self.f.write(b"".join(out))
        self.f.flush()
        now = time.monotonic()
        for key in worm:
            self.written[key] = now

    def rename_rotation(self) -> None:
        self.f.close()
        os.rename(self.log, self.log.with_name("access.log.1"))
        self.f = open(self.log, "ab")  # noqa: SIM115
        self.line = 0

    def copy_truncate(self) -> None:
        one = self.log.with_name("access.log.1")
        if one.exists():
            os.rename(one, self.log.with_name("access.log.2"))
        shutil.copyfile(self.log, one)
        os.truncate(self.log, 0)
        self.line = 0


def _start(log: Path, db: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen([sys.executable, "-m", "wormsign", "watch", str(log), "--incident",
                             "1", "--db", str(db), "--plain", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _timeline(written: dict[tuple[str, int], float], seen: dict[tuple[str, int], float],
              t0: float) -> None:
    per: dict[int, list[float]] = {}
    for k, t in written.items():
        if k in seen:
            per.setdefault(int((t - t0) * 2), []).append(seen[k] - t)
    print("delay by time written (s: p95/max): " + " ".join(
        f"{b / 2:.1f}:{sorted(v)[int(0.95 * len(v))]:.2f}/{max(v):.2f}"
        for b, v in sorted(per.items())))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=20000, help="lines per second")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--kill", action="store_true", help="kill -9 and restart mid-run")
    ap.add_argument("--max-p95", type=float, default=1.0, help="fail above this p95 (s)")
    ap.add_argument("--timeline", action="store_true",
                    help="also print the p95/max delay of each half second of writing (where "
                    "the slow alerts were written: rotations, the incident's upkeep, ...)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    db = tmp / "case.db"
    with Store.open(str(db)) as s:
        s.create_incident("bench")
    log = tmp / "access.log"
    log.touch()
    proc = _start(log, db)
    seen: dict[tuple[str, int], float] = {}
    rows_total = [0]
    stop = threading.Event()

    def reader() -> None:
        con = sqlite3.connect(str(db), timeout=30)
        last = 0
        while not stop.is_set():
            try:
                rows = con.execute("SELECT id, source_ip, line FROM alerts WHERE id > ? "
                                   "ORDER BY id", (last,)).fetchall()
            except sqlite3.OperationalError:
                rows = []
            now = time.monotonic()
            for rid, ip, line in rows:
                last = max(last, rid)
                rows_total[0] += 1
                seen.setdefault((ip, line), now)
            stop.wait(0.05)
        con.close()

    # Let the watcher start (imports, store, rules) before the clock runs.
    time.sleep(3)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    w = Writer(log, args.rate)
    tick = 0.01
    per_tick = max(1, int(args.rate * tick))
    t0 = time.monotonic()
    events = {"rename": args.seconds / 3, "copytruncate": 2 * args.seconds / 3}
    if args.kill:
        events["kill"] = args.seconds / 2
    done: set[str] = set()
    next_t = t0
    while (el := time.monotonic() - t0) < args.seconds:
        w.tick(per_tick)
        for name, at in events.items():
            if name not in done and el >= at:
                done.add(name)
                if name == "rename":
                    w.rename_rotation()
                elif name == "copytruncate":
                    w.copy_truncate()
                else:
                    proc.kill()
                    proc.communicate()
                    proc = _start(log, db)
        next_t += tick
        time.sleep(max(0.0, next_t - time.monotonic()))
    wrote_s = time.monotonic() - t0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(seen) < len(w.written):
        time.sleep(0.2)
    time.sleep(1)
    stop.set()
    th.join()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru.ru_utime + ru.ru_stime
    delays = sorted(seen[k] - t for k, t in w.written.items() if k in seen)
    if args.timeline:
        _timeline(w.written, seen, t0)
    missing = [k for k in w.written if k not in seen]
    extra = [k for k in seen if k not in w.written]
    con = sqlite3.connect(str(db))
    stored = con.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    dup = con.execute("SELECT COUNT(*) FROM (SELECT source_ip, line FROM alerts GROUP BY "
                      "source_ip, line HAVING COUNT(*) > 1)").fetchone()[0]
    con.close()

    def q(p: float) -> float:
        return delays[min(len(delays) - 1, int(p * len(delays)))] if delays else float("nan")

    lines = w.line  # of the last generation; the rate is what matters
    print(f"wrote {int(args.rate * wrote_s):,} lines in {wrote_s:.1f} s "
          f"(target {args.rate:,}/s), {len(w.written):,} worm lines; rotations: "
          f"{', '.join(sorted(done))}; last generation {lines:,} lines")
    print(f"stored {stored:,} alerts; missing {len(missing)}, unexpected {len(extra)}, "
          f"doubled {dup}; watcher exit status {proc.returncode}")
    print(f"delay write -> store: p50 {q(0.50):.3f} s  p95 {q(0.95):.3f} s  "
          f"max {q(1.0):.3f} s  (bar: p95 <= {args.max_p95} s, ratio {q(0.95) / args.max_p95:.2f})")
    print(f"watcher CPU time (all its processes): {cpu:.1f} s for {wrote_s:.1f} s of writing "
          f"({cpu / wrote_s:.2f} cores; load average {os.getloadavg()[0]:.1f})")
    if err.strip():
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    ok = not missing and not extra and dup == 0 and stored == len(w.written)
    ok = ok and q(0.95) <= args.max_p95 and proc.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
