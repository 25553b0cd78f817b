"""Network rules matched on connection columns, vectorised (no Python work per connection).

:func:`match_connections` takes a :class:`~wormsign.logs.conn.ConnBatch` and the rules of a
:class:`~wormsign.rules.netloader.NetPack` and returns :class:`NetMatches`: the rows that some
rule matched and, for each, the rule of highest priority. A rule's conditions are numpy masks
over the columns; a rule with ``then`` (Blaster's 135 then 4444, Sasser's 445 then 9996 or
the FTP download back on 5554) pairs connections of the same two hosts by sorting them on
(host pair, time) and a running maximum, so a batch of millions of rows costs a few sorts
per rule. Rows whose time is unknown (NaN, or not finite) cannot be paired and never match a
``then`` rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wormsign.logs.conn import ConnBatch
from wormsign.rules.netloader import NetMatch, NetPack, NetRule, Range

__all__ = ["NetMatches", "condition_mask", "match_connections", "rule_mask"]


@dataclass(frozen=True)
class NetMatches:
    """The matched rows of a batch: ``row`` (int64 index into the batch, ascending) and
    ``rule`` (int64 index into ``rules``, the matching rule of highest priority)."""

    rules: tuple[NetRule, ...]
    row: npt.NDArray[np.int64]
    rule: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.row.shape[0])

    def rule_ids(self) -> list[str]:
        """The rule id of each matched row, in row order."""
        return [self.rules[i].id for i in self.rule.tolist()]

    def counts(self) -> dict[str, int]:
        """Matched rows per rule id."""
        ids, n = np.unique(self.rule, return_counts=True)
        return {self.rules[int(i)].id: int(c) for i, c in zip(ids, n, strict=True)}


def _isin(col: npt.NDArray[np.integer], values: list[int] | tuple[int, ...],
          ) -> npt.NDArray[np.bool_]:
    """``np.isin``, but a few values are compared one by one (a hundred times faster than
    ``np.isin``'s sorting for the one to three ports a rule names)."""
    if len(values) > 8:
        return np.isin(col, values)
    out = np.zeros(col.shape, bool)
    for v in values:
        out |= col == v
    return out


def _in_ranges(col: npt.NDArray[np.integer], ranges: tuple[Range, ...],
               ) -> npt.NDArray[np.bool_]:
    singles = [r.low for r in ranges if r.low == r.high]
    out = _isin(col, singles) if singles else np.zeros(col.shape, bool)
    for r in ranges:
        if r.low != r.high:
            out |= (col >= r.low) & (col <= r.high)
    return out


def condition_mask(batch: ConnBatch, m: NetMatch) -> npt.NDArray[np.bool_]:
    """Rows for which every condition of ``m`` holds (unknown values, -1, never match a
    port or size condition: every range starts at 0 or above)."""
    mask = np.ones(len(batch), bool)
    if m.proto:
        mask &= _isin(batch.proto, m.proto)
    if m.outcome:
        mask &= _isin(batch.outcome, m.outcome)
    if m.mark:
        mask &= (batch.mark & np.uint8(m.mark)) == m.mark
    for name in ("sport", "dport", "orig_bytes", "resp_bytes"):
        ranges: tuple[Range, ...] = getattr(m, name)
        if ranges:
            mask &= _in_ranges(getattr(batch, name), ranges)
    return mask


def _pair_key(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]:
    return (a.astype(np.uint64) << np.uint64(32)) | b.astype(np.uint64)


def _followed(first_key: npt.NDArray[np.uint64], first_t: npt.NDArray[np.float64],
              later_key: npt.NDArray[np.uint64], later_t: npt.NDArray[np.float64],
              within: float) -> npt.NDArray[np.bool_]:
    """For each ``later`` row: is there a ``first`` row of the same key at most ``within``
    seconds before it (or at the same time)? All rows sorted by (key, time, first before
    later); the last ``first`` row at or before each position (a running maximum of
    positions) is the nearest earlier one, and counts when its key is the same."""
    nf = len(first_key)
    if not nf or not len(later_key):
        return np.zeros(len(later_key), bool)
    keys = np.concatenate((first_key, later_key))
    ts = np.concatenate((first_t, later_t))
    later = np.arange(len(keys)) >= nf
    order = np.lexsort((later, ts, keys))
    keys, ts, later = keys[order], ts[order], later[order]
    last = np.maximum.accumulate(np.where(later, -1, np.arange(len(keys))))
    at = np.flatnonzero(later)
    prev = last[at]
    ok = (prev >= 0) & (keys[np.maximum(prev, 0)] == keys[at]) & (
        ts[at] - ts[np.maximum(prev, 0)] <= within)
    out = np.zeros(len(later_key), bool)
    out[order[at] - nf] = ok
    return out


def rule_mask(batch: ConnBatch, rule: NetRule) -> npt.NDArray[np.bool_]:
    """Rows that ``rule`` matches: for a ``then`` rule, both connections of every pair."""
    first = condition_mask(batch, rule.match)
    if rule.then is None:
        return first
    second = condition_mask(batch, rule.then.match)
    known = np.isfinite(batch.time)
    first &= known
    second &= known
    fi, si = np.flatnonzero(first), np.flatnonzero(second)
    f_key = _pair_key(batch.src[fi], batch.dst[fi])
    if rule.then.direction == "same":
        s_key = _pair_key(batch.src[si], batch.dst[si])
    else:
        s_key = _pair_key(batch.dst[si], batch.src[si])
    ft, st = batch.time[fi], batch.time[si]
    w = rule.then.within
    out = np.zeros(len(batch), bool)
    out[si[_followed(f_key, ft, s_key, st, w)]] = True
    out[fi[_followed(s_key, -st, f_key, -ft, w)]] = True  # a second one after it
    return out


def match_connections(batch: ConnBatch, pack: NetPack) -> NetMatches:
    """Every row some rule of ``pack`` matches, with its rule of highest priority (the
    first in the pack among equals)."""
    rules = tuple(sorted(pack.rules, key=lambda r: -r.priority))
    best = np.full(len(batch), -1, np.int64)
    for i, r in enumerate(rules):
        m = rule_mask(batch, r) & (best < 0)
        best[m] = i
    rows = np.flatnonzero(best >= 0).astype(np.int64)
    return NetMatches(rules, rows, best[rows])
