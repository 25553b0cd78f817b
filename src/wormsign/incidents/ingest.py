"""Ingest evidence into an incident: ``scan --alerts`` JSON Lines, ``assess --json``, raw logs.

The kind of each file is detected from its content (:func:`detect_kind`): JSON Lines whose
objects carry ``rule.id`` and ``source.ip`` are alerts, a JSON object with ``hosts`` is an
assessment, anything else is a raw log scanned on the fly with
:func:`wormsign.detect.scanner.scan_paths`.

Idempotent, by content: every alert has a natural key that does not depend on which file it
was read from. It hashes the normalised event, ``(sensor, source, time, method, URL, rule)``,
and the *occurrence index* of that hash within its evidence stream (one log file): the
second identical request in a log is occurrence 1, so two identical requests in one log stay
two, while the same log copied to another folder, its ``scan --alerts`` JSON Lines, or the
raw log after its JSON Lines all produce the same keys and add nothing. Rows are written
with ``INSERT ... ON CONFLICT DO NOTHING`` (unique per incident).

The *sensor* is the family of the log's format (:func:`sensor_of`): ``httpd`` for Apache
and nginx access and error logs (Common/Combined Log Format, ``apache-error``,
``nginx-error``), ``iis``, ``zeek``, ``suricata``, ``pcap``. An access log and its own error
log therefore dedupe where they record the same request (same method and URL text); an
error line that names only a file path is a different event. The destination host is not
part of the event (error logs and most access logs do not record it), so the logs of two
servers of one family that record the very same request in the same second from the same
source count once, unless they are ingested with distinct sensor names
(``ingest_paths(..., sensor=...)``, ``incident ingest --sensor``).

Bad records are counted skips, never a crash: every value is checked before it reaches the
database (types, ranges that fit the columns, text that encodes as UTF-8 without NUL).

Crash-safe: each file gets an ingest-job row (with the pid and host of its process and a
heartbeat); alerts are written in batches, each batch in one transaction together with the
job's position (records consumed). A killed process leaves whole batches only; a job whose
process is gone is marked ``interrupted`` by the next ingest into the incident, and
rerunning the same file resumes it at its position. A job that raised is ``failed``.

Live input: :func:`ingest_alerts` stores alerts found by ``wormsign watch`` together with the
read offset they cover, in one transaction.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import ipaddress
import json
import os
import socket
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import sqlalchemy as sa

from wormsign.detect.alert import Alert
from wormsign.errors import ConflictError, InputError, InvalidError
from wormsign.incidents import schema as t
from wormsign.incidents.networks import Classifier
from wormsign.incidents.rollup import add_batch, max_alert_id
from wormsign.incidents.store import Store, WatchOffset, now_s

DEFAULT_BATCH = 50_000
MAX_REPORTED_ERRORS = 10
ASSESS_MAX_BYTES = 512 * 1024 * 1024
#: Longest alerts JSON Lines record read (a longer one is a counted skip, never buffered).
MAX_RECORD_BYTES = 4 * 1024 * 1024
#: Errors of reading a file (truncated or corrupt gzip, I/O): the file's one-line error.
READ_ERRORS = (OSError, EOFError, zlib.error)

#: A ``running`` job whose heartbeat is older than this (seconds) is taken as dead even when
#: its pid seems alive (pid reuse, or a process on another host).
STALE_AFTER = 15 * 60
#: Data-record errors: a record that raises one of these is a counted skip.
RECORD_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError,
                 RecursionError, UnicodeError)

#: progress(path, records consumed, alerts added so far in this file)
Progress = Callable[[str, int, int], None]


@dataclass
class FileResult:
    """What one input file contributed."""

    path: str
    kind: str
    records: int = 0
    added: int = 0
    duplicates: int = 0
    skipped: int = 0
    resumed_from: int = 0
    errors: list[str] = field(default_factory=list)
    unchanged: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "records": self.records,
                "added": self.added, "duplicates": self.duplicates, "skipped": self.skipped,
                "resumed_from": self.resumed_from, "unchanged": self.unchanged,
                "error": self.error, "errors": list(self.errors)}


@dataclass
class IngestResult:
    """The outcome of :func:`ingest_paths`."""

    incident_id: int
    files: list[FileResult]
    families: list[str]
    tasks_added: int

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be ingested at all (``error`` says why)."""
        return [f for f in self.files if f.error is not None]

    def to_dict(self) -> dict[str, Any]:
        return {"incident": self.incident_id, "added": self.added,
                "duplicates": self.duplicates, "skipped": self.skipped,
                "families": self.families, "tasks_added": self.tasks_added,
                "files": [f.to_dict() for f in self.files]}


