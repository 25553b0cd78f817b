"""Ingest evidence into an incident: ``scan --alerts`` JSON Lines, ``assess --json``, raw logs.

The kind of each file is detected from its content (:func:`detect_kind`): JSON Lines whose
objects carry ``rule.id`` and ``source.ip`` are alerts, a JSON object with ``hosts`` is an
assessment, anything else is a raw log scanned on the fly with
:func:`wormsign.detect.scanner.scan_paths`.

Idempotent: every alert has a natural key (a 64-bit hash of its log file, line, rule, source
and timestamp) that is unique per incident, and rows are written with
``INSERT ... ON CONFLICT DO NOTHING``; ingesting the same evidence twice adds nothing.

Crash-safe: each file gets an ingest-job row; alerts are written in batches, each batch in
one transaction together with the job's position (records consumed). A killed process leaves
whole batches only; rerunning the same file resumes an unfinished job at its position, and
the natural keys make any overlap harmless.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import sqlalchemy as sa

from wormsign.detect.alert import Alert
from wormsign.errors import InputError, StoreError
from wormsign.incidents import schema as t
from wormsign.incidents.networks import Classifier
from wormsign.incidents.rollup import add_batch, max_alert_id
from wormsign.incidents.store import Store, now_s

DEFAULT_BATCH = 50_000
MAX_REPORTED_ERRORS = 10
ASSESS_MAX_BYTES = 512 * 1024 * 1024

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


def alert_key(a: Alert) -> int:
    """The natural key of an alert: a signed 64-bit hash of where and what it is."""
    ts = a.timestamp.astimezone(UTC).isoformat() if a.timestamp is not None else ""
    raw = "\x1f".join((a.file_path, str(a.line), a.rule_id, a.source_ip, ts))
    return int.from_bytes(hashlib.blake2b(raw.encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "big", signed=True)


def _epoch(ts: datetime | None) -> int | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp())


#: Column order of the tuples built by :func:`alert_row`.
ALERT_COLUMNS = ("incident_id", "akey", "ts", "source_ip", "internal", "family", "rule_family",
                 "rule_id", "rule_name", "severity", "url", "method", "status", "user_agent",
                 "host", "file_path", "line", "format", "job_id")


def alert_row(incident_id: int, job_id: int | None, a: Alert, cls: Classifier) -> tuple[Any, ...]:
    """The ``alerts`` table row of one alert, in :data:`ALERT_COLUMNS` order."""
    return (incident_id, alert_key(a), _epoch(a.timestamp), a.source_ip,
            1 if cls.is_internal(a.source_ip) else 0, a.family, a.rule_family, a.rule_id,
            a.rule_name, a.severity, a.url, a.method, a.status, a.user_agent, a.host,
            a.file_path, a.line, a.format, job_id)


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


class _Job:
    """The ingest-job row of one file: created or resumed, advanced per batch, finished."""

    def __init__(self, store: Store, incident_id: int, path: Path, kind: str) -> None:
        self.store = store
        self.incident_id = incident_id
        self.path = str(path.resolve())
        j = t.jobs
        fp = _fingerprint(path)
        with store.begin() as conn:
            row = conn.execute(
                sa.select(j.c.id, j.c.position, j.c.skipped)
                .where(j.c.incident_id == incident_id, j.c.path == self.path,
                       j.c.fingerprint == fp, j.c.status == "running")
                .order_by(j.c.id.desc())).first()
            if row is not None:
                self.id, self.position, self.skipped = int(row[0]), int(row[1]), int(row[2])
            else:
                res = conn.execute(j.insert().values(
                    incident_id=incident_id, path=self.path, fingerprint=fp, kind=kind,
                    status="running", started_at=now_s()).returning(j.c.id))
                self.id, self.position, self.skipped = int(res.scalar_one()), 0, 0
        self.resumed_from = self.position

    def commit(self, rows: list[tuple[Any, ...]], position: int, skipped: int) -> int:
        """Insert a batch and advance the job in one transaction; returns rows added."""
        added = 0
        with self.store.begin() as conn:
            if self.store.dialect == "postgresql":
                # Two processes resuming the same job must not fold each other's rows into
                # the rollups: serialise the job's batches (SQLite's write lock does that).
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self.id)))
            if rows:
                after = max_alert_id(conn)
                added = self.store.insert_rows_ignore(conn, t.alerts, ALERT_COLUMNS, rows)
                if added:
                    add_batch(conn, self.store.dialect, self.store.insert, self.incident_id,
                              self.id, after)
            j = t.jobs
            conn.execute(j.update().where(j.c.id == self.id).values(
                position=position, skipped=skipped, added=j.c.added + added,
                duplicates=j.c.duplicates + (len(rows) - added)))
        self.position, self.skipped = position, skipped
        return added

    def finish(self, status: str = "done", message: str | None = None) -> None:
        with self.store.begin() as conn:
            conn.execute(t.jobs.update().where(t.jobs.c.id == self.id).values(
                status=status, finished_at=now_s(), message=message))


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
                        progress: Progress | None) -> FileResult:
    job = _Job(store, iid, path, "alerts")
    res = FileResult(str(path), "alerts", resumed_from=job.position, skipped=job.skipped)
    rows: list[tuple[Any, ...]] = []
    lineno = 0
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno <= job.position:
                continue
            if raw.strip():
                res.records += 1
                try:
                    obj = json.loads(raw)
                    if not isinstance(obj, dict):
                        raise TypeError("not a JSON object")
                    rows.append(alert_row(iid, job.id, Alert.from_ecs(obj), cls))
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    _note_error(res, f"{path}:{lineno}: not an alert ({exc})")
            if len(rows) >= batch:
                res.added += job.commit(rows, lineno, res.skipped)
                res.duplicates += len(rows)
                rows = []
                if progress is not None:
                    progress(str(path), lineno, res.added)
    res.added += job.commit(rows, lineno, res.skipped)
    res.duplicates += len(rows)
    res.duplicates -= res.added
    job.finish()
    if progress is not None:
        progress(str(path), lineno, res.added)
    return res


def _ingest_log_file(store: Store, iid: int, path: Path, cls: Classifier, batch: int,
                     progress: Progress | None) -> FileResult:
    try:
        from wormsign.detect.scanner import scan_paths
    except ImportError as exc:
        raise InputError("not alerts or an assessment, and raw logs need the scanner "
                         "(wormsign.detect.scanner), which is not available", str(path)) from exc
    report = scan_paths([str(path)])
    job = _Job(store, iid, path, "log")
    res = FileResult(str(path), "log", resumed_from=job.position)
    for st in report.files:
        if st.error:
            raise InputError(st.error, str(path))
        res.skipped += st.skipped
        for ln in st.first_skipped[:MAX_REPORTED_ERRORS]:
            res.errors.append(f"{st.path}:{ln}: not a {st.format} line")
    alerts = report.alerts
    res.records = len(alerts)
    pos = job.position
    while pos < len(alerts):
        chunk = alerts[pos:pos + batch]
        rows = [alert_row(iid, job.id, a, cls) for a in chunk]
        pos += len(chunk)
        added = job.commit(rows, pos, res.skipped)
        res.added += added
        res.duplicates += len(rows) - added
        if progress is not None:
            progress(str(path), pos, res.added)
    if not alerts:
        job.commit([], 0, res.skipped)
    job.finish()
    return res


def _str_list(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def _ingest_assess_file(store: Store, iid: int, path: Path) -> FileResult:
    job = _Job(store, iid, path, "assess")
    res = FileResult(str(path), "assess")
    try:
        with _open_binary(path) as fh:
            doc = json.loads(fh.read().decode("utf-8"))
    except (ValueError, OSError) as exc:
        job.finish("failed", str(exc))
        raise InputError(f"not a readable assess --json document: {exc}", str(path)) from exc
    rows: list[dict[str, Any]] = []
    stamp = now_s()
    for i, host in enumerate(doc.get("hosts", [])):
        if not isinstance(host, dict) or not host.get("host"):
            _note_error(res, f"{path}: hosts[{i}]: no host name")
            continue
        for k, f in enumerate(host.get("findings") or []):
            res.records += 1
            if not isinstance(f, dict) or not f.get("id") or not f.get("status"):
                _note_error(res, f"{path}: hosts[{i}].findings[{k}]: needs id and status")
                continue
            rows.append({"incident_id": iid, "host": str(host["host"]),
                         "exposure": host.get("exposure"), "vuln_id": str(f["id"]),
                         "aliases": json.dumps(_str_list(f.get("aliases"))),
                         "status": str(f["status"]),
                         "evidence": json.dumps(_str_list(f.get("evidence"))),
                         "fix": f.get("fix"), "updated_at": stamp})
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
    job.finish()
    return res


def ingest_paths(store: Store, incident_id: int, paths: Sequence[str | Path], *,
                 batch_size: int = DEFAULT_BATCH, progress: Progress | None = None,
                 apply_playbooks: bool = True, reread: bool = False) -> IngestResult:
    """Ingest files into an open incident and apply the playbooks of the families seen.

    A file that an earlier ingest finished and that has not changed since (same path, size
    and modification time) is skipped (``unchanged`` in its result) unless ``reread``; a
    re-read one adds only the alerts not stored yet.

    A path that does not exist raises :class:`InputError` before anything is ingested. A
    file that cannot be read at all (binary, truncated, no known format) gets ``error`` in its
    result and the other files are still ingested; bad records inside a file are skipped,
    counted and listed (up to ten per file).
    """
    if batch_size < 1:
        raise StoreError("batch size must be positive")
    store.require_open(incident_id)
    cls = store.classifier(incident_id)
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
                r = _ingest_alerts_file(store, incident_id, p, cls, batch_size, progress)
            elif kind == "assess":
                r = _ingest_assess_file(store, incident_id, p)
            else:
                r = _ingest_log_file(store, incident_id, p, cls, batch_size, progress)
        except InputError as exc:
            msg = str(exc) if exc.path else f"{p}: {exc}"
            results.append(FileResult(str(p), kind, error=msg))
            store.record_action(incident_id, "ingest", f"{p.name}: not ingested ({exc.message})")
            continue
        store.record_action(incident_id, "ingest",
                            f"{p.name} ({r.kind}): {r.added} added, {r.duplicates} duplicate, "
                            f"{r.skipped} skipped")
        results.append(r)
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
