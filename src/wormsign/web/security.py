"""Safety of the dashboard: who is asking, sessions, CSRF, body size limit, security headers.

* **Access.** Every request is answered for a :class:`Principal` (a name and a role), or not
  at all. Three modes, by what the store and the settings hold:

  - *people* (the store has users, :mod:`wormsign.incidents.users`): pages need a login
    (name and password, or a personal API token) and the API accepts that session or
    ``Authorization: Bearer <personal token>``; each person acts with their own role;
  - *single token* (``--token``, no users needed): the token, once, opens a session; the
    token's holder is ``token`` with the admin role. It also stays valid next to users, as
    the operator's key;
  - *open* (no token, no users): loopback only (enforced by ``wormsign serve``), with the
    ``Host`` header checked against loopback names (no DNS rebinding); the one person there
    is ``local``, an admin.

  The shared token must be hard to guess (:func:`token_problem`). Which role each route
  needs is decided in :mod:`wormsign.web.roles`.
* **Sessions are revocable.** The signed cookie only carries a random session id, the
  *generation* of the token it was opened with (an HMAC of the token) and, for a person, their
  user id and *epoch*; the server keeps the live session ids (:class:`Access`). Logging out
  forgets the id, so a copied cookie stops working; a new token (a restart with ``--token``,
  or :meth:`Access.rotate`) changes the generation and ends every session. A person's session
  is honoured only while the user is active and their epoch unchanged, read from the store
  on each request: disabling them, changing their password or revoking one of their tokens
  (from the dashboard or from ``wormsign user`` in another process) ends it at once.
  Sessions also end with the server process.
* **Guessing.** Passwords are checked with argon2 (slow on purpose), and after ten failed
  logins for one name within five minutes further tries for it get 429 until the window
  passes.
* **CSRF.** Each session holds a random token; every form carries it in a hidden ``csrf``
  field and every state-changing API call sent with the session cookie in an
  ``X-CSRF-Token`` header. Calls authenticated with the bearer token need none (browsers
  never add that header on their own).
* **Body limit.** Request bodies above the configured size are refused with 413, from the
  ``Content-Length`` header or while streaming.
* **Headers.** A Content-Security-Policy without inline scripts or styles,
  ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, no referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from wormsign.incidents import Store
    from wormsign.incidents.users import User

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class Forbidden(Exception):
    """A missing or wrong CSRF token (403)."""


class Unauthorized(Exception):
    """No valid session or bearer token (401; pages redirect to the login form)."""


class BodyTooLarge(HTTPException):
    """A request body above the limit (413); an HTTPException so that body parsing lets it
    through unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than the limit of {limit} bytes")
        self.limit = limit


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def bearer_of(request: Request) -> str | None:
    """The value of ``Authorization: Bearer <value>``, if the request has one."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


MIN_TOKEN = 16
MIN_DISTINCT = 8


def token_problem(token: str | None) -> str | None:
    """Why ``token`` is too easy to guess, or None when it will do.

    At least :data:`MIN_TOKEN` characters of which :data:`MIN_DISTINCT` distinct, not a
    repetition of a shorter piece (``abcabcabc...``) and not a run of consecutive characters
    (``abcdefgh...``, ``0123456789...``), no white space at either end.
    """
    if token is None or not token.strip():
        return "the access token is empty"
    if token != token.strip():
        return "the access token starts or ends with white space"
    if len(token) < MIN_TOKEN:
        return f"the access token must have at least {MIN_TOKEN} characters"
    if len(set(token)) < MIN_DISTINCT:
        return (f"the access token has too few different characters (at least {MIN_DISTINCT}"
                " needed)")
    n = len(token)
    if any(n % p == 0 and token == token[:p] * (n // p) for p in range(1, n // 2 + 1)):
        return "the access token repeats a shorter piece"
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(token)]
    if sum(1 for d in steps if abs(d) <= 1) >= 0.75 * len(steps):
        return "the access token is a run of consecutive characters"
    return None


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: ``name`` (a user, ``token`` or ``local``), their ``role``,
    how they came in (``session``, ``bearer`` or ``open``) and the user id of a person."""

    name: str
    role: str
    via: str
    user_id: int | None = None


TOKEN_HOLDER = "token"  # noqa: S105 (the actor name)
LOCAL = "local"
_PRINCIPAL = "wormsign_principal"


