#!/usr/bin/env python3
"""Benchmark: the whole `wormsign scan --json --alerts` process against grep, same file, same run.

    python benchmarks/bench_scan.py [--lines 1000000] [--attack-share 0.015] [--big-gb 0]
    python benchmarks/bench_scan.py --worm-heavy [--lines 1000000]
    python benchmarks/bench_scan.py --distinct 2000000

Generates a combined log (synthetic: background plus Code Red, Code Red II and Nimda lines),
then times `LC_ALL=C grep -c -E` over the rule pack's signatures (its output written to a
file: GNU grep stops at the first match when writing to /dev/null) and the full wormsign
process (start-up, read, parse, match, attribute, write JSON and alerts), best of --repeat
runs each, with the default workers (one per core) unless --workers is given.

--worm-heavy uses the storm log of ``wormsign.logs.synth.worm_heavy_lines`` instead (about 18 %
worm requests from tens of thousands of sources: Code Red, Code Red II, full and partial
Nimda bursts, scanners). --distinct N writes one Code Red request from each of N distinct
sources and reports wormsign's peak memory on it. With --big-gb N it also builds an N GB file
and reports wormsign's peak memory on it (streaming). Bars: --max-ratio (wormsign/grep),
--min-lines-per-s and --max-rss-mb exit 1 when missed (generous bounds for CI).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from wormsign.logs.synth import (
    CODE_RED,
    CODE_RED_II,
    NIMDA,
    distinct_sources_lines,
    worm_heavy_lines,
)

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


def write_lines(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w") as f:
        buf: list[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= 10000:
                f.writelines(buf)
                buf.clear()
        f.writelines(buf)


def timed(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system, its children included) of a whole process,
    its standard output written to ``out``. On a shared, loaded machine the CPU time is the
    steadier figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as fh:
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=fh, stderr=subprocess.PIPE, text=True, env=env,
                           check=False)
        dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt, cpu


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
    ap.add_argument("--worm-heavy", action="store_true",
                    help="the worm-storm log (about 18 %% worm requests) instead")
    ap.add_argument("--distinct", type=int, default=0, metavar="N",
                    help="peak memory on N distinct Code Red sources instead")
    ap.add_argument("--workers", type=int, default=None, help="wormsign --workers")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-gb", type=float, default=0.0)
    ap.add_argument("--min-lines-per-s", type=float, default=0.0,
                    help="exit 1 if wormsign is slower than this (a generous CI bound)")
    ap.add_argument("--max-ratio", type=float, default=0.0,
                    help="exit 1 if wormsign takes more than this times grep's time")
    ap.add_argument("--max-rss-mb", type=float, default=0.0,
                    help="exit 1 if wormsign's peak memory is above this")
    a = ap.parse_args()
    wormsign = [sys.executable, "-m", "wormsign", "scan", "-q"]
    # An installed wormsign has its bytecode compiled; with PYTHONDONTWRITEBYTECODE set every
    # run would compile its modules again (about 0.15 s), which no user pays.
    ws_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if a.workers is not None:
        wormsign += ["--workers", str(a.workers)]
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "access.log"
        alerts = Path(d) / "alerts.jsonl"
        out = Path(d) / "out.json"
        if a.distinct:
            write_lines(log, distinct_sources_lines(a.distinct))
            t = time.perf_counter()
            rss = peak_rss_mb([*wormsign, "--json", "--alerts", str(alerts), str(log)])
            dt = time.perf_counter() - t
            print(f"input: {a.distinct:,} distinct Code Red sources, one request each "
                  f"({log.stat().st_size / 1e6:.0f} MB, synthetic)")
            print(f"wormsign scan --json --alerts: {dt:.1f} s, peak RSS {rss:.0f} MB")
            if a.max_rss_mb and rss > a.max_rss_mb:
                sys.exit(f"too much memory: {rss:.0f} MB > {a.max_rss_mb:.0f} MB")
            return
        if a.worm_heavy:
            write_lines(log, worm_heavy_lines(a.lines))
            what = "worm-heavy storm log"
        else:
            generate(log, a.lines, a.attack_share)
            what = f"attack share {a.attack_share:.1%}"
        size_mb = log.stat().st_size / 1e6
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # warm cache
        env = {**os.environ, "LC_ALL": "C"}
        grep = ["grep", "-c", "-E", "-i", GREP_SIGNATURES, str(log)]
        ws_cmd = [*wormsign, "--json", "--alerts", str(alerts), str(log)]
        timed(ws_cmd, out, ws_env)  # untimed: compiles the bytecode once, as an install has it
        grep_t = ws_t = grep_cpu = ws_cpu = float("inf")
        for _ in range(a.repeat):  # interleaved: both see the same machine load
            wall, cpu = timed(grep, Path(d) / "grep.txt", env)
            grep_t, grep_cpu = min(grep_t, wall), min(grep_cpu, cpu)
            wall, cpu = timed(ws_cmd, out, ws_env)
            ws_t, ws_cpu = min(ws_t, wall), min(ws_cpu, cpu)
        import json

        n_alerts = json.loads(out.read_text())["alerts"]
        n_grep = int((Path(d) / "grep.txt").read_text())
        rss = peak_rss_mb([*wormsign, "--json", "--alerts", str(alerts), str(log)])
        print(f"input: {a.lines:,} lines, {size_mb:.0f} MB, {what}, {n_alerts:,} alerts "
              f"(grep matches {n_grep:,} lines)")
        print(f"grep -c -E -i (LC_ALL=C): {grep_t:.3f} s wall, {grep_cpu:.3f} s CPU  "
              f"({a.lines / grep_t / 1e6:.2f} M lines/s)")
        print(f"wormsign scan --json --alerts: {ws_t:.3f} s wall, {ws_cpu:.3f} s CPU  "
              f"({a.lines / ws_t / 1e6:.2f} M lines/s), peak RSS {rss:.0f} MB")
        print(f"ratio wormsign/grep: {ws_t / grep_t:.2f}x wall, {ws_cpu / grep_cpu:.2f}x CPU  "
              f"(load average {os.getloadavg()[0]:.2f})")
        if a.big_gb > 0:
            big = Path(d) / "big.log"
            with open(big, "wb") as fh:
                data = log.read_bytes()
                while fh.tell() < a.big_gb * 1e9:
                    fh.write(data)
            del data
            t = time.perf_counter()
            rss_big = peak_rss_mb([*wormsign, "--json", "--alerts", str(alerts), str(big)])
            dt = time.perf_counter() - t
            print(f"big input {big.stat().st_size / 1e9:.2f} GB: {dt:.1f} s, peak RSS {rss_big:.0f} MB")
        if a.min_lines_per_s and a.lines / ws_t < a.min_lines_per_s:
            sys.exit(f"too slow: {a.lines / ws_t:,.0f} lines/s < {a.min_lines_per_s:,.0f}")
        if a.max_ratio and ws_t / grep_t > a.max_ratio:
            sys.exit(f"too slow: {ws_t / grep_t:.2f}x grep > {a.max_ratio}x")
        if a.max_rss_mb and rss > a.max_rss_mb:
            sys.exit(f"too much memory: {rss:.0f} MB > {a.max_rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
