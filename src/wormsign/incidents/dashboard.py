"""Queries for the web dashboard (``wormsign serve``): overview rows and the incident page.

Everything is aggregated in SQL (SQLAlchemy Core over :mod:`wormsign.incidents.schema` and the
store's rollup tables), so the pages stay fast on incidents with a million alerts:

* :func:`overview` — one row per incident with its alert, source and task counts;
* :func:`alert_page` — a page of alerts whose total the :class:`Dashboard` caches;
* :func:`incident_view` — what the incident page shows: totals, families, top sources,
  affected assets (infected internal hosts, attacked servers, assessment verdicts), the
  detections timeline per family, the playbook and its progress, recent ingests and actions.

:class:`Dashboard` wraps a :class:`~wormsign.incidents.store.Store` and caches the alert
aggregates of each incident under a cheap *data version* (the newest alert id, the number of
ingest jobs and of own networks): alerts are only ever added by ingests (or reclassified
when own networks change), so a page served from the cache is exactly what a fresh query
would return. Tasks, actions and jobs are always read fresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from typing_extensions import TypedDict

from wormsign.incidents import query
from wormsign.incidents import schema as t
from wormsign.incidents.playbook import progress
from wormsign.incidents.query import (
    AlertPage,
    IncidentRef,
    alert_conditions,
    bucket_width,
    count_alerts,
    iso,
)
from wormsign.incidents.store import Store

TOP = 10
CACHE_SIZE = 64


class TaskCounts(TypedDict):
    """An incident's playbook tasks: how many, how many closed (done or skipped), the share."""

    total: int
    closed: int
    percent: float


class IncidentRow(IncidentRef):
    """One incident of the overview, with its alert, source and task counts."""

    alerts: int
    sources: int
    families: list[str]
    first_seen: str | None
    last_seen: str | None
    tasks: TaskCounts


def data_version(store: Store, incident_id: int | None = None) -> tuple[int, ...]:
    """A tuple that changes whenever stored alerts (or their internal flags) may have changed."""
    a, j, n = t.alerts, t.jobs, t.networks
    with store.engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(a.c.id))).scalar_one()
        q_jobs = sa.select(sa.func.count(), sa.func.max(j.c.position)).select_from(j)
        q_nets = sa.select(sa.func.count()).select_from(n)
        if incident_id is not None:
            q_jobs = q_jobs.where(j.c.incident_id == incident_id)
            q_nets = q_nets.where(n.c.incident_id == incident_id)
        jobs, pos = conn.execute(q_jobs).one()
        nets = conn.execute(q_nets).scalar_one()
        incidents = conn.execute(sa.select(sa.func.count()).select_from(t.incidents)).scalar_one()
    return (int(newest or 0), int(jobs or 0), int(pos or 0), int(nets or 0), int(incidents))