# -- evidence identity ---------------------------------------------------------------------
_SENSOR_FAMILIES = {"combined": "httpd", "common": "httpd", "vhost_combined": "httpd",
                    "clf": "httpd", "apache-error": "httpd", "nginx-error": "httpd"}


def sensor_of(fmt: str) -> str:
    """The default sensor of an alert: the family of its log format (see the module
    docstring): ``httpd``, ``iis``, ``zeek``, ``suricata``, ``pcap``, else the format."""
    fmt = fmt.strip().lower()
    if fmt in _SENSOR_FAMILIES or fmt.startswith(("apache", "nginx")):
        return "httpd"
    for fam in ("iis", "zeek", "suricata"):
        if fmt.startswith(fam):
            return fam
    return fmt


_sensor_of = functools.lru_cache(maxsize=256)(sensor_of)


@functools.lru_cache(maxsize=65536)
def _canonical_source(ip: str) -> str:
    """``str()`` of the parsed address (one spelling per address), else the text itself."""
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return ip


def event_hash(a: Alert, sensor: str | None = None) -> bytes:
    """A 128-bit hash of the normalised event of an alert: sensor (``sensor`` or
    :func:`sensor_of` its format), canonical source address, time (whole seconds, UTC),
    method (upper case), URL and rule. Where it was read from plays no part."""
    return _event_hash(a, sensor, _epoch(a.timestamp))


def _event_hash(a: Alert, sensor: str | None, ts: int | None) -> bytes:
    raw = "\x1f".join((sensor if sensor is not None else _sensor_of(a.format),
                       _canonical_source(a.source_ip), "" if ts is None else str(ts),
                       (a.method or "").upper(), a.url, a.rule_id))
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def evidence_key(h: bytes, occurrence: int) -> int:
    """The natural key (signed 64-bit) of occurrence ``occurrence`` of event hash ``h``."""
    d = hashlib.blake2b(h + occurrence.to_bytes(8, "big"), digest_size=8).digest()
    return int.from_bytes(d, "big", signed=True)


def alert_key(a: Alert, occurrence: int = 0, sensor: str | None = None) -> int:
    """The natural key of an alert that is occurrence ``occurrence`` of its event in its
    stream (0 for the first)."""
    return evidence_key(event_hash(a, sensor), occurrence)


class Occurrences:
    """How often each event hash has been seen so far in one evidence stream.

    Memory is bounded: past ``limit`` entries, those more than ``window`` seconds older than
    the newest time seen are dropped (identical events share a second, and logs are written
    nearly in time order). :meth:`dump` keeps the last ``tail`` seconds, which is what a
    stream resumed after a restart needs.
    """

    def __init__(self, window: int = 300, limit: int = 200_000) -> None:
        self.window = window
        self.limit = limit
        self.counts: dict[bytes, tuple[int, int | None]] = {}
        self.newest: int | None = None

    def next(self, h: bytes, ts: int | None) -> int:
        """The occurrence index of this sighting of ``h`` (0, 1, ...)."""
        n, _ = self.counts.get(h, (0, ts))
        self.counts[h] = (n + 1, ts)
        if ts is not None and (self.newest is None or ts > self.newest):
            self.newest = ts
        if len(self.counts) > self.limit:
            self._prune()
        return n

    def _prune(self) -> None:
        if self.newest is not None:
            floor = self.newest - self.window
            self.counts = {h: v for h, v in self.counts.items()
                           if v[1] is None or v[1] >= floor}
        if len(self.counts) > self.limit // 2:
            self.limit *= 2

    def dump(self, tail: int = 2, cap: int = 50_000) -> str:
        """The recent part of the state as JSON (for a watch offset)."""
        floor = None if self.newest is None else self.newest - tail
        keep = [[h.hex(), n, ts] for h, (n, ts) in self.counts.items()
                if ts is None or floor is None or ts >= floor][-cap:]
        return json.dumps({"newest": self.newest, "counts": keep}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> Occurrences:
        """State saved by :meth:`dump` (an empty or unreadable text is a fresh stream)."""
        occ = cls()
        try:
            doc = json.loads(text) if text else {}
            for h, n, ts in doc.get("counts", []):
                occ.counts[bytes.fromhex(h)] = (int(n), None if ts is None else int(ts))
            occ.newest = None if doc.get("newest") is None else int(doc["newest"])
        except (*RECORD_ERRORS, AttributeError):
            return cls()
        return occ


class Streams:
    """Occurrence counters per evidence stream (the log file an alert was read from)."""

    def __init__(self, sensor: str | None = None) -> None:
        self.sensor = sensor
        self.by_file: dict[str, Occurrences] = {}

    def key(self, a: Alert) -> int:
        occ = self.by_file.get(a.file_path)
        if occ is None:
            occ = self.by_file[a.file_path] = Occurrences()
        ts = _epoch(a.timestamp)
        h = _event_hash(a, self.sensor, ts)
        return evidence_key(h, occ.next(h, ts))


def _epoch(ts: datetime | None) -> int | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp())


