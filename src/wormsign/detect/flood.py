"""Floods: many sources sending to one target within a short window.

Code Red's days 20-27 sent every infected host's packets at 198.137.240.91: one destination,
thousands of sources, each many times a minute. Time is cut into windows of ``window_s``
seconds; a destination whose window holds at least ``min_sources`` distinct sources and
``min_connections`` connection attempts is flooded in that window. Consecutive flooded
windows of one target are one :class:`Flood`.

Memory: only the windows still open keep their (target, source) pairs; a window closes
``SLACK_S`` (ten minutes: Zeek writes a connection when it ends, so its log runs up to its
inactivity timeouts out of start-time order) after the newest record's window, and leaves
only its flooded targets. Records arriving after their window closed are counted (``late``)
and left out. A busy server legitimately visited by many clients can reach the thresholds: raise
them for such a network (they are settable).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from wormsign.detect.netparams import FloodParams as FloodParams  # re-exported
from wormsign.logs.conn import ESTABLISHED

U64 = npt.NDArray[np.uint64]
SLACK_S = 600.0
#: A flood keeps at most this many of its sources (they become alerts: hosts taking part).
MAX_MEMBERS = 100_000
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Flood:
    """One target flooded over consecutive windows."""

    target: int  # IPv4 as an integer
    start: float  # start of the first flooded window (Unix s)
    end: float  # end of the last one
    peak_sources: int  # most distinct sources in one window
    connections: int  # attempts in the flooded windows
    answered: int  # of which established
    windows: int
    members: tuple[int, ...] = ()  # the distinct sources (up to MAX_MEMBERS), sorted


@dataclass
class _Window:
    bucket: int
    target: int
    sources: int
    connections: int
    answered: int
    members: npt.NDArray[np.uint32]


@dataclass
class _Open:
    """One open window: sorted ``dst << 32 | src`` keys with their attempts and answers."""

    key: U64
    n: I64
    ok: I64


@dataclass
class FloodTracker:
    """Feed batches in time order; :meth:`finish` gives the floods."""

    params: FloodParams = field(default_factory=FloodParams)
    late: int = 0
    _open: dict[int, _Open] = field(default_factory=dict)
    _closed_before: int = -(2**62)
    _hits: list[_Window] = field(default_factory=list)

    def feed(self, time: npt.NDArray[np.float64], src: npt.NDArray[np.uint32],
             dst: npt.NDArray[np.uint32], outcome: npt.NDArray[np.uint8]) -> None:
        known = ~np.isnan(time)
        bucket = np.clip(np.floor(time[known] / self.params.window_s), 0, 2**31 - 1).astype(
            np.int64)
        late = bucket < self._closed_before
        self.late += int(late.sum())
        keep = ~late
        bucket = bucket[keep]
        key = (dst[known][keep].astype(np.uint64) << np.uint64(32)) | src[known][keep].astype(
            np.uint64)
        ok = (outcome[known][keep] == ESTABLISHED).astype(np.int64)
        order = np.argsort(bucket, kind="stable")
        bucket, key, ok = bucket[order], key[order], ok[order]
        cuts = np.flatnonzero(np.diff(bucket)) + 1
        for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(bucket)].tolist(),
                          strict=True):
            if hi > lo:
                self._merge(int(bucket[lo]), key[lo:hi], ok[lo:hi])
        if len(bucket):
            slack = max(1, int(np.ceil(SLACK_S / self.params.window_s)))
            self._close(int(bucket.max()) - slack)

    def _merge(self, bucket: int, key: U64, ok: I64) -> None:
        """Add one window's rows to its open pairs (sorted merge, no re-sort of the old)."""
        uk, inv = np.unique(key, return_inverse=True)
        n = np.bincount(inv, minlength=len(uk)).astype(np.int64)
        oks = np.bincount(inv, weights=ok, minlength=len(uk)).astype(np.int64)
        old = self._open.get(bucket)
        if old is None:
            self._open[bucket] = _Open(uk, n, oks)
            return
        at = np.searchsorted(old.key, uk)
        hit = at < len(old.key)
        hit[hit] = old.key[at[hit]] == uk[hit]
        np.add.at(old.n, at[hit], n[hit])
        np.add.at(old.ok, at[hit], oks[hit])
        new = ~hit
        self._open[bucket] = _Open(np.insert(old.key, at[new], uk[new]),
                                   np.insert(old.n, at[new], n[new]),
                                   np.insert(old.ok, at[new], oks[new]))

    def _close(self, before: int) -> None:
        """Reduce every window older than ``before`` to its flooded targets."""
        if before <= self._closed_before:
            return
        for bucket in sorted(b for b in self._open if b < before):
            w = self._open.pop(bucket)
            target = (w.key >> np.uint64(32)).astype(np.int64)
            ut, first, nsrc = np.unique(target, return_index=True, return_counts=True)
            conns = np.add.reduceat(w.n, first)
            oks = np.add.reduceat(w.ok, first)
            hit = (nsrc >= self.params.min_sources) & (conns >= self.params.min_connections)
            for i in np.flatnonzero(hit).tolist():
                lo = int(first[i])
                members = (w.key[lo:lo + int(nsrc[i])] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
                self._hits.append(_Window(bucket, int(ut[i]), int(nsrc[i]), int(conns[i]),
                                          int(oks[i]), members[:MAX_MEMBERS]))
        self._closed_before = before

    def finish(self) -> list[Flood]:
        self._close(2**62)
        w = self.params.window_s
        runs: list[list[_Window]] = []
        for hit in sorted(self._hits, key=lambda h: (h.target, h.bucket)):
            last = runs[-1][-1] if runs else None
            if last is not None and last.target == hit.target and last.bucket + 1 == hit.bucket:
                runs[-1].append(hit)
            else:
                runs.append([hit])
        out = []
        for run in runs:
            members = np.unique(np.concatenate([h.members for h in run]))[:MAX_MEMBERS]
            out.append(Flood(run[0].target, run[0].bucket * w, (run[-1].bucket + 1) * w,
                             max(h.sources for h in run), sum(h.connections for h in run),
                             sum(h.answered for h in run), len(run),
                             tuple(members.tolist())))
        out.sort(key=lambda f: (f.start, f.target))
        return out