def alert_counts(store: Store) -> dict[int, dict[str, Any]]:
    """Per incident: alerts, distinct sources, distinct families, first and last alert time
    (from the ``source_families`` rollup)."""
    sf = t.source_families
    q = (sa.select(sf.c.incident_id, sa.func.sum(sf.c.alerts),
                   sa.func.count(sa.distinct(sf.c.source_ip)), sa.func.min(sf.c.first_seen),
                   sa.func.max(sf.c.last_seen)).group_by(sf.c.incident_id))
    fam = sa.select(sf.c.incident_id, sf.c.family).distinct()
    out: dict[int, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for iid, n, sources, lo, hi in conn.execute(q):
            out[int(iid)] = {"alerts": int(n), "sources": int(sources), "families": [],
                             "first_seen": lo, "last_seen": hi}
        for iid, family in conn.execute(fam):
            out.setdefault(int(iid), {"alerts": 0, "sources": 0, "families": [],
                                      "first_seen": None, "last_seen": None}
                           )["families"].append(family)
    for d in out.values():
        d["families"].sort()
    return out


def task_counts(store: Store) -> dict[int, dict[str, int]]:
    """Per incident: tasks in total and tasks closed (done or skipped)."""
    k = t.tasks
    closed = sa.func.sum(sa.case((k.c.status.in_(("done", "skipped")), 1), else_=0))
    q = sa.select(k.c.incident_id, sa.func.count(), closed).group_by(k.c.incident_id)
    with store.engine.connect() as conn:
        return {int(r[0]): {"total": int(r[1]), "closed": int(r[2] or 0)} for r in conn.execute(q)}


def overview(store: Store, include_closed: bool = False,
             counts: dict[int, dict[str, Any]] | None = None) -> list[IncidentRow]:
    """One JSON-ready row per incident (newest first): counts of alerts, sources, tasks."""
    counts = alert_counts(store) if counts is None else counts
    tasks = task_counts(store)
    rows: list[IncidentRow] = []
    for inc in store.list_incidents(include_closed=include_closed):
        c = counts.get(inc.id, {"alerts": 0, "sources": 0, "families": [],
                                "first_seen": None, "last_seen": None})
        tk = tasks.get(inc.id, {"total": 0, "closed": 0})
        pct = round(100.0 * tk["closed"] / tk["total"], 1) if tk["total"] else 0.0
        rows.append({"id": inc.id, "name": inc.name, "status": inc.status,
                     "created_at": iso(inc.created_at), "closed_at": iso(inc.closed_at),
                     "alerts": c["alerts"], "sources": c["sources"],
                     "families": list(c["families"]), "first_seen": iso(c["first_seen"]),
                     "last_seen": iso(c["last_seen"]),
                     "tasks": {"total": tk["total"], "closed": tk["closed"], "percent": pct}})
    return rows


def attacked_servers(store: Store, incident_id: int, top: int = TOP) -> list[dict[str, Any]]:
    """Our servers named in the alerts (``destination.domain``), most attacked first."""
    from wormsign.incidents.query import targets

    return targets(store, incident_id, top)


def alert_aggregates(store: Store, incident_id: int, top: int = TOP) -> dict[str, Any]:
    """The alert-derived part of the incident page (cacheable; see :class:`Dashboard`).

    Read from the store's rollups (``source_families``, ``alert_minutes``; see
    :mod:`wormsign.incidents.rollup`) through :mod:`wormsign.incidents.query`: the totals,
    families, top sources and infected internal hosts are folded from one row per (source,
    family), the timeline from one row per minute and family.
    """
    from wormsign.incidents.events import evidence_counts
    from wormsign.incidents.query import source_stats, time_span, timeline

    first, last = time_span(store, incident_id)
    tl = timeline(store, incident_id, bucket_width(first, last))
    ev = evidence_counts(store, incident_id)
    sources: dict[str, list[Any]] = {}
    fams: dict[str, list[int]] = {}
    for r in source_stats(store, incident_id):
        src, fam, n, lo, hi = r["source_ip"], r["family"], r["alerts"], r["first_seen"], \
            r["last_seen"]
        s = sources.get(src)
        if s is None:
            sources[src] = [src, n, r["internal"], [fam], lo, hi]
        else:
            s[1] += n
            s[2] = s[2] or r["internal"]
            s[3].append(fam)
            if lo is not None:
                s[4] = lo if s[4] is None else min(s[4], lo)
                s[5] = hi if s[5] is None else max(s[5], hi)
        f = fams.get(fam)
        if f is None:
            fams[fam] = [n, 1]
        else:
            f[0] += n
            f[1] += 1
    ranked = sorted(sources.values(), key=lambda s: (-s[1], s[0]))
    victims = [s for s in ranked if s[2]]

    def row(s: list[Any]) -> dict[str, Any]:
        return {"source_ip": s[0], "alerts": int(s[1]), "internal": bool(s[2]),
                "families": sorted(s[3]), "first_seen": iso(s[4]), "last_seen": iso(s[5])}

    return {
        "totals": {"alerts": int(sum(s[1] for s in ranked)), "sources": len(ranked),
                   "victims": len(victims), "first_seen": iso(first), "last_seen": iso(last),
                   "evidence": ev["evidence"], "merged": ev["merged"]},
        "families": sorted(({"family": k, "alerts": int(v[0]), "sources": v[1]}
                            for k, v in fams.items()), key=lambda d: (-d["alerts"], d["family"])),
        "top_sources": [row(s) for s in ranked[:top]],
        "victims": [row(s) for s in victims[:top]],
        "timeline": {"bucket_seconds": tl["bucket_seconds"], "first": first, "last": last,
                     "series": [{"start": p["start"], "family": p["family"],
                                 "alerts": p["alerts"]} for p in tl["series"]]},
    }


def alert_page(store: Store, incident_id: int, page: int = 1, per_page: int = 50,
               filters: dict[str, Any] | None = None, total: int | None = None) -> AlertPage:
    """A page of alerts, as :func:`wormsign.incidents.query.list_alerts` (``total``: a cached
    count, when known)."""
    return query.list_alerts(store, incident_id, page, per_page, filters, total=total)


def recent_jobs(store: Store, incident_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The newest ingest jobs of an incident."""
    j = t.jobs
    q = (sa.select(j.c.path, j.c.kind, j.c.status, j.c.added, j.c.duplicates, j.c.skipped,
                   j.c.started_at)
         .where(j.c.incident_id == incident_id).order_by(j.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [{"path": r[0], "kind": r[1], "status": r[2], "added": int(r[3]),
                 "duplicates": int(r[4]), "skipped": int(r[5]), "started_at": iso(r[6])}
                for r in conn.execute(q)]


def recent_actions(store: Store, incident_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The newest entries of the audit trail, newest first."""
    x = t.actions
    q = (sa.select(x.c.at, x.c.kind, x.c.detail, x.c.actor)
         .where(x.c.incident_id == incident_id).order_by(x.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [{"at": iso(r[0]), "kind": r[1], "detail": r[2], "actor": r[3]}
                for r in conn.execute(q)]


def incident_view(store: Store, incident_id: int, top: int = TOP,
                  aggregates: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the incident page shows, JSON-ready (raises StoreError for no incident)."""
    from wormsign.incidents.enrich import configured as enrichment_configured
    from wormsign.incidents.enrich import labels
    from wormsign.incidents.query import findings_by_host
    from wormsign.incidents.suppress import state as suppression_state

    inc = store.get_incident(incident_id)
    agg = alert_aggregates(store, incident_id, top) if aggregates is None else aggregates
    tasks = store.list_tasks(incident_id)
    return {
        "incident": {"id": inc.id, "name": inc.name, "status": inc.status,
                     "created_at": iso(inc.created_at), "closed_at": iso(inc.closed_at)},
        **agg,
        "assets": findings_by_host(store, incident_id),
        "tasks": {"progress": progress(tasks), "items": [x.to_dict() for x in tasks]},
        "jobs": recent_jobs(store, incident_id),
        "actions": recent_actions(store, incident_id),
        "suppressed": suppression_state(store, incident_id),
        "enrichment": {"configured": enrichment_configured(store),
                       "labels": labels(store, incident_id,
                                        [x["source_ip"] for x in agg.get("top_sources", [])])},
    }


class Dashboard:
    """The dashboard's queries over one store, with alert aggregates cached per data version.

    Thread-safe: the web server calls it from its worker threads.
    """

    def __init__(self, store: Store, cache_size: int = CACHE_SIZE) -> None:
        self.store = store
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple[Any, ...], threading.Lock] = {}

    def _cached(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """The cached value for ``key``, computed once even when many threads ask at once."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._computing.pop(key, None)
                raise
            with self._lock:
                self._cache[key] = value
                self._computing.pop(key, None)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def overview(self, include_closed: bool = False) -> list[IncidentRow]:
        version = data_version(self.store)
        counts = self._cached(("counts", version), lambda: alert_counts(self.store))
        return overview(self.store, include_closed, counts)

    def alerts(self, incident_id: int, page: int = 1, per_page: int = 50,
               filters: dict[str, Any] | None = None) -> AlertPage:
        """A page of alerts; the count of matching alerts is cached per data version."""
        self.store.get_incident(incident_id)
        filters = {k: v for k, v in (filters or {}).items() if v is not None and v != ""}
        alert_conditions(incident_id, filters)  # validate before caching anything
        version = data_version(self.store, incident_id)
        key = ("count", incident_id, tuple(sorted((k, str(v)) for k, v in filters.items())),
               version)
        total = self._cached(key, lambda: count_alerts(self.store, incident_id, filters))
        return alert_page(self.store, incident_id, page, per_page, filters, int(total))

    def attacked_servers(self, incident_id: int, top: int = TOP) -> list[dict[str, Any]]:
        self.store.get_incident(incident_id)
        version = data_version(self.store, incident_id)
        return list(self._cached(("servers", incident_id, top, version),
                                 lambda: attacked_servers(self.store, incident_id, top)))

    def incident(self, incident_id: int, top: int = TOP) -> dict[str, Any]:
        self.store.get_incident(incident_id)
        version = data_version(self.store, incident_id)
        agg = self._cached(("incident", incident_id, top, version),
                           lambda: alert_aggregates(self.store, incident_id, top))
        return incident_view(self.store, incident_id, top, agg)


__all__ = ["Dashboard", "alert_aggregates", "alert_conditions", "alert_counts", "alert_page",
           "attacked_servers", "count_alerts", "data_version", "incident_view", "overview",
           "recent_actions", "recent_jobs", "task_counts"]
