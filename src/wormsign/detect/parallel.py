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

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from wormsign.cluster import dask_client
from wormsign.detect.chunkscan import ChunkScanner, RuleEngine
from wormsign.detect.columns import MatchBatch, StringTable, Tables, VariantTable, concat, recode
from wormsign.detect.filescan import FileStats, scan_file, scan_serial
from wormsign.detect.ranges import Task, read_range, split
from wormsign.detect.sources import SourceTable
from wormsign.errors import InputError
from wormsign.logs.source import (
    DEFAULT_LIMITS,
    Input,
    Limits,
    ReadStats,
)
from wormsign.rules.model import RulePack

#: A scan of less than this in all stays in one process (starting workers costs more).
MIN_PARALLEL_BYTES = 24 << 20


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
        for chunk in read_range(task, limits, read):
            parts.append(sc.scan(chunk, sc.stats.lines + 1))
    except InputError as exc:
        stats.error = exc.message
    except OSError as exc:
        stats.error = exc.strerror or str(exc)
    stats.absorb(sc.stats)
    stats.overlong = read.overlong
    return Part.of(stats, concat(parts, tables, consume=True))


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
    tasks = [split(inp, fmt, workers) for inp in inputs]
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
