"""The Alembic migrations build exactly the schema the SQLAlchemy metadata declares.

A store migrated to head is compared with :data:`wormsign.incidents.schema.metadata` by
Alembic's autogenerate (:func:`alembic.autogenerate.compare_metadata`, which ``alembic
revision --autogenerate`` uses): tables, columns, types, nullability, indexes, unique and
foreign-key constraints. Any difference means a migration is missing or the metadata drifted.
Runs on SQLite, and on PostgreSQL when ``WORMSIGN_TEST_PG_URL`` is set.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from wormsign.incidents import Store
from wormsign.incidents.schema import metadata


def _differences(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "compare_server_default": False})
        diffs: list[Any] = compare_metadata(ctx, metadata)
    # alembic's own bookkeeping table is not part of the metadata
    return [d for d in diffs
            if not (isinstance(d, tuple) and d[0] == "remove_table"
                    and d[1].name == "alembic_version")]


def test_migrated_store_has_no_autogenerate_differences(store: Store) -> None:
    diffs = _differences(store)
    assert diffs == [], "migrations and schema.py differ:\n" + "\n".join(map(repr, diffs))


def test_the_comparison_notices_drift(store: Store) -> None:
    """Not vacuous: a column or index the migrations never made shows up as a difference."""
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX IF EXISTS ix_alerts_host"))
        conn.execute(sa.text("ALTER TABLE incidents ADD COLUMN stray INTEGER"))
    kinds = {d[0] for d in _differences(store) if isinstance(d, tuple)}
    assert {"remove_column", "add_index"} <= kinds
