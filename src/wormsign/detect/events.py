"""One event across sensors: the records of one request in several logs become one event.

An access log and its error log, a Zeek ``http.log`` and an EVE ``http`` log on the same
link, and a packet capture of the same server each record the same worm request. Counted as
lines, one request would be two, three or five. :func:`correlate` groups the records
(*evidence*) into events by the match key of :mod:`wormsign.detect.eventkey`: same source,
different sensors, compatible method, path and query, times within a tolerance once each
input's clock offset is corrected. Each event keeps all of its evidence and names one
*primary* record: the one whose rule says most (Code Red's padding seen in the access log
beats the error log's bare ``/default.ida``), then the most telling sensor.

Identical requests repeated by one source (a worm retrying, a Nimda burst) are as many
events as one sensor recorded: an event takes at most one record of each sensor kind, and a
record joins the earliest open event it fits, so the k-th of n identical requests in one log
pairs with the k-th in another (its *occurrence index*).

Clock offsets: each input's offset from a reference input (the largest capture or network
log, else the largest input) is estimated from the sources they share: first the whole
quarter-hour that makes most records meet (an error log in local time beside an access log
with its zone), then the median of the remaining differences, applied when it is at least
one second (below that it is the logs' resolution, not skew).

Everything is columns: grouping, offsets and the choice of primaries are numpy sorts and
searches; only the records of sources seen by more than one sensor pass through one short
Python loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from wormsign.arrays import sorted_unique
from wormsign.detect import eventkey as ek
from wormsign.detect.columns import NO_TIME, MatchBatch
from wormsign.detect.eventkey import MatchKey
from wormsign.rules.model import Rule

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]
_US = 1_000_000
#: Time offsets tried for a whole input (seconds): zones are whole quarter-hours, ±14 h.
ZONE_STEPS = np.arange(-14 * 4, 14 * 4 + 1, dtype=np.int64) * 900
#: Records of an input used to estimate its offset (an evenly spaced sample of them).
SKEW_SAMPLE = 20_000
#: Events of one source left open at once (see :class:`_Greedy`).
MAX_OPEN = 256


@dataclass(frozen=True)
class Evidence:
    """Records to correlate, one row each. ``source`` (address code), ``time`` (µs,
    :data:`~wormsign.detect.columns.NO_TIME` unknown), ``stream`` (the input), ``sensor``
    (code into :data:`~wormsign.detect.eventkey.SENSORS`), ``method`` (code, -1 unknown),
    ``path`` (code into ``paths``; ``partial`` and ``rooted`` per code), ``query`` (code
    into ``queries``, -1 not logged) and ``rank`` (higher: a better primary)."""

    source: I64
    time: I64
    stream: I64
    sensor: I64
    method: I64
    path: I64
    query: I64
    rank: I64
    paths: tuple[str, ...]
    partial: Bools
    rooted: Bools
    queries: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.source.shape[0])


@dataclass(frozen=True)
class Events:
    """Evidence grouped into events. ``event`` (per record: its event, numbered in the
    order of the primaries), ``primary`` (per event: its primary record, ascending),
    ``size`` (per event: records), ``offsets`` (input -> seconds added to its times)."""

    event: I64
    primary: I64
    size: I64
    key: MatchKey
    offsets: dict[int, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.primary.shape[0])

    @property
    def merged(self) -> int:
        """Events seen by more than one record."""
        return int(np.count_nonzero(self.size > 1))

    def evidence_of(self, k: int) -> I64:
        """The records of event ``k`` (ascending)."""
        return np.flatnonzero(self.event == k)


#: The match key ``scan`` uses unless told otherwise.
DEFAULT_MATCH = MatchKey()


def singletons(n: int, key: MatchKey | None = None) -> Events:
    """Every record its own event (one sensor, or correlation switched off)."""
    rows = np.arange(n, dtype=np.int64)
    return Events(rows, rows.copy(), np.ones(n, np.int64), key or MatchKey())


def correlate(ev: Evidence, key: MatchKey | None = None) -> Events:
    """Group ``ev``'s records into events (module docstring)."""
    key = key or MatchKey()
    n = len(ev)
    if n == 0 or len(sorted_unique(ev.sensor)) < 2:
        return singletons(n, key)
    offsets = estimate_offsets(ev, key)
    t = ev.time.copy()
    timed = t != NO_TIME
    for s, off in offsets.items():
        t[timed & (ev.stream == s)] += round(off * _US)
    label = np.arange(n, dtype=np.int64)
    cand = _multi_sensor(ev) & timed
    rows = np.flatnonzero(cand)
    if len(rows):
        order = _interleaved(rows, t, ev)
        greedy = _Greedy(ev, t, int(key.tolerance * _US))
        greedy.run(order, label)
        greedy.place_partials(rows, label)
    return _number(label, ev.rank, key, offsets)