class Access:
    """Who may use the dashboard: the shared token, the store's users, and the live sessions.

    A session cookie is honoured only while its id is live here and it was opened with the
    current token's generation (and, for a person, while they are active in the same epoch).
    At most ``limit`` sessions are kept (the oldest go first).
    """

    def __init__(self, token: str | None, secret: str, max_age: int,
                 limit: int = 10_000, store: Store | None = None) -> None:
        self._secret = secret.encode()
        self.max_age = max_age
        self.limit = limit
        self.store = store
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[float, int | None]] = OrderedDict()
        self._failures: dict[str, list[float]] = {}
        self.token: str | None = None
        self.generation = ""
        self.rotate(token)

    def rotate(self, token: str | None) -> None:
        """Use a new token: every session opened with the old one ends."""
        with self._lock:
            self.token = token or None
            self.generation = hmac.new(self._secret, (token or "").encode(),
                                       hashlib.sha256).hexdigest()[:32]
            self._sessions.clear()

    def has_users(self) -> bool:
        """Whether the store has users (then people log in by name)."""
        if self.store is None:
            return False
        from wormsign.incidents.users import has_users
        return has_users(self.store)

    def login_required(self) -> bool:
        """Whether anyone must log in at all (a token is set or the store has users)."""
        return bool(self.token) or self.has_users()

    def bearer_ok(self, request: Request) -> bool:
        """Whether the request carries ``Authorization: Bearer`` with the shared token or an
        active person's API token."""
        p = self.principal(request)
        return p is not None and p.via == "bearer"

    def _user_for_token(self, token: str | None) -> User | None:
        if self.store is None or not token:
            return None
        from wormsign.incidents.users import user_for_token
        return user_for_token(self.store, token)

    def _live_sid(self, request: Request) -> bool:
        sid = request.session.get("sid")
        if not isinstance(sid, str) or not same(request.session.get("gen"), self.generation):
            return False
        with self._lock:
            entry = self._sessions.get(sid)
            if entry is None:
                return False
            if entry[0] < time.time():
                del self._sessions[sid]
                return False
        return True

    def _session_principal(self, request: Request) -> Principal | None:
        if not self._live_sid(request):
            return None
        uid = request.session.get("uid")
        if uid is None:
            return Principal(TOKEN_HOLDER, "admin", "session") if self.token else None
        if self.store is None or not isinstance(uid, int):
            return None
        from wormsign.incidents.users import user_by_id
        user = user_by_id(self.store, uid)
        if user is None or not user.active or request.session.get("epoch") != user.epoch:
            return None
        return Principal(user.name, user.role, "session", user.id)

    def _resolve(self, request: Request) -> Principal | None:
        bearer = bearer_of(request)
        if bearer is not None:
            if self.token and same(bearer, self.token):
                return Principal(TOKEN_HOLDER, "admin", "bearer")
            user = self._user_for_token(bearer)
            if user is not None:
                return Principal(user.name, user.role, "bearer", user.id)
        found = self._session_principal(request)
        if found is not None:
            return found
        if not self.token and not self.has_users():
            return Principal(LOCAL, "admin", "open")
        return None

    def principal(self, request: Request) -> Principal | None:
        """Who the request acts for, or None (resolved once per request)."""
        state = request.scope.setdefault("state", {})
        if _PRINCIPAL not in state:
            state[_PRINCIPAL] = self._resolve(request)
        found: Principal | None = state[_PRINCIPAL]
        return found

    def session_ok(self, request: Request) -> bool:
        """Whether the request's session is a live login (shared token or a person)."""
        return self._session_principal(request) is not None

    def authenticated(self, request: Request) -> bool:
        """Open mode, a live session, or a valid bearer token."""
        return self.principal(request) is not None

    def check_login(self, name: str, secret: str) -> tuple[bool, User | None]:
        """A login form's answer: (accepted, the person or None for the token holder).
        With a name, ``secret`` is that user's password or one of their API tokens; without
        one, the shared token or a person's API token."""
        if name:
            if self.store is None:
                return False, None
            from wormsign.incidents.users import verify_password
            user = self._user_for_token(secret)
            if user is not None and user.name == name:
                return True, user
            user = verify_password(self.store, name, secret) if secret else None
            return user is not None, user
        if self.token and same(secret, self.token):
            return True, None
        user = self._user_for_token(secret)
        return user is not None, user

    #: Failed logins allowed per name and per client address within the window.
    MAX_FAILURES = 10
    FAILURE_WINDOW = 300.0

    def throttled(self, name: str) -> float:
        """Seconds until a password login for ``name`` may be tried again (0: now): after
        :data:`MAX_FAILURES` failures within :data:`FAILURE_WINDOW` seconds. Counted by
        name, not by address (behind a reverse proxy every client has the proxy's); tokens
        (256 random bits) need no throttle."""
        if not name:
            return 0.0
        now = time.time()
        key = name.lower()
        with self._lock:
            times = [t for t in self._failures.get(key, []) if t > now - self.FAILURE_WINDOW]
            self._failures[key] = times
            if len(times) >= self.MAX_FAILURES:
                return times[0] + self.FAILURE_WINDOW - now
        return 0.0

    def failed_login(self, name: str) -> None:
        """Count a failed password login for ``name``."""
        if not name:
            return
        with self._lock:
            self._failures.setdefault(name.lower(), []).append(time.time())
            while len(self._failures) > self.limit:
                self._failures.pop(next(iter(self._failures)))

    def login(self, request: Request, user: User | None = None) -> None:
        """Start a new session (a fresh id and CSRF token: no session fixation), for
        ``user`` or, with None, the token holder."""
        self.logout(request)
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = (time.time() + self.max_age,
                                   None if user is None else user.id)
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        request.session["sid"] = sid
        request.session["gen"] = self.generation
        if user is not None:
            request.session["uid"] = user.id
            request.session["epoch"] = user.epoch
        csrf_token(request)
        request.scope.setdefault("state", {}).pop(_PRINCIPAL, None)

    def logout(self, request: Request) -> None:
        """End the session: its id is forgotten, so a copy of the cookie is worthless."""
        sid = request.session.get("sid")
        if isinstance(sid, str):
            with self._lock:
                self._sessions.pop(sid, None)
        request.session.clear()
        request.scope.setdefault("state", {}).pop(_PRINCIPAL, None)

    def end_sessions_of(self, user_id: int) -> int:
        """Forget every live session of a person (the store's epoch ends them anyway, in
        every process; this frees them here at once). Returns how many there were."""
        with self._lock:
            gone = [sid for sid, (_, uid) in self._sessions.items() if uid == user_id]
            for sid in gone:
                del self._sessions[sid]
        return len(gone)

    def live_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)


