"""Per-source state of the network analysis, as columns keyed by source address.

Memory grows with the number of sources (a few hundred bytes each) plus the distinct
(source, destination) pairs of sources not yet found scanning (TRW counts first contacts
only); a source's pairs are dropped once it is found scanning. Connections themselves are
never kept: each batch updates the columns and is let go.

The pairs are bounded (a NAT gateway or proxy may contact millions of distinct
destinations): each source remembers at most :data:`PAIRS_PER_SOURCE` destinations, its
most recent first contacts (older ones are forgotten), and all sources together at most
:data:`PAIRS_TOTAL`; over that, the pairs of the least recently active sources go first.
A forgotten pair makes a later contact with that destination count as a first contact
again. That keeps a busy source walking, so a proxy or gateway that turns scanner is still
found (counting its new destinations as not-first would freeze its walk); the cost is that
a retry to a long-forgotten destination can move the walk once more. TRW is decided within
a few tens of first contacts, far below the caps. Forgotten pairs are counted
(:attr:`SourceState.forgotten`, reported as ``trw_pairs_forgotten``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from wormsign.detect.strategy import SEQUENTIAL_GAP
from wormsign.detect.trw import TRWParams, walk_batch
from wormsign.logs.conn import OTHER, ConnBatch

PENDING, BENIGN, SCANNER = 0, 1, 2
#: destinations remembered per source still walking (its most recent first contacts)
PAIRS_PER_SOURCE = 4096
#: (source, destination) pairs remembered in all (16 bytes each: 64 MiB)
PAIRS_TOTAL = 4 << 20
VERDICTS = ("pending", "benign", "scanner")

#: column name -> (dtype, initial value)
COLUMNS: dict[str, tuple[type, float]] = {
    "probes": (np.int64, 0), "own8": (np.int64, 0), "own16": (np.int64, 0),
    "steps": (np.int64, 0), "post": (np.int64, 0), "small": (np.int64, 0),
    "last_dst": (np.int64, -1),
    "rows": (np.int64, 0), "first_time": (np.float64, np.nan),
    "last_time": (np.float64, np.nan), "o_est": (np.int64, 0), "o_ref": (np.int64, 0),
    "o_una": (np.int64, 0), "o_oth": (np.int64, 0), "walk": (np.float64, 0.0),
    "lowest": (np.float64, 0.0),
    "succ": (np.int64, 0), "fail": (np.int64, 0), "verdict": (np.int8, PENDING),
    "crossed_time": (np.float64, np.nan), "crossed_line": (np.int64, 0),
    "crossed_path": (np.int64, -1), "scan_start": (np.float64, np.nan),
    "exc_start": (np.float64, np.nan),
}



class _Rows(NamedTuple):
    """A batch's columns, sorted by source then time."""

    src: npt.NDArray[np.uint32]
    dst: npt.NDArray[np.uint32]
    time: npt.NDArray[np.float64]
    outcome: npt.NDArray[np.uint8]
    line: npt.NDArray[np.int64]

