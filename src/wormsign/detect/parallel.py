"""The same scan over several processes, or over a Dask cluster.

Work is cut into tasks: a whole file, or, for a large plain file in a format without per-file
state (access and error logs), a byte range of whole lines. Each task is scanned into its own
columns and dictionary tables; the parent re-codes them into one table set in input order and
shifts each range's line numbers by the lines of the ranges before it (counted, not guessed),
so the result is the one a single process gives. Attribution then runs once, in the parent.

Inputs too small to repay starting processes, and standard input, are scanned in this
process.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import IO, Any

from wormsign.cluster import dask_client
from wormsign.detect.chunkscan import ChunkScanner, RuleEngine
from wormsign.detect.columns import MatchBatch, StringTable, Tables, VariantTable, concat, recode
from wormsign.detect.filescan import FileStats, scan_file, scan_serial
from wormsign.detect.sources import SourceTable
from wormsign.errors import InputError, WormsignError
from wormsign.logs import formats, pcap
from wormsign.logs.source import (
    CHUNK,
    DEFAULT_LIMITS,
    Input,
    InputStream,
    Limits,
    ReadStats,
    looks_binary,
    read_chunks,
)
from wormsign.rules.model import RulePack

#: A scan of less than this in all stays in one process (starting workers costs more).
MIN_PARALLEL_BYTES = 24 << 20
#: Plain files at least this large are cut into ranges.
MIN_SPLIT_BYTES = 16 << 20
#: Target size of one range.
RANGE_BYTES = 32 << 20
_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")  # compressed: read as one piece
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


@dataclass
class Part:
    """What a task gives back: statistics and columns with their own (plain-list) tables."""

    stats: FileStats
    sources: SourceTable
    variants: list[Any]
    files: list[str]
    columns: tuple[Any, ...]

    @classmethod
    def of(cls, stats: FileStats, batch: MatchBatch) -> Part:
        t = batch.tables
        return cls(stats, t.sources, t.variants.values, t.files.values,
                   (batch.source, batch.time, batch.line, batch.variant, batch.file))

    def batch(self) -> MatchBatch:
        t = Tables(self.sources, VariantTable(), StringTable())
        t.variants.values, t.files.values = self.variants, self.files
        return MatchBatch(t, *self.columns)


_ENGINE: RuleEngine | None = None  # a worker process's engine (inherited or built once)
_LOCAL = threading.local()  # a thread's engine: a Hyperscan database scans in one thread


def _init_worker(pack: RulePack) -> None:
    global _ENGINE
    _ENGINE = RuleEngine(pack)


def _same(engine: RuleEngine | None, pack: RulePack | None) -> bool:
    return engine is not None and (pack is None or engine.pack is pack or engine.pack == pack)


def _engine(pack: RulePack | None) -> RuleEngine:
    if threading.current_thread() is threading.main_thread() and _same(_ENGINE, pack):
        assert _ENGINE is not None
        return _ENGINE
    engine: RuleEngine | None = getattr(_LOCAL, "engine", None)
    if engine is None or not _same(engine, pack):
        engine = _LOCAL.engine = RuleEngine(pack)
    return engine


def run_task(task: Task, pack: RulePack | None = None,
             limits: Limits = DEFAULT_LIMITS) -> Part:
    """Scan one task (in a worker process, or on a Dask worker)."""
    engine = _engine(pack)
    inp = Input(task.name, allow_special=task.allow_special)
    tables = Tables()
    if task.start is None or task.end is None:
        stats, batch = scan_file(inp, engine, task.fmt, tables, None, limits)
        return Part.of(stats, batch)
    stats = FileStats(path=inp.display, format=task.fmt or "unknown")
    sc = ChunkScanner(engine, task.fmt, inp.full_path, tables)
    parts: list[MatchBatch] = []
    read = ReadStats()
    try:
        with open(inp.name, "rb") as f:
            for chunk in _range_chunks(inp, _Range(f, task.start, task.end), limits, read,
                                       first=task.start == 0):
                parts.append(sc.scan(chunk, sc.stats.lines + 1))
    except InputError as exc:
        stats.error = exc.message
    except OSError as exc:
        stats.error = exc.strerror or str(exc)
    stats.absorb(sc.stats)
    stats.overlong = read.overlong
    return Part.of(stats, concat(parts, tables, consume=True))


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


def _range_chunks(inp: Input, raw: _Range, limits: Limits, read: ReadStats,
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


def _line_start_after(f: IO[bytes], pos: int, stop: int) -> int | None:
    """The start of the first line after byte ``pos`` (before ``stop``), read in bounded
    steps (a line may be gigabytes long)."""
    f.seek(pos)
    while pos < stop:
        block = f.read(min(1 << 16, stop - pos))
        if not block:
            return None
        nl = block.find(b"\n")
        if nl >= 0:
            return pos + nl + 1 if pos + nl + 1 < stop else None
        pos += len(block)
    return None


def _split(inp: Input, fmt: str | None, workers: int = 1) -> list[Task]:
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
            n = -(-max(1, size // RANGE_BYTES) // workers) * workers
            bounds = [0]
            for k in range(1, n):
                at = _line_start_after(f, max(bounds[-1], k * size // n), size)
                if at is not None and at > bounds[-1]:
                    bounds.append(at)
            bounds.append(size)
    except (OSError, WormsignError):
        return whole
    return [Task(inp.name, lf.name, lo, hi) for lo, hi in pairwise(bounds)]


def _merge(inputs: list[Input], tasks: list[list[Task]], results: Iterator[Part],
           on_bytes: Callable[[int], None] | None,
           on_file: Callable[[FileStats], None] | None) -> tuple[list[FileStats], MatchBatch]:
    tables = Tables()
    files: list[FileStats] = []
    parts: list[MatchBatch] = []
    for inp, ts in zip(inputs, tasks, strict=True):
        stats: FileStats | None = None
        for _task in ts:
            part = next(results)
            batch = recode(part.batch(), tables)
            if stats is None:
                stats = part.stats
            else:
                batch = batch.shifted(stats.lines)
                stats.first_skipped += [n + stats.lines for n in part.stats.first_skipped]
                stats.first_skipped = stats.first_skipped[:5]
                stats.lines += part.stats.lines
                stats.skipped += part.stats.skipped
                stats.overlong += part.stats.overlong
                stats.error = stats.error or part.stats.error
            parts.append(batch)
        assert stats is not None
        files.append(stats)
        if on_bytes is not None:
            on_bytes(inp.size() or 0)
        if on_file is not None:
            on_file(stats)
    return files, concat(parts, tables, consume=True)


def scan_parallel(inputs: list[Input], engine: RuleEngine, fmt: str | None, workers: int,
                  scheduler: str | None, on_bytes: Callable[[int], None] | None,
                  on_file: Callable[[FileStats], None] | None,
                  limits: Limits = DEFAULT_LIMITS) -> tuple[list[FileStats], MatchBatch]:
    """Scan ``inputs`` with ``workers`` local processes, or on the Dask cluster at
    ``scheduler``; the same files and columns a serial scan gives."""
    if scheduler is None:
        sizes = [i.size() for i in inputs]
        if any(s is None for s in sizes) or sum(s or 0 for s in sizes) < MIN_PARALLEL_BYTES:
            return scan_serial(iter(inputs), engine, fmt, on_bytes, on_file, limits)
    tasks = [_split(inp, fmt, workers) for inp in inputs]
    flat = [t for ts in tasks for t in ts]
    if scheduler is not None:
        results = _run_dask(flat, engine.pack, scheduler, limits)
        return _merge(inputs, tasks, iter(results), on_bytes, on_file)
    return _run_local(inputs, tasks, flat, engine, workers, on_bytes, on_file, limits)


def _run_local(inputs: list[Input], tasks: list[list[Task]], flat: list[Task],
               engine: RuleEngine, workers: int, on_bytes: Callable[[int], None] | None,
               on_file: Callable[[FileStats], None] | None, limits: Limits,
               ) -> tuple[list[FileStats], MatchBatch]:
    global _ENGINE
    _ENGINE = engine
    n = min(workers, len(flat))
    if threading.active_count() == 1:  # fork shares the compiled rules for free
        from wormsign.detect.forkpool import ForkPool

        with ForkPool(n, lambda i: run_task(flat[i], None, limits)) as pool:
            return _merge(inputs, tasks, pool.results(len(flat)), on_bytes, on_file)
    return _run_forkserver(inputs, tasks, flat, engine, n, on_bytes, on_file, limits)


def _run_forkserver(inputs: list[Input], tasks: list[list[Task]], flat: list[Task],
                    engine: RuleEngine, n: int, on_bytes: Callable[[int], None] | None,
                    on_file: Callable[[FileStats], None] | None, limits: Limits,
                    ) -> tuple[list[FileStats], MatchBatch]:
    """A parent with threads (a progress bar) must not fork: clean server processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                             initargs=(engine.pack,)) as pool:
        futures = deque(pool.submit(run_task, t, None, limits) for t in flat)

        def results() -> Iterator[Part]:
            while futures:  # dropped as merged: a part's columns are not held twice
                yield futures.popleft().result()

        return _merge(inputs, tasks, results(), on_bytes, on_file)


def _run_dask(flat: list[Task], pack: RulePack, address: str, limits: Limits) -> list[Part]:
    client = dask_client(address)
    try:
        futures = [client.submit(run_task, t, pack, limits, pure=False) for t in flat]
        return list(client.gather(futures))
    finally:
        client.close()
