#!/usr/bin/env python3
"""Benchmark: the whole `wormsign scan --json --alerts` process against grep, same file, same run.

    python benchmarks/bench_scan.py [--lines 1000000] [--attack-share 0.015] [--big-gb 0]

Generates a combined log (synthetic: background plus Code Red, Code Red II and Nimda lines),
then times `LC_ALL=C grep -c -E` over the rule pack's signatures and the full wormsign process
(start-up, read, parse, match, attribute, write alerts), best of --repeat runs each. With
--big-gb N it also builds an N GB file and reports wormsign's peak memory on it (streaming).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wormsign.logs.synth import CODE_RED, CODE_RED_II, NIMDA

GREP_SIGNATURES = r"\.ida|\.idq|\.printer|\.htr|root\.exe|cmd\.exe|%c0%af|%c1%1c|%c1%9c|%255c|%%35"
PAGES = ["/index.html", "/images/logo.gif", "/about/team.html", "/cgi-bin/search?q=foo+bar",
         "/news/2001/07/19/story.html", "/css/main.css", "/products/widget-%d.html"]
AGENTS = ["Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.0)",
          "Mozilla/5.0 (X11; U; Linux i686; en-US; rv:0.9.2) Gecko/20010726",
          "Lynx/2.8.4rel.1 libwww-FM/2.14"]


def generate(path: Path, lines: int, share: float, seed: int = 1) -> None:
    rng = random.Random(seed)
    attacks = [CODE_RED] * 6 + [CODE_RED_II] * 2 + list(NIMDA)
    with open(path, "w") as f:
        buf = []
        for i in range(lines):
            ip = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            s = i // 20
            ts = f"{19 + s // 86400:02d}/Jul/2001:{(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:{s % 60:02d} +0000"
            if rng.random() < share:
                buf.append(f'{ip} - - [{ts}] "GET {rng.choice(attacks)} HTTP/1.0" 404 205 "-" "-"\n')
            else:
                page = rng.choice(PAGES)
                if "%d" in page:
                    page = page % rng.randrange(1000)
                buf.append(f'{ip} - - [{ts}] "GET {page} HTTP/1.1" 200 {rng.randrange(100, 50000)} '
                           f'"http://www.example.com/start.html" "{rng.choice(AGENTS)}"\n')
            if len(buf) >= 10000:
                f.writelines(buf)
                buf.clear()
        f.writelines(buf)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    dt = time.perf_counter() - t
    if r.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt, r.stdout


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS of a child process, measured in a fresh helper so earlier children don't count."""
    code = ("import resource,subprocess,sys;subprocess.run(sys.argv[1:],capture_output=True);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True,
                         check=True).stdout
    return int(out.strip()) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--attack-share", type=float, default=0.015)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-gb", type=float, default=0.0)
    ap.add_argument("--min-lines-per-s", type=float, default=0.0,
                    help="exit 1 if wormsign is slower than this (a generous CI bound)")
    a = ap.parse_args()
    wormsign = [sys.executable, "-m", "wormsign"]
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "access.log"
        generate(log, a.lines, a.attack_share)
        size_mb = log.stat().st_size / 1e6
        alerts = Path(d) / "alerts.jsonl"
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # warm cache
        env = {**os.environ, "LC_ALL": "C"}
        grep_t = min(timed(["grep", "-c", "-E", "-i", GREP_SIGNATURES, str(log)], env)[0]
                     for _ in range(a.repeat))
        ws_runs = [timed([*wormsign, "scan", "--json", "--alerts", str(alerts), str(log)])
                   for _ in range(a.repeat)]
        ws_t = min(t for t, _ in ws_runs)
        import json

        n_alerts = json.loads(ws_runs[0][1])["alerts"]
        rss = peak_rss_mb([*wormsign, "scan", "--json", "--alerts", str(alerts), str(log)])
        print(f"input: {a.lines:,} lines, {size_mb:.0f} MB, attack share {a.attack_share:.1%}, "
              f"{n_alerts:,} alerts")
        print(f"grep -c -E -i (LC_ALL=C): {grep_t:.3f} s  ({a.lines / grep_t / 1e6:.2f} M lines/s)")
        print(f"wormsign scan --json --alerts: {ws_t:.3f} s  ({a.lines / ws_t / 1e6:.2f} M lines/s)"
              f", peak RSS {rss:.0f} MB")
        print(f"ratio wormsign/grep: {ws_t / grep_t:.2f}x")
        if a.big_gb > 0:
            big = Path(d) / "big.log"
            with open(big, "wb") as out:
                data = log.read_bytes()
                while out.tell() < a.big_gb * 1e9:
                    out.write(data)
            del data
            t = time.perf_counter()
            rss_big = peak_rss_mb([*wormsign, "scan", "--json", "--alerts", str(alerts), str(big)])
            dt = time.perf_counter() - t
            print(f"big input {big.stat().st_size / 1e9:.2f} GB: {dt:.1f} s, peak RSS {rss_big:.0f} MB")
        if a.min_lines_per_s and a.lines / ws_t < a.min_lines_per_s:
            sys.exit(f"too slow: {a.lines / ws_t:,.0f} lines/s < {a.min_lines_per_s:,.0f}")


if __name__ == "__main__":
    main()
