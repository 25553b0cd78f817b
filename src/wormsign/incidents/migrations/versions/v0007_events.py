"""One event across sensors (issue #12.5): an alert row is a piece of evidence, and the
records of one request in several logs (access and error log, Zeek http.log, EVE, pcap)
are one event. ``alerts.event_of`` is NULL for an event's primary record (so every row
stored before this revision is its own event) and the ``akey`` of the primary for the
others; counts and rollups count primary rows only (:mod:`wormsign.incidents.events`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("event_of", sa.BigInteger, nullable=True))
    op.create_index("ix_alerts_event", "alerts", ["incident_id", "event_of"])


def downgrade() -> None:
    op.drop_index("ix_alerts_event", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("event_of")
