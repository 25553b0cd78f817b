"""Watch read offsets, blocklist feed tokens, an incident data version, task notes as rows,
and ingest-job liveness (pid, host, heartbeat).

Existing notes (one text column, one ``[YYYY-MM-DD HH:MM] text`` line per note) become one
``task_notes`` row per line, with the time of its stamp when it has one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import calendar
import re
import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d)\] ?(.*)$", re.S)


def _incident_fk() -> sa.Column[int]:
    return sa.Column("incident_id", sa.BigInteger,
                     sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)


def _note_rows(task_id: int, notes: str, updated_at: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for line in notes.splitlines():
        if not line.strip():
            continue
        at, text = updated_at, line
        m = _STAMP.match(line)
        if m is not None:
            at = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M"))
            text = m.group(2)
        rows.append({"task_id": task_id, "at": at, "text": text})
    return rows


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): a batch rebuild of ``incidents`` would drop the
    # table, and with SQLite's foreign keys on that cascades to every child row.
    op.add_column("incidents", sa.Column("version", sa.BigInteger, nullable=False,
                                         server_default="0"))
    op.add_column("ingest_jobs", sa.Column("pid", sa.Integer, nullable=True))
    op.add_column("ingest_jobs", sa.Column("hostname", sa.String(255), nullable=True))
    op.add_column("ingest_jobs", sa.Column("heartbeat_at", sa.BigInteger, nullable=True))
    conn = op.get_bind()
    rows: list[dict[str, object]] = []
    for tid, text, updated in conn.execute(sa.text(
            "SELECT id, notes, updated_at FROM tasks WHERE notes <> '' ORDER BY id")):
        rows.extend(_note_rows(int(tid), str(text), int(updated)))
    # Nothing references ``tasks`` yet, so rebuilding it (SQLite) loses nothing.
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("notes")
    notes = op.create_table(
        "task_notes",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.BigInteger,
                  sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_task_notes_task", "task_notes", ["task_id", "id"])
    if rows:
        op.bulk_insert(notes, rows)
    op.create_table(
        "watch_offsets",
        _incident_fk(),
        sa.Column("file_key", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("device", sa.BigInteger, nullable=False),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("head", sa.String(128), nullable=False),
        sa.Column("occurrences", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "file_key", name="pk_watch_offsets"),
    )
    op.create_table(
        "feed_tokens",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        _incident_fk(),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("token_sha256", name="uq_feed_tokens_hash"),
    )
    op.create_index("ix_feed_tokens_incident", "feed_tokens", ["incident_id"])


def downgrade() -> None:
    op.drop_table("feed_tokens")
    op.drop_table("watch_offsets")
    op.drop_table("task_notes")
    op.add_column("tasks", sa.Column("notes", sa.Text, nullable=False, server_default=""))
    for col in ("heartbeat_at", "hostname", "pid"):
        op.drop_column("ingest_jobs", col)
    op.drop_column("incidents", "version")
