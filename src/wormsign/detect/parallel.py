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

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from wormsign.detect.chunkscan import ChunkScanner, RuleEngine
from wormsign.detect.columns import MatchBatch, StringTable, Tables, VariantTable, concat, recode
from wormsign.detect.scanner import FileStats, scan_file
from wormsign.errors import ConfigError, InputError, WormsignError
from wormsign.logs import formats
from wormsign.logs.source import CHUNK, Input, looks_binary
from wormsign.rules.model import RulePack

#: A scan of less than this in all stays in one process (starting workers costs more).
MIN_PARALLEL_BYTES = 24 << 20
#: Plain files at least this large are cut into ranges.
MIN_SPLIT_BYTES = 16 << 20
#: Target size of one range.
RANGE_BYTES = 32 << 20
_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Task:
    """One unit of work: a whole input (``start`` None) or bytes ``start:end`` of a plain
    file whose format is already known."""

    name: str
    fmt: str | None
    start: int | None = None
    end: int | None = None


@dataclass
class Part:
    """What a task gives back: statistics and columns with their own (plain-list) tables."""

    stats: FileStats
    sources: list[str]
    variants: list[Any]
    files: list[str]
    columns: tuple[Any, ...]

    @classmethod
    def of(cls, stats: FileStats, batch: MatchBatch) -> Part:
        t = batch.tables
        return cls(stats, t.sources.values, t.variants.values, t.files.values,
                   (batch.source, batch.time, batch.line, batch.variant, batch.file))

    def batch(self) -> MatchBatch:
        t = Tables(StringTable(), VariantTable(), StringTable())
        t.sources.values, t.variants.values, t.files.values = (
            self.sources, self.variants, self.files)
        return MatchBatch(t, *self.columns)


_ENGINE: RuleEngine | None = None


def _init_worker(pack: RulePack) -> None:
    global _ENGINE
    _ENGINE = RuleEngine(pack)


def _engine(pack: RulePack | None) -> RuleEngine:
    global _ENGINE
    if _ENGINE is None or (pack is not None and _ENGINE.pack is not pack
                           and _ENGINE.pack != pack):
        _ENGINE = RuleEngine(pack)
    return _ENGINE


def run_task(task: Task, pack: RulePack | None = None) -> Part:
    """Scan one task (in a worker process, or on a Dask worker)."""
    engine = _engine(pack)
    inp = Input(task.name)
    tables = Tables()
    if task.start is None:
        stats, batch = scan_file(inp, engine, task.fmt, tables)
        return Part.of(stats, batch)
    stats = FileStats(path=inp.display, format=task.fmt or "unknown")
    sc = ChunkScanner(engine, task.fmt, inp.full_path, tables)
    parts: list[MatchBatch] = []
    try:
        for chunk in _range_chunks(inp, task.start, task.end or 0):
            parts.append(sc.scan(chunk, sc.stats.lines + 1))
    except InputError as exc:
        stats.error = exc.message
    stats.absorb(sc.stats)
    return Part.of(stats, concat(parts, tables))


def _range_chunks(inp: Input, start: int, end: int) -> Iterator[bytes]:
    """Chunks of whole lines of bytes ``start:end`` (both at line starts) of a plain file."""
    try:
        with open(inp.name, "rb") as f:
            f.seek(start)
            pos = start
            first = start == 0
            while pos < end:
                b = f.read(min(CHUNK, end - pos))
                if not b:
                    return
                pos += len(b)
                if pos < end and not b.endswith(b"\n"):
                    rest = f.readline()
                    pos += len(rest)
                    b += rest
                if first and b.startswith(_BOM):  # as read_chunks: a byte-order mark is dropped
                    b = b[3:]
                first = False
                yield b
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path=inp.name) from None