# -- checking records ----------------------------------------------------------------------
_MAX_LEN = {"source_ip": 64, "family": 64, "rule_family": 64, "rule_id": 128,
            "severity": 16, "method": 32, "format": 32}
_TEXT = ("source_ip", "rule_id", "rule_name", "family", "rule_family", "severity", "url",
         "method", "user_agent", "host", "file_path", "format")
_INT64 = 2 ** 63


def check_alert(a: Alert) -> Alert:
    """``a`` when every value fits the store; ValueError/TypeError naming the bad field.

    Text must be ``str`` that encodes as UTF-8 (no lone surrogates) and holds no NUL, short
    enough for its column; the line a non-negative 64-bit integer; the status 0-999; the
    time one whose UTC epoch seconds exist."""
    try:  # the common case in one pass: all text, no NUL, valid UTF-8
        joined = "\x1f".join([a.source_ip, a.rule_id, a.rule_name, a.family, a.rule_family,
                              a.severity, a.url, a.method or "", a.user_agent or "",
                              a.host or "", a.file_path, a.format])
        joined.encode("utf-8")
        clean = "\x00" not in joined
    except (TypeError, UnicodeEncodeError):
        clean = False
    if not clean:
        _check_text_fields(a)
    if (len(a.source_ip) > 64 or len(a.family) > 64 or len(a.rule_family) > 64
            or len(a.rule_id) > 128 or len(a.severity) > 16 or len(a.format) > 32
            or (a.method is not None and len(a.method) > 32)):
        name, limit = next((n, m) for n, m in _MAX_LEN.items()
                           if len(getattr(a, n) or "") > m)
        raise ValueError(f"{name} longer than {limit} characters")
    if not a.source_ip.strip():
        raise ValueError("no source address")
    line, status = a.line, a.status
    if type(line) is not int or not 0 <= line < _INT64:
        raise ValueError("line number out of range")
    if status is not None and (type(status) is not int or not 0 <= status <= 999):
        raise ValueError("HTTP status out of range")
    if a.timestamp is not None:
        if not isinstance(a.timestamp, datetime):
            raise TypeError("timestamp is not a time")
        ts = _epoch(a.timestamp)
        if ts is None or not -_INT64 < ts < _INT64:
            raise ValueError("timestamp out of range")
        a.timestamp.astimezone(UTC)
    return a


def _check_text_fields(a: Alert) -> None:
    """The field-by-field check, for the message naming the bad one."""
    for name in _TEXT:
        v = getattr(a, name)
        if v is None and name in ("method", "user_agent", "host"):
            continue
        if not isinstance(v, str):
            raise TypeError(f"{name} is not text")
        if "\x00" in v:
            raise ValueError(f"{name} holds a NUL character")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{name} is not valid Unicode (lone surrogate)") from None


_RECORD_TEXT = ("@timestamp", "http.request.method", "user_agent.original",
                "destination.domain", "source.ip", "rule.id", "rule.name", "rule.category",
                "wormsign.family", "threat.software.name", "wormsign.severity",
                "url.original", "log.file.path", "event.dataset")
_TEXT_TYPES = frozenset((str, type(None)))


def alert_from_record(obj: Any) -> Alert:
    """An alert from one parsed ``scan --alerts`` record, checked (:func:`check_alert`)."""
    if not isinstance(obj, dict):
        raise TypeError("not a JSON object")
    if not set(map(type, map(obj.get, _RECORD_TEXT))) <= _TEXT_TYPES:
        bad = next(k for k in _RECORD_TEXT if type(obj.get(k)) not in _TEXT_TYPES)
        raise TypeError(f"{bad} is not text")
    for k in ("http.response.status_code", "log.file.line"):
        v = obj.get(k)
        if v is None or type(v) is int:
            continue
        if isinstance(v, float) and not v.is_integer():
            raise ValueError(f"{k} is not an integer")
        if not isinstance(v, (int, float, str)):
            raise TypeError(f"{k} is not a number")
    return check_alert(Alert.from_ecs(obj))


#: Column order of the tuples built by :func:`alert_row`.
ALERT_COLUMNS = ("incident_id", "akey", "ts", "source_ip", "internal", "family", "rule_family",
                 "rule_id", "rule_name", "severity", "url", "method", "status", "user_agent",
                 "host", "file_path", "line", "format", "job_id")


