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

import dataclasses
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from wormsign.cluster import dask_client
from wormsign.detect.bounds import line_start_after
from wormsign.detect.chunkscan import ChunkScanner, RuleEngine
from wormsign.detect.columns import MatchBatch, StringTable, Tables, VariantTable, concat, recode
from wormsign.detect.filescan import FileStats, scan_file, scan_serial
from wormsign.detect.ranges import MIN_PARALLEL_BYTES, Task, read_range, split
from wormsign.detect.sources import SourceTable
from wormsign.errors import InputError
from wormsign.logs.source import (
    DEFAULT_LIMITS,
    Input,
    Limits,
    ReadStats,
)
from wormsign.rules.model import RulePack

if TYPE_CHECKING:
    from wormsign.detect.prescan import ChunkRecord
    from wormsign.detect.scanner import ScanOptions



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


def run_task(task: Task, pack: RulePack | None = None, limits: Limits = DEFAULT_LIMITS,
             records: list[ChunkRecord] | None = None) -> Part:
    """Scan one task (in a worker process, or on a Dask worker); with ``records``, finish the
    range the pre-scan read (:func:`finish_task`)."""
    engine = _engine(pack)
    if records:
        return finish_task(task, records, engine)
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


def finish_task(task: Task, records: list[ChunkRecord], engine: RuleEngine) -> Part:
    """The columns of a pre-scanned range: each recorded chunk read again and finished
    (:meth:`ChunkScanner.finish`), which equals scanning it."""
    inp = Input(task.name, allow_special=task.allow_special)
    tables = Tables()
    stats = FileStats(path=inp.display, format=task.fmt or "unknown")
    sc = ChunkScanner(engine, task.fmt, inp.full_path, tables)
    parts: list[MatchBatch] = []
    try:
        with open(inp.name, "rb") as f:
            for rec in records:
                first = sc.stats.lines + 1
                done = sc.finish_copied(first, rec) if rec.copied is not None else None
                if done is None:  # read the chunk again
                    done = sc.finish(os.pread(f.fileno(), rec.length, rec.offset), first, rec)
                parts.append(done)
    except OSError as exc:
        stats.error = exc.strerror or str(exc)
    stats.absorb(sc.stats)
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


@dataclass
class _Work:
    """One parallel scan: the inputs, their tasks (per input, in order), and for each task of
    the flat list the pre-scan's records it is finished from (None: scanned in full)."""

    inputs: list[Input]
    tasks: list[list[Task]]
    records: list[list[ChunkRecord] | None]
    options: ScanOptions

    @property
    def flat(self) -> list[Task]:
        return [t for ts in self.tasks for t in ts]

    def merge(self, results: Iterator[Part]) -> tuple[list[FileStats], MatchBatch]:
        o = self.options
        return _merge(self.inputs, self.tasks, results, o.on_bytes, o.on_file)


def scan_parallel(inputs: list[Input], engine: RuleEngine, options: ScanOptions,
                  workers: int) -> tuple[list[FileStats], MatchBatch]:
    """Scan ``inputs`` with ``workers`` local processes, or on the Dask cluster at
    ``options.scheduler``; the same files and columns a serial scan gives. A pre-scan in
    ``options.prescan`` is stopped here, and the ranges it began are finished from it."""
    o = options
    prescan = o.prescan
    if o.scheduler is None:
        sizes = [i.size() for i in inputs]
        if any(s is None for s in sizes) or sum(s or 0 for s in sizes) < MIN_PARALLEL_BYTES:
            if prescan is not None:
                prescan.close()
            return scan_serial(iter(inputs), engine, o.fmt, o.on_bytes, o.on_file, o.limits)
    tasks = [split(inp, o.fmt, workers) for inp in inputs]
    found = prescan.finish() if prescan is not None else {}
    if prescan is None or prescan.tasks != [t for ts in tasks for t in ts]:
        found = {}  # split otherwise (a file changed meanwhile): not used
    work = _with_records(inputs, tasks, found, o)
    if o.scheduler is not None:
        return work.merge(iter(_run_dask(work, engine.pack, o.scheduler)))
    return _run_local(work, engine, workers)


