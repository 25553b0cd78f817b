"""The pre-scan process's own loop, with nothing heavier than Hyperscan and the C helpers.

Both ways a scan's pre-scan starts run it: forked by :class:`wormsign.detect.prescan.Prescan`
once the scan knows its ranges, or forked before any of the command's imports by
:mod:`wormsign.cli._early` (which must not import numpy, the rule model or the readers). From
the last range backwards it reads each range in chunks of whole lines, checks their lines
(``validate_nl``), finds the lines that hold a keyword (:meth:`KeywordDatabases.line_ends`)
and keeps a :data:`Record` of each chunk; it stops when told to (a byte on the control pipe,
or the pipe's end), when :data:`BUDGET` bytes are read or when every range is done, and
sends what it found, pickled, down the results pipe. The records' offset arrays (their bulk:
8 bytes a line) are not pickled: they are written as they are found into memory the scan
shares with the pre-scan (:func:`shared_area`, made before the fork), and the record holds
where (:data:`Placed`); the scan, and its workers forked later, read them there.

A range's records stop at a chunk the scan would not read verbatim: a line longer than the
scan's line limit (the scan cuts it), a line longer than a chunk, a file that changed.
"""

from __future__ import annotations

import mmap
import os
import pickle
import select
import struct
from collections.abc import Iterator
from typing import cast

from wormsign.detect.keywords import LONG_LINE, KeywordDatabases
from wormsign.logs._native import C

#: The most bytes a pre-scan reads.
BUDGET = 256 << 20
#: Bytes per chunk (about; a chunk ends at a newline).
CHUNK = 2 << 20
#: First skipped line numbers kept per chunk (as the scanner keeps).
MAX_BAD_LINES = 5
_PROBE = 1 << 12

#: A range to pre-scan: (file name, first byte, end byte, access-log prefix tokens).
Range = tuple[str, int, int, int]
#: Where an array of a record lies in the shared memory: (first byte, length).
Placed = tuple[int, int]
#: What the pre-scan found in one chunk: offset in the file, length, lines, bad lines, the
#: first bad lines' 1-based numbers in the chunk, newline offsets and the end offsets of the
#: flagged lines (both native int64 bytes, or where they lie in the shared memory); or, when
#: the flagged lines are few (:data:`COPY_SHARE`), empty offsets and then the flagged lines
#: themselves (each ended by a newline) and their line numbers in the chunk (0-based, native
#: int64 bytes): the scan then needs not read the chunk again.
Record = (tuple[int, int, int, int, tuple[int, ...], bytes | Placed, bytes | Placed]
          | tuple[int, int, int, int, tuple[int, ...], bytes, bytes, bytes, bytes])
#: Flagged lines making up at most this share of a chunk are sent along with its record.
COPY_SHARE = 1 / 16
#: Bytes of the memory shared for the records' offset arrays (virtual: only what is written
#: is ever touched). Arrays that do not fit any more go down the pipe with their records.
SHARED = 64 << 20


def shared_area() -> mmap.mmap | None:
    """Memory to share with a pre-scan forked next (anonymous, shared); None where the
    system gives none (the records then go down the pipe whole)."""
    try:
        return mmap.mmap(-1, SHARED)
    except (OSError, ValueError, AttributeError):
        return None


class _Shelf:
    """Puts arrays in the shared memory, one after the other (8-byte aligned)."""

    def __init__(self, area: mmap.mmap | None) -> None:
        self.area = area
        self.at = 0

    def put(self, data: bytes) -> bytes | Placed:
        n = len(data)
        if self.area is None or not n or self.at + n > len(self.area):
            return data
        at = self.at
        self.area[at:at + n] = data
        self.at = (at + n + 7) & ~7
        return at, n

    def placed(self, record: Record) -> Record:
        """``record`` with its two offset arrays placed (when they fit)."""
        if self.area is None:
            return record
        newlines, ends = record[5], record[6]
        if not isinstance(newlines, bytes) or not isinstance(ends, bytes):
            return record
        return cast(Record, (*record[:5], self.put(newlines), self.put(ends), *record[7:]))


def usable() -> bool:
    """Whether a pre-scan can run here: the C helpers built, 64-bit offsets, ``fork``."""
    return (C is not None and hasattr(C, "validate_nl") and hasattr(C, "long_lines")
            and struct.calcsize("P") == 8 and hasattr(os, "fork"))