def alert_row(incident_id: int, job_id: int | None, a: Alert, cls: Classifier,
              key: int | None = None) -> tuple[Any, ...]:
    """The ``alerts`` table row of one alert, in :data:`ALERT_COLUMNS` order; ``key``
    defaults to :func:`alert_key` (first occurrence)."""
    return (incident_id, alert_key(a) if key is None else key, _epoch(a.timestamp),
            a.source_ip, 1 if cls.is_internal(a.source_ip) else 0, a.family, a.rule_family,
            a.rule_id, a.rule_name, a.severity, a.url, a.method, a.status, a.user_agent,
            a.host, a.file_path, a.line, a.format, job_id)


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def detect_kind(path: str | Path) -> str:
    """``alerts`` (JSON Lines of alerts), ``assess`` (assess --json) or ``log`` (raw log)."""
    p = Path(path)
    try:
        with _open_binary(p) as fh:
            head = fh.read(65536)
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read: {getattr(exc, 'strerror', None) or exc}",
                         str(path)) from exc
    text = head.lstrip()
    if not text.startswith(b"{"):
        return "log"
    first = text.split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        if "rule.id" in obj and "source.ip" in obj:
            return "alerts"
        if isinstance(obj.get("hosts"), list):
            return "assess"
        return "log"
    # Not a one-line object: a pretty-printed JSON document may be an assessment.
    if b'"hosts"' in head and p.stat().st_size <= ASSESS_MAX_BYTES:
        try:
            with _open_binary(p) as fh:
                doc = json.load(fh)
        except (ValueError, OSError):
            return "log"
        if isinstance(doc, dict) and isinstance(doc.get("hosts"), list):
            return "assess"
    return "log"


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _job_is_dead(pid: int | None, host: str | None, heartbeat: int | None,
                 started: int, now: int) -> bool:
    """Whether a ``running`` job's process is gone: on this host its pid is not alive; on
    any host (or with no pid recorded) its last sign of life is over :data:`STALE_AFTER`."""
    last = heartbeat if heartbeat is not None else started
    if now - last > STALE_AFTER:
        return True
    if pid is not None and host == socket.gethostname()[:255]:
        return pid != os.getpid() and not _pid_alive(pid)
    return False


def reap_stale_jobs(store: Store, incident_id: int) -> int:
    """Mark the incident's ``running`` jobs whose process is gone as ``interrupted``
    (rerunning the file resumes them); returns how many."""
    j = t.jobs
    now = now_s()
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(j.c.id, j.c.pid, j.c.hostname, j.c.heartbeat_at,
                                      j.c.started_at)
                            .where(j.c.incident_id == incident_id, j.c.status == "running")).all()
    dead = [r for r in rows if _job_is_dead(r.pid, r.hostname, r.heartbeat_at,
                                            int(r.started_at), now)]
    if not dead:
        return 0
    with store.begin() as conn:
        for r in dead:
            who = f"process {r.pid} on {r.hostname}" if r.pid is not None else "its process"
            conn.execute(j.update().where(j.c.id == r.id, j.c.status == "running").values(
                status="interrupted", finished_at=now,
                message=f"{who} ended without finishing"))
    return len(dead)


class _Job:
    """The ingest-job row of one file: created or resumed, advanced per batch, finished.

    A job of the same file (path and fingerprint) that was ``interrupted`` or ``failed``, or
    is ``running`` with its process gone, is taken over and resumed at its position; one
    still running in a live process is left alone (this run gets a job of its own)."""

    def __init__(self, store: Store, incident_id: int, path: Path, kind: str) -> None:
        self.store = store
        self.incident_id = incident_id
        self.path = str(path.resolve())
        j = t.jobs
        fp = _fingerprint(path)
        me = {"pid": os.getpid(), "hostname": socket.gethostname()[:255]}
        now = now_s()
        with store.begin() as conn:
            rows = conn.execute(
                sa.select(j.c.id, j.c.position, j.c.skipped, j.c.status, j.c.pid,
                          j.c.hostname, j.c.heartbeat_at, j.c.started_at)
                .where(j.c.incident_id == incident_id, j.c.path == self.path,
                       j.c.fingerprint == fp,
                       j.c.status.in_(("running", "interrupted", "failed")))
                .order_by(j.c.id.desc())).all()
            row = next((r for r in rows if r.status != "running" or _job_is_dead(
                r.pid, r.hostname, r.heartbeat_at, int(r.started_at), now)), None)
            if row is not None:
                self.id, self.position, self.skipped = int(row[0]), int(row[1]), int(row[2])
                conn.execute(j.update().where(j.c.id == self.id).values(
                    status="running", heartbeat_at=now, finished_at=None, message=None, **me))
            else:
                res = conn.execute(j.insert().values(
                    incident_id=incident_id, path=self.path, fingerprint=fp, kind=kind,
                    status="running", started_at=now, heartbeat_at=now, **me)
                    .returning(j.c.id))
                self.id, self.position, self.skipped = int(res.scalar_one()), 0, 0
        self.resumed_from = self.position
        self.finished = False

    def commit(self, rows: list[tuple[Any, ...]], position: int, skipped: int) -> int:
        """Insert a batch and advance the job in one transaction; returns rows added."""
        with self.store.begin() as conn:
            if self.store.dialect == "postgresql":
                # Two processes resuming the same job must not fold each other's rows into
                # the rollups: serialise the job's batches (SQLite's write lock does that).
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self.id)))
            added = _insert_alerts(self.store, conn, self.incident_id, self.id, rows)
            j = t.jobs
            conn.execute(j.update().where(j.c.id == self.id).values(
                position=position, skipped=skipped, added=j.c.added + added,
                duplicates=j.c.duplicates + (len(rows) - added), heartbeat_at=now_s()))
        self.position, self.skipped = position, skipped
        return added

    def finish(self, status: str = "done", message: str | None = None) -> None:
        with self.store.begin() as conn:
            conn.execute(t.jobs.update().where(t.jobs.c.id == self.id).values(
                status=status, finished_at=now_s(), message=message))
        self.finished = True

    def end_abnormally(self, exc: BaseException) -> None:
        """Record why the job stopped (called from ``finally`` when it did not finish)."""
        if self.finished:
            return
        status = "failed" if isinstance(exc, Exception) else "interrupted"
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
        # If the store itself is gone, the next run's reaping marks the job.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            self.finish(status, f"{type(exc).__name__}: {text}")


