"""Store fixtures: every store test runs on SQLite and, when WORMSIGN_TEST_PG_URL is set, on
PostgreSQL in a schema of its own (dropped afterwards), so runs are independent (``store_url``
is in tests/conftest.py, shared with the watcher's tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wormsign.incidents import Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()