def _interleaved(rows: I64, t: I64, ev: Evidence) -> I64:
    """``rows`` by source and time; records of one source at one and the same time (logs
    with whole seconds) taken one of each input in turn, so that the k-th of many
    identical requests in one log meets the k-th in another at once."""
    by = rows[np.lexsort((rows, ev.stream[rows], t[rows], ev.source[rows]))]
    if len(by) < 2:
        return by
    src, tt, st = ev.source[by], t[by], ev.stream[by]
    new = np.r_[True, (src[1:] != src[:-1]) | (tt[1:] != tt[:-1]) | (st[1:] != st[:-1])]
    start = np.maximum.accumulate(np.where(new, np.arange(len(by)), 0))
    occ = np.arange(len(by)) - start
    return by[np.lexsort((st, occ, tt, src))]


def _multi_sensor(ev: Evidence) -> Bools:
    """Records whose source was seen by more than one sensor kind."""
    n_sens = len(ek.SENSORS)
    pair = sorted_unique(ev.source * n_sens + ev.sensor)
    src, counts = np.unique(pair // n_sens, return_counts=True)
    multi = src[counts > 1]
    return np.isin(ev.source, multi)


def _number(label: I64, rank: I64, key: MatchKey, offsets: dict[int, float]) -> Events:
    """Events numbered by their primary record (best rank, then first in the input)."""
    n = len(label)
    idx = np.arange(n, dtype=np.int64)
    order = np.lexsort((idx, -rank, label))
    first = np.ones(n, dtype=bool)
    first[1:] = label[order][1:] != label[order][:-1]
    prim_of_label = np.full(n, -1, np.int64)
    prim_of_label[label[order][first]] = order[first]
    primary = np.sort(order[first])
    number = np.full(n, -1, np.int64)
    number[primary] = np.arange(len(primary), dtype=np.int64)
    event = number[prim_of_label[label]]
    size = np.bincount(event, minlength=len(primary)).astype(np.int64)
    return Events(event, primary, size, key, offsets)


class _Greedy:
    """The one loop: records of multi-sensor sources, by source then time, each joining the
    earliest open event of its source that it fits, else opening one. An event that holds
    every sensor its source was seen by is closed; at most :data:`MAX_OPEN` stay open per
    source (the oldest is closed first), so a flood of identical lines stays linear."""

    def __init__(self, ev: Evidence, t: I64, tol: int) -> None:
        self.ev, self.t, self.tol = ev, t, tol
        self._fits: dict[tuple[int, int], bool] = {}
        self.exact = True  # first pass: an error log's path must be the URL path itself

    def run(self, order: I64, label: I64) -> None:
        ev = self.ev
        src = ev.source[order]
        bits = (np.int64(1) << ev.sensor[order]).astype(np.int64)
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        full = np.repeat(np.bitwise_or.reduceat(bits, starts),
                         np.diff(np.r_[starts, len(src)])).tolist()
        cols = (self.t[order].tolist(), bits.tolist(), ev.method[order].tolist(),
                ev.path[order].tolist(), ev.query[order].tolist(),
                ev.partial[ev.path[order]].tolist())
        src_l, rows = src.tolist(), order.tolist()
        fits, queries = self._fits_path, ev.queries
        # an open event: [t0, sensor bits, method, full path, partial path, query, label]
        open_: list[list[int]] = []
        cur = None
        for i, (t, bit, m, p, q, part) in enumerate(zip(*cols, strict=True)):
            if src_l[i] != cur:
                cur, open_ = src_l[i], []
            if open_ and t - open_[0][0] > self.tol:
                open_ = [e for e in open_ if t - e[0] <= self.tol]
            for j, e in enumerate(open_):
                if e[1] & bit:
                    continue
                if part:
                    ok = e[4] == p if e[3] < 0 else fits(p, e[3])
                else:
                    ok = p == e[3] if e[3] >= 0 else fits(e[4], p)
                if not ok or (m >= 0 and e[2] >= 0 and m != e[2]) or (
                        q >= 0 and e[5] >= 0 and q != e[5] and not ek.queries_match(
                            queries[q], queries[e[5]])):
                    continue
                e[1] |= bit
                e[2] = m if e[2] < 0 else e[2]
                e[5] = q if e[5] < 0 else e[5]
                if not part:
                    e[3] = p
                label[rows[i]] = e[6]
                if e[1] == full[i]:
                    del open_[j]
                break
            else:
                if bit != full[i]:
                    open_.append([t, bit, m, -1 if part else p, p if part else -1, q,
                                  rows[i]])
                    if len(open_) > MAX_OPEN:
                        del open_[0]

    def _fits_path(self, partial: int, full: int) -> bool:
        k = (partial, full)
        v = self._fits.get(k)
        if v is None:
            ev = self.ev
            v = self._fits[k] = ek.partial_matches(ev.paths[partial], bool(ev.rooted[partial]),
                                                   ev.paths[full], exact=self.exact)
        return v

    def place_partials(self, rows: I64, label: I64) -> None:
        """Second pass: an error-log record left alone because it names only a directory
        above the URL (``/var/www/html/scripts`` for ``/scripts/..%c1%1c../cmd.exe``) joins
        the nearest event of its source, within the tolerance, that lacks an error-log
        record and whose URL path lies below it. Done after the exact pass, so that such a
        record never takes the place of another request's exact one."""
        ev = self.ev
        own = np.bincount(label[rows], minlength=len(label))[label[rows]] == 1
        alone = rows[own & ev.partial[ev.path[rows]]]
        if not len(alone):
            return
        self.exact, self._fits = False, {}
        near = rows[np.isin(ev.source[rows], ev.source[alone])]
        groups: dict[int, dict[int, list[int]]] = {}  # source -> label -> [t0, bits, path]
        for r in near.tolist():
            g = groups.setdefault(int(ev.source[r]), {}).setdefault(
                int(label[r]), [int(self.t[r]), 0, -1])
            g[0] = min(g[0], int(self.t[r]))
            g[1] |= 1 << int(ev.sensor[r])
            if not ev.partial[ev.path[r]]:
                g[2] = int(ev.path[r])
        for r in alone[np.argsort(self.t[alone], kind="stable")].tolist():
            bit, t, p = 1 << int(ev.sensor[r]), int(self.t[r]), int(ev.path[r])
            best, gap = -1, self.tol + 1
            for lab, g in groups[int(ev.source[r])].items():
                d = abs(g[0] - t)
                if d < gap and not g[1] & bit and g[2] >= 0 and self._fits_path(p, g[2]):
                    best, gap = lab, d
            if best >= 0:
                label[r] = best
                groups[int(ev.source[r])][best][1] |= bit


# -- clock offsets ------------------------------------------------------------------------------

def estimate_offsets(ev: Evidence, key: MatchKey) -> dict[int, float]:
    """Seconds to add to each input's times to bring it to the reference input's clock
    (only inputs with an offset; module docstring)."""
    timed = ev.time != NO_TIME
    streams, counts = np.unique(ev.stream[timed], return_counts=True)
    if len(streams) < 2:
        return {}
    net = np.array([_stream_sensor(ev, int(s)) in (1, 2, 3) for s in streams.tolist()])
    pick = np.flatnonzero(net) if net.any() else np.arange(len(streams))
    ref = int(streams[pick[np.argmax(counts[pick])]])
    ref_rows = np.flatnonzero(timed & (ev.stream == ref))
    out: dict[int, float] = {}
    for s in streams.tolist():
        if s == ref or _stream_sensor(ev, int(s)) == _stream_sensor(ev, ref):
            continue
        rows = np.flatnonzero(timed & (ev.stream == s))
        off = _offset(ev, rows, ref_rows, key)
        if off:
            out[int(s)] = off
    return out


def _stream_sensor(ev: Evidence, s: int) -> int:
    return int(ev.sensor[np.argmax(ev.stream == s)])


def _offset(ev: Evidence, rows: I64, ref_rows: I64, key: MatchKey) -> float:
    """The offset (seconds) of the records ``rows`` against ``ref_rows`` (0: none found)."""
    if len(rows) > SKEW_SAMPLE:
        rows = rows[np.linspace(0, len(rows) - 1, SKEW_SAMPLE).astype(np.int64)]
    src = sorted_unique(ev.source[ref_rows])
    rows = rows[np.isin(ev.source[rows], src)]
    ref_rows = ref_rows[np.isin(ev.source[ref_rows], sorted_unique(ev.source[rows]))]
    # A small input needs fewer meetings: half its shared records, at least two.
    need = min(key.min_pairs, max(2, len(rows) // 2))
    if len(rows) < need:
        return 0.0
    rank = np.searchsorted(src, ev.source)  # dense source numbers
    t0 = int(min(ev.time[rows].min(), ev.time[ref_rows].min())) // _US
    span = int(max(ev.time[rows].max(), ev.time[ref_rows].max())) // _US - t0 + 2 * 15 * 3600
    if span * (len(src) + 1) >= 2**62 // 1000:
        return 0.0
    # Keys in milliseconds: source number * span + time since t0 (plus a margin).
    def keyed(r: I64, shift_ms: int) -> I64:
        tm = (ev.time[r] // 1000 - t0 * 1000) + 15 * 3600 * 1000 + shift_ms
        return rank[r].astype(np.int64) * (span * 1000) + tm

    ref_k = np.sort(keyed(ref_rows, 0))
    rows = rows[np.argsort(keyed(rows, 0), kind="stable")]  # sorted queries search fast
    skew_ms = int(key.max_skew * 1000)
    zone = 0
    if key.zones:
        reach = max(skew_ms, 1000)
        hits = [_peak(_nearest_diff(keyed(rows, int(z) * 1000), ref_k, reach), reach)
                for z in ZONE_STEPS.tolist()]
        best = int(np.argmax(hits))
        if hits[best] >= need and hits[best] > hits[len(ZONE_STEPS) // 2]:
            zone = int(ZONE_STEPS[best])
    d = _pair_diffs(keyed(rows, zone * 1000), ref_k, skew_ms)
    if len(d) < need:
        return float(zone)
    # The most common difference (1 s bins), refined by the median of those near it.
    bins = np.floor_divide(d, 1000)
    vals, counts = np.unique(bins, return_counts=True)
    peak = int(vals[np.argmax(counts)]) * 1000 + 500
    near = d[np.abs(d - peak) <= max(int(key.tolerance * 1000), 1000)]
    med = float(np.median(near)) / 1000
    return float(zone + (round(med) if abs(med) >= 1 else 0))


#: Pairs of records looked at for one input's fine offset.
MAX_PAIRS = 2_000_000


def _pair_diffs(k: I64, ref: I64, limit: int) -> I64:
    """Reference key minus key for every reference key within ``limit`` of each key (the
    keys are thinned first when that would make too many pairs)."""
    lo = np.searchsorted(ref, k - limit)
    hi = np.searchsorted(ref, k + limit, side="right")
    n = hi - lo
    total = int(n.sum())
    if total > MAX_PAIRS:
        keep = np.linspace(0, len(k) - 1, max(1, len(k) * MAX_PAIRS // total)).astype(np.int64)
        k, lo, n = k[keep], lo[keep], n[keep]
    at = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
    return ref[at] - np.repeat(k, n)


def _peak(d: I64, reach: int) -> int:
    """The most differences within any two neighbouring 1-second bins: records that meet
    at one offset, not a busy source that meets something at every offset."""
    if not len(d):
        return 0
    b = np.bincount((d + reach) // 1000)
    return int((b[:-1] + b[1:]).max()) if len(b) > 1 else int(b[0])


def _nearest_diff(k: I64, ref: I64, limit: int) -> I64:
    """Reference key minus key, for the nearest reference key of each key within ``limit``."""
    if not len(ref):
        return np.zeros(0, np.int64)
    pos = np.searchsorted(ref, k)
    lo = ref[np.clip(pos - 1, 0, len(ref) - 1)] - k
    hi = ref[np.clip(pos, 0, len(ref) - 1)] - k
    d = np.where(np.abs(lo) <= np.abs(hi), lo, hi)
    return d[np.abs(d) <= limit]


# -- from matched requests ----------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """What the records of one kind share (a scan's variant, a stored alert's request): the
    URL as logged, method, format and the priority of the best rule it matched."""

    url: str
    method: str | None
    format: str
    priority: int


def evidence_of(batch: MatchBatch, rules: Sequence[Rule]) -> Evidence:
    """The match-key columns of a scan's matched requests (``rules``: the scan's rules,
    which the batch's variants point into)."""
    kinds = [Kind(v.url, v.method, v.format,
                  max((rules[i].priority for i in v.rules), default=0))
             for v in batch.tables.variants.values]
    return build_evidence(batch.source.astype(np.int64), batch.time,
                          batch.file.astype(np.int64), batch.variant.astype(np.int64), kinds)


def build_evidence(source: I64, time: I64, stream: I64, kind: I64,
                   kinds: Sequence[Kind]) -> Evidence:
    """Evidence columns from per-record codes: ``source`` (any dense code), ``time`` (µs),
    ``stream`` (input code) and ``kind`` (index into ``kinds``)."""
    n_kind = len(kinds)
    sensor = np.array([ek.SENSORS.index(ek.sensor_of(k.format)) for k in kinds], np.int64)
    methods: dict[str, int] = {}
    method = np.array([-1 if k.method is None else methods.setdefault(k.method, len(methods))
                       for k in kinds], np.int64)
    prio = np.array([k.priority for k in kinds], np.int64)
    rank = prio * len(ek.SENSORS) + (len(ek.SENSORS) - 1 - sensor)
    targets = [ek.split_target(k.url) for k in kinds]
    part = np.array([ek.is_partial(k.format, k.method) for k in kinds], dtype=bool)
    paths: dict[tuple[bool, bool, str], int] = {}
    queries: dict[str, int] = {}
    k_path = np.zeros(n_kind, np.int64)
    for i, (p, _q) in enumerate(targets):
        if not part[i]:
            k_path[i] = paths.setdefault((False, False, p), len(paths))
    query = np.array([-1 if q is None else queries.setdefault(q, len(queries))
                      for _p, q in targets], np.int64)
    row_path = k_path[kind] if n_kind else np.zeros(0, np.int64)
    if part.any():
        _partial_paths(stream, kind, part, targets, paths, row_path)
    keys = sorted(paths, key=paths.__getitem__)
    return Evidence(
        source=source, time=time, stream=stream,
        sensor=sensor[kind] if n_kind else np.zeros(0, np.int64),
        method=method[kind] if n_kind else np.zeros(0, np.int64), path=row_path,
        query=query[kind] if n_kind else np.zeros(0, np.int64),
        rank=rank[kind] if n_kind else np.zeros(0, np.int64),
        paths=tuple(k[2] for k in keys), partial=np.array([k[0] for k in keys], dtype=bool),
        rooted=np.array([k[1] for k in keys], dtype=bool), queries=tuple(queries))


def _partial_paths(stream: I64, kind: I64, part: Bools,
                   targets: list[tuple[str, str | None]],
                   paths: dict[tuple[bool, bool, str], int], row_path: I64) -> None:
    """Codes of the error logs' file paths, each cut at its input's learnt document root."""
    full = [k[2] for k in paths]
    n_kind = len(part)
    rows = np.flatnonzero(part[kind])
    pair, inv = np.unique(stream[rows] * n_kind + kind[rows], return_inverse=True)
    n_pair = np.bincount(inv.ravel(), minlength=len(pair))
    per_file: dict[int, Counter[str]] = {}
    for pr, n in zip(pair.tolist(), n_pair.tolist(), strict=True):
        f, v = divmod(pr, n_kind)
        per_file.setdefault(f, Counter())[targets[v][0]] += n
    roots = {f: ek.learn_docroot(c, full) for f, c in per_file.items()}
    code = np.zeros(len(pair), np.int64)
    for j, pr in enumerate(pair.tolist()):
        f, v = divmod(pr, n_kind)
        p = targets[v][0]
        rest = ek.rooted(p, roots[f])
        k = (True, True, rest) if rest is not None else (True, False, p)
        code[j] = paths.setdefault(k, len(paths))
    row_path[rows] = code[inv.ravel()]


def take(batch: MatchBatch, rows: I64) -> MatchBatch:
    """The rows ``rows`` of ``batch`` (same tables)."""
    return MatchBatch(batch.tables, batch.source[rows], batch.time[rows], batch.line[rows],
                      batch.variant[rows], batch.file[rows])


def correlate_batch(batch: MatchBatch, rules: Sequence[Rule],
                    key: MatchKey | None = None) -> Events:
    """:func:`correlate` over a scan's matched requests."""
    return correlate(evidence_of(batch, rules), key)


__all__ = ["DEFAULT_MATCH", "Events", "Evidence", "Kind", "MatchKey", "build_evidence",
           "correlate", "correlate_batch", "estimate_offsets", "evidence_of", "singletons",
           "take"]
