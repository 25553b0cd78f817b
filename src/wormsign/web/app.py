"""The FastAPI application: settings, middleware, error handling, static files.

:func:`create_app` builds the app over one incident store; routes live in :mod:`.api`
(JSON under ``/api/``) and :mod:`.pages` (server-rendered HTML).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match, Mount

from wormsign import __version__
from wormsign.errors import ConfigError, InputError, StoreError, WormsignError
from wormsign.incidents import Store
from wormsign.incidents.dashboard import Dashboard
from wormsign.web import api, feed, pages, people, taxii
from wormsign.web.fastread import ReadCache
from wormsign.web.feed import FormatError
from wormsign.web.jobs import JobManager, UploadJob
from wormsign.web.pages import render, render_error
from wormsign.web.roles import enforce
from wormsign.web.security import (
    Access,
    BodyLimit,
    BodyTooLarge,
    Forbidden,
    HostCheck,
    SecurityHeaders,
    Unauthorized,
    require_auth,
    token_problem,
)
from wormsign.web.state import (
    DEFAULT_MAX_UPLOAD,
    LOOPBACK_HOSTS,
    Settings,
    State,
    error_json,
    state_of,
    status_for,
)

HERE = Path(__file__).parent


def _is_api(request: Request) -> bool:
    """Machine clients (the JSON API, TAXII) get status codes, never the login page."""
    path = request.url.path
    return path.startswith(("/api/", "/taxii2/")) or path == "/openapi.json"


def _error(request: Request, status: int, message: str,
           headers: dict[str, str] | None = None) -> Response:
    if _is_api(request):
        return error_json(status, message, headers)
    return render_error(request, status, message, headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods the request's path answers (for the ``Allow`` header of a 405), found by
    asking every route whether it fully matches the path with each method."""
    methods: set[str] = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        for route in request.app.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                # Static files (a mount) only answer GET and HEAD.
                methods.update(("GET",) if isinstance(route, Mount) else (method,))
                break
    if "GET" in methods or not methods:
        methods.update(("GET", "HEAD"))
    return sorted(methods)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(allowed_methods(request))}
        return _error(request, exc.status_code, str(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error(request, 422, _validation_message(exc))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        return _error(request, status_for(exc), str(exc))

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(WormsignError)
    async def wormsign_error(request: Request, exc: WormsignError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(FormatError)
    async def format_error(request: Request, exc: FormatError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, str(exc))

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> Response:
        if _is_api(request):
            return error_json(401, "authentication required: log in or send "
                              "'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"})
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> Response:
        return _error(request, 413, f"request body larger than the limit of {exc.limit} bytes")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        return _error(request, 500, "internal server error")


def _describe(app: FastAPI) -> None:
    """``/openapi.json`` and ``/docs`` (a plain list of the operations), token required."""

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_auth)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(require_auth)])
    def docs(request: Request) -> Response:
        ops = [{"method": m.upper(), "path": p, "summary": op.get("summary", "")}
               for p, item in app.openapi()["paths"].items() for m, op in item.items()]
        return render(request, "docs.html", ops=ops)


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """The dashboard over ``store`` (or the store at ``settings.db``)."""
    settings = settings or Settings()
    if settings.token is not None and (problem := token_problem(settings.token)):
        raise ConfigError(problem)
    own_store = store is None
    store = Store.open(settings.db) if store is None else store
    dashboard = Dashboard(store)
    upload_dir = Path(settings.upload_dir or tempfile.mkdtemp(prefix="wormsign-uploads-"))

    def warm(job: UploadJob) -> None:
        # Compute the incident page's aggregates now, so the next page view is fast.
        if job.phase == "done":
            with contextlib.suppress(WormsignError):
                dashboard.incident(job.incident_id)

    jobs = JobManager(store, upload_dir, on_done=warm, max_bytes=settings.max_upload_bytes)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        def prewarm() -> None:
            try:
                dashboard.overview()
                for inc in store.list_incidents(include_closed=False)[:5]:
                    dashboard.incident(inc.id)
            except WormsignError:
                pass
        threading.Thread(target=prewarm, name="dashboard-prewarm", daemon=True).start()
        notifier = None
        if settings.notify_interval:
            from wormsign.incidents.notify import Notifier
            notifier = Notifier(store, settings.notify_interval).start()
        yield
        if notifier is not None:
            notifier.stop()
        jobs.wait(timeout=30)
        if settings.upload_dir is None:
            shutil.rmtree(upload_dir, ignore_errors=True)
        if own_store:
            store.close()

    # The API description is served by routes that need the token (see _describe).
    # Every route passes the role check of wormsign.web.roles (it also sets the actor).
    app = FastAPI(title="wormsign dashboard", version=__version__, lifespan=lifespan,
                  dependencies=[Depends(enforce)],
                  docs_url=None, redoc_url=None, openapi_url=None,
                  description="Incidents, alerts and playbook tasks of the wormsign incident "
                              "store. Errors have one shape: "
                              '`{"error": {"status": int, "message": str}}`.')
    secret = settings.secret_key or secrets.token_urlsafe(32)
    access = Access(settings.token, secret, settings.session_max_age, store=store)
    app.state.wormsign = State(settings, store, dashboard, jobs, own_store, access,
                               ReadCache(store))
    _install_handlers(app)
    _describe(app)

    app.include_router(api.router)
    app.include_router(people.router)
    app.include_router(feed.router)
    app.include_router(taxii.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[("wormsign.web", "static")]), name="static")

    # Middleware: the last added runs first.
    app.add_middleware(SessionMiddleware,
                       secret_key=secret,
                       session_cookie="wormsign_session", max_age=settings.session_max_age,
                       same_site="strict", https_only=settings.https_only)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    if settings.allowed_hosts:
        app.add_middleware(HostCheck, allowed_hosts=list(settings.allowed_hosts))
    app.add_middleware(SecurityHeaders)
    return app


__all__ = ["DEFAULT_MAX_UPLOAD", "LOOPBACK_HOSTS", "Settings", "State", "create_app",
           "error_json", "state_of", "status_for"]


