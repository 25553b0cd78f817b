"""Alembic environment: migrate the connection handed over by :class:`~wormsign.incidents.Store`."""

from __future__ import annotations

from alembic import context

from wormsign.incidents.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic command line
    raise RuntimeError("wormsign migrations run from Store.open(), with a connection")

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
