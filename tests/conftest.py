"""Shared fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wormsign.detect.hscache import CACHE_ENV
from wormsign.logs.synth import write_sample

# Compiled rule databases go to a folder of this test run, never to the user's cache (the
# commands the tests start inherit it).
_CACHE = tempfile.mkdtemp(prefix="wormsign-test-cache-")
os.environ[CACHE_ENV] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sample")
    write_sample(d, background=3000, seed=7)
    return d


def _pg_url() -> str | None:
    from wormsign.incidents.store import resolve_url

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
    import sqlalchemy as sa

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
