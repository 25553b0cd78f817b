"""Scanning logs: read, validate, prefilter, parse, match, attribute, on columns.

``scan_paths(paths)`` is the library call behind ``wormsign scan``. Each file is read in
chunks of whole lines and fed to a :class:`~wormsign.detect.chunkscan.ChunkScanner`, which
keeps only the matched requests, as columns (a few tens of bytes each). Attribution then runs
once over all of them (a source's Nimda burst may span files). A file that cannot be read
(binary, truncated archive, unknown format) is reported with its error and the other files
are still scanned. With ``workers`` > 1 large files are cut into ranges of whole lines and
files are scanned in parallel (:mod:`wormsign.detect.parallel`); the result is the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from wormsign.detect.attribute import AlertView, Attribution, attribute_columns
from wormsign.detect.chunkscan import MAX_BAD_LINES, ChunkScanner, RuleEngine, ScanStats
from wormsign.detect.columns import MatchBatch, Tables, concat
from wormsign.errors import InputError
from wormsign.logs import formats, pcap
from wormsign.logs.record import Request
from wormsign.logs.source import (
    DEFAULT_LIMITS,
    Input,
    InputStream,
    Limits,
    ReadStats,
    expand,
    open_input,
    read_chunks,
)
from wormsign.rules.model import RulePack


@dataclass
class FileStats:
    """What happened to one input file."""

    path: str
    format: str = "unknown"
    lines: int = 0
    skipped: int = 0
    records: int = 0
    first_skipped: list[int] = field(default_factory=list)
    error: str | None = None
    overlong: int = 0

    @property
    def parsed(self) -> int:
        return self.lines - self.skipped

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path, "format": self.format, "lines": self.lines,
            "parsed": self.parsed, "skipped": self.skipped,
            "first_skipped_lines": list(self.first_skipped), "error": self.error,
            "overlong": self.overlong,
        }

    def absorb(self, st: ScanStats) -> None:
        """Add a scanner's line counts (of the next part of this file)."""
        self.lines += st.lines
        self.skipped += st.skipped
        room = MAX_BAD_LINES - len(self.first_skipped)
        if room > 0:
            self.first_skipped += st.first_skipped[:room]


@dataclass
class ScanReport:
    """The result of a scan: per-file statistics and the attributed alerts, as columns.

    ``alerts`` is a sequence of :class:`~wormsign.detect.alert.Alert` records built on
    demand from ``attribution`` (``len``, indexing, slicing and iteration all work)."""

    files: list[FileStats]
    attribution: Attribution
    pack: RulePack

    @property
    def errors(self) -> list[FileStats]:
        return [f for f in self.files if f.error is not None]

    @cached_property
    def alerts(self) -> AlertView:
        return AlertView(self.attribution)


def scan_file(inp: Input, engine: RuleEngine, fmt_name: str | None, tables: Tables,
              on_bytes: Callable[[int], None] | None = None,
              limits: Limits = DEFAULT_LIMITS) -> tuple[FileStats, MatchBatch]:
    """Scan one input, sequentially; its statistics and matched requests.

    The input is opened once: the packet-capture check peeks at its first bytes, so a pipe
    (``scan <(zcat log.gz)``) loses nothing."""
    stats = FileStats(path=inp.display)
    try:
        with open_input(inp) as stream:
            if fmt_name in (None, "pcap") and pcap.is_pcap(_peek(stream, inp)):
                return _scan_pcap(inp, stream, engine, stats, tables)
            return stats, _scan_lines(inp, stream, engine, fmt_name, tables, stats, on_bytes,
                                      limits)
    except InputError as exc:  # could not be opened (or is a FIFO found in a directory)
        stats.error = exc.message
        return stats, MatchBatch(tables)


def _peek(stream: InputStream, inp: Input) -> bytes:
    try:
        return stream.peek(4)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path=inp.display) from None


def _scan_lines(inp: Input, stream: InputStream, engine: RuleEngine, fmt_name: str | None,
                tables: Tables, stats: FileStats, on_bytes: Callable[[int], None] | None,
                limits: Limits) -> MatchBatch:
    sc = ChunkScanner(engine, fmt_name, inp.full_path, tables)
    parts: list[MatchBatch] = []
    read = ReadStats()
    try:
        for chunk in read_chunks(inp, on_bytes=on_bytes, limits=limits, stats=read,
                                 stream=stream):
            stats.format = sc.detect(chunk, stats.path).name
            parts.append(sc.scan(chunk, sc.stats.lines + 1))
    except InputError as exc:
        stats.error = exc.message
    stats.absorb(sc.stats)
    stats.overlong = read.overlong
    return concat(parts, tables, consume=True)


