"""Read side of the store: incident summary (``incident show --json``), timelines, assets,
paginated alerts.

Everything is aggregated in SQL over the covering indexes of the ``alerts`` table, so the
summary of a million-alert incident takes well under the two seconds the CLI promises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from typing_extensions import TypedDict  # pydantic (the web API) needs it before 3.12

from wormsign.errors import StoreError
from wormsign.incidents import schema as t
from wormsign.incidents.tasks import Progress, now_s, progress

if TYPE_CHECKING:
    from wormsign.incidents.store import Store

#: Candidate timeline bucket widths in seconds; the smallest giving at most MAX_BUCKETS wins.
BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
MAX_BUCKETS = 200
ALERT_FILTERS = ("family", "source_ip", "rule_id", "internal", "since", "until", "q")


class IncidentRef(TypedDict):
    """An incident's head: what it is called and when it was opened and closed."""

    id: int
    name: str
    status: str
    created_at: str | None
    closed_at: str | None


class VersionedIncidentRef(IncidentRef):
    """The head of ``incident show --json``, with the incident's data version."""

    version: int


class Totals(TypedDict):
    """An incident's alert counts and the time span they cover (ISO 8601 UTC). ``alerts``
    counts events (a request seen by several sensors once); ``evidence`` counts the stored
    records behind them and ``merged`` the events with more than one."""

    alerts: int
    sources: int
    victims: int
    first_seen: str | None
    last_seen: str | None
    evidence: int
    merged: int


class FamilyCount(TypedDict):
    """Alerts and distinct sources of one worm family."""

    family: str
    alerts: int
    sources: int


class TaskProgress(TypedDict):
    """The playbook progress (:func:`~wormsign.incidents.tasks.progress`) and every task
    (:class:`~wormsign.incidents.tasks.Task` as a dict)."""

    progress: Progress
    items: list[dict[str, Any]]


class Blocklist(TypedDict):
    active: int
    expired: int


class IncidentSummary(TypedDict):
    """``incident show --json``: the full picture of an incident (see :func:`incident_summary`)."""

    incident: VersionedIncidentRef
    networks: dict[str, list[str]]
    totals: Totals
    families: list[FamilyCount]
    sources: list[dict[str, Any]]
    victims: list[dict[str, Any]]
    targets: list[dict[str, Any]]
    assets: list[dict[str, Any]]
    timeline: dict[str, Any]
    source_timeline: dict[str, Any]
    tasks: TaskProgress
    blocklist: Blocklist
    jobs: list[dict[str, Any]]
    actions: list[dict[str, Any]]


class AlertRow(TypedDict):
    """One stored alert as the alert pages give it (the ``alerts`` table, time as ISO 8601)."""

    id: int
    timestamp: str | None
    source_ip: str
    internal: bool
    family: str
    rule_family: str
    rule_id: str
    rule_name: str
    severity: str
    url: str
    method: str | None
    status: int | None
    user_agent: str | None
    host: str | None
    file_path: str
    line: int
    format: str


class AlertPageDoc(TypedDict):
    """One page of alerts as JSON (``incident alerts --json``, ``GET .../alerts``)."""

    items: list[AlertRow]
    total: int
    page: int
    per_page: int
    pages: int


