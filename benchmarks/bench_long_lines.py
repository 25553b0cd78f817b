#!/usr/bin/env python3
"""Benchmark: do 10-100 KB lines cost more per byte than short ones? (issue 9, point 2)

    python benchmarks/bench_long_lines.py [--mb 64] [--line-kb 30] [--min-ratio 0]

Builds three synthetic combined logs of the same size in the same run: short lines (~200
bytes, 1.5 % Code Red), long benign-looking lines (WebDAV ``SEARCH`` overflows of --line-kb KB,
as the 2003 ntdll.dll attacks sent) and long worm lines (``/default.ida?`` padded to --line-kb
KB). For each it measures bytes/s of the chunk reader, of the access-log validator (C and
Python) and of the whole ``wormsign scan --json`` process, best of --repeat runs, and prints
the ratio of each long file's rate to the short file's. ``--min-ratio R`` exits 1 when a
whole-process ratio falls below R (a generous bound for CI; timing is never asserted in unit
tests).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from wormsign.logs import clf
from wormsign.logs.source import Input, read_chunks
from wormsign.logs.synth import CODE_RED

HEAD = "{ip} - - [19/Jul/2001:10:23:45 +0000] "


def _short(i: int) -> str:
    ip = f"10.{i % 200}.{i // 200 % 250}.{i % 250 + 1}"
    if i % 67 == 0:
        return HEAD.format(ip=ip) + f'"GET {CODE_RED} HTTP/1.0" 404 205 "-" "-"\n'
    return (HEAD.format(ip=ip) + f'"GET /news/2001/07/{i % 30}/story.html HTTP/1.1" 200 '
            f'{i % 50000} "http://www.example.com/start.html" '
            '"Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.0)"\n')


def _long_search(i: int, kb: int) -> str:
    ip = f"10.{i % 200}.{i // 200 % 250}.{i % 250 + 1}"
    return HEAD.format(ip=ip) + '"SEARCH /' + "\\x90" * (kb * 256) + ' HTTP/1.1" 414 0 "-" "-"\n'


def _long_worm(i: int, kb: int) -> str:
    ip = f"10.{i % 200}.{i // 200 % 250}.{i % 250 + 1}"
    return (HEAD.format(ip=ip) + '"GET /default.ida?' + "N" * (kb * 1024) + CODE_RED[237:]
            + ' HTTP/1.0" 404 205 "-" "-"\n')


def write(path: Path, size: int, make: Callable[[int], str]) -> None:
    with path.open("w") as f:
        written = i = 0
        while written < size:
            line = make(i)
            f.write(line)
            written += len(line)
            i += 1


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _read(path: Path) -> None:
    for _ in read_chunks(Input(str(path))):
        pass


def _validate(path: Path, force_python: bool) -> None:
    for chunk in read_chunks(Input(str(path))):
        clf.validate(chunk, 3, 5, force_python=force_python)


def _scan(path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "wormsign", "scan", "--json", str(path)],
                       capture_output=True, check=False)
    if r.returncode not in (0, 1):
        raise SystemExit(f"scan failed: {r.stderr.decode()[-2000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=64, help="size of each test file (MB)")
    ap.add_argument("--line-kb", type=int, default=30, help="length of the long lines (KB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--min-ratio", type=float, default=0.0,
                    help="exit 1 when a long file's whole-process rate is below this share "
                         "of the short file's")
    args = ap.parse_args()
    size = args.mb << 20
    with tempfile.TemporaryDirectory() as d:
        files = {"short": Path(d, "short.log"), "long-search": Path(d, "search.log"),
                 "long-worm": Path(d, "worm.log")}
        write(files["short"], size, _short)
        write(files["long-search"], size, lambda i: _long_search(i, args.line_kb))
        write(files["long-worm"], size, lambda i: _long_worm(i, args.line_kb))
        stages: dict[str, Callable[[Path], None]] = {
            "read_chunks": _read,
            "validate (C)": lambda p: _validate(p, False),
            "validate (Python)": lambda p: _validate(p, True),
            "scan --json (process)": _scan,
        }
        rates: dict[tuple[str, str], float] = {}
        print(f"{args.mb} MB per file, long lines of {args.line_kb} KB, best of {args.repeat}")
        print(f"{'stage':<24}{'file':<13}{'MB/s':>9}{'vs short':>10}")
        for stage, fn in stages.items():
            for name, path in files.items():
                n = os.path.getsize(path)
                rate = n / best(lambda fn=fn, path=path: fn(path), args.repeat) / 1e6
                rates[(stage, name)] = rate
                ratio = rate / rates[(stage, "short")]
                print(f"{stage:<24}{name:<13}{rate:>9.1f}{ratio:>10.2f}")
        worst = min(rates[("scan --json (process)", n)] / rates[("scan --json (process)", "short")]
                    for n in ("long-search", "long-worm"))
        print(f"worst whole-process ratio (long / short bytes per second): {worst:.2f}")
        return 1 if worst < args.min_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
