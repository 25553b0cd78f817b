"""Initial incident store: incidents, networks, ingest jobs, alerts, findings, tasks,
blocklist, actions.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _incident_fk() -> sa.Column[int]:
    return sa.Column("incident_id", sa.BigInteger,
                     sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("closed_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "networks",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        _incident_fk(),
        sa.Column("cidr", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.UniqueConstraint("incident_id", "cidr", "kind", name="uq_networks"),
    )
    op.create_table(
        "ingest_jobs",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        _incident_fk(),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("added", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("skipped", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
    )
    op.create_index("ix_jobs_incident_path", "ingest_jobs", ["incident_id", "path"])
    op.create_table(
        "alerts",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        _incident_fk(),
        sa.Column("akey", sa.BigInteger, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=True),
        sa.Column("source_ip", sa.String(64), nullable=False),
        sa.Column("internal", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("rule_family", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("rule_name", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("user_agent", sa.Text, nullable=True),
        sa.Column("host", sa.Text, nullable=True),
        sa.Column("file_path", sa.Text, nullable=False),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("job_id", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("incident_id", "akey", name="uq_alerts_key"),
    )
    op.create_index("ix_alerts_source", "alerts",
                    ["incident_id", "source_ip", "family", "internal", "ts"])
    op.create_index("ix_alerts_time", "alerts", ["incident_id", "ts", "family"])
    op.create_table(
        "findings",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        _incident_fk(),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("exposure", sa.String(32), nullable=True),
        sa.Column("vuln_id", sa.String(64), nullable=False),
        sa.Column("aliases", sa.Text, nullable=False, server_default="[]"),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False, server_default="[]"),
        sa.Column("fix", sa.Text, nullable=True),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("incident_id", "host", "vuln_id", name="uq_findings"),
    )
    op.create_table(
        "tasks",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        _incident_fk(),
        sa.Column("playbook", sa.String(64), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("incident_id", "playbook", "key", name="uq_tasks"),
    )
    op.create_table(
        "blocklist",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        _incident_fk(),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=True),
        sa.Column("last_seen", sa.BigInteger, nullable=True),
        sa.Column("added_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("incident_id", "address", name="uq_blocklist"),
    )
    op.create_table(
        "actions",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        _incident_fk(),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_actions_incident", "actions", ["incident_id", "at"])


def downgrade() -> None:
    for name in ("actions", "blocklist", "tasks", "findings", "alerts", "ingest_jobs",
                 "networks", "incidents"):
        op.drop_table(name)
