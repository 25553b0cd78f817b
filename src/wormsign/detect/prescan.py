"""The scan's pre-scan: the per-byte work of a large access log, begun before numpy is loaded.

A ``wormsign scan`` spends its first 0.2 s importing the command, numpy and the rest of the
scanner on one core before it forks its workers (on this project's 2-core test machine,
two thirds of the whole scan of a 1-million-line log). A pre-scan process does the per-byte
work meanwhile on the other core (:mod:`wormsign.detect.prescanloop`): forked before any
import by :mod:`wormsign.cli._early` and taken over here (:meth:`Prescan.adopt`), or forked
here once the scan knows its ranges (:meth:`Prescan.start`). From the last range of the
split backwards it reads each chunk, checks its lines (``validate_nl``), finds the lines
holding a keyword (Hyperscan) and keeps a :class:`ChunkRecord` of each. When the parent is
ready, :meth:`Prescan.finish` stops it (after its current chunk) and collects the records
it can use; the workers then parse only the flagged lines of those chunks
(:meth:`~wormsign.detect.chunkscan.ChunkScanner.finish`, ``finish_copied``), which gives
the very columns a full scan of them gives.

Only ranges of plain access logs that the scanner's fast path takes are pre-scanned, and
only chunks read verbatim (a range stops at a line cut for being overlong); a record whose
chunk reads back differently is scanned again in full. At most
:data:`~wormsign.detect.prescanloop.BUDGET` bytes are pre-scanned, so the records (about 5 %
of what they describe) stay small.
"""

from __future__ import annotations

import contextlib
import dataclasses
import mmap
import os
import pickle
import select
import signal
import time
from dataclasses import dataclass
from typing import Any, Protocol

from wormsign.detect.bounds import file_identity, first_prescanned
from wormsign.detect.keywords import KeywordDatabases
from wormsign.detect.prescanloop import (
    BUDGET,
    MAX_BAD_LINES,
    Range,
    serve,
    shared_area,
    usable,
)
from wormsign.detect.ranges import Task
from wormsign.logs import formats
from wormsign.logs.source import Limits

__all__ = ["BUDGET", "MAX_BAD_LINES", "STOP_WAIT", "ChunkRecord", "Forked", "Prescan",
           "prefix_tokens", "ranges_of"]

#: Seconds the scan waits for a stopped pre-scan's records (a read hung on a network file
#: system, say) before it goes on without them.
STOP_WAIT = 5.0


@dataclass(frozen=True)
class ChunkRecord:
    """What the pre-scan found in one chunk: where it is in the file, its line check
    (``lines``, ``bad``, the first bad lines' 1-based numbers in the chunk), its newline
    offsets (int64 bytes) and the end offsets of its flagged lines (int64 bytes). When its
    flagged lines are few, ``copied`` holds them (each ended by a newline) and
    ``copied_lines`` their 0-based line numbers in the chunk (int64 bytes), and the offsets
    are empty: the chunk need not be read again."""

    offset: int
    length: int
    lines: int
    bad: int
    first_bad: tuple[int, ...]
    newlines: bytes | memoryview
    ends: bytes | memoryview
    copied: bytes | None = None
    copied_lines: bytes = b""

    def __reduce__(self) -> tuple[type[ChunkRecord], tuple[Any, ...]]:
        """Pickled (for a worker that is not forked) with its arrays as bytes: they may be
        views of the memory shared with the pre-scan."""
        return ChunkRecord, tuple(
            bytes(v) if isinstance(v, memoryview) else v
            for v in (getattr(self, f.name) for f in dataclasses.fields(self)))


class Forked(Protocol):
    """A pre-scan process forked elsewhere (:class:`wormsign.cli._early.Early`): its pid,
    the parent's ends of its control and results pipes, and the memory it shares for its
    records' arrays (:func:`~wormsign.detect.prescanloop.shared_area`)."""

    pid: int
    control: int
    results: int
    area: mmap.mmap | None


def prefix_tokens(task: Task) -> int | None:
    """The access-log prefix of ``task``'s format when the pre-scan can take it, else None."""
    if task.start is None or task.end is None or task.fmt is None:
        return None
    try:
        fmt = formats.get(task.fmt)
    except Exception:  # an unknown id: the scan reports it
        return None
    if type(fmt) is not formats.AccessLog or fmt.prefix_tokens not in (3, 4):
        return None
    return fmt.prefix_tokens


