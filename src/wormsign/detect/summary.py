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
from wormsign.detect.attribute import Attribution
from wormsign.detect.columns import I32, I64, NO_TIME

_LEVEL_NAMES = {v: k for k, v in SEVERITY_LEVELS.items()}
_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Tallies:
    """Columns per group: ``requests``, ``first``/``last`` (microseconds, :data:`NO_TIME`
    when no alert had a time), ``level`` (severity level, at least 1 = informational) and
    the rule counts: group g's rules are ``rule[ptr[g]:ptr[g+1]]`` with ``count``, in
    ``most_common`` order."""

    requests: I64
    first: I64
    last: I64
    level: I64
    ptr: I64
    rule: I32
    count: I64
    first_at: I64

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


def tally(group: I64, n_groups: int, rule: I32, time: I64, rule_level: I64,
          n_rules: int) -> Tallies:
    """Tallies of alerts (in alert order) falling into ``n_groups`` dense groups."""
    requests = np.bincount(group, minlength=n_groups).astype(np.int64)
    first = np.full(n_groups, _MAX, np.int64)
    last = np.full(n_groups, NO_TIME, np.int64)
    level = np.ones(n_groups, np.int64)
    if len(group):
        order = np.argsort(group, kind="stable")
        g_sorted = group[order]
        starts = np.flatnonzero(np.concatenate(([True], g_sorted[1:] != g_sorted[:-1])))
        present = g_sorted[starts]
        t = time[order]
        first[present] = np.minimum.reduceat(np.where(t == NO_TIME, _MAX, t), starts)
        last[present] = np.maximum.reduceat(t, starts)
        level[present] = np.maximum(1, np.maximum.reduceat(rule_level[rule[order]], starts))
    first[first == _MAX] = NO_TIME
    pair = group.astype(np.int64) * n_rules + rule
    keys, first_at, counts = np.unique(pair, return_index=True, return_counts=True)
    pg, pr = keys // n_rules, keys % n_rules
    o = np.lexsort((first_at, -counts, pg))
    ptr = np.zeros(n_groups + 1, np.int64)
    np.cumsum(np.bincount(pg, minlength=n_groups), out=ptr[1:])
    return Tallies(requests, first, last, level, ptr, pr[o].astype(np.int32),
                   counts[o].astype(np.int64), first_at[o].astype(np.int64))


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
        src = att.batch.source[att.row].astype(np.int64)
        n_fam = len(att.families)
        fam = att.family.astype(np.int64)
        fams = tally(fam, n_fam, att.rule, time, level, max(1, len(rules)))
        keys, inv = np.unique(src * n_fam + fam, return_inverse=True)
        pairs = tally(inv.astype(np.int64), len(keys), att.rule, time, level,
                      max(1, len(rules)))
        pair_family = (keys % n_fam).astype(np.int32) if n_fam else keys.astype(np.int32)
        fam_sources = np.bincount(pair_family, minlength=n_fam).astype(np.int64)
        return cls(att, fams, fam_sources, (keys // max(1, n_fam)).astype(np.int32),
                   pair_family, pairs)

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
        src_rank = _text_rank(self.att.batch.tables.sources.values)
        fam_rank = _text_rank(list(self.att.families))
        p = self.pairs
        return np.lexsort((fam_rank[self.pair_family], src_rank[self.pair_source],
                           -p.requests, -p.level)).astype(np.int64)


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
