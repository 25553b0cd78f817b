"""The incident store: opening (SQLite or PostgreSQL), migrations, incidents, tasks, actions.

``Store.open(url)`` accepts a SQLAlchemy URL (``sqlite:///path``,
``postgresql+psycopg://user:pw@host/db``; plain ``postgresql://`` is mapped to psycopg), a
file path (a SQLite file), or None: then ``$WORMSIGN_DB``, else
``$XDG_DATA_HOME/wormsign/wormsign.db`` (``~/.local/share/wormsign/wormsign.db``). The schema
is brought to the newest Alembic revision on open. SQLite files run in WAL mode with
``synchronous=NORMAL``: a committed transaction survives a killed process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from wormsign.errors import ConflictError, InvalidError, NotFoundError, StoreError
from wormsign.incidents import schema as t
from wormsign.incidents.actor import current_actor
from wormsign.incidents.networks import Classifier, parse_network
from wormsign.incidents.query import AlertPage, IncidentSummary, incident_summary, list_alerts
from wormsign.incidents.tasks import TASK_STATUSES as TASK_STATUSES
from wormsign.incidents.tasks import Task as Task
from wormsign.incidents.tasks import note_line as note_line
from wormsign.incidents.tasks import now_s as now_s

MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest Alembic revision in ``migrations/versions`` (a test keeps them in step); a
#: store already there opens without loading Alembic at all.
SCHEMA_HEAD = "0009"
#: Longest feed-token label (the column's size).
MAX_LABEL = 200


def default_db_path() -> Path:
    """The per-user default SQLite file (XDG data directory)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wormsign" / "wormsign.db"


def resolve_url(db: str | None = None) -> str:
    """Turn ``--db`` (URL, path or None) into a SQLAlchemy URL string."""
    if not db:
        db = os.environ.get("WORMSIGN_DB") or str(default_db_path())
    if "://" in db:
        for prefix in ("postgresql://", "postgres://"):
            if db.startswith(prefix):
                return "postgresql+psycopg://" + db[len(prefix):]
        return db
    path = Path(db).expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the directory of {path}: {exc.strerror}") from exc
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                   "busy_timeout=30000", "temp_store=MEMORY", "cache_size=-65536"):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


@dataclass(frozen=True)
class Incident:
    """One incident as listed."""

    id: int
    name: str
    status: str
    created_at: int
    closed_at: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WatchOffset:
    """Where ``wormsign watch`` stopped reading one file of an incident.

    ``file_key`` is the watcher's identity of the file (:meth:`key_for` gives the usual
    ``device:inode``); ``offset`` is the byte offset of the first byte not yet read and
    ``line`` the number of lines before it; ``head`` is a fingerprint of the file's first
    bytes (e.g. a hash of its first 1 KiB), so a file truncated or replaced under the same
    identity is noticed. ``occurrences`` is the evidence-identity state of the stream, kept
    by :func:`wormsign.incidents.ingest.ingest_alerts` (leave it empty). Saved with
    :func:`~wormsign.incidents.ingest.ingest_alerts` in the same transaction as the alerts
    it covers, or alone with :meth:`Store.save_watch_offset`.
    """

    file_key: str
    path: str
    device: int
    inode: int
    offset: int
    line: int
    head: str
    occurrences: str = ""
    updated_at: int = 0

    @staticmethod
    def key_for(device: int, inode: int) -> str:
        """The usual ``file_key``: ``device:inode``."""
        return f"{device}:{inode}"


@dataclass(frozen=True)
class FeedToken:
    """A read-only token of an incident's blocklist feed (the token itself is never
    stored, only its SHA-256)."""

    id: int
    incident_id: int
    label: str
    created_at: int
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "active": self.active}