def ranges_of(tasks: list[Task]) -> list[Range | None]:
    """The pre-scan's ranges of the scan's ``tasks`` (None: not pre-scanned: not a range of
    an access log). A file's first range is pre-scanned from the first line after its first
    bytes, which the scan sniffs (:func:`~wormsign.detect.bounds.first_prescanned`)."""
    out: list[Range | None] = []
    for t in tasks:
        prefix = prefix_tokens(t)
        start = t.start
        if prefix is not None and start == 0 and t.end is not None:
            start = first_prescanned(t.name, t.end)
        ok = prefix is not None and start and t.end is not None
        out.append((t.name, int(start or 0), int(t.end or 0), int(prefix or 0)) if ok else None)
    return out


class Prescan:
    """A running pre-scan of ``tasks`` (the scan's split, in order); see the module.
    ``expect``: what its message must say besides its records for them to be used (the
    ranges it read, the databases and line limit it used)."""

    def __init__(self, tasks: list[Task], pid: int, pipes: tuple[int, int],
                 expect: dict[str, Any] | None = None,
                 ranges: list[Range | None] | None = None,
                 area: mmap.mmap | None = None) -> None:
        self.tasks = tasks
        self._ranges = ranges_of(tasks) if ranges is None else ranges
        self._pid = pid
        self._control, self._results = pipes
        self._area = area
        self._stopping = False
        self._expect = expect or {}
        self._ended: int | None = None  # its exit status, once reaped

    @classmethod
    def start(cls, tasks: list[Task], databases: KeywordDatabases,
              limits: Limits) -> Prescan | None:
        """Fork the pre-scan of ``tasks`` with the line database of the scan's rules; None
        when nothing in them can be pre-scanned here (no C helpers, no fork, no keyword)."""
        ranges = ranges_of(tasks)
        if not usable() or databases.line_db is None or not any(ranges):
            return None
        control_r, control_w = os.pipe()
        results_r, results_w = os.pipe()
        with contextlib.suppress(OSError, ValueError):  # 1 MiB: the records in fewer turns
            import fcntl

            fcntl.fcntl(results_w, 1031, 1 << 20)  # F_SETPIPE_SZ (Linux)
        area = shared_area()
        pid = os.fork()
        if pid == 0:  # the pre-scan: never returns
            code = 1
            try:
                os.close(control_w)
                os.close(results_r)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                code = serve(ranges, databases, limits.max_line_bytes, control_r, results_w,
                             area=area)
            finally:
                os._exit(code)
        os.close(control_r)
        os.close(results_w)
        return cls(tasks, pid, (control_w, results_r), {"ranges": ranges}, ranges, area)

    @classmethod
    def adopt(cls, early: Forked, tasks: list[Task], databases: KeywordDatabases,
              limits: Limits) -> Prescan | None:
        """The pre-scan :mod:`wormsign.cli._early` forked before the command's imports, as
        this scan's: its records are used only when it read the ranges of ``tasks`` with
        ``databases`` and the scan's line limit (else the scan does all the work). None
        when it has already ended (it found nothing to do); it is then reaped."""
        pid, control, results = early.pid, early.control, early.results
        ended: int | None = None
        with contextlib.suppress(ChildProcessError):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:  # it finished everything, or found nothing to do
                ended = os.waitstatus_to_exitcode(status)
        if ended is not None and ended != 0:
            for fd in (control, results):
                with contextlib.suppress(OSError):
                    os.close(fd)
            return None
        expect = {"keys": databases.keys, "max_line": limits.max_line_bytes}
        adopted = cls(tasks, pid, (control, results), expect, area=early.area)
        adopted._ended = ended
        return adopted

    def stop(self) -> None:
        """Ask the pre-scan to stop after its current chunk, without waiting: the caller
        goes on with its own preparations while it finishes and sends its records."""
        if self._pid >= 0 and not self._stopping:
            self._stopping = True
            with contextlib.suppress(OSError):
                os.write(self._control, b"s")

    def finish(self) -> dict[int, list[ChunkRecord]]:
        """Stop the pre-scan after its current chunk (:meth:`stop`); the records of each task
        it began (by index into :attr:`tasks`; each list covers the task's start onwards,
        without gaps). Empty when the process failed, or read other ranges than expected:
        the scan then does all the work."""
        if self._pid < 0:
            return {}
        self.stop()
        data = self._read_results(time.monotonic() + STOP_WAIT)
        if data is None:  # no answer in time: on without it
            self.close()
            return {}
        ok = self._reap() == 0
        try:
            got = pickle.loads(data) if ok and data else {}  # noqa: S301 - our own child
        except Exception:  # cut short: nothing of it is used
            got = {}
        if not isinstance(got, dict) or any(got.get(k) != v for k, v in self._expect.items()):
            return {}
        records, ranges = got.get("records"), got.get("ranges")
        if not isinstance(records, dict) or not isinstance(ranges, list):
            return {}
        try:
            found = {i: [self._record(r) for r in recs] for i, recs in records.items()}
        except (TypeError, ValueError):  # not records as sent: nothing of it is used
            return {}
        files = got.get("files")
        if files is None:  # forked on the scan's own ranges
            return found if ranges == self._ranges else {}
        return _moved(found, ranges, self._ranges, files) if isinstance(files, dict) else {}

    def _record(self, sent: tuple[Any, ...]) -> ChunkRecord:
        """A record as sent, its arrays placed in the shared memory read where they are."""
        fields = list(sent)
        for k in (5, 6):
            if isinstance(fields[k], tuple):
                fields[k] = self._placed(*fields[k])
        return ChunkRecord(*fields)

    def _placed(self, at: int, size: int) -> memoryview:
        area = self._area
        if area is None or not 0 <= at <= at + size <= len(area):
            raise ValueError("a record's array outside the shared memory")
        return memoryview(area)[at:at + size]

    def _read_results(self, deadline: float) -> bytearray | None:
        data = bytearray()
        with contextlib.suppress(OSError):
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([self._results], [], [], left)
                if not ready:
                    continue
                block = os.read(self._results, 1 << 20)
                if not block:
                    return data
                data += block
            return None
        return data

    def close(self) -> None:
        """End the pre-scan at once (the scan did not get to use it)."""
        if self._pid >= 0:
            if self._ended is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._pid, signal.SIGKILL)
            self._reap(block=False)

    def _reap(self, block: bool = True) -> int:
        """Close the pipes and collect the process's exit status (-1 when unknown). Killed,
        it is waited for a moment only: a process in a hung read ends when the read does."""
        for fd in (self._control, self._results):
            with contextlib.suppress(OSError):
                os.close(fd)
        pid, self._pid = self._pid, -1
        if self._ended is not None:
            return self._ended
        for _ in range(1 if block else 50):
            try:
                done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return -1
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.002)
        return -1