class _Rewindable:
    """A stream whose start can be read again (the pcap reader reads its magic, then seeks
    back to 0): the first bytes are kept, the rest streams."""

    def __init__(self, stream: InputStream, keep: int = 64) -> None:
        self._s = stream
        self._head = stream.read(keep)
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        out = b""
        if self._pos < len(self._head):
            out = self._head[self._pos:] if n < 0 else self._head[self._pos:self._pos + n]
            self._pos += len(out)
            if 0 <= n <= len(out):
                return out
        more = self._s.read(-1 if n < 0 else n - len(out))
        self._pos += len(more)
        return out + more

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0 or pos > len(self._head) or self._pos > len(self._head):
            raise OSError("cannot seek in a stream")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos


def _scan_pcap(inp: Input, stream: InputStream, engine: RuleEngine, stats: FileStats,
               tables: Tables) -> tuple[FileStats, MatchBatch]:
    """Packet captures: every HTTP request in them is matched against every rule."""
    stats.format = "pcap"
    sc = ChunkScanner(engine, None, inp.full_path, tables)
    reqs: list[tuple[int, Request]] = []
    parts: list[MatchBatch] = []

    def flush() -> None:
        parts.append(sc.scan_requests(reqs))
        reqs.clear()

    try:
        f: Any = _Rewindable(stream)
        for n, req, ok in pcap.requests(f, inp.full_path):
            stats.lines = n
            if not ok:
                stats.skipped += 1
                if len(stats.first_skipped) < MAX_BAD_LINES:
                    stats.first_skipped.append(n)
            elif req is not None:
                reqs.append((n, req))
                if len(reqs) >= 65536:
                    flush()
    except InputError as exc:
        stats.error = exc.message
    except OSError as exc:
        stats.error = exc.strerror or str(exc)
    flush()
    return stats, concat(parts, tables, consume=True)


def scan_paths(paths: list[str], pack: RulePack | None = None, fmt: str | None = None,
               on_bytes: Callable[[int], None] | None = None,
               on_file: Callable[[FileStats], None] | None = None,
               workers: int | None = 1, scheduler: str | None = None,
               limits: Limits = DEFAULT_LIMITS) -> ScanReport:
    """Scan files, directories (recursively) and ``-`` (stdin) for worm activity.

    ``fmt`` forces a format id (see :data:`wormsign.logs.formats.FORMATS`); otherwise it is
    detected per file. ``on_bytes`` receives the number of (compressed) bytes read as the scan
    progresses; ``on_file`` each file's statistics when it is done. ``workers`` processes
    scan in parallel (None: one per core; small inputs stay in this process);
    ``scheduler`` (a Dask scheduler address) spreads the work over a cluster instead. The
    result does not depend on either. ``limits`` bounds line length and decompression
    (:class:`~wormsign.logs.source.Limits`).
    """
    engine = RuleEngine(pack)
    if fmt is not None:
        formats.get(fmt)  # fail early on an unknown format
    n_workers = (os.cpu_count() or 1) if workers is None else max(1, workers)
    if scheduler is not None or n_workers > 1:
        from wormsign.detect.parallel import scan_parallel

        files, batch = scan_parallel(list(expand(paths)), engine, fmt, n_workers, scheduler,
                                     on_bytes, on_file, limits)
    else:
        files, batch = _scan_serial(expand(paths), engine, fmt, on_bytes, on_file, limits)
    return ScanReport(files=files, attribution=attribute_columns(batch, engine.rules),
                      pack=engine.pack)


def _scan_serial(inputs: Iterator[Input], engine: RuleEngine, fmt: str | None,
                 on_bytes: Callable[[int], None] | None,
                 on_file: Callable[[FileStats], None] | None,
                 limits: Limits = DEFAULT_LIMITS) -> tuple[list[FileStats], MatchBatch]:
    tables = Tables()
    files: list[FileStats] = []
    parts: list[MatchBatch] = []
    for inp in inputs:
        stats, batch = scan_file(inp, engine, fmt, tables, on_bytes, limits)
        files.append(stats)
        parts.append(batch)
        if on_file is not None:
            on_file(stats)
    return files, concat(parts, tables, consume=True)


def total_size(paths: list[str]) -> int | None:
    """Total bytes of the inputs (None when stdin is among them): for progress bars."""
    total = 0
    for inp in expand(paths):
        size = inp.size()
        if size is None:
            return None
        total += size
    return total


__all__ = ["ChunkScanner", "FileStats", "RuleEngine", "ScanReport", "scan_file", "scan_paths",
           "total_size"]
