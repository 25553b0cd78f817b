"""Fast reads for the JSON API under load: a one-query data version, whole responses cached
under it, and alert pages found by keyset from remembered positions.

Why: with 50 clients polling, each API call used to cost a dozen small queries (the version
check alone was five) and deep alert pages made SQLite step through every skipped row. Now:

* :meth:`ReadCache.version` is **one** statement of scalar subqueries: the newest alert and
  audit-trail ids (every change of an incident — tasks and their notes, networks, closing,
  ingests, exports — writes an audit entry; alerts are only ever added), the incident's
  ingest-job progress and task times, and the store's own version counter of the incident
  (:meth:`~wormsign.incidents.store.Store.incident_version`: alerts, networks, blocklist).
  Equal versions mean equal answers.
* :meth:`ReadCache.response` keeps the JSON bytes of GET answers per (request, version) in a
  byte-bounded LRU: a repeated call costs the version query and a dictionary look-up.
* :meth:`ReadCache.alert_page` pages alerts in (time, family, id) order — the order of the
  store's ``ix_alerts_time`` index, so no sort is needed. Each page served remembers the key
  of its first row; a later page starts from the nearest remembered key at or before it
  (``WHERE (ts, family, id) >= key``) instead of skipping all rows from the start. Keys are
  kept per (incident, filters, version), only while the matching alerts have no missing
  times (row-value comparison does not order NULLs the same way everywhere).
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from wormsign.incidents import schema as t
from wormsign.incidents.query import AlertPageDoc, alert_conditions, alert_row, count_alerts
from wormsign.incidents.store import Store

#: Bytes of cached responses kept (least recently used go first).
RESPONSE_BYTES = 64 * 1024 * 1024
#: Paging states (count and remembered keys) kept, one per incident, filters and version.
PAGERS = 256
#: Remembered keys per paging state.
KEYS = 4096
ALERT_COLUMNS = ("id", "ts", "source_ip", "internal", "family", "rule_family", "rule_id",
                 "rule_name", "severity", "url", "method", "status", "user_agent", "host",
                 "file_path", "line", "format")


def version_query(scoped_to_incident: bool) -> sa.Select[Any]:
    """One statement whose row changes whenever an answer about the incident given as the
    ``iid`` parameter (or about any incident, unscoped) may change. Built once: building a
    statement costs ten times more than running this one."""
    a, x, j, k, i = t.alerts, t.actions, t.jobs, t.tasks, t.incidents

    def scoped(q: sa.Select[Any], table: sa.Table) -> sa.ScalarSelect[Any]:
        if scoped_to_incident and table is not i:
            q = q.where(table.c.incident_id == sa.bindparam("iid", type_=sa.BigInteger))
        return q.scalar_subquery()

    progress = (j.c.position + j.c.added + j.c.duplicates + j.c.skipped
                + sa.func.length(j.c.status))
    return sa.select(
        sa.select(sa.func.max(a.c.id)).scalar_subquery(),
        sa.select(sa.func.max(x.c.id)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(t.incidents).scalar_subquery(),
        scoped(sa.select(sa.func.count()).select_from(j), j),
        scoped(sa.select(sa.func.sum(progress)), j),
        scoped(sa.select(sa.func.count()).select_from(k), k),
        scoped(sa.select(sa.func.max(k.c.updated_at)), k),
        # The store's own counter of the incident (alerts, networks, blocklist).
        scoped(sa.select(sa.func.sum(i.c.version)).where(
            i.c.id == sa.bindparam("iid", type_=sa.BigInteger)), i) if scoped_to_incident
        else sa.select(sa.func.sum(i.c.version)).scalar_subquery(),
    )


_VERSION_ALL = version_query(False)
_VERSION_ONE = version_query(True)


@dataclass
class _Pager:
    """Paging state of one (incident, filters, version): the count and remembered keys."""

    total: int
    keyset: bool
    positions: list[int] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def nearest(self, offset: int) -> tuple[int, tuple[Any, ...] | None]:
        with self.lock:
            i = bisect.bisect_right(self.positions, offset) - 1
            return (self.positions[i], self.keys[i]) if i >= 0 else (0, None)

    def remember(self, offset: int, key: tuple[Any, ...]) -> None:
        with self.lock:
            i = bisect.bisect_left(self.positions, offset)
            if (i < len(self.positions) and self.positions[i] == offset) or \
                    len(self.positions) >= KEYS:
                return
            self.positions.insert(i, offset)
            self.keys.insert(i, key)


class ReadCache:
    """Versions, cached responses and alert paging over one store (thread-safe)."""

    def __init__(self, store: Store, max_bytes: int = RESPONSE_BYTES) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._responses: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._bytes = 0
        self._pagers: OrderedDict[tuple[Any, ...], _Pager] = OrderedDict()

    def version(self, incident_id: int | None) -> tuple[Any, ...]:
        with self.store.engine.connect() as conn:
            if incident_id is None:
                row = conn.execute(_VERSION_ALL).one()
            else:
                row = conn.execute(_VERSION_ONE, {"iid": incident_id}).one()
        return tuple(row)

    def clear(self) -> None:
        with self._lock:
            self._responses.clear()
            self._pagers.clear()
            self._bytes = 0

    def response(self, key: tuple[Any, ...], compute: Callable[[], bytes]) -> bytes:
        """The cached bytes for ``key`` (which must hold the version), computed on a miss."""
        with self._lock:
            body = self._responses.get(key)
            if body is not None:
                self._responses.move_to_end(key)
                return body
        body = compute()
        if len(body) <= self.max_bytes // 8:
            with self._lock:
                if key not in self._responses:
                    self._responses[key] = body
                    self._bytes += len(body)
                while self._bytes > self.max_bytes:
                    _, old = self._responses.popitem(last=False)
                    self._bytes -= len(old)
        return body

    def _pager(self, incident_id: int, filters: dict[str, Any],
               version: tuple[Any, ...]) -> _Pager:
        key = (incident_id, tuple(sorted((k, str(v)) for k, v in filters.items())), version)
        with self._lock:
            pager = self._pagers.get(key)
            if pager is not None:
                self._pagers.move_to_end(key)
                return pager
        total = count_alerts(self.store, incident_id, filters)
        a = t.alerts
        with self.store.engine.connect() as conn:
            untimed = conn.execute(sa.select(a.c.id).where(
                *alert_conditions(incident_id, filters), a.c.ts.is_(None)).limit(1)).first()
        pager = _Pager(total=total, keyset=untimed is None)
        with self._lock:
            pager = self._pagers.setdefault(key, pager)
            while len(self._pagers) > PAGERS:
                self._pagers.popitem(last=False)
        return pager

    def alert_page(self, incident_id: int, page: int, per_page: int,
                   filters: dict[str, Any], version: tuple[Any, ...]) -> AlertPageDoc:
        """One page of alerts in (time, family, id) order, JSON-ready (as the API answers).

        ``filters`` as :func:`wormsign.incidents.query.alert_conditions` takes them (already
        validated by the caller); ``version`` from :meth:`version`.
        """
        pager = self._pager(incident_id, filters, version)
        offset = (page - 1) * per_page
        rows: list[Any] = []
        if offset < pager.total:
            rows = self._rows(incident_id, filters, pager, offset, per_page)
        items = [alert_row(r._mapping) for r in rows]
        return {"items": items, "total": pager.total, "page": page, "per_page": per_page,
                "pages": max(1, -(-pager.total // per_page))}

    def _rows(self, incident_id: int, filters: dict[str, Any], pager: _Pager, offset: int,
              per_page: int) -> list[Any]:
        a = t.alerts
        order = (a.c.ts, a.c.family, a.c.id)
        conds = alert_conditions(incident_id, {k: v for k, v in filters.items()
                                               if k != "family"})
        if "family" in filters:
            # Concatenated with '' so SQLite does not drop the constant column from the
            # ORDER BY, which would stop it from reading the index in order.
            conds.append(a.c.family.concat("") == str(filters["family"]))
        start, key = pager.nearest(offset) if pager.keyset else (0, None)
        if key is not None:
            conds.append(sa.tuple_(*order) >= sa.tuple_(*(sa.literal(v) for v in key)))
        ids = (sa.select(a.c.id).where(*conds).order_by(*order)
               .limit(per_page).offset(offset - start))
        cols = [a.c[name] for name in ALERT_COLUMNS]
        q = sa.select(*cols).where(a.c.id.in_(ids.scalar_subquery())).order_by(*order)
        with self.store.engine.connect() as conn:
            rows = list(conn.execute(q).all())
        if rows and pager.keyset:
            first = rows[0]
            pager.remember(offset, (first.ts, first.family, first.id))
        return rows


__all__ = ["ALERT_COLUMNS", "ReadCache", "version_query"]