def _insert_alerts(store: Store, conn: sa.Connection, incident_id: int, job_id: int | None,
                   rows: list[tuple[Any, ...]]) -> int:
    """Insert alert rows (ignoring known keys), fold the new ones into the rollups and bump
    the incident version, inside the caller's transaction; returns rows added."""
    store.lock_incident(conn, incident_id)
    if not rows:
        return 0
    after = max_alert_id(conn)
    added = store.insert_rows_ignore(conn, t.alerts, ALERT_COLUMNS, rows)
    if added:
        add_batch(conn, store.dialect, store.insert, incident_id, job_id, after)
        store.bump_version(conn, incident_id)
    return added


def _unchanged(store: Store, iid: int, path: Path) -> FileResult | None:
    """The result of skipping a file that a finished job already ingested, unchanged (same
    path, size and modification time); None when it has to be read."""
    j = t.jobs
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(j.c.kind, j.c.added, j.c.duplicates)
            .where(j.c.incident_id == iid, j.c.path == str(path.resolve()),
                   j.c.fingerprint == _fingerprint(path), j.c.status == "done")
            .order_by(j.c.id.desc())).first()
    if row is None:
        return None
    return FileResult(str(path), str(row[0]), duplicates=int(row[1]) + int(row[2]),
                      unchanged=True)


def _note_error(res: FileResult, message: str) -> None:
    res.skipped += 1
    if len(res.errors) < MAX_REPORTED_ERRORS:
        res.errors.append(message)


def _ingest_alerts_file(store: Store, iid: int, path: Path, cls: Classifier, batch: int,
                        progress: Progress | None, sensor: str | None) -> FileResult:
    job = _Job(store, iid, path, "alerts")
    try:
        res = _read_alerts_file(job, path, cls, batch, progress, sensor)
    except READ_ERRORS as exc:
        job.end_abnormally(exc)
        raise InputError(f"cannot read past record {job.position:,} "
                         f"({_reason(exc)}); the records before it are stored",
                         str(path)) from exc
    except BaseException as exc:
        job.end_abnormally(exc)
        raise
    job.finish()
    return res


