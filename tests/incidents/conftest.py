"""Store fixtures: every store test runs on SQLite and, when WORMSIGN_TEST_PG_URL is set, on
PostgreSQL in a schema of its own (dropped afterwards), so runs are independent."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from wormsign.incidents import Store
from wormsign.incidents.store import resolve_url


def _pg_url() -> str | None:
    url = os.environ.get("WORMSIGN_TEST_PG_URL")
    return resolve_url(url) if url else None  # postgresql:// -> postgresql+psycopg://


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'incidents.db'}"
        return
    base = _pg_url()
    if base is None:
        pytest.skip("WORMSIGN_TEST_PG_URL is not set")
    schema = "ws_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()
