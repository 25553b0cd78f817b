"""The incident store as the watcher's checkpoint: alerts and read offsets in one transaction.

:class:`StoreCheckpoint` writes each step's alerts exactly as ``incident ingest`` does (the
same rows, natural keys and ``INSERT ... ON CONFLICT DO NOTHING``, the same rollups) and, in
the same transaction, the follower's offsets and held requests as the JSON ``message`` of one
ingest-job row of kind ``watch`` per set of watched paths (the *sensor*). A watcher killed at
any point resumes from offsets that match the alerts stored: nothing lost, nothing doubled.

:class:`StoreSink` adds what an incident needs while the watch runs: its blocklist refreshed
and the playbooks of new families applied, at most every ``refresh_every`` seconds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from wormsign.detect.alert import Alert
from wormsign.errors import WormsignError
from wormsign.incidents import schema as t
from wormsign.incidents.ingest import ALERT_COLUMNS, alert_row
from wormsign.incidents.rollup import add_batch, max_alert_id
from wormsign.incidents.store import Store, now_s
from wormsign.watch.checkpoint import Offsets

REFRESH_EVERY = 5.0


def sensor_name(paths: Sequence[str]) -> str:
    """The identity of a watcher: the absolute paths it follows."""
    return "watch:" + "\x1f".join(sorted(os.path.abspath(p) for p in paths))


class StoreCheckpoint:
    """A :class:`~wormsign.watch.checkpoint.Checkpoint` in an incident store."""

    def __init__(self, store: Store, incident_id: int, sensor: str) -> None:
        store.require_open(incident_id)
        self.store = store
        self.incident_id = incident_id
        self.cls = store.classifier(incident_id)
        j = t.jobs
        with store.begin() as conn:
            row = conn.execute(sa.select(j.c.id).where(
                j.c.incident_id == incident_id, j.c.path == sensor, j.c.kind == "watch")
                .order_by(j.c.id.desc())).first()
            if row is not None:
                self.job_id = int(row[0])
                conn.execute(j.update().where(j.c.id == self.job_id).values(status="running"))
            else:
                self.job_id = int(conn.execute(j.insert().values(
                    incident_id=incident_id, path=sensor, fingerprint="watch", kind="watch",
                    status="running", started_at=now_s(), message="{}").returning(j.c.id))
                    .scalar_one())

    def load(self) -> dict[str, dict[str, Any]]:
        with self.store.engine.connect() as conn:
            raw = conn.execute(sa.select(t.jobs.c.message)
                               .where(t.jobs.c.id == self.job_id)).scalar()
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def commit(self, alerts: Sequence[Alert], offsets: Offsets) -> int:
        rows = [alert_row(self.incident_id, self.job_id, a, self.cls) for a in alerts]
        lines = sum(int(o.get("line", 0)) for o in offsets.values()
                    if o.get("state") in ("live", "draining"))
        added = 0
        with self.store.begin() as conn:
            if rows:
                after = max_alert_id(conn)
                added = self.store.insert_rows_ignore(conn, t.alerts, ALERT_COLUMNS, rows)
                if added:
                    add_batch(conn, self.store.dialect, self.store.insert, self.incident_id,
                              self.job_id, after)
            j = t.jobs
            conn.execute(j.update().where(j.c.id == self.job_id).values(
                message=json.dumps(offsets, separators=(",", ":")), position=lines,
                added=j.c.added + added, duplicates=j.c.duplicates + (len(rows) - added)))
        return added

    def finish(self) -> None:
        with self.store.begin() as conn:
            conn.execute(t.jobs.update().where(t.jobs.c.id == self.job_id)
                         .values(status="stopped", finished_at=now_s()))


class StoreSink:
    """A store checkpoint plus blocklist and playbook upkeep.

    The upkeep runs in a background thread, so a blocklist of many sources never stalls
    the watch loop; it runs again no sooner than ``refresh_every`` seconds, or four times
    as long as it last took, after its previous run.
    """

    def __init__(self, store: Store, incident_id: int, sensor: str,
                 note: Callable[[str], None], refresh_every: float = REFRESH_EVERY) -> None:
        self.store = store
        self.incident_id = incident_id
        self.checkpoint = StoreCheckpoint(store, incident_id, sensor)
        self.note = note
        self.refresh_every = refresh_every
        self._unrefreshed = 0
        self._next = 0.0
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, db: str | None, incident_id: int, paths: Sequence[str],
             note: Callable[[str], None]) -> StoreSink:
        return cls(Store.open(db), incident_id, sensor_name(paths), note)

    def after_commit(self, added: int) -> None:
        """Start a blocklist refresh (and apply playbooks) when alerts were added and the
        last refresh is long enough ago."""
        self._unrefreshed += added
        busy = self._thread is not None and self._thread.is_alive()
        if self._unrefreshed and not busy and time.monotonic() >= self._next:
            self._unrefreshed = 0
            self._thread = threading.Thread(target=self.refresh, name="wormsign-blocklist",
                                            daemon=True)
            self._thread.start()

    def refresh(self) -> None:
        """Bring the blocklist and the playbook tasks up to date with the stored alerts."""
        from wormsign.incidents.blocklist import refresh
        from wormsign.incidents.playbook import apply_playbooks

        t0 = time.monotonic()
        try:
            refresh(self.store, self.incident_id)
            apply_playbooks(self.store, self.incident_id)
        except (WormsignError, sa.exc.SQLAlchemyError) as exc:
            self.note(f"blocklist refresh failed: {exc}")
        took = time.monotonic() - t0
        self._next = time.monotonic() + max(self.refresh_every, 4 * took)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._unrefreshed:
            self.refresh()
        self.checkpoint.finish()
        self.store.close()
