"""Rollup tables (alerts per minute and family; per source and family), backfilled from
the alerts already stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_minutes",
        sa.Column("incident_id", sa.BigInteger,
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("minute", sa.BigInteger, nullable=False),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("alerts", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "minute", "family", name="pk_alert_minutes"),
    )
    op.create_table(
        "source_families",
        sa.Column("incident_id", sa.BigInteger,
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_ip", sa.String(64), nullable=False),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("internal", sa.SmallInteger, nullable=False),
        sa.Column("alerts", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=True),
        sa.Column("last_seen", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "source_ip", "family",
                                name="pk_source_families"),
    )
    op.execute(
        "INSERT INTO alert_minutes (incident_id, minute, family, alerts) "
        "SELECT incident_id, (ts / 60) * 60, family, count(*) FROM alerts "
        "WHERE ts IS NOT NULL GROUP BY incident_id, (ts / 60) * 60, family")
    op.execute(
        "INSERT INTO source_families (incident_id, source_ip, family, internal, alerts, "
        "first_seen, last_seen) SELECT incident_id, source_ip, family, max(internal), "
        "count(*), min(ts), max(ts) FROM alerts GROUP BY incident_id, source_ip, family")


def downgrade() -> None:
    op.drop_table("source_families")
    op.drop_table("alert_minutes")
