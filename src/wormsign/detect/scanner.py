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

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypedDict, Unpack

from wormsign.detect.attribute import AlertView, Attribution, attribute_columns
from wormsign.detect.chunkscan import ChunkScanner, RuleEngine
from wormsign.detect.columns import MatchBatch
from wormsign.detect.eventkey import sensor_of
from wormsign.detect.events import (
    DEFAULT_MATCH,
    Events,
    MatchKey,
    correlate_batch,
    singletons,
    take,
)
from wormsign.detect.filescan import FileStats, scan_file, scan_serial
from wormsign.detect.parallel import scan_parallel
from wormsign.detect.prescan import Prescan
from wormsign.logs import formats
from wormsign.logs.source import (
    DEFAULT_LIMITS,
    Limits,
    expand,
)
from wormsign.rules.model import RulePack


@dataclass
class ScanReport:
    """The result of a scan: per-file statistics and the attributed alerts, as columns.

    ``alerts`` is a sequence of :class:`~wormsign.detect.alert.Alert` records built on
    demand from ``attribution`` (``len``, indexing, slicing and iteration all work): one per
    *event*, from its primary record. ``evidence`` holds every matched record of every input
    and ``events`` groups them (:mod:`wormsign.detect.events`); attribution row ``k`` is
    the primary record of event ``k``. Both are None in reports built without them."""

    files: list[FileStats]
    attribution: Attribution
    pack: RulePack
    events: Events | None = None
    evidence: MatchBatch | None = None

    @property
    def errors(self) -> list[FileStats]:
        return [f for f in self.files if f.error is not None]

    @cached_property
    def alerts(self) -> AlertView:
        return AlertView(self.attribution)


@dataclass(frozen=True)
class ScanOptions:
    """How :func:`scan_paths` scans (see there)."""

    pack: RulePack | None = None
    fmt: str | None = None
    on_bytes: Callable[[int], None] | None = None
    on_file: Callable[[FileStats], None] | None = None
    workers: int | None = 1
    scheduler: str | None = None
    limits: Limits = DEFAULT_LIMITS
    match: MatchKey | None = DEFAULT_MATCH
    prescan: Prescan | None = None


class ScanKw(TypedDict, total=False):
    """:class:`ScanOptions` as keyword arguments of :func:`scan_paths`."""

    pack: RulePack | None
    fmt: str | None
    on_bytes: Callable[[int], None] | None
    on_file: Callable[[FileStats], None] | None
    workers: int | None
    scheduler: str | None
    limits: Limits
    match: MatchKey | None
    prescan: Prescan | None


def scan_paths(paths: list[str], options: ScanOptions | None = None,
               **overrides: Unpack[ScanKw]) -> ScanReport:
    """Scan files, directories (recursively) and ``-`` (stdin) for worm activity, with
    ``options`` (:class:`ScanOptions`) and the keyword ``overrides`` of its fields.

    ``pack`` is the rule pack (None: the built-in one). ``fmt`` forces a format id (see
    :data:`wormsign.logs.formats.FORMATS`); otherwise it is
    detected per file. ``on_bytes`` receives the number of (compressed) bytes read as the scan
    progresses; ``on_file`` each file's statistics when it is done. ``workers`` processes
    scan in parallel (None: one per core; small inputs stay in this process);
    ``scheduler`` (a Dask scheduler address) spreads the work over a cluster instead. The
    result does not depend on either. ``limits`` bounds line length and decompression
    (:class:`~wormsign.logs.source.Limits`). ``match`` is the key by which the records
    of one request in several inputs (an access log and its error log, http.log, EVE, pcap)
    become one event (:class:`~wormsign.detect.events.MatchKey`); None counts every record.
    ``prescan`` is a :class:`~wormsign.detect.prescan.Prescan` the caller started on this
    scan's ranges (``wormsign scan`` does, before its imports): its records are used, and it
    is ended, in any case.
    """
    opts = dataclasses.replace(options or ScanOptions(), **overrides)
    pack, fmt, workers, scheduler = opts.pack, opts.fmt, opts.workers, opts.scheduler
    on_bytes, on_file, limits = opts.on_bytes, opts.on_file, opts.limits
    if opts.prescan is not None:  # it finishes its chunk while the engine is made
        opts.prescan.stop()
    engine = RuleEngine(pack)
    if fmt is not None:
        formats.get(fmt)  # fail early on an unknown format
    n_workers = (os.cpu_count() or 1) if workers is None else max(1, workers)
    if scheduler is not None or n_workers > 1:
        files, batch = scan_parallel(list(expand(paths)), engine, opts, n_workers)
    else:
        if opts.prescan is not None:
            opts.prescan.close()
        files, batch = scan_serial(expand(paths), engine, fmt, on_bytes, on_file, limits)
    events = _events(files, batch, engine, opts.match)
    primary = batch if len(events) == len(batch) else take(batch, events.primary)
    return ScanReport(files=files, attribution=attribute_columns(primary, engine.rules),
                      pack=engine.pack, events=events, evidence=batch)


def _events(files: list[FileStats], batch: MatchBatch, engine: RuleEngine,
            match: MatchKey | None) -> Events:
    """The scan's events: records of one request in inputs of different sensor kinds
    merged (every record its own event when there is one kind, or ``match`` is None)."""
    kinds = {sensor_of(f.format) for f in files if f.error is None and f.format != "unknown"}
    if match is None or len(kinds) < 2:
        return singletons(len(batch), match)
    return correlate_batch(batch, engine.rules, match)


def total_size(paths: list[str]) -> int | None:
    """Total bytes of the inputs (None when stdin is among them): for progress bars."""
    total = 0
    for inp in expand(paths):
        size = inp.size()
        if size is None:
            return None
        total += size
    return total


__all__ = ["ChunkScanner", "Events", "FileStats", "MatchKey", "RuleEngine", "ScanKw",
           "ScanOptions", "ScanReport", "scan_file", "scan_paths", "total_size"]
