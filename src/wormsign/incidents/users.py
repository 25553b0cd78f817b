"""People of the incident workspace: users, roles, passwords and per-user API tokens.

* **Roles** are ordered: ``viewer`` (read everything), ``analyst`` (also change incidents:
  evidence, tasks, exports, networks), ``admin`` (also manage people and notifications).
* **Passwords** are stored as argon2id hashes (``argon2-cffi``, RFC 9106 parameters of its
  :class:`~argon2.PasswordHasher`); a hash made with older parameters is replaced at the next
  login. A user without a password logs in with an API token only.
* **API tokens** carry 256 random bits and are shown once; only their SHA-256 is stored (a
  slow hash adds nothing to a random 256-bit secret), so a lookup is one indexed query.
* **Ending sessions at once.** Each user has an ``epoch``; a dashboard session remembers the
  epoch it was opened in and is honoured only while the user is active and the epoch is
  unchanged. Disabling a user, changing the password or revoking a token bumps it, so every
  session of that person ends with their next request, whichever process made the change.

Single-person use needs none of this: a store without users keeps the dashboard's one shared
token (or a loopback dashboard without one) and the CLI acting as ``cli:<login>``.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from wormsign.errors import ConflictError, InvalidError, MissingExtraError, NotFoundError
from wormsign.incidents import schema as t
from wormsign.incidents.actor import current_actor
from wormsign.incidents.store import Store, now_s, token_digest

ROLES = ("viewer", "analyst", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: The actor names the system uses itself; no user may take one.
RESERVED = frozenset({"token", "local", "system", "anonymous"})
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOKEN_PREFIX = "wsu_"  # noqa: S105 (marks our tokens)


@dataclass(frozen=True)
class User:
    """One person of the workspace (never carries the password hash)."""

    id: int
    name: str
    role: str
    created_at: int
    disabled_at: int | None
    epoch: int
    has_password: bool

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("epoch")
        return {**d, "active": self.active}


@dataclass(frozen=True)
class UserToken:
    """A per-user API token as listed (the secret itself is never stored)."""

    id: int
    user: str
    label: str
    created_at: int
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "active": self.active}


def role_at_least(role: str | None, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (roles are ordered)."""
    return role is not None and RANK.get(role, -1) >= RANK[needed]


def check_role(role: str) -> str:
    if role not in RANK:
        raise InvalidError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def _log(conn: Any, user: str, kind: str, detail: str = "") -> None:
    """Record a change of people, with its actor, inside the caller's transaction."""
    conn.execute(t.user_events.insert().values(at=now_s(), actor=current_actor(),
                                               user_name=user, kind=kind, detail=detail))


