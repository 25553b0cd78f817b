"""Stored forecasts of an incident's outbreak (``wormsign incident forecast``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "forecasts",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger,
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_index("ix_forecasts_incident", "forecasts", ["incident_id", "family", "id"])


def downgrade() -> None:
    op.drop_index("ix_forecasts_incident", table_name="forecasts")
    op.drop_table("forecasts")
