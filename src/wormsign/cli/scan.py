"""``wormsign scan``: find Code Red, Code Red II, Nimda and related attacks in web logs."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from wormsign.cli import _early
from wormsign.cli import _network as network
from wormsign.cli._files import claim_output, open_output
from wormsign.detect.eventkey import MatchKey
from wormsign.errors import ConfigError, InputError
from wormsign.logs.formats import FORMATS
from wormsign.logs.source import DEFAULT_LIMITS, Limits
from wormsign.logs.text import safe
from wormsign.rules.loader import load_pack
from wormsign.rules.model import RulePack

if TYPE_CHECKING:  # suppression and the network rules: imported when they are asked for
    from types import ModuleType

    from wormsign.detect.prescan import Prescan
    from wormsign.detect.scanner import ScanReport
    from wormsign.detect.suppress import IgnoreFile, ScanSuppression
    from wormsign.rules.netloader import NetPack


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
                   help="extra rule file or directory (repeatable): request rules, or "
                   "network rules for connection logs (told apart by their match keys)")
    p.add_argument("--no-builtin-rules", action="store_true", help="use only --rules")
    p.add_argument("--json", action="store_true", help="JSON summary on stdout")
    p.add_argument("--alerts", metavar="FILE", help="write one ECS JSON alert per line")
    p.add_argument("--csv", metavar="FILE", help="write one CSV row per source (its families, "
                   "requests, first and last seen)")
    p.add_argument("--top", type=int, default=10, help="sources shown in the summary")
    p.add_argument("--ignore", metavar="FILE", help="suppression rules (wormsign-ignore.yml): "
                   "covered alerts are kept and marked suppressed, and alone do not make the "
                   "exit status 1")
    p.add_argument("--max-line-bytes", type=int, default=DEFAULT_LIMITS.max_line_bytes,
                   metavar="N", help="longer lines are scanned in their first N bytes and "
                   "counted as overlong (default: %(default)s)")
    p.add_argument("--max-decompressed-ratio", type=float,
                   default=DEFAULT_LIMITS.decompression_ratio, metavar="R",
                   help="stop decompressing a file past R times its compressed size (or "
                   f"{DEFAULT_LIMITS.decompression_min // 2**30} GiB, whichever is larger; "
                   "default: %(default)g)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes to scan with (default: one per core; small inputs are "
                   "scanned in one process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="scan on the Dask cluster at ADDRESS, e.g. tcp://10.0.0.5:8786 (the "
                   "dask extra; the paths must be readable on the workers)")
    p.add_argument("--tolerance", type=float, default=MatchKey.tolerance, metavar="S",
                   help="records of one request in inputs of different sensors (access and "
                   "error log, Zeek http.log, EVE, pcap) are one event when their times, "
                   "after each input's clock offset, are within S seconds (default: "
                   "%(default)g; docs/events.md)")
    p.add_argument("--max-skew", type=float, default=MatchKey.max_skew, metavar="S",
                   help="largest clock offset between inputs looked for, beyond whole time "
                   "zones (default: %(default)g)")
    p.add_argument("--no-correlate", action="store_true",
                   help="count every record of every input (no events across sensors)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    network.add_arguments(p)
    p.set_defaults(func=run)


@contextmanager
def _progress(paths: list[str], enabled: bool) -> Iterator[Callable[[int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from wormsign.detect.scanner import total_size

    total = total_size(paths)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scanning", total=total)
        yield lambda n: bar.advance(task, n)


def write_alerts(report: ScanReport, path: str,
                 suppression: ScanSuppression | None = None) -> None:
    """JSON Lines, one ECS alert per matched request, streamed from the columns."""
    try:
        with open_output(path) as f:
            _report().write_alerts(report, f, suppression)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None


def write_csv(report: ScanReport, path: str) -> None:
    """One CSV row per source (see :func:`wormsign.detect.report.write_csv`)."""
    try:
        with io.TextIOWrapper(open_output(path), encoding="utf-8", newline="") as f:
            _report().write_csv(report, f)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None


def _report() -> ModuleType:
    """:mod:`wormsign.detect.report`, imported when a report is written: the scan's first
    steps (and its pre-scan) run before numpy is imported."""
    from wormsign.detect import report

    return report

#: Fewer alerts than this are written in this process (forking a second one costs about as
#: much as writing 2,000 alerts; above that the two outputs overlap: 14,806 alerts of the 1.5 %
#: benchmark log, 0.447 -> 0.432 s best and 0.583 -> 0.518 s median of 15, same run).
BACKGROUND_ALERTS = 2_000


@contextmanager
def _alerts_alongside(report: ScanReport, path: str | None,
                      suppression: ScanSuppression | None = None) -> Iterator[None]:
    """Write the ``--alerts`` file while the body writes the other outputs: in a forked
    child process (the two largest outputs on two cores at once). Leaving waits for the
    child; its write error is raised then, as :func:`write_alerts` raises it. Where a fork
    is not safe or not worth it (threads running, no ``fork``, few alerts) the file is
    written first, in this process."""
    if path is None:
        yield
        return
    if (not hasattr(os, "fork") or threading.active_count() > 1
            or len(report.alerts) < BACKGROUND_ALERTS):
        write_alerts(report, path, suppression)
        yield
        return
    try:
        f = open_output(path)  # handed to the child, closed on both sides
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None
    _report()  # imported once, for both
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write the file, say why not through the pipe, leave at once
        os.close(r)
        os._exit(_child_writes(report, f, w, suppression))
    os.close(w)
    f.close()
    try:
        yield
    finally:
        _, status = os.waitpid(pid, 0)
        with os.fdopen(r, "rb") as pipe:
            why = pipe.read(1000).decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise InputError(f"cannot write: {why or 'the writer process failed'}", path=path)


def _child_writes(report: ScanReport, f: IO[bytes], pipe: int,
                  suppression: ScanSuppression | None = None) -> int:
    """The forked writer's work; its exit status (0: written)."""
    try:
        with f:
            _report().write_alerts(report, f, suppression)
        return 0
    except OSError as exc:
        os.write(pipe, (exc.strerror or str(exc)).encode("utf-8", "replace"))
    except BaseException as exc:  # reported by the parent, never raised here
        os.write(pipe, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:900])
    return 1


