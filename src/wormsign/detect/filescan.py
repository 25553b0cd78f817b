"""Scanning one input: open it once, peek (pcap or text), read bounded chunks of whole lines
and feed them to a :class:`~wormsign.detect.chunkscan.ChunkScanner`; and a serial scan of
many inputs. :mod:`wormsign.detect.scanner` and :mod:`wormsign.detect.parallel` both build
on it (it imports neither, so they import no cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from wormsign.detect.chunkscan import MAX_BAD_LINES, ChunkScanner, RuleEngine, ScanStats
from wormsign.detect.columns import MatchBatch, Tables, concat
from wormsign.errors import InputError
from wormsign.logs import pcap
from wormsign.logs.record import Request
from wormsign.logs.source import (
    DEFAULT_LIMITS,
    Input,
    InputStream,
    Limits,
    ReadStats,
    open_input,
    read_chunks,
)


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


def scan_serial(inputs: Iterator[Input], engine: RuleEngine, fmt: str | None,
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


__all__ = ["FileStats", "scan_file", "scan_serial"]
