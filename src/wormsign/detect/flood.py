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

from wormsign.errors import ConfigError
from wormsign.logs.conn import ESTABLISHED

U64 = npt.NDArray[np.uint64]
SLACK_S = 600.0
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FloodParams:
    window_s: float = 60.0
    min_sources: int = 100
    min_connections: int = 1000

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and self.min_sources >= 2 and self.min_connections >= 1):
            raise ConfigError("flood: window must be > 0 s, min sources >= 2, "
                              "min connections >= 1")

    def to_dict(self) -> dict[str, float]:
        return {"window_s": self.window_s, "min_sources": self.min_sources,
                "min_connections": self.min_connections}


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


@dataclass
class _Window:
    bucket: int
    target: int
    sources: int
    connections: int
    answered: int


@dataclass
class FloodTracker:
    """Feed batches in time order; :meth:`finish` gives the floods."""

    params: FloodParams = field(default_factory=FloodParams)
    late: int = 0
    _key: U64 = field(default_factory=lambda: np.zeros(0, np.uint64))  # bucket<<32 | dst
    _src: npt.NDArray[np.uint32] = field(default_factory=lambda: np.zeros(0, np.uint32))
    _n: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    _ok: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
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
        key = (bucket[keep].astype(np.uint64) << np.uint64(32)) | dst[known][keep].astype(
            np.uint64)
        self._merge(key, src[known][keep], np.ones(int(keep.sum()), np.int64),
                    (outcome[known][keep] == ESTABLISHED).astype(np.int64))
        if len(bucket):
            slack = max(1, int(np.ceil(SLACK_S / self.params.window_s)))
            self._close(int(bucket.max()) - slack)

    def _merge(self, key: U64, src: npt.NDArray[np.uint32], n: I64, ok: I64) -> None:
        key = np.concatenate([self._key, key])
        src = np.concatenate([self._src, src])
        n = np.concatenate([self._n, n])
        ok = np.concatenate([self._ok, ok])
        if not len(key):
            return
        order = np.lexsort((src, key))
        key, src, n, ok = key[order], src[order], n[order], ok[order]
        new = np.ones(len(key), bool)
        new[1:] = (key[1:] != key[:-1]) | (src[1:] != src[:-1])
        starts = np.flatnonzero(new)
        self._key, self._src = key[starts], src[starts]
        self._n = np.add.reduceat(n, starts)
        self._ok = np.add.reduceat(ok, starts)

    def _close(self, before: int) -> None:
        """Reduce every window older than ``before`` to its flooded targets."""
        if before <= self._closed_before:
            return
        bucket = (self._key >> np.uint64(32)).astype(np.int64)
        done = bucket < before
        if done.any():
            k, n, ok = self._key[done], self._n[done], self._ok[done]
            uk, first, nsrc = np.unique(k, return_index=True, return_counts=True)
            conns = np.add.reduceat(n, first)
            oks = np.add.reduceat(ok, first)
            hit = (nsrc >= self.params.min_sources) & (conns >= self.params.min_connections)
            for i in np.flatnonzero(hit).tolist():
                key = int(uk[i])
                self._hits.append(_Window(key >> 32, key & 0xFFFFFFFF, int(nsrc[i]),
                                          int(conns[i]), int(oks[i])))
            keep = ~done
            self._key, self._src = self._key[keep], self._src[keep]
            self._n, self._ok = self._n[keep], self._ok[keep]
        self._closed_before = before

    def finish(self) -> list[Flood]:
        self._close(2**62)
        w = self.params.window_s
        out: list[Flood] = []
        for hit in sorted(self._hits, key=lambda h: (h.target, h.bucket)):
            last = out[-1] if out else None
            if last is not None and last.target == hit.target and (
                    abs(last.end - hit.bucket * w) < 1e-6):
                out[-1] = Flood(hit.target, last.start, (hit.bucket + 1) * w,
                                max(last.peak_sources, hit.sources),
                                last.connections + hit.connections, last.answered + hit.answered,
                                last.windows + 1)
            else:
                out.append(Flood(hit.target, hit.bucket * w, (hit.bucket + 1) * w, hit.sources,
                                 hit.connections, hit.answered, 1))
        out.sort(key=lambda f: (f.start, f.target))
        return out