def iso(ts: int | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string (``...Z``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def bucket_width(first: int | None, last: int | None) -> int:
    """The timeline bucket width for a time span."""
    if first is None or last is None:
        return 3600
    span = max(last - first, 1)
    for width in BUCKETS:
        if span / width <= MAX_BUCKETS:
            return width
    return BUCKETS[-1]


def source_stats(store: Store, incident_id: int) -> list[dict[str, Any]]:
    """Per (source, family): alerts, first and last seen, internal flag; most alerts first.

    Read from the ``source_families`` rollup (:mod:`wormsign.incidents.rollup`)."""
    s = t.source_families
    q = (sa.select(s.c.source_ip, s.c.family, s.c.internal, s.c.alerts, s.c.first_seen,
                   s.c.last_seen).where(s.c.incident_id == incident_id))
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    out = [{"source_ip": r[0], "family": r[1], "internal": bool(r[2]), "alerts": int(r[3]),
            "first_seen": r[4], "last_seen": r[5]} for r in rows]
    out.sort(key=lambda d: (-d["alerts"], d["source_ip"], d["family"]))
    return out


def time_span(store: Store, incident_id: int) -> tuple[int | None, int | None]:
    """First and last alert time of an incident."""
    a = t.alerts
    with store.engine.connect() as conn:
        # Two queries: each is a single index lookup, one with both aggregates is a scan.
        first = conn.execute(sa.select(sa.func.min(a.c.ts))
                             .where(a.c.incident_id == incident_id)).scalar()
        last = conn.execute(sa.select(sa.func.max(a.c.ts))
                            .where(a.c.incident_id == incident_id)).scalar()
    return first, last


def timeline(store: Store, incident_id: int, width: int | None = None,
             by: str = "family", sources: list[str] | None = None) -> dict[str, Any]:
    """Alerts per time bucket and family (``by="family"``, from the per-minute rollup) or
    source (``by="source"``, for the given ``sources``). Bucket starts are epoch seconds."""
    if width is None:
        width = bucket_width(*time_span(store, incident_id))
    if by == "family":
        m = t.alert_minutes
        if width % 60 == 0:
            bucket = (m.c.minute // width) * width
            q = (sa.select(bucket, m.c.family, sa.func.sum(m.c.alerts))
                 .where(m.c.incident_id == incident_id).group_by(bucket, m.c.family))
        else:
            a = t.alerts
            bucket = (a.c.ts // width) * width
            q = (sa.select(bucket, a.c.family, sa.func.count())
                 .where(a.c.incident_id == incident_id, a.c.ts.is_not(None),
                        a.c.event_of.is_(None))
                 .group_by(bucket, a.c.family))
    elif by == "source":
        if not sources:
            return {"bucket_seconds": width, "series": []}
        a = t.alerts
        bucket = (a.c.ts // width) * width
        q = (sa.select(bucket, a.c.source_ip, sa.func.count())
             .where(a.c.incident_id == incident_id, a.c.ts.is_not(None),
                    a.c.event_of.is_(None), a.c.source_ip.in_(sources))
             .group_by(bucket, a.c.source_ip))
    else:
        raise StoreError(f"timeline by family or source, not {by!r}")
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    series = [{"start": int(r[0]), by: r[1], "alerts": int(r[2])} for r in rows]
    series.sort(key=lambda d: (d["start"], d[by]))
    return {"bucket_seconds": width, "series": series}


def findings_by_host(store: Store, incident_id: int) -> list[dict[str, Any]]:
    """Assessment verdicts per host (from ``assess --json`` ingests)."""
    f = t.findings
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(f).where(f.c.incident_id == incident_id)
                            .order_by(f.c.host, f.c.vuln_id)).all()
    hosts: dict[str, dict[str, Any]] = {}
    for r in rows:
        h = hosts.setdefault(r.host, {"host": r.host, "exposure": r.exposure, "findings": []})
        h["findings"].append({"id": r.vuln_id, "aliases": json.loads(r.aliases),
                              "status": r.status, "evidence": json.loads(r.evidence),
                              "fix": r.fix})
    return list(hosts.values())


def targets(store: Store, incident_id: int, top: int = 50) -> list[dict[str, Any]]:
    """Our servers named in the alerts (``destination.domain``), most attacked first."""
    a = t.alerts
    q = (sa.select(a.c.host, sa.func.count().label("n"))
         .where(a.c.incident_id == incident_id, a.c.host.is_not(None),
                a.c.event_of.is_(None))
         .group_by(a.c.host).order_by(sa.desc("n"), a.c.host).limit(top))
    with store.engine.connect() as conn:
        return [{"host": r[0], "alerts": int(r[1])} for r in conn.execute(q)]


def incident_summary(store: Store, incident_id: int, *, top: int = 50) -> IncidentSummary:
    """The full picture of an incident as one JSON-ready dict (``incident show --json``).

    Keys: ``incident``, ``networks``, ``totals``, ``families``, ``sources`` (the ``top``
    sources), ``victims`` (internal sources: infected hosts scanning others), ``targets``,
    ``assets`` (assessment verdicts), ``timeline`` (per family), ``source_timeline`` (top ten
    sources), ``tasks`` (progress and every task), ``blocklist``, ``jobs``, ``actions``.
    Times are ISO 8601 UTC strings.
    """
    inc = store.get_incident(incident_id)
    from wormsign.incidents.events import evidence_counts

    stats = source_stats(store, incident_id)
    ev = evidence_counts(store, incident_id)
    fam: dict[str, FamilyCount] = {}
    victims: dict[str, dict[str, Any]] = {}
    first = last = None
    for s in stats:
        f = fam.setdefault(s["family"], {"family": s["family"], "alerts": 0, "sources": 0})
        f["alerts"] += s["alerts"]
        f["sources"] += 1
        if s["first_seen"] is not None:
            first = s["first_seen"] if first is None else min(first, s["first_seen"])
            last = s["last_seen"] if last is None else max(last, s["last_seen"])
        if s["internal"]:
            v = victims.setdefault(s["source_ip"], {
                "host": s["source_ip"], "status": "infected", "families": [], "alerts": 0,
                "first_seen": s["first_seen"], "last_seen": s["last_seen"],
                "action": "isolate and clean (not only block)"})
            v["families"].append(s["family"])
            v["alerts"] += s["alerts"]
            for k, fn in (("first_seen", min), ("last_seen", max)):
                if s[k] is not None:
                    v[k] = s[k] if v[k] is None else fn(v[k], s[k])
    distinct_sources = len({s["source_ip"] for s in stats})
    tl = timeline(store, incident_id, bucket_width(first, last))
    top_sources = []
    seen: set[str] = set()
    for s in stats:
        if s["source_ip"] not in seen:
            seen.add(s["source_ip"])
            top_sources.append(s["source_ip"])
        if len(top_sources) == 10:
            break
    stl = timeline(store, incident_id, tl["bucket_seconds"], by="source", sources=top_sources)
    tasks = store.list_tasks(incident_id)
    now = now_s()
    bl = t.blocklist
    j = t.jobs
    with store.engine.connect() as conn:
        active = conn.execute(sa.select(sa.func.count()).where(
            bl.c.incident_id == incident_id, bl.c.expires_at > now)).scalar_one()
        total_bl = conn.execute(sa.select(sa.func.count()).where(
            bl.c.incident_id == incident_id)).scalar_one()
        jobs = conn.execute(sa.select(j.c.path, j.c.kind, j.c.status, j.c.position, j.c.added,
                                      j.c.duplicates, j.c.skipped, j.c.started_at,
                                      j.c.finished_at, j.c.message)
                            .where(j.c.incident_id == incident_id).order_by(j.c.id)).all()

    def when(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "first_seen": iso(d["first_seen"]), "last_seen": iso(d["last_seen"])}

    return {
        "incident": {"id": inc.id, "name": inc.name, "status": inc.status,
                     "created_at": iso(inc.created_at), "closed_at": iso(inc.closed_at),
                     "version": store.incident_version(incident_id)},
        "networks": store.networks(incident_id),
        "totals": {"alerts": sum(s["alerts"] for s in stats), "sources": distinct_sources,
                   "victims": len(victims), "first_seen": iso(first), "last_seen": iso(last),
                   "evidence": ev["evidence"], "merged": ev["merged"]},
        "families": sorted(fam.values(), key=lambda d: (-d["alerts"], d["family"])),
        "sources": [when(s) for s in stats[:top]],
        "victims": [when(v) for v in sorted(victims.values(), key=lambda d: -d["alerts"])],
        "targets": targets(store, incident_id),
        "assets": findings_by_host(store, incident_id),
        "timeline": {"bucket_seconds": tl["bucket_seconds"],
                     "series": [{**d, "start": iso(d["start"])} for d in tl["series"]]},
        "source_timeline": {"bucket_seconds": stl["bucket_seconds"],
                            "series": [{**d, "start": iso(d["start"])} for d in stl["series"]]},
        "tasks": {"progress": progress(tasks), "items": [x.to_dict() for x in tasks]},
        "blocklist": {"active": int(active), "expired": int(total_bl) - int(active)},
        "jobs": [{"path": r[0], "kind": r[1], "status": r[2], "position": int(r[3]),
                  "added": int(r[4]), "duplicates": int(r[5]), "skipped": int(r[6]),
                  "started_at": iso(r[7]), "finished_at": iso(r[8]), "message": r[9]}
                 for r in jobs],
        "actions": [{**x.to_dict(), "at": iso(x.at)} for x in store.list_actions(incident_id)],
    }


@dataclass(frozen=True)
class AlertPage:
    """One page of alerts: ``items`` (dicts, times as ISO strings) and the ``total`` count."""

    items: list[AlertRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_dict(self) -> AlertPageDoc:
        return {"items": self.items, "total": self.total, "page": self.page,
                "per_page": self.per_page, "pages": self.pages}


def _epoch_filter(v: Any) -> int:
    if isinstance(v, int | float):
        return int(v)
    try:
        dt = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError as exc:
        raise StoreError(f"not a time: {v!r}") from exc
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


def alert_conditions(incident_id: int, filters: dict[str, Any] | None) -> list[Any]:
    """SQL conditions selecting the incident's alerts that match ``filters``.

    ``filters`` keys: ``family``, ``source_ip``, ``rule_id`` (exact), ``internal`` (bool),
    ``since``/``until`` (epoch seconds or ISO times, inclusive/exclusive), ``q`` (substring
    of the URL); empty values are ignored. Unknown keys raise :class:`StoreError`.
    """
    filters = {k: v for k, v in (filters or {}).items() if v is not None and v != ""}
    unknown = set(filters) - set(ALERT_FILTERS)
    if unknown:
        raise StoreError(f"unknown alert filter(s): {', '.join(sorted(unknown))}")
    a = t.alerts
    # one alert per event: the primary record (incidents/events.py)
    conds: list[Any] = [a.c.incident_id == incident_id, a.c.event_of.is_(None)]
    for k in ("family", "source_ip", "rule_id"):
        if k in filters:
            conds.append(a.c[k] == str(filters[k]))
    if "internal" in filters:
        conds.append(a.c.internal == (1 if filters["internal"] else 0))
    if "since" in filters:
        conds.append(a.c.ts >= _epoch_filter(filters["since"]))
    if "until" in filters:
        conds.append(a.c.ts < _epoch_filter(filters["until"]))
    if "q" in filters:
        conds.append(a.c.url.contains(str(filters["q"]), autoescape=True))
    return conds


def count_alerts(store: Store, incident_id: int, filters: dict[str, Any] | None = None) -> int:
    """How many alerts match the filters (the expensive half of an alert page)."""
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count())
                                .where(*alert_conditions(incident_id, filters))).scalar_one())


def list_alerts(store: Store, incident_id: int, page: int = 1, per_page: int = 50,
                filters: dict[str, Any] | None = None, total: int | None = None) -> AlertPage:
    """A page of the incident's alerts in time order (filters: see :func:`alert_conditions`).

    ``total``, when the caller already knows it (a cached count), saves counting again.
    """
    if page < 1 or not 1 <= per_page <= 1000:
        raise StoreError("page must be >= 1 and per_page between 1 and 1000")
    conds = alert_conditions(incident_id, filters)
    if total is None:
        total = count_alerts(store, incident_id, filters)
    a = t.alerts
    cols = [c for c in a.c if c.name not in ("akey", "job_id", "incident_id", "event_of")]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*cols).where(*conds).order_by(a.c.ts, a.c.id)
                            .limit(per_page).offset((page - 1) * per_page)).all()
    return AlertPage([alert_row(r._mapping) for r in rows], int(total), page, per_page)


def alert_row(mapping: Mapping[Any, Any]) -> AlertRow:
    """An ``alerts`` table row (without ``akey``, ``job_id``, ``incident_id``) as an
    :class:`AlertRow`: the epoch ``ts`` as an ISO ``timestamp``, ``internal`` as a bool."""
    d = dict(mapping)
    d["timestamp"] = iso(d.pop("ts"))
    d["internal"] = bool(d["internal"])
    return cast(AlertRow, d)
