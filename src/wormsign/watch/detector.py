"""Detection for followed logs: chunks of complete lines in, matched requests out.

Detection is the project's detection layer, not a second implementation: every call to it
goes through :func:`scan_lines`, the one adapter to :mod:`wormsign.detect.scanner` (today's
internals: format detection, the Hyperscan prefilter, rule matching). :class:`Detector`
keeps per-generation parsing state (the detected format, IIS ``#Fields``) and counts lines,
skipped lines and errors per followed file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wormsign.detect import scanner as _sc
from wormsign.detect.attribute import Hit
from wormsign.detect.prefilter import Prefilter
from wormsign.errors import InputError
from wormsign.logs import formats
from wormsign.logs.source import looks_binary
from wormsign.rules.loader import load_pack
from wormsign.rules.model import Rule, RulePack
from wormsign.watch.follower import Chunk


@dataclass
class Engine:
    """What every scan shares: the rules in priority order and their prefilter."""

    rules: tuple[Rule, ...]
    prefilter: Prefilter
    memo: dict[tuple[object, ...], tuple[Rule, ...]] = field(default_factory=dict)
    intern: Any = field(default_factory=_sc._Interner)

    @classmethod
    def build(cls, pack: RulePack | None = None) -> Engine:
        pack = pack or load_pack()
        rules = tuple(sorted(pack.rules, key=lambda r: -r.priority))
        return cls(rules, Prefilter(rules))


def scan_lines(engine: Engine, fmt: formats.LogFormat, state: Any, data: bytes,
               first_line: int, where: str) -> tuple[int, int, list[Hit]]:
    """``(lines, skipped, hits)`` for ``data``, complete lines starting at ``first_line``.

    The one adapter to the detection layer (swap its body for the core's incremental
    scanner API and nothing else changes)."""
    n, bad, _first = fmt.validate(data, first_line - 1, state, 0)
    hits: list[Hit] = []
    newlines = 0
    pos = 0
    for start, end, rule_idx in engine.prefilter.candidates(data):
        newlines += data.count(b"\n", pos, start)
        pos = start
        req = fmt.parse(data[start:end], first_line + newlines, state, where)
        if req is None:
            continue
        key = (rule_idx, req.url, req.method, req.user_agent, req.status, req.message,
               req.host, req.referer)
        matched = engine.memo.get(key)
        if matched is None:
            if len(engine.memo) > 200_000:
                engine.memo.clear()
            matched = engine.memo[key] = _sc._match(engine.rules, rule_idx, req)
        if matched:
            hits.append(Hit(_sc._shrink(req, engine.intern), matched))
    return n, bad, hits


@dataclass
class FileCounts:
    """Per followed file: what was read and what was made of it."""

    path: str
    format: str = "unknown"
    lines: int = 0
    skipped: int = 0
    hits: int = 0
    error: str | None = None


@dataclass
class _Gen:
    fmt: formats.LogFormat | None
    state: Any = None
    failed: bool = False


class Detector:
    """Scans the chunks a :class:`~wormsign.watch.follower.Follower` hands out."""

    def __init__(self, pack: RulePack | None = None, fmt: str | None = None) -> None:
        self.engine = Engine.build(pack)
        self.forced = formats.get(fmt) if fmt else None
        self.gens: dict[str, _Gen] = {}
        self.files: dict[str, FileCounts] = {}
        self.errors: list[str] = []

    def counts(self, path: str) -> FileCounts:
        fc = self.files.get(path)
        if fc is None:
            fc = self.files[path] = FileCounts(path)
        return fc

    def scan(self, chunk: Chunk) -> list[Hit]:
        """The matched requests of one chunk (empty for a file that is not a known log)."""
        fc = self.counts(chunk.path)
        gen = self.gens.get(chunk.key)
        if gen is None or chunk.fresh:
            gen = self.gens[chunk.key] = self._start(chunk, fc)
        if gen.failed or gen.fmt is None:
            return []
        try:
            n, bad, hits = scan_lines(self.engine, gen.fmt, gen.state, chunk.data,
                                      chunk.first_line, chunk.path)
        except InputError as exc:
            self._fail(gen, fc, str(exc) if exc.path else f"{chunk.path}: {exc}")
            return []
        fc.lines += n
        fc.skipped += bad
        fc.hits += len(hits)
        return hits

    def _start(self, chunk: Chunk, fc: FileCounts) -> _Gen:
        sample = (chunk.head or chunk.data)[:65536]
        gen = _Gen(self.forced)
        if looks_binary(sample):
            self._fail(gen, fc, f"{chunk.path}: not a text log (binary content); not followed")
            return gen
        try:
            if gen.fmt is None:
                gen.fmt = formats.detect(sample, chunk.path)
        except InputError as exc:
            self._fail(gen, fc, str(exc))
            return gen
        gen.state = gen.fmt.new_state()
        fc.format = gen.fmt.name
        if chunk.head and gen.state is not None:
            # A resumed generation: rebuild the header state from the start of the file.
            end = chunk.head.rfind(b"\n") + 1
            gen.fmt.validate(chunk.head[:end], 0, gen.state, 0)
        return gen

    def _fail(self, gen: _Gen, fc: FileCounts, message: str) -> None:
        gen.failed = True
        fc.error = message
        if len(self.errors) < 100:
            self.errors.append(message)

    def forget(self, keys: set[str]) -> None:
        """Drop the state of generations no longer followed."""
        for k in set(self.gens) - keys:
            del self.gens[k]
