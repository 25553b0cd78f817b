"""Rollups of the alerts table, updated inside each ingest batch's transaction.

Both count *events*: rows whose ``event_of`` is NULL (the primary record of each event;
:mod:`wormsign.incidents.events` regroups them and rebuilds the rollup rows it touches).
``alert_minutes`` (alerts per minute and family) feeds the timeline and ``source_families``
(alerts, first/last time and internal flag per source and family) the source, family and
victim aggregates. A batch adds the rows it inserted itself — those of its ingest job with an
id above the largest id before the batch — so duplicates (``ON CONFLICT DO NOTHING``) are
never counted and a killed batch rolls back with its rollup. :func:`check` recomputes both
from ``alerts`` for tests and ``wormsign incident`` maintenance.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wormsign.incidents import schema as t


def max_alert_id(conn: Connection) -> int:
    """The largest alert id so far (0 for none): the lower bound of a batch's new rows."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.alerts.c.id), 0)))
               .scalar_one())


def _least(dialect: str, a: Any, b: Any) -> Any:
    fn = sa.func.least if dialect == "postgresql" else sa.func.min
    return fn(sa.func.coalesce(a, b), sa.func.coalesce(b, a))


def _greatest(dialect: str, a: Any, b: Any) -> Any:
    fn = sa.func.greatest if dialect == "postgresql" else sa.func.max
    return fn(sa.func.coalesce(a, b), sa.func.coalesce(b, a))


def add_batch(conn: Connection, dialect: str, insert: Any, incident_id: int,
              job_id: int | None, after_id: int) -> None:
    """Fold the alerts a batch just inserted (id > ``after_id``; of job ``job_id`` unless
    None) into the rollups. Writers of one incident are serialised (the store's incident
    lock), so the incident's rows above ``after_id`` are this batch's. ``insert`` is the
    store's dialect-specific insert constructor."""
    a = t.alerts
    new = sa.and_(a.c.incident_id == incident_id, a.c.id > after_id, a.c.event_of.is_(None))
    if job_id is not None:
        new = sa.and_(new, a.c.job_id == job_id)
    m = t.alert_minutes
    minute = (a.c.ts // 60) * 60
    sel = (sa.select(a.c.incident_id, minute, a.c.family, sa.func.count())
           .where(new, a.c.ts.is_not(None)).group_by(a.c.incident_id, minute, a.c.family))
    ins = insert(m).from_select(["incident_id", "minute", "family", "alerts"], sel)
    conn.execute(ins.on_conflict_do_update(
        index_elements=["incident_id", "minute", "family"],
        set_={"alerts": m.c.alerts + ins.excluded.alerts}))
    s = t.source_families
    sel2 = (sa.select(a.c.incident_id, a.c.source_ip, a.c.family, sa.func.max(a.c.internal),
                      sa.func.count(), sa.func.min(a.c.ts), sa.func.max(a.c.ts))
            .where(new).group_by(a.c.incident_id, a.c.source_ip, a.c.family))
    ins2 = insert(s).from_select(["incident_id", "source_ip", "family", "internal", "alerts",
                                  "first_seen", "last_seen"], sel2)
    conn.execute(ins2.on_conflict_do_update(
        index_elements=["incident_id", "source_ip", "family"],
        set_={"alerts": s.c.alerts + ins2.excluded.alerts,
              "internal": _greatest(dialect, s.c.internal, ins2.excluded.internal),
              "first_seen": _least(dialect, s.c.first_seen, ins2.excluded.first_seen),
              "last_seen": _greatest(dialect, s.c.last_seen, ins2.excluded.last_seen)}))


def recomputed(conn: Connection, incident_id: int) -> tuple[set[tuple[Any, ...]],
                                                            set[tuple[Any, ...]]]:
    """Both rollups computed afresh from ``alerts`` (for checks)."""
    a = t.alerts
    minute = (a.c.ts // 60) * 60
    primary = a.c.event_of.is_(None)  # one event, one count (incidents/events.py)
    minutes = {tuple(r) for r in conn.execute(
        sa.select(minute, a.c.family, sa.func.count())
        .where(a.c.incident_id == incident_id, a.c.ts.is_not(None), primary)
        .group_by(minute, a.c.family))}
    sources = {tuple(r) for r in conn.execute(
        sa.select(a.c.source_ip, a.c.family, sa.func.max(a.c.internal), sa.func.count(),
                  sa.func.min(a.c.ts), sa.func.max(a.c.ts))
        .where(a.c.incident_id == incident_id, primary)
        .group_by(a.c.source_ip, a.c.family))}
    return minutes, sources


def stored(conn: Connection, incident_id: int) -> tuple[set[tuple[Any, ...]],
                                                        set[tuple[Any, ...]]]:
    """Both rollups as stored."""
    m, s = t.alert_minutes, t.source_families
    minutes = {tuple(r) for r in conn.execute(
        sa.select(m.c.minute, m.c.family, m.c.alerts).where(m.c.incident_id == incident_id))}
    sources = {tuple(r) for r in conn.execute(
        sa.select(s.c.source_ip, s.c.family, s.c.internal, s.c.alerts, s.c.first_seen,
                  s.c.last_seen).where(s.c.incident_id == incident_id))}
    return minutes, sources


def check(conn: Connection, incident_id: int) -> bool:
    """True when the stored rollups equal a fresh computation."""
    return stored(conn, incident_id) == recomputed(conn, incident_id)
