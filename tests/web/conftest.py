"""Fixtures: a store with evidence, the app over it, a live server, an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from web.helpers import XSS, LiveServer, alert, mixed_alerts, write_alerts
from wormsign.incidents import Store, ingest_paths
from wormsign.web import Settings, create_app

TOKEN = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    d = tmp_path_factory.mktemp("store")
    with Store.open(f"sqlite:///{d / 'web.db'}") as s:
        yield s


@pytest.fixture(scope="module")
def evidence(store: Store, tmp_path_factory: pytest.TempPathFactory) -> int:
    """An incident with 600 mixed alerts and one whose user agent is a script tag."""
    d = tmp_path_factory.mktemp("evidence")
    iid = store.create_incident("web farm <b>outbreak</b>")
    alerts = [*mixed_alerts(600), alert(600, "203.0.113.66", "nimda", user_agent=XSS)]
    ingest_paths(store, iid, [write_alerts(d / "alerts.jsonl", alerts)])
    return iid


def _app_settings(tmp: Path, **kw: object) -> Settings:
    base: dict[str, object] = {"upload_dir": str(tmp / "uploads"),
                               "max_upload_bytes": 4 * 1024 * 1024,
                               "allowed_hosts": ("127.0.0.1", "localhost", "testserver")}
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server(store: Store, evidence: int,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    app = create_app(_app_settings(tmp_path_factory.mktemp("app")), store=store)
    with LiveServer(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def token_server(store: Store, evidence: int,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    app = create_app(_app_settings(tmp_path_factory.mktemp("app"), token=TOKEN), store=store)
    with LiveServer(app) as srv:
        yield srv


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