def _moved(found: dict[int, list[ChunkRecord]], theirs: list[Range | None],
           mine: list[Range | None], files: dict[str, Any]) -> dict[int, list[ChunkRecord]]:
    """Records the pre-scan kept for its own ranges, given to the scan's ranges that hold
    them (a log that grew since the pre-scan cut it is cut otherwise): only for files that
    are still the ones it read (device and inode), at least as long as it saw them, and read
    with the same format; in each range, the first run of records without a gap."""
    same = {name: _same_file(seen, file_identity(name)) for name, seen in files.items()}
    by_file: dict[tuple[str, int], list[ChunkRecord]] = {}
    for index, recs in found.items():
        r = theirs[index] if 0 <= index < len(theirs) else None
        if r is not None and same.get(r[0]):
            by_file.setdefault((r[0], r[3]), []).extend(recs)
    out: dict[int, list[ChunkRecord]] = {}
    for index, r in enumerate(mine):
        held = by_file.get((r[0], r[3])) if r is not None else None
        if r is None or not held:
            continue
        inside = sorted((x for x in held if x.offset >= r[1] and x.offset + x.length <= r[2]),
                        key=lambda x: x.offset)
        run = inside[:1]
        for x in inside[1:]:
            if x.offset != run[-1].offset + run[-1].length:
                break
            run.append(x)
        if run:
            out[index] = run
    return out


def _same_file(seen: Any, now: tuple[int, int, int] | None) -> bool:
    """Whether a file the pre-scan noted as ``seen`` (device, inode, size) is still that
    file, not shorter."""
    return (now is not None and isinstance(seen, tuple) and len(seen) == 3
            and tuple(seen[:2]) == now[:2] and now[2] >= seen[2])
