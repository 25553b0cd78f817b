"""The command's first step: the pre-scan of a large ``wormsign scan``, forked before any import.

A ``wormsign scan`` of a large log spends its first 0.1 s importing the command (argument
parsing, the rule model, the log readers) before it can fork its pre-scan
(:mod:`wormsign.detect.prescan`), and 0.1 s more importing numpy and the scanner; the
machine's other cores wait meanwhile. :func:`begin` runs first, with nothing but ``os`` and
``sys`` imported: when the command line is a plain ``scan`` of large access logs (only the
options listed in :data:`_FLAGS` and :data:`_VALUED`, regular files, no progress bar) it
forks a process that imports only Hyperscan and the C helpers, finds the keyword databases
the last scan used (:func:`wormsign.detect.hscache.recall`), cuts the files as the scan will
(:func:`wormsign.detect.bounds.range_bounds`) and pre-scans them
(:mod:`wormsign.detect.prescanloop`). The scan takes it over once it has parsed its
arguments (:meth:`~wormsign.detect.prescan.Prescan.adopt`) and uses its records only when it
read the very ranges of the scan's split, with the scan's databases and line limit: a guess
that turns out wrong (other rules, a file grown meanwhile) costs only the work, never a
result. A scan that does not take it over ends it (:func:`discard`), and a process that ends
without doing so closes its control pipe, which stops it.
"""

from __future__ import annotations

import mmap
import os
import sys

#: Options of ``scan`` without a value that the early pre-scan does not depend on.
_FLAGS = frozenset({"-q", "--quiet", "--json", "--no-correlate"})
#: Options with a value: the outputs and report options, and the two it reads.
_VALUED = frozenset({"--alerts", "--csv", "--top", "--ignore", "--tolerance", "--max-skew",
                     "--max-decompressed-ratio", "--workers", "--max-line-bytes"})
#: ``--max-line-bytes`` when not given (the scan's own default; it checks they agree).
DEFAULT_MAX_LINE = 65536
#: The name under which a scan notes its databases for the next one.
NOTE = "scan"
#: Inputs smaller than this in all are scanned in one process (as
#: :data:`wormsign.detect.bounds.MIN_PARALLEL_BYTES`, which is not imported here): no fork.
MIN_BYTES = 24 << 20
#: Bytes of the memory shared for the records' arrays (as
#: :data:`wormsign.detect.prescanloop.SHARED`, which is not imported here).
SHARED = 64 << 20


class Early:
    """The early pre-scan process: its pid, the parent's ends of its two pipes, and the
    memory it shares for its records' arrays (an ``mmap``, or None)."""

    __slots__ = ("area", "control", "pid", "results")

    def __init__(self, pid: int, control: int, results: int,
                 area: mmap.mmap | None = None) -> None:
        self.pid, self.control, self.results = pid, control, results
        self.area = area

    def close(self) -> None:
        """End it at once and reap it."""
        import contextlib
        import signal

        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)
        for fd in (self.control, self.results):
            with contextlib.suppress(OSError):
                os.close(fd)


_started: Early | None = None


def main() -> int:
    """The ``wormsign`` command (console script and ``python -m wormsign``)."""
    begin(sys.argv[1:])
    from wormsign.cli.main import main as run

    return run()


def begin(argv: list[str]) -> None:
    """Fork the early pre-scan when ``argv`` (the command line after the program name) is a
    ``scan`` it can take (see the module); never raises."""
    global _started
    try:
        plan = _plan(argv)
        if plan is not None and _started is None:
            _started = _fork(*plan)
    except Exception:  # a guess only: the scan goes on without it
        _started = None


def take() -> Early | None:
    """The early pre-scan, handed over once (None when none was started)."""
    global _started
    early, _started = _started, None
    return early


def discard() -> None:
    """End the early pre-scan when the scan does not take it over."""
    early = take()
    if early is not None:
        early.close()


