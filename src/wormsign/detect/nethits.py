"""Network rules run on every batch the network analysis is fed, kept as per-source aggregates.

:class:`RuleHits` matches a :class:`~wormsign.rules.netloader.NetPack` on each
:class:`~wormsign.logs.conn.ConnBatch` (:func:`wormsign.detect.netrules.match_connections`,
vectorised) and keeps, per (source, rule), only: the matched connections' count, the first
and last time, the file/line/reader of the first match (in the order fed), and up to
:data:`MAX_DESTINATIONS` distinct destinations. Matched rows themselves are never kept, so
memory follows the number of matched (source, rule) pairs, not of connections.

The *source* of a match is the originator of the rule's first connection: for a rule whose
second connection comes back from the target (``then.direction: reverse``, e.g. Blaster's
TFTP request back to its attacker), that second connection is counted for its destination,
the attacker, not for the victim that sent it.

The two connections of a ``then`` rule may arrive in different batches (or files): the rows
holding either condition of such a rule within its ``within`` seconds of the newest time
seen are carried to the next batch (at most :data:`MAX_CARRY`, the newest; the others are
counted in ``carry_dropped``), and a carried row is counted once, when it first matches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.detect.netrules import condition_mask, match_connections
from wormsign.logs.conn import ConnBatch, concat
from wormsign.rules.netloader import NetPack, NetRule

__all__ = ["MAX_CARRY", "MAX_DESTINATIONS", "RuleHit", "RuleHits", "source_families"]

#: Distinct destinations kept per (source, rule), the first ones seen.
MAX_DESTINATIONS = 4
#: Rows carried to the next batch for ``then`` rules at most (the newest are kept).
MAX_CARRY = 1 << 18
_COLS: dict[str, tuple[type, float]] = {
    "count": (np.int64, 0), "first_time": (np.float64, np.inf),
    "last_time": (np.float64, -np.inf), "first_path": (np.int64, -1),
    "first_line": (np.int64, 0), "ndst": (np.int64, 0),
}


@dataclass(frozen=True)
class RuleHit:
    """What one rule matched of one source's connections."""

    ip: str
    rule: NetRule
    connections: int
    first_time: float | None
    last_time: float | None
    path: str
    line: int
    format: str
    destinations: tuple[str, ...]


def _opt(v: float) -> float | None:
    return v if math.isfinite(v) else None


_OCTETS = [str(i) for i in range(256)]


def _dotted(ips: npt.NDArray[np.uint32]) -> list[str]:
    """Canonical dotted quads of integer addresses."""
    o = _OCTETS
    parts = [(ips >> np.uint32(s) & np.uint32(255)).tolist() for s in (24, 16, 8, 0)]
    return [f"{o[a]}.{o[b]}.{o[c]}.{o[d]}" for a, b, c, d in zip(*parts, strict=True)]


