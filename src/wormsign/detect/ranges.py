"""Where a large log is cut for parallel scanning, and the reading of one piece (no numpy).

A plain file in a format without per-file state (access and error logs) is cut into ranges
of whole lines; anything else (compressed, IIS with its ``#Fields`` headers, standard input,
small files) is one piece (the cut itself is :mod:`wormsign.detect.bounds`, which the early
pre-scan shares). :mod:`wormsign.detect.parallel` scans the pieces in workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import IO

from wormsign.detect.bounds import MAGICS as _MAGICS
from wormsign.detect.bounds import (
    MIN_PARALLEL_BYTES,
    MIN_SPLIT_BYTES,
    RANGE_BYTES,
    range_bounds,
)
from wormsign.errors import WormsignError
from wormsign.logs import formats, pcap
from wormsign.logs.source import (
    CHUNK,
    Input,
    InputStream,
    Limits,
    ReadStats,
    looks_binary,
    read_chunks,
)

__all__ = ["MIN_PARALLEL_BYTES", "MIN_SPLIT_BYTES", "RANGE_BYTES", "Task", "range_chunks",
           "read_range", "split"]
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Task:
    """One unit of work: a whole input (``start`` None) or bytes ``start:end`` of a plain
    file whose format is already known."""

    name: str
    fmt: str | None
    start: int | None = None
    end: int | None = None
    allow_special: bool = False


class _Range:
    """Bytes ``start:end`` of an open file, as a raw stream."""

    def __init__(self, f: IO[bytes], start: int, end: int) -> None:
        self.f, self.end = f, end
        f.seek(start)

    def _left(self) -> int:
        return max(0, self.end - self.f.tell())

    def read(self, n: int = -1) -> bytes:
        left = self._left()
        return self.f.read(left if n < 0 else min(n, left))

    def readline(self, size: int = -1) -> bytes:
        left = self._left()
        return self.f.readline(left if size < 0 else min(size, left))

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int) -> int:
        return self.f.seek(pos)

    def seekable(self) -> bool:
        return self.f.seekable()

    def fileno(self) -> int:
        return self.f.fileno()


def range_chunks(inp: Input, raw: _Range, limits: Limits, read: ReadStats,
                  first: bool) -> Iterator[bytes]:
    """Chunks of whole lines of a range, cut as :func:`read_chunks` cuts lines. The first
    range is read by read_chunks itself (byte-order mark, binary check); later ones start
    mid-file, where those checks of a file's first bytes must not run again."""
    stream = InputStream(raw)  # type: ignore[arg-type]
    if first:
        yield from read_chunks(inp, limits=limits, stats=read, stream=stream)
        return
    # The line-cutting steps of read_chunks without its start-of-file checks (no public
    # entry point for a mid-file range yet).
    from wormsign.logs.source import _Lines, _plain_blocks

    lines = _Lines(limits.max_line_bytes, read)
    for block in _plain_blocks(stream, inp, CHUNK, None, limits, read):
        out = lines.feed(block)
        if out:
            yield out
    tail = lines.finish()
    if tail:
        yield tail


def split(inp: Input, fmt: str | None, workers: int = 1) -> list[Task]:
    """Tasks for one input: ranges of whole lines for a large plain file in a stateless
    format (about :data:`RANGE_BYTES` each, as many as a multiple of ``workers``, so that
    they end together), else the whole input."""
    whole = [Task(inp.name, fmt, allow_special=inp.allow_special)]
    size = inp.size()
    if inp.is_stdin or size is None or size < MIN_SPLIT_BYTES or not os.path.isfile(inp.name):
        return whole
    try:
        with open(inp.name, "rb") as f:
            head = f.read(65536 + len(_BOM))
            if head.startswith(_MAGICS) or pcap.is_pcap(head[:4]):
                return whole
            if head.startswith(_BOM):
                head = head[3:]
            if looks_binary(head):
                return whole
            lf = formats.get(fmt) if fmt else formats.detect(head[:65536], inp.display)
            if lf.new_state() is not None:  # per-file state (IIS headers): one piece
                return whole
            bounds = range_bounds(f.fileno(), size, workers, RANGE_BYTES)
    except (OSError, WormsignError):
        return whole
    return [Task(inp.name, lf.name, lo, hi) for lo, hi in pairwise(bounds)]


def read_range(task: Task, limits: Limits, read: ReadStats) -> Iterator[bytes]:
    """The chunks of whole lines of a range task (``task.start`` to ``task.end``)."""
    assert task.start is not None and task.end is not None
    inp = Input(task.name, allow_special=task.allow_special)
    with open(inp.name, "rb") as f:
        yield from range_chunks(inp, _Range(f, task.start, task.end), limits, read,
                                first=task.start == 0)