def serve(ranges: list[Range | None], databases: KeywordDatabases, max_line: int,
          control: int, results: int, extra: dict[str, object] | None = None,
          area: mmap.mmap | None = None) -> int:
    """The pre-scan process's work (see the module); its exit status. ``extra`` is sent
    along with the records (what the process assumed, for the scan to check); ``area`` is
    the memory shared with the scan (:func:`shared_area`)."""
    records = run(ranges, databases, max_line, control, area)
    message = {"ranges": ranges, "records": records, **(extra or {})}
    try:
        _write_all(results, pickle.dumps(message, protocol=5))
    except OSError:  # nobody reads any more: the scan went on without it
        return 1
    return 0


def run(ranges: list[Range | None], databases: KeywordDatabases, max_line: int,
        control: int, area: mmap.mmap | None = None) -> dict[int, list[Record]]:
    """The records of each range begun (by index into ``ranges``; None: not pre-scanned),
    from the last range backwards, until told to stop or the budget is spent; their offset
    arrays placed in ``area`` while it has room."""
    out: dict[int, list[Record]] = {}
    shelf = _Shelf(area)
    budget = BUDGET
    for index in range(len(ranges) - 1, -1, -1):
        r = ranges[index]
        if r is None:
            continue
        records: list[Record] = []
        out[index] = records
        for record in _records(r, databases, max_line):
            records.append(shelf.placed(record))
            budget -= record[1]
            if budget <= 0 or _stopped(control):
                return out
    return out


def _records(r: Range, databases: KeywordDatabases, max_line: int) -> Iterator[Record]:
    assert C is not None
    name, start, end, prefix = r
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        for offset, chunk in chunks(fd, start, end):
            lines, bad, first, newlines = C.validate_nl(chunk, prefix, MAX_BAD_LINES)
            if C.long_lines(newlines, len(chunk), max(0, max_line - 1)):
                return  # a line the scan cuts for its length: not read verbatim
            ends = databases.line_ends(chunk, C.long_lines(newlines, len(chunk), LONG_LINE))
            copied = _copied(chunk, newlines, ends)
            if copied is not None:
                yield offset, len(chunk), lines, bad, tuple(first), b"", b"", *copied
            else:
                yield offset, len(chunk), lines, bad, tuple(first), newlines, ends
    except OSError:  # the scan meets the same problem and reports it
        return
    finally:
        os.close(fd)


def _copied(chunk: bytes, newlines: bytes, ends: bytes) -> tuple[bytes, bytes] | None:
    """The flagged lines of ``chunk`` (each ended by a newline) and their line numbers, when
    they make up at most :data:`COPY_SHARE` of it; else None."""
    assert C is not None
    spans = C.line_spans(newlines, ends, len(chunk)) if hasattr(C, "line_spans") else None
    if spans is None:
        return None
    lines, starts, stops = (memoryview(b).cast("q") for b in spans)
    if sum(stops) - sum(starts) + len(lines) > COPY_SHARE * len(chunk):
        return None
    view = memoryview(chunk)
    return b"\n".join(view[s:e] for s, e in zip(starts, stops, strict=True)) + b"\n", spans[0]


def chunks(fd: int, start: int, end: int, size: int = CHUNK) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` of bytes ``start:end`` of the file open as ``fd`` in pieces of
    about ``size`` bytes, each ending at a newline (but the range's last), read in one piece
    (a look at a piece's last bytes finds its last newline first). Stops early at a line
    longer than a piece, or when the file reads short (it changed)."""
    pos = start
    while pos < end:
        n = min(size, end - pos)
        data: bytes | None = None
        if pos + n < end:  # not the range's last piece: it ends at its last newline
            k = min(_PROBE, n)
            probe = os.pread(fd, k, pos + n - k)
            nl = probe.rfind(b"\n")
            if len(probe) != k:
                return
            if nl >= 0:
                n = n - k + nl + 1
            else:  # no newline near its end: read it all, cut at its last newline
                data = os.pread(fd, n, pos)
                n = data.rfind(b"\n") + 1
                if n <= 0:
                    return
                data = data[:n]
        if data is None:
            data = os.pread(fd, n, pos)
        if len(data) != n:
            return
        yield pos, data
        pos += n

def _stopped(control: int) -> bool:
    ready, _, _ = select.select([control], [], [], 0)
    return bool(ready)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