def _with_records(inputs: list[Input], tasks: list[list[Task]],
                  found: dict[int, list[ChunkRecord]], options: ScanOptions) -> _Work:
    """The work, each task the pre-scan began cut where its records begin and end: the
    part before them (a file's first bytes, which the scan sniffs: scanned), the part they
    cover (finished from them), then the rest (scanned)."""
    out: list[list[Task]] = []
    records: list[list[ChunkRecord] | None] = []
    index = 0
    for ts in tasks:
        cut: list[Task] = []
        for t in ts:
            recs = found.get(index)
            index += 1
            span = _covered(t, recs)
            pieces: list[tuple[Task, list[ChunkRecord] | None]] = [(t, None)]
            if recs and span is not None:
                begin, end = span
                pieces = [(dataclasses.replace(t, end=begin), None),
                          (dataclasses.replace(t, start=begin, end=end), recs),
                          (dataclasses.replace(t, start=end), None)]
                pieces = [(p, r) for p, r in pieces if r is not None or p.start != p.end]
            for piece, r in pieces:
                # with a pre-scan, what is left to scan in full is a few whole ranges: cut
                # smaller, so that the workers end together
                parts = _smaller(piece) if found and r is None else [piece]
                cut += parts
                records += [r] * len(parts)
        out.append(cut)
    return _Work(inputs, out, records, options)


#: With a pre-scan, ranges still to be scanned in full are cut into pieces of about this.
REST_PIECE = 8 << 20


def _smaller(task: Task) -> list[Task]:
    """``task`` (a range) cut into pieces of about :data:`REST_PIECE` bytes at line starts;
    itself when it is not a range, or small."""
    if task.start is None or task.end is None or task.end - task.start < 2 * REST_PIECE:
        return [task]
    bounds = [task.start]
    try:
        fd = os.open(task.name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return [task]
    try:
        while task.end - bounds[-1] >= 2 * REST_PIECE:
            at = line_start_after(fd, bounds[-1] + REST_PIECE, task.end)
            if at is None:
                break
            bounds.append(at)
    except OSError:
        return [task]
    finally:
        os.close(fd)
    bounds.append(task.end)
    return [dataclasses.replace(task, start=lo, end=hi) for lo, hi in pairwise(bounds)]


def _covered(task: Task, recs: list[ChunkRecord] | None) -> tuple[int, int] | None:
    """Where the records of ``task`` begin and end, when they lie inside it without a gap."""
    if not recs or task.start is None or task.end is None:
        return None
    begin = pos = recs[0].offset
    if begin < task.start:
        return None
    for r in recs:
        if r.offset != pos or r.length <= 0:
            return None
        pos += r.length
    return (begin, pos) if pos <= task.end else None


def _run_local(work: _Work, engine: RuleEngine,
               workers: int) -> tuple[list[FileStats], MatchBatch]:
    global _ENGINE
    _ENGINE = engine
    flat, records, limits = work.flat, work.records, work.options.limits
    n = min(workers, len(flat))
    if threading.active_count() == 1:  # fork shares the compiled rules for free
        from wormsign.detect.forkpool import ForkPool

        with ForkPool(n, lambda i: run_task(flat[i], None, limits, records[i])) as pool:
            return work.merge(pool.results(len(flat)))
    return _run_forkserver(work, engine, n)


def _run_forkserver(work: _Work, engine: RuleEngine,
                    n: int) -> tuple[list[FileStats], MatchBatch]:
    """A parent with threads (a progress bar) must not fork: clean server processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver")
    limits = work.options.limits
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                             initargs=(engine.pack,)) as pool:
        futures = deque(pool.submit(run_task, t, None, limits, r)
                        for t, r in zip(work.flat, work.records, strict=True))

        def results() -> Iterator[Part]:
            while futures:  # dropped as merged: a part's columns are not held twice
                yield futures.popleft().result()

        return work.merge(results())


def _run_dask(work: _Work, pack: RulePack, address: str) -> list[Part]:
    client = dask_client(address)
    limits = work.options.limits
    try:
        futures = [client.submit(run_task, t, pack, limits, r, pure=False)
                   for t, r in zip(work.flat, work.records, strict=True)]
        return list(client.gather(futures))
    finally:
        client.close()
