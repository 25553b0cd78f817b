"""Per-family and per-source tallies of a scan, as numpy group-bys over its alert columns.

A tally is what the ``--json`` contract reports for a family or a (source, family): requests,
first and last seen, the most severe rule, and the count of each rule (most common first,
ties in order of first appearance, as :meth:`collections.Counter.most_common` orders them).
One row per group, in arrays, so that two million sources cost arrays, not dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from wormsign.detect.alert import SEVERITY_LEVELS
from wormsign.detect.attribute import Attribution, Ints
from wormsign.detect.columns import I32, I64, NO_TIME, stable_order

_LEVEL_NAMES = {v: k for k, v in SEVERITY_LEVELS.items()}
_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Tallies:
    """Columns per group: ``requests``, ``first``/``last`` (microseconds, :data:`NO_TIME`
    when no alert had a time), ``level`` (severity level, at least 1 = informational) and
    the rule counts: group g's rules are ``rule[ptr[g]:ptr[g+1]]`` with ``count``, in
    ``most_common`` order."""

    requests: Ints
    first: I64
    last: I64
    level: Ints
    ptr: Ints
    rule: Ints
    count: Ints
    first_at: Ints

    def severity(self, g: int) -> str:
        return _LEVEL_NAMES[int(self.level[g])]

    def rules_of(self, g: int, ids: tuple[str, ...]) -> dict[str, int]:
        lo, hi = int(self.ptr[g]), int(self.ptr[g + 1])
        return dict(zip([ids[r] for r in self.rule[lo:hi].tolist()],
                        self.count[lo:hi].tolist(), strict=True))

    def rules_in_order_seen(self, g: int, ids: tuple[str, ...]) -> dict[str, int]:
        """Group g's rule counts in order of first appearance (a Counter's own order)."""
        lo, hi = int(self.ptr[g]), int(self.ptr[g + 1])
        o = np.argsort(self.first_at[lo:hi], kind="stable") + lo
        return dict(zip([ids[r] for r in self.rule[o].tolist()], self.count[o].tolist(),
                        strict=True))


def tally_by(key: I64, rule: I32, time: I64, rule_level: I64,
             n_rules: int) -> tuple[I64, Tallies]:
    """Alerts grouped by ``key`` (any int64 per alert, in alert order): the distinct keys,
    sorted, and their tallies. One stable sort; no per-group Python work."""
    n = len(key)
    order = stable_order(key)
    ks = key[order]
    is_start = np.ones(n, bool)
    is_start[1:] = ks[1:] != ks[:-1]
    starts = np.flatnonzero(is_start)
    keys = ks[starts]
    del ks
    g = len(starts)
    small = n < 2**31  # counts and offsets of millions of groups as int32
    requests: Ints = np.diff(starts, append=n)
    if small:
        requests = requests.astype(np.int32)
    if not n:
        e = np.zeros(0, np.int64)
        return keys, Tallies(e, e, e, e, np.zeros(1, np.int64), np.zeros(0, np.int32), e, e)
    # (the temporaries of millions of rows are dropped as soon as they are used: this is
    # the peak of a scan's memory with millions of sources)
    t = time[order]
    last = np.maximum.reduceat(t, starts)
    np.place(t, t == NO_TIME, _MAX)
    first = np.minimum.reduceat(t, starts)
    del t
    first[first == _MAX] = NO_TIME
    r = rule[order]
    level = np.maximum(1, np.maximum.reduceat(rule_level[r], starts)).astype(np.int8)
    if not np.any((r[1:] != r[:-1]) & ~is_start[1:]):  # one rule per group (the usual case)
        del order, is_start
        # (first appearance only orders several rules of a group: any value will do)
        ptr: Ints = np.arange(g + 1, dtype=np.int32) if small else np.arange(g + 1)
        return keys, Tallies(requests, first, last, level, ptr,
                             r[starts].astype(np.int32), requests, requests)
    del is_start
    gid = np.repeat(np.arange(g, dtype=np.int64), requests)
    ukeys, fidx, counts = np.unique(gid * n_rules + r, return_index=True, return_counts=True)
    del gid
    first_at = order[fidx]
    pg, pr = ukeys // n_rules, ukeys % n_rules
    o = np.lexsort((first_at, -counts, pg))
    ptr = np.zeros(g + 1, np.int64)
    np.cumsum(np.bincount(pg, minlength=g), out=ptr[1:])
    return keys, Tallies(requests, first, last, level, ptr, pr[o].astype(np.int32),
                         counts[o].astype(np.int64), first_at[o].astype(np.int64))


def _dense(keys: I64, t: Tallies, n: int) -> Tallies:
    """Tallies of groups ``keys`` (sorted codes) spread over all ``n`` codes (empty groups
    with no requests)."""
    requests = np.zeros(n, np.int64)
    requests[keys] = t.requests
    first = np.full(n, NO_TIME, np.int64)
    first[keys] = t.first
    last = np.full(n, NO_TIME, np.int64)
    last[keys] = t.last
    level = np.ones(n, np.int64)
    level[keys] = t.level
    per = np.zeros(n, np.int64)
    per[keys] = np.diff(t.ptr)
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(per, out=ptr[1:])
    return Tallies(requests, first, last, level, ptr, t.rule, t.count, t.first_at)


@dataclass(frozen=True)
class Summary:
    """Families and (source, family) pairs of an attribution, tallied.

    ``pair_source``/``pair_family`` name each pair group; ``family_sources`` counts the
    distinct sources of each family; ``ranked`` lists pair groups as the reports order them
    (most severe, then most requests, then by source and family text)."""

    att: Attribution
    families: Tallies
    family_sources: I64
    pair_source: I32
    pair_family: I32
    pairs: Tallies

    @classmethod
    def of(cls, att: Attribution) -> Summary:
        rules = att.rules
        level = np.array([SEVERITY_LEVELS.get(r.severity, 0) for r in rules] or [0], np.int64)
        time = att.batch.time[att.row]
        n_fam = max(1, len(att.families))
        n_rules = max(1, len(rules))
        fam_keys, fam_t = tally_by(att.family.astype(np.int64), att.rule, time, level, n_rules)
        fams = _dense(fam_keys, fam_t, len(att.families))
        del fam_t
        key = att.batch.source[att.row].astype(np.int64)
        key *= n_fam
        key += att.family
        keys, pairs = tally_by(key, att.rule, time, level, n_rules)
        del key, time
        pair_family = (keys % n_fam).astype(np.int32)
        fam_sources = np.bincount(pair_family, minlength=len(att.families)).astype(np.int64)
        return cls(att, fams, fam_sources, (keys // n_fam).astype(np.int32), pair_family, pairs)

    @cached_property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.att.rules)

    def family_order(self) -> list[int]:
        """Family codes with alerts, most requests first (then by name)."""
        names = self.att.families
        present = np.flatnonzero(self.families.requests).tolist()
        return sorted(present, key=lambda k: (-int(self.families.requests[k]), names[k]))

    @cached_property
    def ranked(self) -> I64:
        """Pair groups, most severe first, then most requests, then source and family."""
        p = self.pairs
        if not len(p.requests):
            return np.zeros(0, np.int64)
        # As two keys (fewer arrays for millions of sources): severity and requests; then
        # source text and family name.
        fam_rank = _text_rank(list(self.att.families))
        text_key = self.att.batch.tables.sources.sort_rank()[self.pair_source]
        text_key *= max(1, len(fam_rank))
        text_key += fam_rank[self.pair_family]
        most = int(p.requests.max()) + 1
        first_key = (5 - p.level.astype(np.int64)) * most + (most - 1 - p.requests)
        width = int(text_key.max()) + 1
        if int(first_key.max()) < _MAX // width:  # one key (usually: a radix sort)
            first_key *= width
            first_key += text_key
            return stable_order(first_key).astype(np.int64)
        return np.lexsort((text_key, first_key)).astype(np.int64)


def _text_rank(values: list[str]) -> I64:
    """Each string's position in sorted order (code-point order, as Python sorts str)."""
    rank = np.zeros(len(values), np.int64)
    if not values:
        return rank
    if max(map(len, values)) <= 64 and "\x00" not in "".join(values):
        order = np.argsort(np.array(values, dtype=str), kind="stable")
    else:  # long or NUL-holding text: numpy's fixed-width strings would not do
        order = np.array(sorted(range(len(values)), key=values.__getitem__), np.int64)
    rank[order] = np.arange(len(values))
    return rank