def access_of(request: Request) -> Access:
    access: Access = request.app.state.wormsign.access
    return access


def principal_of(request: Request) -> Principal | None:
    """Who the request acts for (None: nobody logged in)."""
    return access_of(request).principal(request)


def is_authenticated(request: Request) -> bool:
    """Open mode, a live session, or a valid bearer token."""
    return access_of(request).authenticated(request)


def require_auth(request: Request) -> None:
    """A dependency: :class:`Unauthorized` unless :func:`is_authenticated`."""
    if not is_authenticated(request):
        raise Unauthorized()


def check_form_csrf(request: Request, submitted: Any) -> None:
    """Raise :class:`Forbidden` unless a form's ``csrf`` field matches the session."""
    if not isinstance(submitted, str) or not same(submitted, request.session.get("csrf")):
        raise Forbidden("missing or invalid CSRF token; reload the page and try again")


def check_api_csrf(request: Request) -> None:
    """State-changing API calls: a bearer token, or the session's CSRF token in a header."""
    if access_of(request).bearer_ok(request):
        return
    if not same(request.headers.get(CSRF_HEADER), request.session.get("csrf")):
        raise Forbidden("missing or invalid X-CSRF-Token header (GET /api/session gives one)")


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in have]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Pure ASGI middleware refusing request bodies above ``limit`` bytes with 413.

    A declared ``Content-Length`` above the limit is answered at once; otherwise the bytes
    are counted as the application reads them and :class:`BodyTooLarge` is raised (the
    application's exception handler turns it into the 413 response).
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await _too_large(scope, send, self.limit)
                    return
        seen = 0
        limit = self.limit

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


async def _reject(scope: Scope, send: Send, status: int, reason: str, msg: str) -> None:
    """An early answer from middleware: the API's JSON error shape under /api/, text elsewhere."""
    import json

    if str(scope.get("path", "")).startswith("/api/"):
        body = json.dumps({"error": {"status": status, "message": msg}}).encode()
        ctype = b"application/json"
    else:
        body = f"{status} {reason}: {msg}\n".encode()
        ctype = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    await _reject(scope, send, 413, "Payload Too Large",
                  f"request body larger than the limit of {limit} bytes")


class HostCheck:
    """Answer only requests whose Host header names an allowed host (against DNS rebinding),
    with the API's error shape under /api/."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        host = ""
        for k, v in scope.get("headers", []):
            if k == b"host":
                host = v.decode("latin-1").strip().lower()
                break
        name = host[1:host.index("]")] if host.startswith("[") and "]" in host \
            else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        if name not in self.allowed and f"[{name}]" not in self.allowed:
            await _reject(scope, send, 400, "Bad Request", "invalid host header")
            return
        await self.app(scope, receive, send)
