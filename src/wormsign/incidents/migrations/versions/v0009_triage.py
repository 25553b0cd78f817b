"""Triage marks, suppression rules, the enrichment cache and the TLP of each incident.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger,
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("rule_id", sa.String(500), nullable=True),
        sa.Column("family", sa.String(500), nullable=True),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
        sa.UniqueConstraint("incident_id", "key", name="uq_suppressions_key"),
    )
    op.create_table(
        "triage_marks",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger,
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("target_kind", sa.String(8), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_triage_marks_target", "triage_marks",
                    ["incident_id", "target_kind", "target", "id"])
    op.create_table(
        "enrichment",
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("country", sa.String(8), nullable=True),
        sa.Column("asn", sa.BigInteger, nullable=True),
        sa.Column("as_org", sa.Text, nullable=True),
        sa.Column("rdns", sa.Text, nullable=True),
        sa.Column("db", sa.String(255), nullable=False, server_default=""),
        sa.Column("looked_up_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sharing",
        sa.Column("incident_id", sa.BigInteger,
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("sharing")
    op.drop_table("enrichment")
    op.drop_index("ix_triage_marks_target", table_name="triage_marks")
    op.drop_table("triage_marks")
    op.drop_table("suppressions")