def _records(fh: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a JSON Lines file; None for a line longer than
    :data:`MAX_RECORD_BYTES`, which is skipped without being held in memory."""
    lineno = 0
    while True:
        raw = fh.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(1 << 20)
            yield lineno, None
            continue
        yield lineno, raw


def _read_alerts_file(job: _Job, path: Path, cls: Classifier, batch: int,
                      progress: Progress | None, sensor: str | None) -> FileResult:
    iid = job.incident_id
    res = FileResult(str(path), "alerts", resumed_from=job.position, skipped=job.skipped)
    streams = Streams(sensor)
    rows: list[tuple[Any, ...]] = []
    lineno = 0
    with _open_binary(path) as fh:
        for lineno, raw in _records(fh):
            if raw is not None and not raw.strip():
                continue
            resumed = lineno <= job.position
            if not resumed:
                res.records += 1
            try:
                if raw is None:
                    raise ValueError(f"longer than {MAX_RECORD_BYTES:,} bytes")
                a = alert_from_record(json.loads(raw))
                key = streams.key(a)  # also for resumed lines: occurrences count from 0
                if not resumed:
                    rows.append(alert_row(iid, job.id, a, cls, key))
            except RECORD_ERRORS as exc:
                if not resumed:
                    _note_error(res, f"{path}:{lineno}: not an alert ({_reason(exc)})")
            if len(rows) >= batch:
                res.added += job.commit(rows, lineno, res.skipped)
                res.duplicates += len(rows)
                rows = []
                if progress is not None:
                    progress(str(path), lineno, res.added)
    res.added += job.commit(rows, max(lineno, job.position), res.skipped)
    res.duplicates += len(rows)
    res.duplicates -= res.added
    if progress is not None:
        progress(str(path), lineno, res.added)
    return res


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _ingest_log_file(store: Store, iid: int, path: Path, cls: Classifier, batch: int,
                     progress: Progress | None, sensor: str | None) -> FileResult:
    try:
        from wormsign.detect.scanner import scan_paths
    except ImportError as exc:
        raise InputError("not alerts or an assessment, and raw logs need the scanner "
                         "(wormsign.detect.scanner), which is not available", str(path)) from exc
    try:
        report = scan_paths([str(path)])
    except (*READ_ERRORS, *RECORD_ERRORS) as exc:  # a reader's bug must not end the run
        raise InputError(f"cannot scan: {_reason(exc)}", str(path)) from exc
    for st in report.files:
        if st.error:
            raise InputError(st.error, str(path))
    job = _Job(store, iid, path, "log")
    try:
        res = _store_scanned(job, path, report, cls, batch, progress, sensor)
    except BaseException as exc:
        job.end_abnormally(exc)
        raise
    job.finish()
    return res


def _store_scanned(job: _Job, path: Path, report: Any, cls: Classifier, batch: int,
                   progress: Progress | None, sensor: str | None) -> FileResult:
    iid = job.incident_id
    res = FileResult(str(path), "log", resumed_from=job.position)
    for st in report.files:
        res.skipped += st.skipped
        for ln in st.first_skipped[:MAX_REPORTED_ERRORS]:
            res.errors.append(f"{st.path}:{ln}: not a {st.format} line")
    alerts = report.alerts
    res.records = len(alerts)
    streams = Streams(sensor)
    keyed: list[tuple[Alert, int] | None] = []
    for a in alerts:
        try:
            keyed.append((check_alert(a), streams.key(a)))
        except RECORD_ERRORS as exc:
            keyed.append(None)
            _note_error(res, f"{a.file_path}:{a.line}: alert not stored ({_reason(exc)})")
    pos = job.position
    while pos < len(keyed):
        chunk = keyed[pos:pos + batch]
        rows = [alert_row(iid, job.id, k[0], cls, k[1]) for k in chunk if k is not None]
        pos += len(chunk)
        added = job.commit(rows, pos, res.skipped)
        res.added += added
        res.duplicates += len(rows) - added
        if progress is not None:
            progress(str(path), pos, res.added)
    if not alerts:
        job.commit([], 0, res.skipped)
    return res


def _str_list(v: Any) -> list[str]:
    return [_text(x, "list item") for x in v] if isinstance(v, list) else []


def _text(v: Any, name: str, limit: int | None = None, *, optional: bool = False,
          ) -> Any:
    """A text value checked like :func:`check_alert` checks alert text (numbers become
    text; objects are refused)."""
    if v is None and optional:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise TypeError(f"{name} is not text")
    if "\x00" in v:
        raise ValueError(f"{name} holds a NUL character")
    v.encode("utf-8")
    if limit is not None and len(v) > limit:
        raise ValueError(f"{name} longer than {limit} characters")
    return v


def _finding_row(iid: int, host: dict[str, Any], f: Any, stamp: int) -> dict[str, Any]:
    if not isinstance(f, dict) or not f.get("id") or not f.get("status"):
        raise ValueError("needs id and status")
    return {"incident_id": iid, "host": _text(host["host"], "host", 255),
            "exposure": _text(host.get("exposure"), "exposure", 32, optional=True),
            "vuln_id": _text(f["id"], "id", 64),
            "aliases": json.dumps(_str_list(f.get("aliases"))),
            "status": _text(f["status"], "status", 32),
            "evidence": json.dumps(_str_list(f.get("evidence"))),
            "fix": _text(f.get("fix"), "fix", optional=True), "updated_at": stamp}


def _ingest_assess_file(store: Store, iid: int, path: Path) -> FileResult:
    job = _Job(store, iid, path, "assess")
    try:
        res = _store_assessment(store, job, path)
    except BaseException as exc:
        job.end_abnormally(exc)
        raise
    job.finish()
    return res


def _store_assessment(store: Store, job: _Job, path: Path) -> FileResult:
    iid = job.incident_id
    res = FileResult(str(path), "assess")
    try:
        with _open_binary(path) as fh:
            data = fh.read(ASSESS_MAX_BYTES + 1)
        if len(data) > ASSESS_MAX_BYTES:
            raise ValueError(f"larger than {ASSESS_MAX_BYTES:,} bytes")
        doc = json.loads(data.decode("utf-8"))
    except (*RECORD_ERRORS, *READ_ERRORS) as exc:
        raise InputError(f"not a readable assess --json document: {_reason(exc)}",
                         str(path)) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("hosts", []), list):
        raise InputError("not an assess --json document (no hosts list)", str(path))
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    stamp = now_s()
    for i, host in enumerate(doc.get("hosts", [])):
        if not isinstance(host, dict) or not host.get("host"):
            _note_error(res, f"{path}: hosts[{i}]: no host name")
            continue
        findings = host.get("findings") or []
        for k, f in enumerate(findings if isinstance(findings, list) else [findings]):
            res.records += 1
            try:
                row = _finding_row(iid, host, f, stamp)
            except RECORD_ERRORS as exc:
                _note_error(res, f"{path}: hosts[{i}].findings[{k}]: {_reason(exc)}")
                continue
            by_key[(row["host"], row["vuln_id"])] = row  # the last verdict of a host wins
    rows = list(by_key.values())
    with store.begin() as conn:
        if rows:
            stmt = store.insert(t.findings)
            stmt = stmt.on_conflict_do_update(
                index_elements=["incident_id", "host", "vuln_id"],
                set_={c: stmt.excluded[c] for c in
                      ("exposure", "aliases", "status", "evidence", "fix", "updated_at")})
            conn.execute(stmt, rows)
        exploitable = sum(1 for r in rows if r["status"] == "exploitable")
        store.log_action(conn, iid, "assessment",
                         f"{path.name}: {len(rows)} verdicts, {exploitable} exploitable")
    res.added = len(rows)
    job.commit([], res.records, res.skipped)
    return res


@dataclass(frozen=True)
class BatchResult:
    """What one :func:`ingest_alert_batch` call stored."""

    added: int
    duplicates: int
    skipped: int
    errors: tuple[str, ...] = ()


def ingest_alert_batch(store: Store, incident_id: int, alerts: Iterable[Alert], *,
                       sensor: str | None = None,
                       checkpoint: WatchOffset | Sequence[WatchOffset] | None = None,
                       ) -> BatchResult:
    """Store alerts found live (``wormsign watch``) and the read offsets that cover them in
    ONE transaction, so that after ``kill -9`` a restart from the saved offsets neither
    loses nor doubles a line. Nothing is written if the transaction fails.

    ``alerts`` are keyed by content like every ingest (:func:`event_hash`), ``sensor``
    overriding the format's sensor family (use the same one for every ingest of the same
    evidence). Occurrence indices continue across calls and restarts from the state saved
    in each checkpoint: an alert belongs to the checkpoint with its ``file_path`` (or to
    the only one given); a checkpoint whose ``head`` or offset shows a new file (truncated
    or replaced) starts a fresh stream. Alerts without a checkpoint count from 0 within the
    call. So pass each line's alerts once, with the offset after them: the alerts of the
    lines between the saved offset and ``checkpoint`` (a batch sent again with the same
    checkpoint would count its identical events as further occurrences). Invalid alerts
    are counted in ``skipped`` with the reason in ``errors``.

    :class:`ConflictError` when the incident is closed, :class:`NotFoundError` when there
    is none.
    """
    offsets = [checkpoint] if isinstance(checkpoint, WatchOffset) else list(checkpoint or [])
    cls = store.classifier(incident_id)
    errors: list[str] = []
    skipped = 0
    with store.begin() as conn:
        store.lock_incident(conn, incident_id)
        status = conn.execute(sa.select(t.incidents.c.status)
                              .where(t.incidents.c.id == incident_id)).scalar()
        if status is None:
            store.get_incident(incident_id)  # raises NotFoundError
        if status != "open":
            raise ConflictError(f"incident {incident_id} is closed")
        counters = _load_counters(conn, incident_id, offsets)
        by_path = {o.path: o.file_key for o in offsets}
        only = offsets[0].file_key if len(offsets) == 1 else None
        loose = Streams(sensor)
        rows: list[tuple[Any, ...]] = []
        for a in alerts:
            try:
                check_alert(a)
            except RECORD_ERRORS as exc:
                skipped += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(f"{a.file_path}:{a.line}: alert not stored ({_reason(exc)})")
                continue
            fk = only or by_path.get(a.file_path)
            if fk is None:
                key = loose.key(a)
            else:
                ts = _epoch(a.timestamp)
                h = _event_hash(a, sensor, ts)
                key = evidence_key(h, counters[fk].next(h, ts))
            rows.append(alert_row(incident_id, None, a, cls, key))
        added = _insert_alerts(store, conn, incident_id, None, rows)
        store.save_watch_offsets(conn, incident_id, [
            _with_occurrences(o, counters[o.file_key].dump()) for o in offsets])
    return BatchResult(added, len(rows) - added, skipped, tuple(errors))


def ingest_alerts(store: Store, incident_id: int, alerts: Iterable[Alert], *,
                  sensor: str | None = None,
                  checkpoint: WatchOffset | Sequence[WatchOffset] | None = None) -> int:
    """:func:`ingest_alert_batch` returning only the number of alerts added."""
    return ingest_alert_batch(store, incident_id, alerts, sensor=sensor,
                              checkpoint=checkpoint).added


def _with_occurrences(o: WatchOffset, state: str) -> WatchOffset:
    return replace(o, occurrences=state)


def _load_counters(conn: sa.Connection, incident_id: int,
                   offsets: list[WatchOffset]) -> dict[str, Occurrences]:
    """The occurrence state of each checkpoint's stream: the stored one when the stored
    offset is of the same file (same head) and not ahead of the new one, else fresh."""
    w = t.watch_offsets
    out: dict[str, Occurrences] = {}
    keys = [o.file_key for o in offsets]
    stored = {r.file_key: r for r in conn.execute(
        sa.select(w.c.file_key, w.c.head, w.c.offset, w.c.occurrences)
        .where(w.c.incident_id == incident_id, w.c.file_key.in_(keys)))} if keys else {}
    for o in offsets:
        old = stored.get(o.file_key)
        if old is not None and old.head == o.head and int(old.offset) <= o.offset:
            out[o.file_key] = Occurrences.load(str(old.occurrences))
        else:
            out[o.file_key] = Occurrences()
    return out


def ingest_paths(store: Store, incident_id: int, paths: Sequence[str | Path], *,
                 batch_size: int = DEFAULT_BATCH, progress: Progress | None = None,
                 apply_playbooks: bool = True, reread: bool = False,
                 sensor: str | None = None) -> IngestResult:
    """Ingest files into an open incident and apply the playbooks of the families seen.

    A file that an earlier ingest finished and that has not changed since (same path, size
    and modification time) is skipped (``unchanged`` in its result) unless ``reread``; a
    re-read one adds only the alerts not stored yet. Evidence is identified by content
    (module docstring); ``sensor`` names the sensor of every file instead of the format's
    family. Afterwards the records of one request in several sensors' logs are grouped into
    one event (:func:`wormsign.incidents.events.correlate_incident`): counts count events.

    A path that does not exist raises :class:`InputError` before anything is ingested. A
    file that cannot be read at all (binary, truncated, no known format) gets ``error`` in its
    result and the other files are still ingested; bad records inside a file are skipped,
    counted and listed (up to ten per file). Jobs of earlier runs whose process died are
    marked ``interrupted`` first and resumed when their file is read again.
    """
    if batch_size < 1:
        raise InvalidError("batch size must be positive")
    if sensor is not None and not sensor.strip():
        raise InvalidError("a sensor name cannot be blank")
    store.require_open(incident_id)
    reap_stale_jobs(store, incident_id)
    cls = store.classifier(incident_id)
    with store.engine.connect() as conn:
        before = max_alert_id(conn)
    results: list[FileResult] = []
    for p in list(_expand(paths)):
        same = None if reread else _unchanged(store, incident_id, p)
        if same is not None:
            results.append(same)
            continue
        kind = "unknown"
        try:
            kind = detect_kind(p)
            if kind == "alerts":
                r = _ingest_alerts_file(store, incident_id, p, cls, batch_size, progress,
                                        sensor)
            elif kind == "assess":
                r = _ingest_assess_file(store, incident_id, p)
            else:
                r = _ingest_log_file(store, incident_id, p, cls, batch_size, progress, sensor)
        except InputError as exc:
            msg = str(exc) if exc.path else f"{p}: {exc}"
            results.append(FileResult(str(p), kind, error=msg))
            store.record_action(incident_id, "ingest", f"{p.name}: not ingested ({exc.message})")
            continue
        store.record_action(incident_id, "ingest",
                            f"{p.name} ({r.kind}): {r.added} added, {r.duplicates} duplicate, "
                            f"{r.skipped} skipped")
        results.append(r)
    if any(r.added for r in results):
        from wormsign.incidents.events import correlate_incident

        joined = correlate_incident(store, incident_id, after_id=before)
        if joined:
            store.record_action(incident_id, "ingest", f"events across sensors: {joined} "
                                "record(s) regrouped")
    families: list[str] = []
    added_tasks = 0
    if apply_playbooks:
        from wormsign.incidents.playbook import apply_playbooks as apply
        families, added_tasks = apply(store, incident_id)
    return IngestResult(incident_id, results, families, added_tasks)


def _expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from sorted(x for x in p.rglob("*") if x.is_file())
        elif p.is_file():
            yield p
        else:
            raise InputError("no such file", str(p))
