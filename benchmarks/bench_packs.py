#!/usr/bin/env python3
"""Benchmark: what do the later rule packs cost? worms.yml alone against every built-in pack.

    python benchmarks/bench_packs.py [--lines 300000] [--webdav-mb 16] [--repeat 3]
        [--max-slowdown 0]

Same run, same files, interleaved (A B A B ...), best of --repeat each:

1. the 1.5 %-attack combined log of ``benchmarks/bench_scan.py`` (--lines lines);
2. a log of --webdav-mb MB of 32 KB WebDAV ``SEARCH /\\x90\\x02\\xb1...`` overflow lines
   (one in 20 of its lines; the rest short ordinary requests), the lines the new
   ``webdav-ntdll-overflow`` rule reads.

With --process, also the whole ``wormsign scan --json --alerts`` process (default workers;
worms.yml alone through ``--no-builtin-rules --rules .../worms.yml``), timed as the CPU time
of the child processes (start-up, pack load, the workers).

Each in-process scan is ``scan_paths`` with one worker (pack load, prefilter compile,
read, parse, match, attribution), so the figures compare the packs and nothing else; the
time is this process's CPU time (one worker: the same as wall time on an idle machine, and
steady on a shared one). It prints seconds, lines/s and MB/s per pack and the slowdown
ratio (all packs / worms.yml);
``--max-slowdown R`` exits 1 when the 1.5 % log's ratio is above R (e.g. 1.10).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_scan import generate

from wormsign.detect.scanner import scan_paths
from wormsign.rules.loader import load_pack, parse_text
from wormsign.rules.model import RulePack

WORMS_ONLY = "worms.yml"


def worms_only() -> RulePack:
    """The built-in worms.yml alone, parsed the way the built-in packs are (libyaml)."""
    text = (resources.files("wormsign.rules") / "packs" / WORMS_ONLY).read_text("utf-8")
    rules, families, problems = parse_text(text, f"<builtin>/{WORMS_ONLY}", builtin=True)
    assert not problems, problems
    return RulePack(tuple(rules), families)


def webdav_log(path: Path, mb: int) -> int:
    """Write about ``mb`` MB: one 32 KB WebDAV overflow line in 20, ordinary lines between."""
    junk = "\\x90" + "\\x02\\xb1" * 4000
    n = 0
    size = 0
    with open(path, "w") as f:
        while size < mb << 20:
            ip = f"10.{n % 200}.{n // 200 % 250}.{n % 250 + 1}"
            head = f"{ip} - - [11/Jan/2005:03:04:{n % 60:02d} +0100] "
            line = (head + f'"SEARCH /{junk}" 414 338 "-" "-"\n' if n % 20 == 0 else
                    head + f'"GET /news/2005/01/{n % 30}/story.html HTTP/1.1" 200 {n % 50000}'
                    ' "http://www.example.com/" "Mozilla/4.0 (compatible; MSIE 6.0)"\n')
            f.write(line)
            size += len(line)
            n += 1
    return n


def timed(path: Path, which: str) -> tuple[float, int]:
    """CPU seconds for one whole scan (pack load included) and the number of alerts."""
    t0 = time.process_time()
    pack = worms_only() if which == "worms.yml" else load_pack()
    report = scan_paths([str(path)], pack=pack, workers=1)
    n = len(report.alerts)
    return time.process_time() - t0, n


def timed_process(path: Path, which: str) -> tuple[float, int]:
    """CPU seconds of a whole ``wormsign scan`` process (and its workers), alerts written."""
    out = path.with_suffix(".alerts")
    cmd = [sys.executable, "-m", "wormsign", "scan", "-q", "--json", "--alerts", str(out)]
    if which == "worms.yml":
        own = resources.files("wormsign.rules") / "packs" / WORMS_ONLY
        cmd += ["--no-builtin-rules", "--rules", str(own)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([*cmd, str(path)], check=False, stdout=subprocess.DEVNULL)
    if done.returncode not in (0, 1):  # 1: alerts found, as clamscan
        raise SystemExit(f"wormsign scan failed with status {done.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out, "rb") as f:
        n = sum(1 for _ in f)
    return cpu, n


def compare(path: Path, lines: int, repeat: int, label: str, process: bool = False) -> float:
    best = {"worms.yml": float("inf"), "all packs": float("inf")}
    alerts: dict[str, int] = {}
    for k in range(repeat):
        for which in (list(best) if k % 2 == 0 else list(best)[::-1]):
            dt, n = (timed_process if process else timed)(path, which)
            best[which] = min(best[which], dt)
            alerts[which] = n
    mb = path.stat().st_size / 1e6
    print(f"{label}: {lines:,} lines, {mb:.1f} MB")
    for which, dt in best.items():
        print(f"  {which:<10} {dt:7.3f} s  {lines / dt:12,.0f} lines/s  {mb / dt:7.1f} MB/s"
              f"  {alerts[which]:,} alerts")
    ratio = best["all packs"] / best["worms.yml"]
    print(f"  slowdown (all packs / worms.yml): {ratio:.3f}")
    return ratio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--webdav-mb", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-slowdown", type=float, default=0.0)
    ap.add_argument("--process", action="store_true",
                    help="also time whole wormsign scan processes")
    args = ap.parse_args()
    print(f"rules: worms.yml {len(worms_only().rules)}, all packs {len(load_pack().rules)}")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "attack-1.5.log"
        generate(log, args.lines, 0.015)
        ratio = compare(log, args.lines, args.repeat, "1.5 %-attack log")
        if args.process:
            compare(log, args.lines, args.repeat, "1.5 %-attack log, whole process",
                    process=True)
        if args.webdav_mb:
            dav = Path(tmp) / "webdav.log"
            n = webdav_log(dav, args.webdav_mb)
            compare(dav, n, args.repeat, "WebDAV overflow log (32 KB lines, 1 in 20)")
    if args.max_slowdown and ratio > args.max_slowdown:
        print(f"FAIL: slowdown {ratio:.3f} > {args.max_slowdown}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