def _return_freed_memory() -> None:
    """Have freed large arrays go back to the system at once. glibc raises its mmap threshold
    after the first large frees and then keeps such blocks on its heap, so a scan's peak
    memory would be the sum of its phases' temporaries, not the largest of them. Up to
    16 MiB freed at the top of the heap is kept there, so that the read chunks (below the
    threshold) reuse memory instead of faulting in fresh pages for every chunk."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 1 << 22)  # M_MMAP_THRESHOLD: fixed at 4 MiB
        libc.mallopt(-1, 1 << 24)  # M_TRIM_THRESHOLD: 16 MiB
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _claim_outputs(args: argparse.Namespace) -> None:
    """Create or empty the output files before the scan (an unwritable one is reported
    before the work, not after it); an output that is one of the inputs is refused."""
    outputs = [(flag, path) for flag, path in (("--alerts", args.alerts), ("--csv", args.csv))
               if path]
    if not outputs:
        return
    from wormsign.logs.source import expand

    inputs = set()
    for inp in expand(args.paths):
        with contextlib.suppress(OSError):
            if not inp.is_stdin:
                st = os.stat(inp.name)
                inputs.add((st.st_dev, st.st_ino))
    for flag, path in outputs:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in inputs:
                raise ConfigError(f"{flag} {path} is also an input; write it elsewhere")
        claim_output(path)


def _start_prescan(args: argparse.Namespace, pack: RulePack, limits: Limits) -> Prescan | None:
    """The pre-scan of this scan's ranges (:mod:`wormsign.detect.prescan`), forked before the
    scanner is imported; None where the scan will not fork workers for ranges of a large
    access log."""
    from wormsign.detect import hscache
    from wormsign.detect.keywords import (
        KeywordDatabases,
        keyword_patterns,
        keywords,
        ordered_rules,
    )
    from wormsign.detect.prescan import Prescan
    from wormsign.detect.ranges import MIN_PARALLEL_BYTES, split
    from wormsign.logs.source import expand

    workers = args.workers or os.cpu_count() or 1
    inputs = list(expand(args.paths))
    sizes = [i.size() for i in inputs]
    rules = ordered_rules(pack)
    if (workers < 2 or threading.active_count() > 1 or any(s is None for s in sizes)
            or sum(s or 0 for s in sizes) < MIN_PARALLEL_BYTES or len(rules) > 63
            or any(keywords(r) is None for r in rules)):
        return None  # (one forked early is ended by the caller)
    tasks = [t for inp in inputs for t in split(inp, args.format, workers)]
    databases = KeywordDatabases(keyword_patterns(rules)[0])
    if databases.keys is not None:  # for the next scan's early pre-scan
        hscache.remember(_early.NOTE, databases.keys)
    early = _early.take()  # forked before the imports, when the command line allowed
    if early is not None:
        adopted = Prescan.adopt(early, tasks, databases, limits)
        if adopted is not None:
            return adopted
    return Prescan.start(tasks, databases, limits)


def _split_rule_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """The ``--rules`` paths as (request rule files, network rule files)."""
    if not paths:
        return [], []
    from wormsign.rules.netloader import split_rule_files

    return split_rule_files(paths)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    finally:
        _early.discard()  # a pre-scan forked at the start that this scan did not take over


def _run(args: argparse.Namespace) -> int:
    request_rules, network_rules = _split_rule_files(args.rules)
    pack = load_pack(request_rules, builtin=not args.no_builtin_rules)
    ignore = None
    if args.ignore:
        from wormsign.detect.suppress import load_ignore_file

        ignore = load_ignore_file(args.ignore)
    show = not args.quiet and sys.stderr.isatty()
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {args.workers})")
    limits = Limits(max_line_bytes=args.max_line_bytes,
                    decompression_ratio=args.max_decompressed_ratio)
    try:
        match = None if args.no_correlate else MatchKey(tolerance=args.tolerance,
                                                        max_skew=args.max_skew)
    except ValueError as exc:
        raise ConfigError(f"--tolerance/--max-skew: {exc}") from None
    if args.format is None:
        conn_paths, web_paths = network.split_inputs(args.paths)
        if conn_paths:  # network rule files are checked before any scanning
            _early.discard()
            from wormsign.rules.netloader import load_network_pack

            net_pack = load_network_pack(network_rules, builtin=not args.no_builtin_rules)
            return _run_network(args, (conn_paths, web_paths), (pack, net_pack), limits, show,
                                match)
    # The pre-scan first: the outputs are emptied (the kernel freeing a previous 200 MB
    # alerts file takes 0.05 s) and the scanner imported while it reads.
    _return_freed_memory()  # before the fork: the pre-scan reuses its chunks' memory too
    prescan = None if show or args.scheduler else _start_prescan(args, pack, limits)
    _early.discard()  # one forked at the start that this scan did not take over
    try:
        _claim_outputs(args)
        from wormsign.detect.scanner import scan_paths  # numpy and the rest: the slow part

        _report()  # now, while the pre-scan reads, rather than between the scan and its outputs

        with _progress(args.paths, show) as on_bytes:
            report = scan_paths(args.paths, pack=pack, fmt=args.format, on_bytes=on_bytes,
                                workers=args.workers, scheduler=args.scheduler, limits=limits,
                                match=match, prescan=prescan)
    finally:
        if prescan is not None:
            prescan.close()
    return _report_scan(args, report, ignore)


def _report_scan(args: argparse.Namespace, report: ScanReport,
                 ignore: IgnoreFile | None) -> int:
    sup = None
    if ignore is not None:
        from wormsign.detect.suppress import ScanSuppression

        sup = ScanSuppression.apply(report.attribution, ignore.suppress, int(time.time()))
    with _alerts_alongside(report, args.alerts, sup):
        if args.csv:
            write_csv(report, args.csv)
        if args.json:
            # Compact, streamed one source at a time (millions of sources stay cheap).
            _report().write_json(report, sys.stdout, sup)
        else:
            _report().print_summary(report, sys.stdout, args.top, sup)
    for f in report.errors:
        print(f"wormsign: error: {safe(f.path)}: {safe(f.error or '')}", file=sys.stderr)
    # As clamscan: a detection takes priority over errors (1), then errors (2), else 0.
    # Suppressed alerts are reported but are not a detection.
    if (sup.unsuppressed if sup is not None else len(report.alerts)):
        return 1
    return 2 if report.errors else 0


def _run_network(args: argparse.Namespace, inputs: tuple[list[str], list[str]],
                 packs: tuple[RulePack, NetPack], limits: Limits, show: bool,
                 match: MatchKey | None) -> int:
    """Connection logs among the inputs (``inputs``: connection logs, request logs): the
    network analysis with the network rules, beside the request scan of the other inputs
    with the request rules (whose families then name the scanners they match)."""
    conn_paths, web_paths = inputs
    pack, net_pack = packs
    _return_freed_memory()
    _claim_outputs(args)
    report: ScanReport | None = None
    families: dict[str, str] = {}
    if web_paths:
        from wormsign.detect.scanner import scan_paths

        with _progress(web_paths, show) as on_bytes:
            report = scan_paths(web_paths, pack=pack, on_bytes=on_bytes, workers=args.workers,
                                scheduler=args.scheduler, limits=limits, match=match)
        families = {a.source_ip: a.family for a in report.alerts}
    net = network.analyse(conn_paths, args, limits, families, net_pack)
    if report is not None:
        if args.alerts:
            write_alerts(report, args.alerts)
        if args.csv:
            write_csv(report, args.csv)
    network.write_outputs(net, args, sys.stdout, "ab" if report is not None else "wb")
    if args.json:
        if report is None:
            network.print_json(net, sys.stdout)
        else:
            _report().write_json(report, sys.stdout, extra={"network": net.to_dict()})
    else:
        if report is not None:
            _report().print_summary(report, sys.stdout, args.top)
        network.print_network(net, sys.stdout, args.top)
    errors = [(f.path, f.error or "") for f in (report.errors if report else [])]
    errors += [(i.path, i.error) for i in net.inputs if i.error]
    for path, error in errors:
        print(f"wormsign: error: {safe(path)}: {safe(error)}", file=sys.stderr)
    if (report is not None and report.alerts) or net.scanners or net.floods or (
            net.rule_sources):
        return 1
    return 2 if errors else 0