@dataclass(frozen=True)
class UserEvent:
    """One change of people: who (``actor``) did what (``kind``) to whom (``user``)."""

    at: int
    actor: str | None
    user: str
    kind: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def user_events(store: Store, limit: int = 1000) -> list[UserEvent]:
    """The newest changes of people, oldest first."""
    e = t.user_events
    q = (sa.select(e.c.at, e.c.actor, e.c.user_name, e.c.kind, e.c.detail)
         .order_by(e.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    return [UserEvent(int(r[0]), r[1], str(r[2]), str(r[3]), str(r[4])) for r in rows[::-1]]


def _hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ModuleNotFoundError as exc:
        raise MissingExtraError("passwords need argon2-cffi (pip install 'wormsign[web]')"
                                ) from exc
    return PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (at least :data:`MIN_PASSWORD` characters)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return str(_hasher().hash(password))


def _select_users() -> sa.Select[Any]:
    u = t.users
    return sa.select(u.c.id, u.c.name, u.c.role, u.c.created_at, u.c.disabled_at, u.c.epoch,
                     u.c.password_hash.is_not(None))


def _user(row: Any) -> User:
    return User(int(row[0]), str(row[1]), str(row[2]), int(row[3]),
                None if row[4] is None else int(row[4]), int(row[5]), bool(row[6]))


# The queries of every dashboard request, as plain SQL built once (building Core
# expressions per call cost more than running them).
_HAS_USERS = sa.text("SELECT 1 FROM users LIMIT 1")
_USER_BY_ID = sa.text("SELECT u.id, u.name, u.role, u.created_at, u.disabled_at, u.epoch, "
                      "u.password_hash IS NOT NULL FROM users u WHERE u.id = :id")
_USER_BY_TOKEN = sa.text("SELECT u.id, u.name, u.role, u.created_at, u.disabled_at, u.epoch, "
                         "u.password_hash IS NOT NULL, k.token_sha256 FROM user_tokens k "
                         "JOIN users u ON u.id = k.user_id "
                         "WHERE k.token_sha256 = :digest AND k.revoked_at IS NULL")


def has_users(store: Store) -> bool:
    """Whether the store has any user (then the dashboard and the CLI ask who you are)."""
    with store.engine.connect() as conn:
        return conn.execute(_HAS_USERS).first() is not None


def list_users(store: Store) -> list[User]:
    """Every user, by name."""
    with store.engine.connect() as conn:
        return [_user(r) for r in conn.execute(_select_users().order_by(t.users.c.name))]


def get_user(store: Store, name: str) -> User:
    """The user called ``name`` (:class:`NotFoundError` when there is none)."""
    with store.engine.connect() as conn:
        row = conn.execute(_select_users().where(t.users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user called {name!r}")
    return _user(row)


def user_by_id(store: Store, user_id: int) -> User | None:
    with store.engine.connect() as conn:
        row = conn.execute(_USER_BY_ID, {"id": user_id}).first()
    return None if row is None else _user(row)


def add_user(store: Store, name: str, role: str, password: str | None = None) -> User:
    """Create a user. The first user of a store must be an admin (someone has to be able to
    manage the others)."""
    if not NAME_RE.fullmatch(name):
        raise InvalidError(f"{name!r} is not a usable user name (1-64 letters, digits, "
                           "'.', '_', '@', '-', starting with a letter or digit)")
    if name.lower() in RESERVED:
        raise ConflictError(f"the name {name!r} is taken by wormsign itself")
    check_role(role)
    hashed = hash_password(password) if password is not None else None
    u = t.users
    with store.begin() as conn:
        if conn.execute(sa.select(u.c.id).limit(1)).first() is None and role != "admin":
            raise InvalidError("the first user must be an admin")
        if conn.execute(sa.select(u.c.id).where(u.c.name == name)).first() is not None:
            raise ConflictError(f"a user called {name!r} exists")
        conn.execute(u.insert().values(name=name, role=role, password_hash=hashed,
                                       created_at=now_s(), epoch=0))
        _log(conn, name, "added", role)
    return get_user(store, name)


def _update(store: Store, name: str, values: dict[str, Any], bump: bool,
            kind: str, detail: str = "") -> User:
    user = get_user(store, name)
    u = t.users
    if bump:
        values = {**values, "epoch": u.c.epoch + 1}
    with store.begin() as conn:
        conn.execute(u.update().where(u.c.id == user.id).values(**values))
        _log(conn, name, kind, detail)
    return get_user(store, name)


def _last_admin(store: Store, user: User) -> bool:
    u = t.users
    with store.engine.connect() as conn:
        others = conn.execute(sa.select(sa.func.count()).select_from(u).where(
            u.c.role == "admin", u.c.disabled_at.is_(None), u.c.id != user.id)).scalar_one()
    return user.role == "admin" and user.active and int(others) == 0


def disable_user(store: Store, name: str) -> User:
    """Disable a user: their tokens stop working and their sessions end at once. The last
    active admin cannot be disabled."""
    user = get_user(store, name)
    if _last_admin(store, user):
        raise ConflictError(f"{name!r} is the last active admin")
    return _update(store, name, {"disabled_at": user.disabled_at or now_s()}, bump=True,
                   kind="disabled")


def enable_user(store: Store, name: str) -> User:
    """Enable a disabled user again (old sessions stay ended)."""
    return _update(store, name, {"disabled_at": None}, bump=False, kind="enabled")


def set_role(store: Store, name: str, role: str) -> User:
    """Change a user's role (takes effect with their next request)."""
    check_role(role)
    user = get_user(store, name)
    if role != "admin" and _last_admin(store, user):
        raise ConflictError(f"{name!r} is the last active admin")
    return _update(store, name, {"role": role}, bump=False, kind="role",
                   detail=f"{user.role} -> {role}")


def set_password(store: Store, name: str, password: str | None) -> User:
    """Set (or with None remove) a user's password; their sessions end."""
    hashed = hash_password(password) if password is not None else None
    return _update(store, name, {"password_hash": hashed}, bump=True, kind="password",
                   detail="set" if hashed else "removed")


def verify_password(store: Store, name: str, password: str) -> User | None:
    """The active user ``name`` when ``password`` is theirs, else None. The time taken does
    not tell whether the user exists (a dummy hash is checked when there is none)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    u = t.users
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(u.c.password_hash).where(
            u.c.name == name, u.c.disabled_at.is_(None))).first()
    stored = row[0] if row is not None and row[0] else _dummy_hash(hasher)
    try:
        hasher.verify(stored, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row[0]:
        return None
    if hasher.check_needs_rehash(stored):
        with store.begin() as conn:
            conn.execute(u.update().where(u.c.name == name)
                         .values(password_hash=hasher.hash(password)))
    user = get_user(store, name)
    return user if user.active else None


_DUMMY: list[str] = []


def _dummy_hash(hasher: Any) -> str:
    if not _DUMMY:
        _DUMMY.append(str(hasher.hash(secrets.token_urlsafe(16))))
    return _DUMMY[0]


def create_token(store: Store, name: str, label: str = "") -> str:
    """A new API token of user ``name``, returned once (only its SHA-256 is stored)."""
    label = label.strip()
    if len(label) > 200 or any(not c.isprintable() for c in label):
        raise InvalidError("a token label is at most 200 printable characters")
    user = get_user(store, name)
    if not user.active:
        raise ConflictError(f"user {name!r} is disabled")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    k = t.user_tokens
    with store.begin() as conn:
        tid = conn.execute(k.insert().values(
            user_id=user.id, label=label, token_sha256=token_digest(token), created_at=now_s())
            .returning(k.c.id)).scalar_one()
        _log(conn, name, "token-created", f"#{tid}" + (f" ({label})" if label else ""))
    return token


def list_tokens(store: Store, name: str | None = None) -> list[UserToken]:
    """API tokens (of one user, or everyone's), oldest first; never the secrets."""
    k, u = t.user_tokens, t.users
    q = (sa.select(k.c.id, u.c.name, k.c.label, k.c.created_at, k.c.revoked_at)
         .join(u, u.c.id == k.c.user_id).order_by(k.c.id))
    if name is not None:
        q = q.where(u.c.id == get_user(store, name).id)
    with store.engine.connect() as conn:
        return [UserToken(*r) for r in conn.execute(q)]


def revoke_token(store: Store, name: str, token_id: int) -> UserToken:
    """Revoke one of ``name``'s tokens; their sessions end too."""
    user = get_user(store, name)
    k = t.user_tokens
    with store.begin() as conn:
        n = conn.execute(k.update().where(k.c.id == token_id, k.c.user_id == user.id,
                                          k.c.revoked_at.is_(None))
                         .values(revoked_at=now_s())).rowcount
        if not n:
            raise NotFoundError(f"user {name!r} has no active token #{token_id}")
        conn.execute(t.users.update().where(t.users.c.id == user.id)
                     .values(epoch=t.users.c.epoch + 1))
        _log(conn, name, "token-revoked", f"#{token_id}")
    return next(x for x in list_tokens(store, name) if x.id == token_id)


def user_for_token(store: Store, token: str | None) -> User | None:
    """The active user whose active API token ``token`` is, else None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 256:
        return None
    digest = token_digest(token)
    with store.engine.connect() as conn:
        row = conn.execute(_USER_BY_TOKEN, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(str(row[7]), digest):
        return None
    user = _user(row)
    return user if user.active else None


__all__ = ["RANK", "ROLES", "User", "UserEvent", "UserToken", "add_user", "check_role",
           "create_token", "disable_user", "enable_user", "get_user", "has_users",
           "hash_password", "list_tokens", "list_users", "revoke_token", "role_at_least",
           "set_password", "set_role", "user_by_id", "user_events", "user_for_token",
           "verify_password"]
