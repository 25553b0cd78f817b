"""Re-key stored alerts by content (see :mod:`wormsign.incidents.ingest`): the natural key was
a hash of the log file's path and line, so the same evidence read from a copy of a log, or
from its alerts JSON Lines under another path, was stored twice. Each alert gets the key the
current ingest gives it (event hash and occurrence within its log file, in line order); of
rows that turn out to be the same evidence the first is kept, and the rollups of the
incidents that lost rows are rebuilt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from array import array
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 10_000


def _new_keys(conn: sa.Connection, incident_id: int) -> tuple[array[int], array[int],
                                                              array[int]]:
    """(ids, new keys) of the rows to keep and the ids of duplicates, in one pass."""
    from wormsign.detect.alert import Alert
    from wormsign.incidents.ingest import Streams

    streams = Streams()
    seen: set[int] = set()
    ids, keys, dupes = array("q"), array("q"), array("q")
    rows = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(sa.text(
        "SELECT id, ts, source_ip, rule_id, url, method, format, file_path FROM alerts "
        "WHERE incident_id = :i ORDER BY file_path, line, id"), {"i": incident_id})
    for rid, ts, src, rule, url, method, fmt, fpath in rows:
        when = None if ts is None else datetime.fromtimestamp(int(ts), UTC)
        a = Alert(when, src, rule, rule, "", "", "", url, method, None, None, None, fpath, 0,
                  fmt)
        key = streams.key(a)
        if key in seen:
            dupes.append(int(rid))
        else:
            seen.add(key)
            ids.append(int(rid))
            keys.append(key)
    return ids, keys, dupes


def _rebuild_rollups(conn: sa.Connection, incident_id: int) -> None:
    p = {"i": incident_id}
    conn.execute(sa.text("DELETE FROM alert_minutes WHERE incident_id = :i"), p)
    conn.execute(sa.text("DELETE FROM source_families WHERE incident_id = :i"), p)
    conn.execute(sa.text(
        "INSERT INTO alert_minutes (incident_id, minute, family, alerts) "
        "SELECT incident_id, (ts / 60) * 60, family, count(*) FROM alerts "
        "WHERE incident_id = :i AND ts IS NOT NULL "
        "GROUP BY incident_id, (ts / 60) * 60, family"), p)
    conn.execute(sa.text(
        "INSERT INTO source_families (incident_id, source_ip, family, internal, alerts, "
        "first_seen, last_seen) SELECT incident_id, source_ip, family, max(internal), "
        "count(*), min(ts), max(ts) FROM alerts WHERE incident_id = :i "
        "GROUP BY incident_id, source_ip, family"), p)


def upgrade() -> None:
    conn = op.get_bind()
    incidents = [int(r[0]) for r in conn.execute(sa.text(
        "SELECT DISTINCT incident_id FROM alerts"))]
    for iid in incidents:
        ids, keys, dupes = _new_keys(conn, iid)
        for i in range(0, len(dupes), _BATCH):
            conn.execute(sa.text("DELETE FROM alerts WHERE id = :id"),
                         [{"id": d} for d in dupes[i:i + _BATCH]])
        # Park every key out of the way first (negated ids cannot collide with each other
        # or with a 64-bit hash in practice), then write the content keys.
        conn.execute(sa.text("UPDATE alerts SET akey = -id - 1 WHERE incident_id = :i"),
                     {"i": iid})
        for i in range(0, len(ids), _BATCH):
            conn.execute(sa.text("UPDATE alerts SET akey = :k WHERE id = :id"),
                         [{"k": k, "id": r} for r, k in zip(ids[i:i + _BATCH],
                                                            keys[i:i + _BATCH], strict=True)])
        if dupes:
            _rebuild_rollups(conn, iid)
            conn.execute(sa.text("UPDATE incidents SET version = version + 1 WHERE id = :i"),
                         {"i": iid})


def downgrade() -> None:
    """Content keys stay: they are valid keys for the older code too (it only compares
    them for equality)."""