def _plan(argv: list[str]) -> tuple[list[str], int, int] | None:
    """(paths, workers, line limit) of a ``scan`` command line the early pre-scan can take,
    else None."""
    if len(argv) < 2 or argv[0] != "scan" or not hasattr(os, "fork"):
        return None
    paths: list[str] = []
    values: dict[str, str] = {}
    quiet = False
    args = iter(argv[1:])
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in _VALUED:
            values[name] = value if eq else next(args, "")
        elif arg in _FLAGS and not eq:
            quiet = quiet or arg in ("-q", "--quiet")
        elif arg.startswith("-"):
            return None  # another option (or "-", stdin): the scan decides alone
        else:
            paths.append(arg)
    workers = int(values.get("--workers") or os.cpu_count() or 1)
    max_line = int(values.get("--max-line-bytes") or DEFAULT_MAX_LINE)
    if workers < 2 or max_line < 1 or not paths or (not quiet and sys.stderr.isatty()):
        return None
    import stat

    total = 0
    for p in paths:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode):
            return None
        total += st.st_size
    return (paths, workers, max_line) if total >= MIN_BYTES else None


def _fork(paths: list[str], workers: int, max_line: int) -> Early | None:
    control_r, control_w = os.pipe()
    results_r, results_w = os.pipe()
    try:
        area: mmap.mmap | None = mmap.mmap(-1, SHARED)  # shared with the child
    except (OSError, ValueError, AttributeError):
        area = None
    pid = os.fork()
    if pid == 0:  # the early pre-scan: never returns
        code = 1
        try:
            os.close(control_w)
            os.close(results_r)
            code = _prescan(paths, (workers, max_line), (control_r, results_w), area)
        except BaseException:  # nothing of it reaches the command's output
            code = 1
        finally:
            os._exit(code)
    os.close(control_r)
    os.close(results_w)
    return Early(pid, control_w, results_r, area)


def _prescan(paths: list[str], sizes: tuple[int, int], pipes: tuple[int, int],
             area: mmap.mmap | None) -> int:
    """The early pre-scan process's work; its exit status (nonzero: nothing sent)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    workers, max_line = sizes
    control, results = pipes
    from wormsign.detect import bounds, hscache, prescanloop
    from wormsign.detect.keywords import KeywordDatabases

    keys = hscache.recall(NOTE)
    databases = KeywordDatabases.cached(keys) if keys is not None else None
    if databases is None or not prescanloop.usable():
        return 1
    files = {p: bounds.file_identity(p) for p in paths}  # before the cut: the scan checks them
    ranges: list[prescanloop.Range | None] = []
    total = 0
    for p in paths:
        found = _file_ranges(p, workers)
        if found is None:
            return 1
        ranges += found[0]
        total += found[1]
    if total < bounds.MIN_PARALLEL_BYTES or not any(ranges):
        return 1
    import contextlib

    with contextlib.suppress(OSError, ValueError, ImportError):
        import fcntl

        fcntl.fcntl(results, 1031, 1 << 20)  # F_SETPIPE_SZ (Linux): fewer turns
    return prescanloop.serve(ranges, databases, max_line, control, results,
                             {"keys": databases.keys, "max_line": max_line, "files": files},
                             area)


def _file_ranges(path: str, workers: int) -> tuple[list[tuple[str, int, int, int] | None],
                                                      int] | None:
    """The ranges the scan's split gives a file it can sniff as an access log (the first
    range, which the scan sniffs, not pre-scanned), and its size; None when it cannot."""
    from wormsign.detect import bounds as b
    from wormsign.logs._native import C

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        if size < b.MIN_SPLIT_BYTES:
            return [None], size
        head = os.pread(fd, 65536 + 3, 0)
        if head.startswith(b.MAGICS):
            return None
        head = head.removeprefix(b"\xef\xbb\xbf")
        first = head[:head.find(b"\n")]
        prefix = len(first[:first.find(b" [")].split(b" "))
        if C is None or prefix not in (3, 4) or C.validate(first + b"\n", prefix, 1)[:2] != (1, 0):
            return None
        bounds = b.range_bounds(fd, size, workers, b.RANGE_BYTES)
    finally:
        os.close(fd)
    from itertools import pairwise

    cut = list(pairwise(bounds))
    begin = b.first_prescanned(path, cut[0][1])  # after the first bytes, which the scan sniffs
    opening = (path, begin, cut[0][1], prefix) if begin else None
    return [opening] + [(path, lo, hi, prefix) for lo, hi in cut[1:]], size

