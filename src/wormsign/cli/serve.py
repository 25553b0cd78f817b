"""``wormsign serve``: the web dashboard over the incident store."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import sys

from wormsign.errors import ConfigError

#: Modules of the ``web`` extra that ``serve`` needs (import name: distribution).
WEB_MODULES = {"fastapi": "fastapi", "uvicorn": "uvicorn", "multipart": "python-multipart",
               "itsdangerous": "itsdangerous", "jinja2": "jinja2", "sqlalchemy": "sqlalchemy"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", help="web dashboard for incidents (FastAPI)",
        description="Serve the incident dashboard: open incidents, detections timeline, "
        "playbook, uploads scanned in the background, reports and exports, and a JSON API "
        "under /api/ (OpenAPI at /openapi.json). Binds 127.0.0.1 unless told otherwise; any "
        "other address needs an access token (--token or WORMSIGN_TOKEN).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--db", help="incident store: SQLite path or database URL "
                   "(default $WORMSIGN_DB or the per-user store)")
    p.add_argument("--token", help="access token (or $WORMSIGN_TOKEN); required off loopback; "
                   "at least 16 characters, 8 of them different, not a repeated piece")
    p.add_argument("--max-upload-mb", type=float, default=256.0, metavar="MB",
                   help="largest accepted upload, also once decompressed (default 256; "
                   "larger ones get 413, or fail while unpacking)")
    p.add_argument("--upload-dir", help="where uploads wait to be scanned (default: a "
                   "temporary folder)")
    p.add_argument("--secure-cookies", action="store_true",
                   help="mark the session cookie Secure (behind an HTTPS reverse proxy)")
    p.add_argument("--get", metavar="PATH", help="run one GET request through the app, print "
                   "the response body and exit (no port is opened)")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_web_extra() -> None:
    """A one-line hint (exit 2) instead of an import traceback without the ``web`` extra."""
    missing = [dist for mod, dist in WEB_MODULES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise ConfigError(f"wormsign serve needs {', '.join(missing)}: "
                          "pip install 'wormsign[web]'")


def check_bind(host: str, token: str | None, people: bool = False) -> None:
    """Refuse a guessable token, and a non-loopback address without a token unless the
    store has users (``people``: everyone logs in by name) (ConfigError: exit 2)."""
    from wormsign.web.security import token_problem

    if token is not None and (problem := token_problem(token)):
        raise ConfigError(f"{problem}; use e.g. `python -c 'import secrets; "
                          "print(secrets.token_urlsafe(24))'`")
    if not is_loopback(host) and not token and not people:
        raise ConfigError(f"refusing to serve on {host} without an access token: set --token "
                          "or WORMSIGN_TOKEN, add users (wormsign user add), or bind "
                          "127.0.0.1")


def _has_users(db: str | None) -> bool:
    """Whether the store has users, without creating or migrating anything (a refused
    serve leaves no trace)."""
    from pathlib import Path

    import sqlalchemy as sa

    from wormsign.incidents import Store
    from wormsign.incidents.store import resolve_url
    from wormsign.incidents.users import has_users

    url = resolve_url(db)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return False
    store = Store.open(url, migrate=False)
    try:
        return has_users(store)
    except sa.exc.SQLAlchemyError:
        return False  # no users table yet
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    require_web_extra()
    from wormsign.web.app import LOOPBACK_HOSTS, Settings, create_app

    # An empty $WORMSIGN_TOKEN counts as unset; an empty --token is refused.
    token = args.token if args.token is not None else os.environ.get("WORMSIGN_TOKEN") or None
    check_bind(args.host, token, people=not is_loopback(args.host) and not token
               and _has_users(args.db))
    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, not {args.port}")
    if args.max_upload_mb <= 0:
        raise ConfigError("--max-upload-mb must be positive")
    # Session cookies are signed with $WORMSIGN_SECRET_KEY when set, else with a random key
    # per process; the sessions themselves live in the process (a restart logs everyone out).
    settings = Settings(db=args.db, token=token, upload_dir=args.upload_dir,
                        secret_key=os.environ.get("WORMSIGN_SECRET_KEY") or None,
                        https_only=args.secure_cookies,
                        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                        allowed_hosts=LOOPBACK_HOSTS if is_loopback(args.host) else None)
    app = create_app(settings)
    from wormsign.cli.access import authorize
    authorize(app.state.wormsign.store, "serve")
    if args.get:
        return _get(app, args.get, token)
    import uvicorn

    shown = f"[{args.host}]" if ":" in args.host else args.host
    store_url = app.state.wormsign.store.url
    print(f"wormsign: dashboard on http://{shown}:{args.port}/ (store {store_url})",
          file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, ws="none",
                server_header=False, proxy_headers=False)
    return 0


def _get(app: object, path: str, token: str | None) -> int:
    import anyio
    import httpx

    async def fetch() -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.get(path, headers=headers)

    resp = anyio.run(fetch)
    sys.stdout.write(resp.text)
    if not resp.text.endswith("\n"):
        sys.stdout.write("\n")
    return 0 if resp.status_code < 400 else 1
