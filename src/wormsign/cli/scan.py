"""``wormsign scan``: find Code Red, Code Red II, Nimda and related attacks in web logs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from wormsign.cli._files import write_text
from wormsign.detect.report import Summary, ecs_lines, iso, to_csv, to_json
from wormsign.detect.scanner import ScanReport, scan_paths, total_size
from wormsign.errors import InputError
from wormsign.logs.formats import FORMATS
from wormsign.logs.text import safe
from wormsign.rules.loader import load_pack


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "scan", help="find worm activity in web-server logs",
        description="Scan web-server logs (Apache/nginx access and error logs, IIS W3C; plain, "
        ".gz, .bz2, .xz; directories recursively; - for stdin) for Code Red, Code Red II, "
        "Nimda and related attacks. Exit status: 1 found (even if some file failed), "
        "2 error and nothing found, 0 nothing found.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, directory or - (stdin)")
    p.add_argument("--format", choices=sorted(FORMATS), help="force the log format")
    p.add_argument("--rules", action="append", default=[], metavar="PATH",
                   help="extra rule file or directory (repeatable)")
    p.add_argument("--no-builtin-rules", action="store_true", help="use only --rules")
    p.add_argument("--json", action="store_true", help="JSON summary on stdout")
    p.add_argument("--alerts", metavar="FILE", help="write one ECS JSON alert per line")
    p.add_argument("--csv", metavar="FILE", help="write one CSV row per source (its families, "
                   "requests, first and last seen)")
    p.add_argument("--top", type=int, default=10, help="sources shown in the summary")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


@contextmanager
def _progress(paths: list[str], enabled: bool) -> Iterator[Callable[[int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    total = total_size(paths)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scanning", total=total)
        yield lambda n: bar.advance(task, n)


def write_alerts(report: ScanReport, path: str) -> None:
    """JSON Lines, one ECS alert per matched request (see :func:`ecs_lines`)."""
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(ecs_lines(report.alerts))
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None


def print_summary(report: ScanReport, out: TextIO, top: int = 10) -> None:
    """The readable terminal summary (all log-derived text made safe)."""
    files = report.files
    lines = sum(f.lines for f in files)
    skipped = sum(f.skipped for f in files)
    print(f"Scanned {len(files)} file(s), {lines:,} lines, {lines - skipped:,} parsed, "
          f"{skipped:,} skipped, {len(report.alerts):,} alerts.", file=out)
    for f in files:
        if f.error:
            print(f"  {safe(f.path)}: error: {safe(f.error)}", file=out)
        elif f.skipped:
            first = ", ".join(str(n) for n in f.first_skipped)
            print(f"  {safe(f.path)} ({f.format}): {f.skipped:,} line(s) skipped "
                  f"(first: {first})", file=out)
    if not report.alerts:
        print("No worm activity found.", file=out)
        return
    s = Summary.of(report.alerts)
    print("", file=out)
    head = f"{'FAMILY':<16} {'SEVERITY':<9} {'REQUESTS':>9} {'SOURCES':>8}  FIRST SEEN -> LAST SEEN"
    print(head, file=out)
    for fam, t in sorted(s.families.items(), key=lambda kv: -kv[1].requests):
        print(f"{safe(fam):<16} {t.severity:<9} {t.requests:>9,} "
              f"{len(s.family_sources[fam]):>8,}  {iso(t.first)} -> {iso(t.last)}", file=out)
    print("", file=out)
    ips = len({ip for ip, _ in s.sources})
    print(f"Top sources ({ips:,} source(s); one row per source and family):", file=out)
    print(f"{'SOURCE':<40} {'FAMILY':<16} {'REQUESTS':>9}  FIRST SEEN -> LAST SEEN", file=out)
    for (ip, fam), t in s.ranked_sources()[:top]:
        print(f"{safe(ip)[:40]:<40} {safe(fam):<16} {t.requests:>9,}  "
              f"{iso(t.first)} -> {iso(t.last)}", file=out)


def run(args: argparse.Namespace) -> int:
    pack = load_pack(args.rules, builtin=not args.no_builtin_rules)
    show = not args.quiet and sys.stderr.isatty()
    with _progress(args.paths, show) as on_bytes:
        report = scan_paths(args.paths, pack=pack, fmt=args.format, on_bytes=on_bytes)
    if args.alerts:
        write_alerts(report, args.alerts)
    if args.csv:
        write_text(args.csv, to_csv(report))
    if args.json:
        # Compact: the C encoder is ~10x faster than indent= on scans with many sources.
        sys.stdout.write(json.dumps(to_json(report), ensure_ascii=False, separators=(",", ":")))
        sys.stdout.write("\n")
    else:
        print_summary(report, sys.stdout, args.top)
    for f in report.errors:
        print(f"wormsign: error: {safe(f.path)}: {safe(f.error or '')}", file=sys.stderr)
    # As clamscan: a detection takes priority over errors (1), then errors (2), else 0.
    if report.alerts:
        return 1
    return 2 if report.errors else 0