def token_digest(token: str) -> str:
    """The stored form of a feed token: hex SHA-256 (tokens carry 256 random bits, so a
    slow key-derivation function would add nothing)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class StoredForecast:
    """One stored forecast of an incident: ``document`` is the ``wormsign forecast --json``
    document as text (see :mod:`wormsign.incidents.forecasts`)."""

    id: int
    incident_id: int
    family: str
    created_at: int
    status: str
    document: str


@dataclass(frozen=True)
class Action:
    """One entry of the audit trail ("actions taken"); ``actor`` says who (None for entries
    written before actors were recorded)."""

    at: int
    kind: str
    detail: str
    actor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Store:
    """An open incident store. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True) -> Store:
        """Open (and create or migrate) the store at ``url``; see the module docstring."""
        real = resolve_url(url)
        try:
            if real.startswith("sqlite"):
                engine = sa.create_engine(real, connect_args={"timeout": 30})
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = sa.create_engine(real, pool_pre_ping=True)
            store = cls(engine)
            if migrate:
                store.migrate()
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"not a database URL: {url!r}") from exc
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            shown = sa.engine.make_url(real).render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"cannot open the incident store {shown}: {reason}") from exc
        except ModuleNotFoundError as exc:
            raise StoreError(f"database driver missing: {exc.name}") from exc
        return store

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent, cheap when current)."""
        try:
            with self.engine.connect() as conn:
                current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
            if [r[0] for r in current] == [SCHEMA_HEAD]:
                return
        except sa.exc.ProgrammingError:
            pass  # a new, empty database (PostgreSQL)
        except sa.exc.OperationalError as exc:
            if "no such table" not in str(exc):  # a new, empty database (SQLite)
                raise
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.engine.begin() as conn:
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        """Release the connections (the store can be reopened with :meth:`open`)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def insert(self, table: sa.Table) -> Any:
        """A dialect-specific INSERT that supports ``on_conflict_do_nothing``."""
        if self.dialect == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)

    def insert_ignore(self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]],
                      ) -> int:
        """``INSERT ... ON CONFLICT DO NOTHING`` of many rows; returns how many were new.

        SQLite reports the count of an executemany; with psycopg SQLAlchemy batches rows into
        multi-row INSERTs whose counts it does not add up, so there the new rows come back
        through ``RETURNING``.
        """
        if not rows:
            return 0
        stmt = self.insert(table).on_conflict_do_nothing()
        if self.dialect == "sqlite":
            return max(int(conn.execute(stmt, rows).rowcount), 0)
        pk = next(iter(table.primary_key.columns))
        return len(conn.execute(stmt.returning(pk), rows).all())

    def insert_rows_ignore(self, conn: Connection, table: sa.Table, columns: tuple[str, ...],
                           rows: list[tuple[Any, ...]]) -> int:
        """Bulk ``INSERT ... ON CONFLICT DO NOTHING`` of positional rows; returns how many
        were new.

        The fast path for ingest: the statement is compiled once and handed to the driver's
        ``executemany`` (sqlite3; psycopg in pipeline mode), with no per-row parameter
        processing, and both drivers report the number of rows inserted."""
        if not rows:
            return 0
        stmt = self.insert(table).on_conflict_do_nothing()
        sql = str(stmt.compile(dialect=self.engine.dialect, column_keys=list(columns)))
        params: list[Any] = rows
        if self.dialect != "sqlite":
            params = [dict(zip(columns, r, strict=True)) for r in rows]
        return max(int(conn.exec_driver_sql(sql, params).rowcount), 0)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside one write transaction (committed on success).

        On SQLite the transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock
        up front, waiting up to the busy timeout for another writer (a second ingest, the
        dashboard), instead of failing when a read would later have to become a write.
        """
        with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    # -- incidents ---------------------------------------------------------------------
    def create_incident(self, name: str, own: Iterable[str] = (),
                        allow: Iterable[str] = ()) -> int:
        """Create an open incident and return its id; ``own``/``allow`` are CIDRs."""
        name = name.strip()
        if not name:
            raise InvalidError("an incident needs a name")
        own_nets = [str(parse_network(c)) for c in own]
        allow_nets = [str(parse_network(c)) for c in allow]
        with self.begin() as conn:
            res = conn.execute(t.incidents.insert().values(name=name, status="open",
                                                           created_at=now_s())
                               .returning(t.incidents.c.id))
            iid = int(res.scalar_one())
            self._add_networks(conn, iid, own_nets, "own")
            self._add_networks(conn, iid, allow_nets, "allow")
            self.log_action(conn, iid, "created", f"incident {name!r} opened")
        return iid

    def _add_networks(self, conn: Connection, iid: int, cidrs: list[str], kind: str) -> None:
        if cidrs:
            conn.execute(self.insert(t.networks).on_conflict_do_nothing(),
                         [{"incident_id": iid, "cidr": c, "kind": kind} for c in cidrs])

    def add_networks(self, incident_id: int, cidrs: Iterable[str], kind: str = "allow") -> None:
        """Add own (``kind="own"``) or allowlisted (``"allow"``) networks to an incident.

        Own networks change which sources are internal: stored alerts are reclassified.
        """
        if kind not in ("own", "allow"):
            raise InvalidError(f"network kind must be own or allow, not {kind!r}")
        nets = [str(parse_network(c)) for c in cidrs]
        self.get_incident(incident_id)
        with self.begin() as conn:
            self._add_networks(conn, incident_id, nets, kind)
            self.bump_version(conn, incident_id)
            self.log_action(conn, incident_id, "networks", f"{kind}: {', '.join(nets)}")
        if kind == "own":
            self.reclassify(incident_id)

    def networks(self, incident_id: int) -> dict[str, list[str]]:
        """The incident's ``own`` and ``allow`` CIDRs."""
        out: dict[str, list[str]] = {"own": [], "allow": []}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.networks.c.cidr, t.networks.c.kind)
                                .where(t.networks.c.incident_id == incident_id)
                                .order_by(t.networks.c.id))
            for cidr, kind in rows:
                out[kind].append(cidr)
        return out

    def classifier(self, incident_id: int) -> Classifier:
        """The address classifier of an incident (RFC 1918 + own networks, allowlist)."""
        nets = self.networks(incident_id)
        return Classifier.from_cidrs(nets["own"], nets["allow"])

    def reclassify(self, incident_id: int) -> None:
        """Recompute the ``internal`` flag of stored alerts after the networks changed."""
        cls = self.classifier(incident_id)
        a = t.alerts
        with self.begin() as conn:
            sf = t.source_families
            sources = [r[0] for r in conn.execute(
                sa.select(sf.c.source_ip).where(sf.c.incident_id == incident_id).distinct())]
            internal = [s for s in sources if cls.is_internal(s)]
            for table in (a, t.source_families):
                conn.execute(table.update().where(table.c.incident_id == incident_id)
                             .values(internal=0))
                for i in range(0, len(internal), 500):
                    conn.execute(table.update().where(
                        table.c.incident_id == incident_id,
                        table.c.source_ip.in_(internal[i:i + 500])).values(internal=1))
            self.bump_version(conn, incident_id)

    def list_incidents(self, include_closed: bool = True) -> list[Incident]:
        """All incidents, newest first."""
        i = t.incidents
        q = sa.select(i.c.id, i.c.name, i.c.status, i.c.created_at,
                      i.c.closed_at).order_by(i.c.id.desc())
        if not include_closed:
            q = q.where(t.incidents.c.status == "open")
        with self.engine.connect() as conn:
            return [Incident(**r._mapping) for r in conn.execute(q)]

    def get_incident(self, incident_id: int) -> Incident:
        """The incident with that id; :class:`NotFoundError` when there is none."""
        i = t.incidents
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(i.c.id, i.c.name, i.c.status, i.c.created_at,
                                         i.c.closed_at).where(i.c.id == incident_id)).first()
        if row is None:
            raise NotFoundError(f"no incident with id {incident_id}")
        return Incident(**row._mapping)

    def incident_version(self, incident_id: int) -> int:
        """A counter bumped in the same transaction as every change of the incident's
        alerts, networks or blocklist: an ETag for the blocklist feed, a cache key for
        aggregates. :class:`NotFoundError` when there is no such incident."""
        with self.engine.connect() as conn:
            v = conn.execute(sa.select(t.incidents.c.version)
                             .where(t.incidents.c.id == incident_id)).scalar()
        if v is None:
            raise NotFoundError(f"no incident with id {incident_id}")
        return int(v)

    def bump_version(self, conn: Connection, incident_id: int) -> None:
        """Advance :meth:`incident_version` inside the caller's transaction (call it from
        every transaction that changes alerts, networks or the blocklist)."""
        i = t.incidents
        conn.execute(i.update().where(i.c.id == incident_id).values(version=i.c.version + 1))

    def lock_incident(self, conn: Connection, incident_id: int) -> None:
        """Serialise writers of one incident: on PostgreSQL a ``FOR NO KEY UPDATE`` row lock
        taken first in the transaction (so writers that later bump the version never
        deadlock); on SQLite ``BEGIN IMMEDIATE`` already holds the write lock."""
        if self.dialect == "postgresql":
            i = t.incidents
            conn.execute(sa.select(i.c.id).where(i.c.id == incident_id)
                         .with_for_update(key_share=True))

    def close_incident(self, incident_id: int) -> Incident:
        """Close an incident (idempotent); closed incidents accept no more evidence."""
        inc = self.get_incident(incident_id)
        if inc.status != "closed":
            with self.begin() as conn:
                conn.execute(t.incidents.update().where(t.incidents.c.id == incident_id)
                             .values(status="closed", closed_at=now_s()))
                self.log_action(conn, incident_id, "closed", "incident closed")
        return self.get_incident(incident_id)

    def require_open(self, incident_id: int) -> Incident:
        """The incident, or :class:`ConflictError` when it is closed."""
        inc = self.get_incident(incident_id)
        if inc.status != "open":
            raise ConflictError(f"incident {incident_id} is closed")
        return inc

    # -- actions -----------------------------------------------------------------------
    def log_action(self, conn: Connection, incident_id: int, kind: str, detail: str) -> None:
        """Append to the audit trail inside the caller's transaction, with the current actor
        (:mod:`wormsign.incidents.actor`)."""
        conn.execute(t.actions.insert().values(incident_id=incident_id, at=now_s(), kind=kind,
                                               detail=detail, actor=current_actor()))

    def record_action(self, incident_id: int, kind: str, detail: str) -> None:
        """Append to the audit trail in a transaction of its own."""
        with self.begin() as conn:
            self.log_action(conn, incident_id, kind, detail)

    def list_actions(self, incident_id: int) -> list[Action]:
        """The incident's audit trail, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.actions.c.at, t.actions.c.kind, t.actions.c.detail,
                                          t.actions.c.actor)
                                .where(t.actions.c.incident_id == incident_id)
                                .order_by(t.actions.c.id))
            return [Action(*r) for r in rows]

    # -- tasks -------------------------------------------------------------------------
    def list_tasks(self, incident_id: int) -> list[Task]:
        """The incident's playbook tasks, by playbook and order, with their notes."""
        k, n = t.tasks, t.task_notes
        q = sa.select(k).where(k.c.incident_id == incident_id).order_by(k.c.playbook, k.c.seq)
        qn = (sa.select(n.c.task_id, n.c.at, n.c.text).join(k, k.c.id == n.c.task_id)
              .where(k.c.incident_id == incident_id).order_by(n.c.id))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            notes: dict[int, list[str]] = {}
            for tid, at, text in conn.execute(qn):
                notes.setdefault(int(tid), []).append(note_line(int(at), str(text)))
        return [Task(**r._mapping, notes="\n".join(notes.get(int(r.id), []))) for r in rows]

    def find_task(self, incident_id: int, ref: str | int) -> Task:
        """A task by numeric id or by key (``contain.block-sources`` or
        ``nimda/contain.block-sources`` when several playbooks share the key)."""
        tasks = self.list_tasks(incident_id)
        ref_s = str(ref)
        if ref_s.isdigit():
            hits = [x for x in tasks if x.id == int(ref_s)]
        elif "/" in ref_s:
            pb, key = ref_s.split("/", 1)
            hits = [x for x in tasks if x.playbook == pb and x.key == key]
        else:
            hits = [x for x in tasks if x.key == ref_s]
        if not hits:
            raise NotFoundError(f"incident {incident_id} has no task {ref_s!r}")
        if len(hits) > 1:
            names = ", ".join(f"{x.playbook}/{x.key}" for x in hits)
            raise InvalidError(f"task {ref_s!r} is ambiguous: {names}")
        return hits[0]

    def update_task(self, incident_id: int, ref: str | int, *, status: str | None = None,
                    owner: str | None = None, note: str | None = None) -> Task:
        """Change a task's status/owner and append a note; recorded in the audit trail.

        A note is one appended row (an INSERT), so notes written at the same time by several
        processes are all kept."""
        if status is not None and status not in TASK_STATUSES:
            raise InvalidError(f"task status must be one of {', '.join(TASK_STATUSES)}")
        task = self.find_task(incident_id, ref)
        stamp = now_s()
        values: dict[str, Any] = {"updated_at": stamp}
        changes = []
        if status is not None and status != task.status:
            values["status"] = status
            changes.append(f"status {task.status} -> {status}")
        if owner is not None:
            values["owner"] = owner or None
            changes.append(f"owner {owner or '-'}")
        text = (note or "").strip()
        if text:
            changes.append("note added")
        with self.begin() as conn:
            conn.execute(t.tasks.update().where(t.tasks.c.id == task.id).values(**values))
            if text:
                conn.execute(t.task_notes.insert().values(task_id=task.id, at=stamp, text=text))
            if changes:
                self.log_action(conn, incident_id, "task",
                                f"{task.playbook}/{task.key}: {'; '.join(changes)}")
        return self.find_task(incident_id, task.id)

    # -- blocklist feed tokens ---------------------------------------------------------
    def create_feed_token(self, incident_id: int, label: str = "") -> str:
        """A new read-only token for the incident's blocklist feed, returned once: only its
        SHA-256 is stored. ``label`` says who uses it (e.g. ``edge-fw-1``)."""
        label = label.strip()
        if len(label) > MAX_LABEL or any(not c.isprintable() for c in label):
            raise InvalidError(f"a token label is at most {MAX_LABEL} printable characters")
        self.get_incident(incident_id)
        token = secrets.token_urlsafe(32)
        f = t.feed_tokens
        with self.begin() as conn:
            tid = conn.execute(f.insert().values(
                incident_id=incident_id, label=label, token_sha256=token_digest(token),
                created_at=now_s()).returning(f.c.id)).scalar_one()
            self.log_action(conn, incident_id, "feed-token",
                            f"feed token #{tid} created" + (f" ({label})" if label else ""))
        return token

    def check_feed_token(self, incident_id: int, token: str) -> bool:
        """True when ``token`` is an active (not revoked) feed token of this incident.

        Every active token's digest is compared in constant time, without stopping at the
        first match."""
        if not token or len(token) > 256:
            return False
        digest = token_digest(token).encode()
        f = t.feed_tokens
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(f.c.token_sha256).where(
                f.c.incident_id == incident_id, f.c.revoked_at.is_(None))).scalars().all()
        ok = False
        for s in stored:
            ok |= hmac.compare_digest(digest, str(s).encode())
        return ok

    def list_feed_tokens(self, incident_id: int) -> list[FeedToken]:
        """The incident's feed tokens (active and revoked), oldest first."""
        self.get_incident(incident_id)
        f = t.feed_tokens
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(f.c.id, f.c.incident_id, f.c.label, f.c.created_at,
                                          f.c.revoked_at)
                                .where(f.c.incident_id == incident_id).order_by(f.c.id))
            return [FeedToken(*r) for r in rows]

    def revoke_feed_token(self, incident_id: int, ref: int | str) -> list[FeedToken]:
        """Revoke the incident's active feed token with id ``ref`` (a number) or every one
        labelled ``ref``; returns those revoked, :class:`NotFoundError` when none was."""
        f = t.feed_tokens
        ref_s = str(ref).strip()
        match = (f.c.id == int(ref_s)) if ref_s.isdigit() else (f.c.label == ref_s)
        with self.begin() as conn:
            ids = conn.execute(sa.select(f.c.id).where(
                f.c.incident_id == incident_id, f.c.revoked_at.is_(None), match)
            ).scalars().all()
            if ids:
                conn.execute(f.update().where(f.c.id.in_(ids)).values(revoked_at=now_s()))
                self.log_action(conn, incident_id, "feed-token",
                                "feed token(s) revoked: "
                                + ", ".join(f"#{i}" for i in ids))
        if not ids:
            raise NotFoundError(f"incident {incident_id} has no active feed token {ref_s!r}")
        return [x for x in self.list_feed_tokens(incident_id) if x.id in set(ids)]

    # -- forecasts ---------------------------------------------------------------------
    def add_forecast(self, incident_id: int, family: str, status: str, document: str) -> int:
        """Store a forecast document (JSON text) and return its id; recorded in the audit
        trail. :class:`NotFoundError` when there is no such incident."""
        self.get_incident(incident_id)
        f = t.forecasts
        with self.begin() as conn:
            fid = int(conn.execute(f.insert().values(
                incident_id=incident_id, family=family, created_at=now_s(), status=status,
                document=document).returning(f.c.id)).scalar_one())
            self.log_action(conn, incident_id, "forecast",
                            f"forecast #{fid} stored ({family or 'no family'}: {status})")
        return fid

    def latest_forecast(self, incident_id: int, family: str | None = None,
                        ) -> StoredForecast | None:
        """The newest stored forecast of the incident (of ``family`` when given)."""
        f = t.forecasts
        q = sa.select(f.c.id, f.c.incident_id, f.c.family, f.c.created_at, f.c.status,
                      f.c.document).where(f.c.incident_id == incident_id)
        if family is not None:
            q = q.where(f.c.family == family)
        with self.engine.connect() as conn:
            row = conn.execute(q.order_by(f.c.id.desc()).limit(1)).first()
        return None if row is None else StoredForecast(*row)

    # -- watch offsets -----------------------------------------------------------------
    def get_watch_offsets(self, incident_id: int) -> list[WatchOffset]:
        """The read offsets ``wormsign watch`` saved for the incident, by file key."""
        w = t.watch_offsets
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(
                w.c.file_key, w.c.path, w.c.device, w.c.inode, w.c.offset, w.c.line,
                w.c.head, w.c.occurrences, w.c.updated_at)
                .where(w.c.incident_id == incident_id).order_by(w.c.file_key))
            return [WatchOffset(*r) for r in rows]

    def save_watch_offsets(self, conn: Connection, incident_id: int,
                           offsets: Iterable[WatchOffset]) -> None:
        """Insert or replace read offsets inside the caller's transaction."""
        rows = [{**asdict(o), "incident_id": incident_id, "updated_at": now_s()}
                for o in offsets]
        if not rows:
            return
        for o in rows:
            if o["offset"] < 0 or o["line"] < 0 or not o["file_key"]:
                raise InvalidError(f"bad watch offset for {o['path']!r}")
        stmt = self.insert(t.watch_offsets)
        stmt = stmt.on_conflict_do_update(
            index_elements=["incident_id", "file_key"],
            set_={c: stmt.excluded[c] for c in ("path", "device", "inode", "offset", "line",
                                                 "head", "occurrences", "updated_at")})
        conn.execute(stmt, rows)

    def save_watch_offset(self, incident_id: int, offset: WatchOffset) -> None:
        """Save one read offset in a transaction of its own (a file read with no alerts;
        use ``ingest_alerts(..., checkpoint=...)`` when alerts come with it)."""
        with self.begin() as conn:
            self.save_watch_offsets(conn, incident_id, [offset])

    def delete_watch_offset(self, incident_id: int, file_key: str) -> None:
        """Forget the offset of a file that is gone (deleted, or rotated away and read)."""
        w = t.watch_offsets
        with self.begin() as conn:
            conn.execute(w.delete().where(w.c.incident_id == incident_id,
                                          w.c.file_key == file_key))

    # -- queries (see wormsign.incidents.query) ----------------------------------------
    def get_incident_summary(self, incident_id: int, *, top: int = 50) -> IncidentSummary:
        """Everything ``incident show --json`` prints; see :func:`query.incident_summary`."""
        return incident_summary(self, incident_id, top=top)

    def list_alerts(self, incident_id: int, page: int = 1, per_page: int = 50,
                    filters: dict[str, Any] | None = None) -> AlertPage:
        """One page of alerts; see :func:`query.list_alerts`."""
        return list_alerts(self, incident_id, page, per_page, filters)
