"""What every route shares: the dashboard settings, the per-app state, the error shape.

Kept below :mod:`wormsign.web.app` (which assembles the app and includes the routers) and the
routers (:mod:`~wormsign.web.api`, :mod:`~wormsign.web.pages`, :mod:`~wormsign.web.feed`),
so a router can reach the state without importing the module that imports it. The names
stay importable from ``wormsign.web.app``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from wormsign.errors import ConflictError, NotFoundError, StoreError
from wormsign.incidents import Store
from wormsign.incidents.dashboard import Dashboard
from wormsign.web.fastread import ReadCache
from wormsign.web.jobs import JobManager
from wormsign.web.security import Access

DEFAULT_MAX_UPLOAD = 256 * 1024 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Settings:
    """How the dashboard runs. ``token`` is required off loopback (``wormsign serve``)."""

    db: str | None = None
    token: str | None = None
    secret_key: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    upload_dir: str | None = None
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS
    https_only: bool = False
    session_max_age: int = 12 * 3600
    #: Seconds between passes of the notification queue (None: the server sends none).
    notify_interval: float | None = 30.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    """What the routes share: the store, its dashboard queries, the upload jobs, who may
    come in."""

    settings: Settings
    store: Store
    dashboard: Dashboard
    jobs: JobManager
    own_store: bool
    access: Access
    reads: ReadCache


def state_of(request: Request) -> State:
    st: State = request.app.state.wormsign
    return st


def status_for(exc: StoreError) -> int:
    """HTTP status of a store error, by its type: 404 for a missing record, 409 for a
    conflict with the record's state (a closed incident), 400 for anything else."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    return 400


def error_json(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape of the API."""
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status,
                        headers=headers)
