"""One event across sensors in the incident store.

An incident's ``alerts`` rows are pieces of evidence. Logs of one server are often ingested
one file at a time (the access log today, the error log and a Zeek ``http.log`` tomorrow);
after each ingest, :func:`correlate_incident` groups the rows near the new ones with the
match key of :mod:`wormsign.detect.events` (same source, different sensor kinds, compatible
method and path, times within a tolerance after each file's clock offset). The primary
record of an event keeps ``event_of`` NULL; every other record of it points at the
primary's ``akey``. Counts, rollups and the dashboard count primary rows only, so a request
seen by three sensors is one alert with three pieces of evidence, and an error log's bare
``/default.ida`` (family ``ida-overflow``) gives way to the access log's padded request
(``code-red`` or ``code-red-ii``) of the same event.

Rows stored before migration 0007 are their own events until a later ingest regroups them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from wormsign.detect.events import DEFAULT_MATCH, Kind, MatchKey, build_evidence, correlate
from wormsign.incidents import schema as t

if TYPE_CHECKING:  # the store imports query, which counts with this module
    from wormsign.incidents.store import Store

#: Seconds around the new rows searched for the other records of their events: the
#: tolerance, the largest offset beyond whole zones, and whole zones up to 14 hours.
_ZONES = 14 * 3600
_CHUNK = 500


@lru_cache(maxsize=1)
def _priorities() -> dict[str, int]:
    """Rule id -> priority of the built-in rules (a stored row keeps its rule id only)."""
    from wormsign.rules.loader import load_pack

    return {r.id: r.priority for r in load_pack().rules}


def correlate_incident(store: Store, incident_id: int, *, after_id: int = 0,
                       key: MatchKey | None = None) -> int:
    """Regroup the evidence of an incident around its rows with ``id > after_id`` into
    events (module docstring); returns how many rows changed event. One transaction."""
    key = key or DEFAULT_MATCH
    a = t.alerts
    with store.begin() as conn:
        store.lock_incident(conn, incident_id)
        lo, hi = conn.execute(sa.select(sa.func.min(a.c.ts), sa.func.max(a.c.ts)).where(
            a.c.incident_id == incident_id, a.c.id > after_id, a.c.ts.is_not(None))).one()
        if lo is None:
            return 0
        margin = int(key.tolerance + key.max_skew) + 1 + (_ZONES if key.zones else 0)
        new_sources = (sa.select(a.c.source_ip).where(a.c.incident_id == incident_id,
                                                      a.c.id > after_id).distinct())
        rows = conn.execute(
            sa.select(a.c.id, a.c.akey, a.c.ts, a.c.source_ip, a.c.format, a.c.method,
                      a.c.url, a.c.file_path, a.c.rule_id, a.c.family, a.c.event_of)
            .where(a.c.incident_id == incident_id, a.c.ts.is_not(None),
                   a.c.ts >= int(lo) - margin, a.c.ts <= int(hi) + margin,
                   a.c.source_ip.in_(new_sources))
            .order_by(a.c.id)).all()
        changed = _regroup(rows, key)
        if not changed:
            return 0
        conn.execute(a.update().where(a.c.id == sa.bindparam("row_id"))
                     .values(event_of=sa.bindparam("new_event_of")),
                     [{"row_id": i, "new_event_of": v} for i, v, _s, _f, _ts in changed])
        _rebuild_rollups(store, conn, incident_id, changed)
        store.bump_version(conn, incident_id)
    return len(changed)


def _regroup(rows: Sequence[Any], key: MatchKey) -> list[tuple[int, int | None, str, str, int]]:
    """(id, new event_of, source, family, ts) of the rows whose event changed."""
    if not rows:
        return []
    ids = np.array([r[0] for r in rows], np.int64)
    akeys = np.array([r[1] for r in rows], np.int64)
    ts = np.array([r[2] for r in rows], np.int64)
    _u, source = np.unique(np.array([r[3] for r in rows], dtype=object), return_inverse=True)
    _f, stream = np.unique(np.array([r[7] for r in rows], dtype=object), return_inverse=True)
    prio = _priorities()
    kinds: dict[tuple[str, str | None, str, int], int] = {}
    kind = np.array([kinds.setdefault((r[6], r[5], r[4], prio.get(r[8], 0)), len(kinds))
                     for r in rows], np.int64)
    ev = build_evidence(source.ravel().astype(np.int64), ts * 1_000_000,
                        stream.ravel().astype(np.int64), kind,
                        [Kind(*k) for k in kinds])
    events = correlate(ev, key)
    prim = events.primary[events.event]
    is_prim = prim == np.arange(len(rows))
    out: list[tuple[int, int | None, str, str, int]] = []
    for i in range(len(rows)):
        new = None if is_prim[i] else int(akeys[prim[i]])
        if new != rows[i][10]:
            out.append((int(ids[i]), new, rows[i][3], rows[i][9], int(ts[i])))
    return out


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for lo in range(0, len(items), _CHUNK):
        yield items[lo:lo + _CHUNK]


def _rebuild_rollups(store: Store, conn: sa.Connection, incident_id: int,
                     changed: list[tuple[int, int | None, str, str, int]]) -> None:
    """Recompute the rollup rows of the sources and minutes whose events changed, from the
    primary rows (the rollups never subtract: first/last times cannot be)."""
    a, s, m = t.alerts, t.source_families, t.alert_minutes
    primary = sa.and_(a.c.incident_id == incident_id, a.c.event_of.is_(None))
    sources = sorted({c[2] for c in changed})
    for part in _chunks(sources):
        conn.execute(s.delete().where(s.c.incident_id == incident_id,
                                      s.c.source_ip.in_(part)))
        conn.execute(s.insert().from_select(
            ["incident_id", "source_ip", "family", "internal", "alerts", "first_seen",
             "last_seen"],
            sa.select(a.c.incident_id, a.c.source_ip, a.c.family, sa.func.max(a.c.internal),
                      sa.func.count(), sa.func.min(a.c.ts), sa.func.max(a.c.ts))
            .where(primary, a.c.source_ip.in_(part))
            .group_by(a.c.incident_id, a.c.source_ip, a.c.family)))
    minutes = sorted({c[4] // 60 * 60 for c in changed})
    minute = (a.c.ts // 60) * 60
    for part in _chunks(minutes):
        conn.execute(m.delete().where(m.c.incident_id == incident_id, m.c.minute.in_(part)))
        conn.execute(m.insert().from_select(
            ["incident_id", "minute", "family", "alerts"],
            sa.select(a.c.incident_id, minute, a.c.family, sa.func.count())
            .where(primary, a.c.ts.is_not(None), minute.in_(part))
            .group_by(a.c.incident_id, minute, a.c.family)))


def evidence_counts(store: Store, incident_id: int) -> dict[str, int]:
    """Pieces of evidence, events, and events with more than one piece, of an incident."""
    a = t.alerts
    with store.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).where(
            a.c.incident_id == incident_id)).scalar_one()
        joined = conn.execute(sa.select(sa.func.count(), sa.func.count(
            sa.distinct(a.c.event_of))).where(a.c.incident_id == incident_id,
                                              a.c.event_of.is_not(None))).one()
    return {"evidence": int(total), "events": int(total) - int(joined[0]),
            "merged": int(joined[1])}


__all__ = ["correlate_incident", "evidence_counts"]
