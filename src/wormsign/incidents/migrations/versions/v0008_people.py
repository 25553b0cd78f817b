"""People and notifications: users, per-user API tokens, the actor of every action (and of
every change of people), webhook and apprise targets with their retry queue.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("actor", sa.String(128), nullable=True))
    op.create_table(
        "users",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("disabled_at", sa.BigInteger, nullable=True),
        sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "user_tokens",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger,
                  sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("token_sha256", name="uq_user_tokens_hash"),
    )
    op.create_index("ix_user_tokens_user", "user_tokens", ["user_id"])
    op.create_table(
        "user_events",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "notify_targets",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.String(200), nullable=False),
        sa.Column("secret", sa.String(128), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("disabled_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "notifications",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("target_id", sa.BigInteger,
                  sa.ForeignKey("notify_targets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("incident_id", sa.BigInteger,
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("delivered_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("target_id", "incident_id", "event", "key",
                            name="uq_notifications"),
    )
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notify_targets")
    op.drop_table("user_events")
    op.drop_index("ix_user_tokens_user", table_name="user_tokens")
    op.drop_table("user_tokens")
    op.drop_table("users")
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("actor")