class RuleHits:
    """Per-(source, rule) aggregates of a network pack's matches, batch after batch."""

    def __init__(self, pack: NetPack) -> None:
        self.pack = pack
        self._index = {r.id: i for i, r in enumerate(pack.rules)}
        self.key = np.zeros(0, np.uint64)  # source << 32 | rule index in pack.rules; sorted
        self.col: dict[str, npt.NDArray[Any]] = {k: np.full(0, v, t)
                                                 for k, (t, v) in _COLS.items()}
        self.dst = np.zeros((0, MAX_DESTINATIONS), np.uint32)
        self.paths: list[str] = []
        self.formats: list[str] = []
        then = [r for r in pack.rules if r.then is not None]
        self._then_conds = list(dict.fromkeys(
            [r.match for r in then] + [r.then.match for r in then if r.then is not None]))
        self._within = max((r.then.within for r in then if r.then is not None), default=0.0)
        self._newest = -np.inf
        self._carry = ConnBatch.empty()
        self._carry_path = np.zeros(0, np.int64)
        self._carry_matched = np.zeros(0, bool)
        self.carry_dropped = 0  # rows that could have paired later but exceeded MAX_CARRY

    def feed(self, batch: ConnBatch) -> None:
        """Match the pack on ``batch`` (after the carried rows of earlier batches that may
        still pair) and add what matched, and was not counted before, to the aggregates."""
        if not self.pack.rules or not len(batch):
            return
        path = np.full(len(batch), self._path(batch), np.int64)
        old = len(self._carry)
        work = concat([self._carry, batch]) if old else batch
        if old:
            path = np.concatenate((self._carry_path, path))
        m = match_connections(work, self.pack)
        matched = np.zeros(len(work), bool)
        matched[m.row] = True
        fresh = (m.row >= old) | ~self._carry_matched[np.minimum(m.row, max(old - 1, 0))] \
            if old else np.ones(len(m), bool)
        if fresh.any():
            remap = np.array([self._index[r.id] for r in m.rules], np.int64)
            self._aggregate(work, m.row[fresh], remap[m.rule[fresh]], path)
        if old:
            matched[:old] |= self._carry_matched
        self._keep_carry(work, path, matched)

    def _keep_carry(self, work: ConnBatch, path: npt.NDArray[np.int64],
                    matched: npt.NDArray[np.bool_]) -> None:
        """The rows a later batch's connection may still pair with: those holding a
        condition of a ``then`` rule, within the longest ``within`` of the newest time."""
        if not self._then_conds:
            return
        cand = np.zeros(len(work), bool)
        for cond in self._then_conds:
            cand |= condition_mask(work, cond)
        finite = work.time[np.isfinite(work.time)]
        self._newest = max(self._newest, float(finite.max())) if len(finite) else self._newest
        cand &= work.time >= self._newest - self._within
        at = np.flatnonzero(cand)[-MAX_CARRY:]
        self.carry_dropped += int(cand.sum()) - len(at)
        self._carry = work.take(at)
        self._carry_path = path[at]
        self._carry_matched = matched[at]

    def _aggregate(self, work: ConnBatch, rows: npt.NDArray[np.int64],
                   rule: npt.NDArray[np.int64], path: npt.NDArray[np.int64]) -> None:
        """Add matched ``rows`` of ``work`` (``rule``: index in the pack of each) to the
        aggregates; ``path``: the index in :attr:`paths` of every row of ``work``."""
        attacker = self._attackers(work, rows, rule)
        key = (attacker.astype(np.uint64) << np.uint64(32)) | rule.astype(np.uint64)
        uk, first, inv, cnt = np.unique(key, return_index=True, return_inverse=True,
                                        return_counts=True)
        t = work.time[rows]
        ok = np.isfinite(t)
        tmin = np.full(len(uk), np.inf)
        tmax = np.full(len(uk), -np.inf)
        np.minimum.at(tmin, inv[ok], t[ok])
        np.maximum.at(tmax, inv[ok], t[ok])
        pos = self._add(uk)
        c = self.col
        new = c["count"][pos] == 0
        c["first_path"][pos[new]] = path[rows[first[new]]]
        c["first_line"][pos[new]] = work.line[rows[first[new]]]
        c["count"][pos] += cnt
        c["first_time"][pos] = np.minimum(c["first_time"][pos], tmin)
        c["last_time"][pos] = np.maximum(c["last_time"][pos], tmax)
        src, dst = work.src[rows], work.dst[rows]
        self._add_destinations(pos[inv], np.where(attacker == src, dst, src))  # the victims

    def _attackers(self, batch: ConnBatch, rows: npt.NDArray[np.int64],
                   rule: npt.NDArray[np.int64]) -> npt.NDArray[np.uint32]:
        """The source each matched row counts for (see the module docstring)."""
        out: npt.NDArray[np.uint32] = batch.src[rows].copy()
        for j, r in enumerate(self.pack.rules):
            if r.then is None or r.then.direction != "reverse":
                continue
            at = np.flatnonzero(rule == j)
            if not len(at):
                continue
            sub = batch.take(rows[at])
            back = condition_mask(sub, r.then.match) & ~condition_mask(sub, r.match)
            out[at[back]] = sub.dst[back]
        return out

    def _path(self, batch: ConnBatch) -> int:
        if not self.paths or self.paths[-1] != batch.path or self.formats[-1] != batch.format:
            self.paths.append(batch.path)
            self.formats.append(batch.format)
        return len(self.paths) - 1

    def _add(self, uk: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
        """Positions of the sorted unique keys ``uk``, adding the new ones."""
        pos = np.searchsorted(self.key, uk)
        known = np.zeros(len(uk), bool)
        if len(self.key):
            known = (pos < len(self.key)) & (self.key[np.minimum(pos, len(self.key) - 1)]
                                             == uk)
        if not known.all():
            merged = np.union1d(self.key, uk[~known])
            at = np.searchsorted(merged, self.key)
            for k, (t, v) in _COLS.items():
                col: npt.NDArray[Any] = np.full(len(merged), v, t)
                col[at] = self.col[k]
                self.col[k] = col
            dst = np.zeros((len(merged), MAX_DESTINATIONS), np.uint32)
            dst[at] = self.dst
            self.dst, self.key = dst, merged
            pos = np.searchsorted(self.key, uk)
        out: npt.NDArray[np.intp] = pos
        return out

    def _add_destinations(self, pos: npt.NDArray[np.intp], dst: npt.NDArray[np.uint32],
                          ) -> None:
        """Keep up to MAX_DESTINATIONS distinct destinations per aggregate (first seen)."""
        nd = self.col["ndst"]
        want = nd[pos] < MAX_DESTINATIONS
        if not want.any():
            return
        pair = (pos[want].astype(np.uint64) << np.uint64(32)) | dst[want].astype(np.uint64)
        _, first = np.unique(pair, return_index=True)
        first.sort()  # the order seen
        p, d = pos[want][first], dst[want][first]
        have = (self.dst[p] == d[:, None]) & (
            np.arange(MAX_DESTINATIONS)[None, :] < nd[p][:, None])
        keep = ~have.any(axis=1)
        p, d = p[keep], d[keep]
        order = np.argsort(p, kind="stable")
        p, d = p[order], d[order]
        rank = np.arange(len(p)) - np.searchsorted(p, p, side="left")
        slot = nd[p] + rank
        ok = slot < MAX_DESTINATIONS
        self.dst[p[ok], slot[ok]] = d[ok]
        np.add.at(nd, p[ok], 1)

    def hits(self) -> list[RuleHit]:
        """Every (source, rule) matched, by source address then rule order in the pack."""
        c = self.col
        src = _dotted((self.key >> np.uint64(32)).astype(np.uint32))
        rule = (self.key & np.uint64(0xFFFFFFFF)).astype(np.int64).tolist()
        nd = c["ndst"].tolist()
        dst = _dotted(self.dst.ravel())
        k = MAX_DESTINATIONS
        paths, formats = [*self.paths, ""], [*self.formats, "conn"]  # -1: none
        return [RuleHit(src[i], self.pack.rules[rule[i]], n, _opt(t0), _opt(t1), paths[fp],
                        line, formats[fp], tuple(dst[i * k:i * k + nd[i]]))
                for i, (n, t0, t1, fp, line) in enumerate(zip(
                    c["count"].tolist(), c["first_time"].tolist(), c["last_time"].tolist(),
                    c["first_path"].tolist(), c["first_line"].tolist(), strict=True))]

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per rule of the pack (every one, in pack order): its family and severity, the
        connections and sources it matched."""
        rule = (self.key & np.uint64(0xFFFFFFFF)).astype(np.int64)
        n = len(self.pack.rules)
        conns = np.bincount(rule, weights=self.col["count"], minlength=n)
        srcs = np.bincount(rule, minlength=n)
        return {r.id: {"family": r.family, "severity": r.severity,
                       "connections": int(conns[i]), "sources": int(srcs[i])}
                for i, r in enumerate(self.pack.rules)}


def source_families(hits: list[RuleHit]) -> dict[str, str]:
    """Per source, the family of its matched rule of highest priority (most connections
    among equals)."""
    best: dict[str, tuple[int, int, str]] = {}
    for h in hits:
        rank = (h.rule.priority, h.connections, h.rule.family)
        if h.ip not in best or rank[:2] > best[h.ip][:2]:
            best[h.ip] = rank
    return {ip: v[2] for ip, v in best.items()}
