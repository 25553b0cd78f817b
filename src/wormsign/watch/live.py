"""Attribution while the log is still being written, on columns of matched requests.

A scan attributes a source after reading everything; a live view cannot wait for the end.
Matched requests whose rules are all plain (Code Red, Code Red II, scanners, ...) become
alerts at once (:func:`wormsign.detect.attribute.attribute_columns` over the new rows).
Requests that a *burst* rule (Nimda) also matches, or whose rule is *ambiguous* (Code Red
vs Code Red II in an error log), are **held**: each time more requests of
their source arrive, attribution runs again over the source's recent requests (the last
``2 x within`` seconds of log time), and a held request is decided

- as soon as the burst fires for it (a real Nimda burst of 16 requests in a few seconds is
  decided when its 4th request arrives), or
- when its log has moved ``within`` seconds past it (log time of that file), or it has been held
  ``hold`` seconds of wall-clock time (a quiet log), whichever comes first: then it becomes
  what its plain rules say (a lone traversal probe), or nothing when only the burst rule
  matched.

An ambiguous request is decided as soon as exactly one of its families is known for its
source from other requests (usually its access-log line, written in the same second), else
when due as above. So a source's family is decided on what it sent *up to then*: a burst
later diluted by other traffic stays Nimda (a scan of the finished file might not call it
so). Held requests are part of the checkpoint (:meth:`LiveAttributor.pending_records`), so
a restart decides them instead of losing them. Memory: the recent rows (at most
``window_rows``), the held ones (at most ``max_pending``; beyond, the oldest are decided
early), and one set of families per source seen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.detect.alert import Alert
from wormsign.detect.attribute import AlertView, attribute_columns
from wormsign.detect.columns import NO_TIME, MatchBatch, Tables, Variant, concat
from wormsign.rules.model import Rule

WINDOW_ROWS = 1_000_000
MAX_PENDING = 5_000
_US = 1_000_000

Mask = npt.NDArray[np.bool_]


def _take(b: MatchBatch, idx: Mask | npt.NDArray[np.int64]) -> MatchBatch:
    return MatchBatch(b.tables, b.source[idx], b.time[idx], b.line[idx], b.variant[idx],
                      b.file[idx])


def _keys(b: MatchBatch) -> npt.NDArray[np.int64]:
    """One integer per row: its file and line (where it was read)."""
    return (b.file.astype(np.int64) << 40) | b.line


class LiveAttributor:
    """Turns batches of matched requests into alerts as they arrive; see the module
    docstring. ``rules`` and ``tables`` are those of the scanners that made the batches."""

    def __init__(self, rules: Sequence[Rule], tables: Tables, *, hold: float | None = None,
                 window_rows: int = WINDOW_ROWS, max_pending: int = MAX_PENDING) -> None:
        self.rules = tuple(rules)
        self.by_id = {r.id: r for r in self.rules}
        self.tables = tables
        self.within = max((r.burst.within for r in self.rules if r.burst is not None),
                          default=0.0)
        self.hold = self.within if hold is None else hold
        self.window_rows = window_rows
        self.max_pending = max_pending
        self.recent = MatchBatch(tables)
        self.pending = MatchBatch(tables)
        self.since = np.zeros(0, np.float64)
        #: the newest log time seen per file (code into ``tables.files``)
        self.watermark = np.zeros(0, np.int64)
        self.definite: dict[str, set[str]] = {}
        self._burst: list[bool] = []
        self._dirty: set[int] = set()
        self._held_sources: set[int] = set()
        self._held_ips: set[str] = set()

    # -- input -------------------------------------------------------------------------
    def _is_held(self, variant: npt.NDArray[np.int32]) -> Mask:
        """Rows to hold: a burst rule matched, or the best plain rule is ambiguous."""
        values = self.tables.variants.values
        for v in values[len(self._burst):]:
            plain = next((self.rules[i] for i in v.rules if self.rules[i].burst is None), None)
            self._burst.append(any(self.rules[i].burst is not None for i in v.rules)
                               or (plain is not None and bool(plain.ambiguous)))
        return np.array(self._burst, dtype=bool)[variant] if len(variant) else np.zeros(0, bool)

    def add(self, batch: MatchBatch, now: float) -> list[Alert]:
        """Take a batch of matched requests; returns the alerts decided at once."""
        if not len(batch):
            return []
        timed = batch.time != NO_TIME
        if timed.any():
            self._advance(batch.file[timed], batch.time[timed])
            self.recent = concat([self.recent, _take(batch, timed)], self.tables)
        held = self._is_held(batch.variant) & timed
        if held.any():
            mine = _take(batch, held)
            self.pending = concat([self.pending, mine], self.tables)
            self.since = np.concatenate([self.since, np.full(len(mine), now)])
            codes = np.unique(mine.source).tolist()
            self._dirty.update(codes)
            self._held_sources.update(codes)
            self._held_ips.update(self.tables.sources.values[c] for c in codes)
        plain = _take(batch, ~held)
        return self._finish(list(AlertView(attribute_columns(plain, self.rules))))

    def _advance(self, files: npt.NDArray[np.int32], times: npt.NDArray[np.int64]) -> None:
        n = len(self.tables.files)
        if len(self.watermark) < n:
            grown = np.full(n, NO_TIME, np.int64)
            grown[:len(self.watermark)] = self.watermark
            self.watermark = grown
        np.maximum.at(self.watermark, files, times)

    # -- decisions ---------------------------------------------------------------------
    def release(self, now: float, *, flush: bool = False) -> list[Alert]:
        """Alerts for held requests whose decision is due (all of them with ``flush``)."""
        p = self.pending
        if not len(p):
            self._prune()
            return []
        due = (np.full(len(p), flush) | (now - self.since >= self.hold)
               | (p.time <= self.watermark[p.file] - int(self.within * _US)))
        over = len(p) - self.max_pending
        if over > 0:
            due[:over] = True
        sources = self._dirty | set(np.unique(p.source[due]).tolist())
        self._dirty = set()
        if not sources:
            return []
        src = np.fromiter(sources, np.int32, len(sources))
        mine = np.isin(p.source, src)
        sub = _take(self.recent, np.isin(self.recent.source, src))
        lost = _take(p, mine & ~np.isin(_keys(p), _keys(sub)))  # pruned from recent meanwhile
        sub = concat([sub, lost], self.tables)
        att = attribute_columns(sub, self.rules)
        view = AlertView(att)
        pend_keys = _keys(p)
        at = dict(zip(_keys(sub)[att.row].tolist(), range(len(att)), strict=True))
        out: list[Alert] = []
        keep = np.ones(len(p), dtype=bool)
        for i in np.flatnonzero(mine).tolist():
            k = at.get(int(pend_keys[i]))
            final = due[i]
            if k is not None and not final:
                rule = self.rules[int(att.rule[k])]
                final = rule.burst is not None or (
                    bool(rule.ambiguous) and len(self.definite.get(
                        self.tables.sources.values[int(p.source[i])], set())
                        & set(rule.ambiguous)) == 1)
            if final:
                keep[i] = False
                if k is not None:
                    out.append(view[k])
        self.pending = _take(p, keep)
        self.since = self.since[keep]
        self._held_sources = set(np.unique(self.pending.source).tolist())
        self._held_ips = {self.tables.sources.values[c] for c in self._held_sources}
        self._prune()
        return self._finish(out)

    def _finish(self, alerts: list[Alert]) -> list[Alert]:
        """Resolve ambiguous families from what each source is known to be; remember the
        definite ones."""
        out = []
        for a in alerts:
            rule = self.by_id.get(a.rule_id)
            if rule is not None and rule.ambiguous:
                if a.family == rule.family:
                    known = self.definite.get(a.source_ip, set()) & set(rule.ambiguous)
                    if len(known) == 1:
                        a = dataclasses.replace(a, family=next(iter(known)))
            else:
                fams = self.definite.setdefault(a.source_ip, set())
                if a.family not in fams:
                    fams.add(a.family)
                    if a.source_ip in self._held_ips:  # its held requests may be decided now
                        self._dirty.add(self.tables.sources.code(a.source_ip))
            out.append(a)
        return out

    def _prune(self) -> None:
        """Forget requests more than ``2 x within`` of log time old (and the oldest beyond
        ``window_rows``)."""
        r = self.recent
        if not len(r):
            return
        keep = r.time >= self.watermark[r.file] - int(2 * self.within * _US)
        if int(keep.sum()) > self.window_rows:
            keep &= np.cumsum(keep[::-1])[::-1] <= self.window_rows
        if not keep.all():
            self.recent = _take(r, keep)

    # -- checkpoints -------------------------------------------------------------------
    def pending_records(self) -> list[dict[str, Any]]:
        """The held requests as JSON-able records (for the checkpoint)."""
        t = self.tables
        out = []
        p = self.pending
        for s, tm, ln, v, f in zip(p.source.tolist(), p.time.tolist(), p.line.tolist(),
                                   p.variant.tolist(), p.file.tolist(), strict=True):
            var = t.variants.values[v]
            d = dataclasses.asdict(var)
            d["rules"] = [self.rules[i].id for i in var.rules]
            out.append({"source": t.sources.values[s], "time": tm, "line": ln,
                        "file": t.files.values[f], "variant": d})
        return out

    def restore(self, records: Iterable[dict[str, Any]], now: float) -> list[Alert]:
        """Hold again the requests of :meth:`pending_records` (rules no longer loaded are
        dropped from them)."""
        t = self.tables
        index = {r.id: i for i, r in enumerate(self.rules)}
        cols: dict[str, list[int]] = {"source": [], "time": [], "line": [], "variant": [],
                                      "file": []}
        for d in records:
            v = dict(d["variant"])
            rules = tuple(index[x] for x in v.pop("rules") if x in index)
            if not rules:
                continue
            cols["source"].append(t.sources.code(str(d["source"])))
            cols["time"].append(int(d["time"]))
            cols["line"].append(int(d["line"]))
            cols["variant"].append(t.variants.code(Variant(**v, rules=rules)))
            cols["file"].append(t.files.code(str(d["file"])))
        batch = MatchBatch(t, np.array(cols["source"], np.int32), np.array(cols["time"], np.int64),
                           np.array(cols["line"], np.int64), np.array(cols["variant"], np.int32),
                           np.array(cols["file"], np.int32))
        return self.add(batch, now)
