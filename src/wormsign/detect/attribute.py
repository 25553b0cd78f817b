"""Per-source attribution on columns: turn matched requests into alerts with the right family.

Most rules speak for a single request. Burst rules (Nimda) speak for a *source*: they fire
only when the source sent enough of their requests close together, with the worm's own
method, and little else in that window. Each request then becomes one alert, for the
highest-priority rule that holds for it. Rules that cannot tell families apart (Code Red vs
Code Red II in an error log) take the one family the same source shows elsewhere.

Everything here is a group-by over the columns of a
:class:`~wormsign.detect.columns.MatchBatch` (numpy sorts, bincounts and masks); only the
sources with enough burst requests to form a burst are walked one request at a time.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from wormsign.detect.alert import Alert
from wormsign.detect.columns import (
    NO_TIME,
    MatchBatch,
    Tables,
    from_micros,
    merge,
    stable_order,
)
from wormsign.logs import clf
from wormsign.logs.normalize import canonical
from wormsign.rules.model import Burst, Rule

#: Formats that log the whole request line, so a missing HTTP version was really missing.
Ints = npt.NDArray[np.signedinteger[Any]]

REQUEST_LINE_FORMATS = frozenset({"combined", "common", "vhost_combined", "nginx-error", "pcap"})
#: The C twin of :func:`_window` over many sources at once (None: the Python loop).
_WINDOWS: Callable[..., None] | None = getattr(getattr(clf, "_clfscan", None), "burst_windows",
                                               None)


@dataclass(frozen=True)
class Attribution:
    """The alerts of a batch, as columns: ``row`` (index of the matched request in the
    batch), ``rule`` (index of the rule the alert is for), ``family`` (code into
    ``families``: the family attributed to the source) and ``rule_family`` (code: what the
    best plain rule alone says about the line)."""

    batch: MatchBatch
    rules: tuple[Rule, ...]
    families: tuple[str, ...]
    row: Ints
    rule: Ints
    family: Ints
    rule_family: Ints

    def __len__(self) -> int:
        return int(self.row.shape[0])


def _counts(b: Burst, method: str | None, protocol: str | None, fmt: str) -> bool:
    """Whether a request can count towards a burst (method and version as the worm sent)."""
    if b.methods and method is not None and method not in b.methods:
        return False
    return not (b.require_version and protocol is None and fmt in REQUEST_LINE_FORMATS)


def _window(ts: list[float], keys: list[int], all_t: list[float], b: Burst) -> list[int]:
    """Positions (into ``ts``, sorted times of one source's burst requests) inside a burst
    that qualifies; ``all_t`` are the sorted times of everything the source sent."""
    fired: list[int] = []
    done = 0
    distinct: Counter[int] = Counter()
    lo = 0
    for hi in range(len(ts)):
        distinct[keys[hi]] += 1
        while ts[hi] - ts[lo] > b.within:
            distinct[keys[lo]] -= 1
            if not distinct[keys[lo]]:
                del distinct[keys[lo]]
            lo += 1
        n = hi - lo + 1
        if n < b.min_requests or len(distinct) < b.min_distinct:
            continue
        # What else the source sent from `within` before the burst to `within` after it
        # (its own burst requests just outside the window are not "something else").
        lo_t, hi_t = ts[lo] - b.within, ts[hi] + b.within
        total = bisect.bisect_right(all_t, hi_t) - bisect.bisect_left(all_t, lo_t)
        mine = bisect.bisect_right(ts, hi_t) - bisect.bisect_left(ts, lo_t)
        if total and (total - mine) / total <= b.max_other_share:
            fired.extend(range(max(lo, done), hi + 1))
            done = hi + 1
    return fired


def _fired(batch: MatchBatch, rule_index: int, rule: Rule) -> npt.NDArray[np.bool_]:
    """Rows inside a qualifying burst of ``rule`` (a burst rule)."""
    assert rule.burst is not None
    b = rule.burst
    variants = batch.tables.variants.values
    has = np.array([rule_index in v.rules and _counts(b, v.method, v.protocol, v.format)
                    for v in variants], dtype=bool)
    key_codes: dict[str, int] = {}
    vkey = np.array([key_codes.setdefault(canonical(v.url).partition("?")[0], len(key_codes))
                     for v in variants], dtype=np.int64)
    fired = np.zeros(len(batch), dtype=bool)
    timed = batch.time != NO_TIME
    member = timed & has[batch.variant] if len(variants) else np.zeros(len(batch), bool)
    if not member.any():
        return fired
    n_src = len(batch.tables.sources)
    per_source = np.bincount(batch.source[member], minlength=n_src)
    cand = timed & (per_source >= b.min_requests)[batch.source]
    rows = np.flatnonzero(cand)
    t_rows = batch.time[rows]
    if len(rows) and bool(np.all(t_rows[1:] >= t_rows[:-1])):  # a log in time order
        order = rows[stable_order(batch.source[rows].astype(np.int64))]  # (radix)
    else:
        order = rows[np.lexsort((t_rows, batch.source[rows]))]
    srcs = batch.source[order]
    bounds = np.flatnonzero(np.diff(srcs)) + 1
    if _WINDOWS is not None and b.within >= 0:  # every source's windows at once, in C
        all_t = batch.time[order] / 1e6
        is_mem = member[order]
        mem = order[is_mem]
        ends = np.concatenate(([0], bounds, [len(order)])).astype(np.int64)
        mem_ends = np.concatenate(([0], np.cumsum(is_mem)))[ends].astype(np.int64)
        inside = np.zeros(len(mem), np.uint8)
        _WINDOWS(all_t[is_mem], vkey[batch.variant[mem]], mem_ends, all_t, ends,
                 len(key_codes), float(b.within), b.min_requests, b.min_distinct,
                 float(b.max_other_share), inside)
        fired[mem[inside.view(bool)]] = True
        return fired
    for grp in np.split(order, bounds):
        all_t = (batch.time[grp] / 1e6).tolist()
        mem = grp[member[grp]]
        ts = (batch.time[mem] / 1e6).tolist()
        keys = vkey[batch.variant[mem]].tolist()
        hit = _window(ts, keys, all_t, b)
        if hit:
            fired[mem[hit]] = True
    return fired


def attribute_columns(batch: MatchBatch, rules: Sequence[Rule]) -> Attribution:
    """One alert per matched request (in input order), burst and ambiguous rules resolved.

    ``rules`` are the scan's rules (the indices in the batch's variants point into them)."""
    rules = tuple(rules)
    variants = batch.tables.variants.values
    prio = np.array([r.priority for r in rules] + [np.iinfo(np.int64).min], dtype=np.int64)
    plain_v = np.array([next((i for i in v.rules if rules[i].burst is None), -1)
                        for v in variants], dtype=np.int32)
    plain = plain_v[batch.variant] if len(variants) else np.zeros(0, np.int32)
    best = plain.copy()
    burst_ids = sorted({i for v in variants for i in v.rules if rules[i].burst is not None})
    for i in burst_ids:
        fired = _fired(batch, i, rules[i])
        better = fired & (prio[i] > prio[best])  # prio[-1] is the sentinel: no plain rule
        best[better] = i
    keep = np.flatnonzero(best >= 0)
    best = best[keep]
    line_best = np.where(plain[keep] >= 0, plain[keep], best)
    fam_names = list(dict.fromkeys(
        [r.family for r in rules] + [a for r in rules for a in r.ambiguous]))
    fam_code = {f: k for k, f in enumerate(fam_names)}
    rule_fam = np.array([fam_code[r.family] for r in rules], dtype=np.int32)
    family = rule_fam[best] if len(best) else np.zeros(0, np.int32)
    src = batch.source[keep]
    amb_rules = [i for i, r in enumerate(rules) if r.ambiguous]
    if amb_rules:
        is_amb = np.zeros(len(rules), dtype=bool)
        is_amb[amb_rules] = True
        definite = ~is_amb[best]
        n_src = len(batch.tables.sources)
        for i in amb_rules:
            rows = np.flatnonzero(best == i)
            if not len(rows):
                continue
            known = np.zeros(len(rows), dtype=np.int32)
            pick = np.full(len(rows), -1, dtype=np.int32)
            for f in dict.fromkeys(rules[i].ambiguous):
                shows = np.zeros(n_src, dtype=bool)
                shows[src[definite & (family == fam_code[f])]] = True
                here = shows[src[rows]]
                known += here
                pick[here] = fam_code[f]
            one = known == 1
            family[rows[one]] = pick[one]
    # The narrowest integers that hold them: millions of alerts, few rules and families.
    row_t = np.int32 if len(batch) < 2**31 else np.int64
    code_t = np.int16 if max(len(rules), len(fam_names)) < 2**15 else np.int32
    return Attribution(batch, rules, tuple(fam_names), keep.astype(row_t),
                       best.astype(code_t), family.astype(code_t),
                       rule_fam[line_best].astype(code_t) if len(best)
                       else np.zeros(0, code_t))


class AlertView(Sequence[Alert]):
    """The alerts of an :class:`Attribution` as a read-only sequence of :class:`Alert`
    records, each built when it is asked for (a scan of millions of requests holds columns,
    not millions of objects). Compares equal to a list of the same alerts."""

    def __init__(self, att: Attribution) -> None:
        self.att = att

    def __len__(self) -> int:
        return len(self.att)

    @overload
    def __getitem__(self, i: int) -> Alert: ...

    @overload
    def __getitem__(self, i: slice) -> list[Alert]: ...

    def __getitem__(self, i: int | slice) -> Alert | list[Alert]:
        if isinstance(i, slice):
            return list(self._build(range(len(self))[i]))
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("alert index out of range")
        return next(self._build([i]))

    def __iter__(self) -> Iterator[Alert]:
        step = 65536
        for lo in range(0, len(self), step):
            yield from self._build(range(lo, min(lo + step, len(self))))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AlertView | list | tuple):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<AlertView of {len(self)} alerts>"

    def _build(self, idx: Iterable[int]) -> Iterator[Alert]:
        att = self.att
        b = att.batch
        t = b.tables
        rules, fams = att.rules, att.families
        srcs, variants, files = t.sources.values, t.variants.values, t.files.values
        context: dict[int, dict[str, Any]] = {}
        for k in idx:
            r = int(att.row[k])
            ri = int(att.rule[k])
            rule = rules[ri]
            if ri not in context:
                context[ri] = Alert.rule_context(rule)
            v = variants[int(b.variant[r])]
            yield Alert(
                timestamp=from_micros(int(b.time[r])), source_ip=srcs[int(b.source[r])],
                rule_id=rule.id, rule_name=rule.title, family=fams[int(att.family[k])],
                rule_family=fams[int(att.rule_family[k])], severity=rule.severity,
                url=v.url, method=v.method, status=v.status, user_agent=v.user_agent,
                host=v.host, file_path=files[int(b.file[r])], line=int(b.line[r]),
                format=v.format, **context[ri],
            )


def attribute_batches(batches: Sequence[MatchBatch], rules: Sequence[Rule]) -> AlertView:
    """Attributed :class:`Alert` records for the batches given (attribution sees only
    these rows: a live view attributes over what it has collected). For ``wormsign watch``
    and library users; ``rules`` is the scanner's :attr:`ChunkScanner.rules`."""
    tables: Tables | None = batches[0].tables if batches else None
    if tables is not None and all(b.tables is tables for b in batches):
        from wormsign.detect.columns import concat

        batch = concat(batches, tables)
    else:
        batch = merge(batches)
    return AlertView(attribute_columns(batch, rules))


def families_of(alerts: Iterable[Alert]) -> dict[str, set[str]]:
    """Source IP → the families attributed to it."""
    out: dict[str, set[str]] = defaultdict(set)
    for a in alerts:
        out[a.source_ip].add(a.family)
    return dict(out)


__all__ = ["AlertView", "Attribution", "attribute_batches", "attribute_columns",
           "families_of"]