def _split(inp: Input, fmt: str | None) -> list[Task]:
    """Tasks for one input: ranges of whole lines for a large plain file in a stateless
    format, else the whole input."""
    whole = [Task(inp.name, fmt)]
    size = inp.size()
    if inp.is_stdin or size is None or size < MIN_SPLIT_BYTES or not os.path.isfile(inp.name):
        return whole
    try:
        with open(inp.name, "rb") as f:
            head = f.read(65536 + len(_BOM))
            if head.startswith(_MAGICS) or head[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                                                        b"\x0a\x0d\x0d\x0a", b"\x4d\x3c\xb2\xa1",
                                                        b"\xa1\xb2\x3c\x4d"):
                return whole
            if head.startswith(_BOM):
                head = head[3:]
            if looks_binary(head):
                return whole
            lf = formats.get(fmt) if fmt else formats.detect(head[:65536], inp.display)
            if lf.new_state() is not None:  # per-file state (IIS headers): one piece
                return whole
            n = max(1, size // RANGE_BYTES)
            bounds = [0]
            for k in range(1, n):
                f.seek(k * size // n)
                f.readline()  # to the start of the next whole line
                if bounds[-1] < f.tell() < size:
                    bounds.append(f.tell())
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
                stats.error = stats.error or part.stats.error
            parts.append(batch)
        assert stats is not None
        files.append(stats)
        if on_bytes is not None:
            on_bytes(inp.size() or 0)
        if on_file is not None:
            on_file(stats)
    return files, concat(parts, tables)


def scan_parallel(inputs: list[Input], engine: RuleEngine, fmt: str | None, workers: int,
                  scheduler: str | None, on_bytes: Callable[[int], None] | None,
                  on_file: Callable[[FileStats], None] | None,
                  ) -> tuple[list[FileStats], MatchBatch]:
    """Scan ``inputs`` with ``workers`` local processes, or on the Dask cluster at
    ``scheduler``; the same files and columns a serial scan gives."""
    if scheduler is None:
        sizes = [i.size() for i in inputs]
        if any(s is None for s in sizes) or sum(s or 0 for s in sizes) < MIN_PARALLEL_BYTES:
            from wormsign.detect.scanner import _scan_serial

            return _scan_serial(iter(inputs), engine, fmt, on_bytes, on_file)
    tasks = [_split(inp, fmt) for inp in inputs]
    flat = [t for ts in tasks for t in ts]
    if scheduler is not None:
        results = _run_dask(flat, engine.pack, scheduler)
        return _merge(inputs, tasks, iter(results), on_bytes, on_file)
    return _run_local(inputs, tasks, flat, engine, workers, on_bytes, on_file)


def _run_local(inputs: list[Input], tasks: list[list[Task]], flat: list[Task],
               engine: RuleEngine, workers: int, on_bytes: Callable[[int], None] | None,
               on_file: Callable[[FileStats], None] | None,
               ) -> tuple[list[FileStats], MatchBatch]:
    from concurrent.futures import ProcessPoolExecutor

    global _ENGINE
    # fork shares the compiled rules for free; a parent with threads (a progress bar) must
    # not fork, so it starts a clean server process instead.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    ctx = multiprocessing.get_context(method)
    _ENGINE = engine
    n = min(workers, len(flat))
    init: dict[str, Any] = {} if method == "fork" else {
        "initializer": _init_worker, "initargs": (engine.pack,)}
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, **init) as pool:
        futures = [pool.submit(run_task, t) for t in flat]
        return _merge(inputs, tasks, (f.result() for f in futures), on_bytes, on_file)


def dask_client(address: str, timeout: float = 10.0) -> Any:
    """A connected ``distributed.Client`` (one-line errors: no extra, or no scheduler)."""
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError("--scheduler needs the dask extra: pip install 'wormsign[dask]'") \
            from exc
    try:
        return getattr(distributed, "Client")(address, timeout=timeout)  # noqa: B009
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


def _run_dask(flat: list[Task], pack: RulePack, address: str) -> list[Part]:
    client = dask_client(address)
    try:
        futures = [client.submit(run_task, t, pack, pure=False) for t in flat]
        return list(client.gather(futures))
    finally:
        client.close()
