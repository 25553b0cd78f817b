"""Detection for followed logs: chunks of complete lines in, columns of matched requests out.

Detection is the project's detection layer, not a second implementation: each generation of
a followed file gets its own :class:`wormsign.detect.chunkscan.ChunkScanner` (its format and
per-file state, such as IIS ``#Fields``, carry from chunk to chunk), all sharing one
:class:`~wormsign.detect.chunkscan.RuleEngine` and one set of dictionary tables, so their
batches concatenate for attribution without re-coding. :class:`Detector` counts lines,
skipped lines and errors per followed file.
"""

from __future__ import annotations

from dataclasses import dataclass

from wormsign.detect.chunkscan import ChunkScanner, RuleEngine, ScanStats
from wormsign.detect.columns import MatchBatch, Tables
from wormsign.errors import InputError
from wormsign.logs import formats
from wormsign.logs.source import looks_binary
from wormsign.rules.model import RulePack
from wormsign.watch.follower import Chunk


@dataclass
class FileCounts:
    """Per followed file: what was read and what was made of it."""

    path: str
    format: str = "unknown"
    lines: int = 0
    skipped: int = 0
    matched: int = 0
    error: str | None = None


@dataclass
class _Gen:
    scanner: ChunkScanner
    failed: bool = False


class Detector:
    """Scans the chunks a :class:`~wormsign.watch.follower.Follower` hands out."""

    def __init__(self, pack: RulePack | None = None, fmt: str | None = None) -> None:
        self.engine = RuleEngine(pack)
        self.tables = Tables()
        self.fmt = fmt
        if fmt:
            formats.get(fmt)  # an unknown format fails here, before anything is read
        self.gens: dict[str, _Gen] = {}
        self.files: dict[str, FileCounts] = {}
        self.errors: list[str] = []

    def counts(self, path: str) -> FileCounts:
        fc = self.files.get(path)
        if fc is None:
            fc = self.files[path] = FileCounts(path)
        return fc

    def scan(self, chunk: Chunk) -> MatchBatch:
        """The matched requests of one chunk (none for a file that is not a known log)."""
        fc = self.counts(chunk.path)
        gen = self.gens.get(chunk.key)
        if gen is None or chunk.fresh:
            gen = self.gens[chunk.key] = self._start(chunk, fc)
        if gen.failed:
            return MatchBatch(self.tables)
        st = gen.scanner.stats
        lines, skipped = st.lines, st.skipped
        try:
            batch = gen.scanner.scan(chunk.data, chunk.first_line)
        except InputError as exc:
            self._fail(gen, fc, str(exc) if exc.path else f"{chunk.path}: {exc}")
            return MatchBatch(self.tables)
        fc.lines += st.lines - lines
        fc.skipped += st.skipped - skipped
        fc.matched += len(batch)
        return batch

    def _start(self, chunk: Chunk, fc: FileCounts) -> _Gen:
        gen = _Gen(ChunkScanner(self.engine, self.fmt, chunk.path, self.tables))
        sample = (chunk.head or chunk.data)[:65536]
        if looks_binary(sample):
            self._fail(gen, fc, f"{chunk.path}: not a text log (binary content); not followed")
            return gen
        try:
            fc.format = gen.scanner.detect(sample, chunk.path).name
            if chunk.head:
                # A resumed generation: its start rebuilds the format's header state (IIS
                # #Fields); what it matched was stored before.
                gen.scanner.scan(chunk.head[:chunk.head.rfind(b"\n") + 1], 1)
                gen.scanner.stats = ScanStats()
        except InputError as exc:
            self._fail(gen, fc, str(exc) if exc.path else f"{chunk.path}: {exc}")
        return gen

    def _fail(self, gen: _Gen, fc: FileCounts, message: str) -> None:
        gen.failed = True
        fc.error = message
        if len(self.errors) < 100:
            self.errors.append(message)

    def forget(self, keys: set[str]) -> None:
        """Drop the scanners of generations no longer followed."""
        for k in set(self.gens) - keys:
            del self.gens[k]