@dataclass
class SourceState:
    """Columns of per-source state; ``ip`` is sorted and indexes every column."""

    params: TRWParams = field(default_factory=TRWParams)
    ip: npt.NDArray[np.uint32] = field(default_factory=lambda: np.zeros(0, np.uint32))
    col: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    seen: npt.NDArray[np.uint64] = field(default_factory=lambda: np.zeros(0, np.uint64))
    seen_age: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    per_source: int = PAIRS_PER_SOURCE
    total: int = PAIRS_TOTAL
    forgotten: int = 0  # pairs dropped to keep within the caps
    tick: int = 0  # first contacts remembered so far: the age of the next pair
    paths: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.col:
            self.col = {k: np.full(0, v, t) for k, (t, v) in COLUMNS.items()}

    def _add_sources(self, u: npt.NDArray[np.uint32]) -> npt.NDArray[np.intp]:
        """Positions of the (sorted, unique) sources ``u``, adding the new ones."""
        pos = np.searchsorted(self.ip, u)
        known = (pos < len(self.ip)) & (self.ip[np.minimum(pos, max(len(self.ip) - 1, 0))]
                                        == u) if len(self.ip) else np.zeros(len(u), bool)
        if not known.all():
            merged = np.union1d(self.ip, u[~known]).astype(np.uint32)
            at = np.searchsorted(merged, self.ip)
            for k, (t, v) in COLUMNS.items():
                new: npt.NDArray[Any] = np.full(len(merged), v, t)
                new[at] = self.col[k]
                self.col[k] = new
            self.ip = merged
            pos = np.searchsorted(self.ip, u)
        out: npt.NDArray[np.intp] = pos
        return out

    def feed(self, b: ConnBatch) -> None:
        """Update every source of the batch."""
        if not len(b):
            return
        by_time = np.argsort(b.time, kind="stable")  # nearly sorted already: cheap
        order = by_time[np.argsort(b.src[by_time], kind="stable")]  # radix sort
        src, dst, time = b.src[order], b.dst[order], b.time[order]
        outcome, line = b.outcome[order], b.line[order]
        u, g = np.unique(src, return_inverse=True)
        g = g.astype(np.int64)
        pos = self._add_sources(u)
        path_id = self._path_id(b.path, b.format)
        self._walk(pos, g, _Rows(src, dst, time, outcome, line), path_id)
        self._probes(pos, g, src, dst, time, outcome)

    def _path_id(self, path: str, fmt: str) -> int:
        """The index of (path, format) in :attr:`paths` / :attr:`formats`."""
        for i, known in enumerate(zip(self.paths, self.formats, strict=True)):
            if known == (path, fmt):
                return i
        self.paths.append(path)
        self.formats.append(fmt)
        return len(self.paths) - 1

    def _probes(self, pos: npt.NDArray[np.intp], g: npt.NDArray[np.int64],
                src: npt.NDArray[np.uint32], dst: npt.NDArray[np.uint32],
                time: npt.NDArray[np.float64], outcome: npt.NDArray[np.uint8]) -> None:
        c, n = self.col, len(pos)
        d = dst.astype(np.int64)
        prev = np.empty_like(d)
        prev[1:] = d[:-1]
        first = np.ones(len(g), bool)
        first[1:] = g[1:] != g[:-1]
        prev[first] = c["last_dst"][pos][g[first]]
        probe = d != prev
        stepped = probe & (prev >= 0)
        small = stepped & (np.abs(d - prev) <= SEQUENTIAL_GAP)
        own8 = probe & ((dst >> 24) == (src >> 24))
        own16 = probe & ((dst >> 16) == (src >> 16))
        post = probe & (c["verdict"][pos][g] == SCANNER) & (time > c["crossed_time"][pos][g])

        def count(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
            return np.bincount(g[mask], minlength=n).astype(np.int64)

        for name, mask in (("probes", probe), ("own8", own8), ("own16", own16),
                           ("steps", stepped), ("small", small), ("post", post)):
            c[name][pos] += count(mask)
        c["rows"][pos] += np.bincount(g, minlength=n)
        for code, name in enumerate(("o_est", "o_ref", "o_una", "o_oth")):
            c[name][pos] += count(outcome == code)
        last = np.append(np.flatnonzero(first)[1:], len(g)) - 1
        c["last_dst"][pos] = d[last]
        known = ~np.isnan(time)
        if known.any():
            lo = np.full(n, np.inf)
            hi = np.full(n, -np.inf)
            np.minimum.at(lo, g[known], time[known])
            np.maximum.at(hi, g[known], time[known])
            lo[np.isinf(lo)] = np.nan
            hi[np.isinf(hi)] = np.nan
            c["first_time"][pos] = np.fmin(c["first_time"][pos], lo)
            c["last_time"][pos] = np.fmax(c["last_time"][pos], hi)

    def _first_contacts(self, pos: npt.NDArray[np.intp], g: npt.NDArray[np.int64],
                        src: npt.NDArray[np.uint32], dst: npt.NDArray[np.uint32],
                        outcome: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
        """Rows (in order) that are a not-yet-scanner source's first contact with a
        destination: first in this batch and not seen in an earlier one."""
        cand = np.flatnonzero((outcome != OTHER) & (self.col["verdict"][pos][g] != SCANNER))
        key = (src[cand].astype(np.uint64) << np.uint64(32)) | dst[cand].astype(np.uint64)
        _, first = np.unique(key, return_index=True)
        rows: npt.NDArray[np.intp] = cand[np.sort(first)]
        k = (src[rows].astype(np.uint64) << np.uint64(32)) | dst[rows].astype(np.uint64)
        if len(self.seen):
            at = np.minimum(np.searchsorted(self.seen, k), len(self.seen) - 1)
            rows = rows[self.seen[at] != k]
        return rows

    def _walk(self, pos: npt.NDArray[np.intp], g: npt.NDArray[np.int64], batch: _Rows,
              path_id: int) -> None:
        c = self.col
        src, dst, time, outcome, line = batch
        rows = self._first_contacts(pos, g, src, dst, outcome)
        if not len(rows):
            return
        rg = g[rows]
        rt = time[rows]
        res = walk_batch(rg, outcome[rows] == 0, c["walk"][pos].astype(np.float64),
                         c["lowest"][pos].astype(np.float64), self.params)
        c["walk"][pos] = res.walk
        c["lowest"][pos] = res.lowest
        c["succ"][pos] += res.successes
        c["fail"][pos] += res.failures
        has = np.bincount(rg, minlength=len(pos)) > 0
        first_row = np.searchsorted(rg, np.arange(len(pos)))
        group_first_t = np.where(has, rt[np.minimum(first_row, len(rows) - 1)], np.nan)
        last_row = np.append(first_row[1:], len(rows)) - 1
        exc = c["exc_start"][pos]
        exc = np.where(np.isnan(exc), group_first_t, exc)
        floored = res.last_floor >= 0
        low = res.last_low >= 0
        after = res.last_low + 1
        resumed = low & (after <= np.where(res.crossed >= 0, res.crossed, last_row))
        exc = np.where(low, np.nan, exc)
        exc = np.where(resumed, rt[np.minimum(after, len(rows) - 1)], exc)
        verdict = c["verdict"][pos]
        verdict = np.where(floored & (verdict == PENDING), BENIGN, verdict)
        crossed = res.crossed >= 0
        cr = res.crossed[crossed]
        idx = pos[crossed]
        c["crossed_time"][idx] = rt[cr]
        c["crossed_line"][idx] = line[rows][cr]
        c["crossed_path"][idx] = path_id
        c["scan_start"][idx] = exc[crossed]
        verdict = np.where(crossed, SCANNER, verdict)
        c["verdict"][pos] = verdict
        c["exc_start"][pos] = exc
        self._remember(src[rows], dst[rows], self.ip[pos[crossed]])

    def _remember(self, src: npt.NDArray[np.uint32], dst: npt.NDArray[np.uint32],
                  now_scanning: npt.NDArray[np.uint32]) -> None:
        """Keep the new pairs of sources still walking (within the caps); forget the new
        scanners' pairs."""
        key = (src.astype(np.uint64) << np.uint64(32)) | dst.astype(np.uint64)
        age = self.tick + np.arange(len(key), dtype=np.int64)  # in time order per source
        self.tick += len(key)
        by_key = np.argsort(key, kind="stable")
        at = np.searchsorted(self.seen, key[by_key])
        seen = np.insert(self.seen, at, key[by_key])  # keys are new
        seen_age = np.insert(self.seen_age, at, age[by_key])
        if len(now_scanning):
            keep = ~np.isin((seen >> np.uint64(32)).astype(np.uint32), now_scanning)
            seen, seen_age = seen[keep], seen_age[keep]
        fit = _within_caps(seen >> np.uint64(32), seen_age, self.per_source, self.total)
        if fit is not None:
            self.forgotten += int(len(fit) - fit.sum())
            seen, seen_age = seen[fit], seen_age[fit]
        self.seen, self.seen_age = seen, seen_age


def _within_caps(owner: npt.NDArray[np.uint64], age: npt.NDArray[np.int64], per_source: int,
                 total: int) -> npt.NDArray[np.bool_] | None:
    """Which pairs (sorted by owner) to keep: each owner's ``per_source`` most recent, then
    all pairs of the most recently active owners up to ``total``; None when all fit."""
    n = len(owner)
    if not n:
        return None
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    counts = np.diff(np.append(starts, n))
    over = counts > per_source
    if n <= total and not over.any():
        return None
    keep = np.ones(n, dtype=np.bool_)
    if over.any():  # only the owners over the cap are ranked
        idx = np.flatnonzero(np.repeat(over, counts))
        g = np.repeat(np.arange(int(over.sum())), counts[over])
        order = np.lexsort((-age[idx], g))  # per owner, newest first
        rank = np.empty(len(idx), dtype=np.int64)
        rank[order] = np.arange(len(idx)) - np.repeat(np.cumsum(counts[over]) - counts[over],
                                                      counts[over])[order]
        keep[idx[rank >= per_source]] = False
    kept = np.minimum(counts, per_source)
    if kept.sum() > total:
        newest = np.maximum.reduceat(age, starts)
        by_recent = np.argsort(-newest, kind="stable")
        fits = np.zeros(len(starts), dtype=np.bool_)
        fits[by_recent] = np.cumsum(kept[by_recent]) <= total
        keep &= np.repeat(fits, counts)
    return keep
