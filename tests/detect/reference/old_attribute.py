"""Per-source attribution: turn matched requests into alerts with the right family.

Most rules speak for a single request. Burst rules (Nimda) speak for a *source*: they fire
only when the source sent enough of their requests close together, with the worm's own
method, and little else in that window. Each request then becomes one alert, for the
highest-priority rule that holds for it.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from wormsign.detect.alert import Alert
from wormsign.logs.normalize import canonical
from wormsign.logs.record import Request
from wormsign.rules.model import Burst, Rule


@dataclass(slots=True)
class Hit:
    """A request and the rules it matched (before attribution)."""

    request: Request
    rules: tuple[Rule, ...]


#: Formats that log the whole request line, so a missing HTTP version was really missing.
REQUEST_LINE_FORMATS = frozenset({"combined", "common", "vhost_combined", "nginx-error", "pcap"})


def _counts(b: Burst, req: Request) -> bool:
    """Whether a request can count towards a burst (method and version as the worm sent)."""
    if b.methods and req.method is not None and req.method not in b.methods:
        return False
    return not (b.require_version and req.protocol is None
                and req.format in REQUEST_LINE_FORMATS)


def _fired_bursts(hits: list[Hit], rule: Rule) -> set[int]:
    """Indices into ``hits`` of requests inside a qualifying burst of ``rule``."""
    assert rule.burst is not None
    b = rule.burst
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(hits):
        if h.request.timestamp is not None:
            by_source[h.request.source_ip].append(i)
    fired: set[int] = set()
    for idxs in by_source.values():
        members = [i for i in idxs if rule in hits[i].rules and _counts(b, hits[i].request)]
        if len(members) < b.min_requests:
            continue
        all_t = sorted(hits[i].request.timestamp.timestamp() for i in idxs)  # type: ignore[union-attr]
        members.sort(key=lambda i: hits[i].request.timestamp)  # type: ignore[arg-type,return-value]
        ts = [hits[i].request.timestamp.timestamp() for i in members]  # type: ignore[union-attr]
        keys = [canonical(hits[i].request.url).partition("?")[0] for i in members]
        distinct: Counter[str] = Counter()
        lo = 0
        for hi in range(len(members)):
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
                fired.update(members[lo:hi + 1])
    return fired


def attribute(hits: list[Hit]) -> list[Alert]:
    """One alert per matched request, in input order, with burst rules resolved."""
    burst_rules = {r.id: r for h in hits for r in h.rules if r.burst is not None}
    fired: dict[str, set[int]] = {rid: _fired_bursts(hits, r) for rid, r in burst_rules.items()}
    chosen: list[tuple[int, Rule, Rule]] = []
    definite: dict[str, set[str]] = defaultdict(set)
    for i, h in enumerate(hits):
        plain = [r for r in h.rules if r.burst is None]
        usable = plain + [r for r in h.rules if r.burst is not None and i in fired[r.id]]
        if not usable:
            continue
        best = max(usable, key=lambda r: r.priority)
        line_best = max(plain, key=lambda r: r.priority) if plain else best
        chosen.append((i, best, line_best))
        if not best.ambiguous:
            definite[h.request.source_ip].add(best.family)
    alerts: list[Alert] = []
    for i, best, line_best in chosen:
        req = hits[i].request
        family = best.family
        if best.ambiguous:
            known = definite.get(req.source_ip, set()) & set(best.ambiguous)
            if len(known) == 1:
                family = known.pop()
        alerts.append(Alert(
            timestamp=req.timestamp, source_ip=req.source_ip, rule_id=best.id,
            rule_name=best.title, family=family, rule_family=line_best.family,
            severity=best.severity, url=req.url, method=req.method, status=req.status,
            user_agent=req.user_agent, host=req.host, file_path=req.path, line=req.line,
            format=req.format, **Alert.rule_context(best),
        ))
    return alerts


def families_of(alerts: Iterable[Alert]) -> dict[str, set[str]]:
    """Source IP → the families attributed to it."""
    out: dict[str, set[str]] = defaultdict(set)
    for a in alerts:
        out[a.source_ip].add(a.family)
    return dict(out)
