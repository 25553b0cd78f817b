"""The incident store as the watcher's checkpoint: alerts and read offsets in one transaction.

:class:`StoreCheckpoint` hands each step's alerts to
:func:`wormsign.incidents.ingest.ingest_alert_batch` together with the follower's state as
:class:`~wormsign.incidents.store.WatchOffset` rows, so both are committed in ONE
transaction: a watcher killed at any point resumes from offsets that match exactly the
alerts stored. The rows (``file_key`` prefixes):

- ``gen:KEY`` one generation of a followed file (device, inode, offset, line; ``head`` holds
  ``STATE:LENGTH:DIGEST``, the follower's state and head fingerprint);
- ``done:DIGEST`` the head of a finished generation (so a copy of it is not read again);
- ``stream:HASH`` one per followed path, passed last with every batch that has alerts of
  that path: the stream whose occurrence counters key the alerts by content (its ``offset``
  is the number of lines read from the path in all, so it never goes back);
- ``pending:HASH`` the held requests (:mod:`wormsign.watch.live`) of this watcher, as JSON
  in ``path`` (the row has no other text column that ingest leaves alone).

Alerts are keyed by content with the format's sensor family, like ``incident ingest``: the
same log ingested later adds nothing.

:class:`StoreSink` adds what an incident needs while the watch runs: the new records grouped
into events with the other sensors' records of the same requests (as ``incident ingest``
does after each file), its blocklist refreshed and the playbooks of new families applied.
How far the events are up to date is the row ``events:HASH`` (its ``offset``: the last alert
id grouped), so that rows a killed watcher stored are grouped after its restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

import sqlalchemy as sa

from wormsign.detect.alert import Alert
from wormsign.errors import WormsignError
from wormsign.incidents.ingest import ingest_alert_batch
from wormsign.incidents.store import Store, WatchOffset
from wormsign.watch.checkpoint import CheckpointBusy, Offsets

REFRESH_EVERY = 5.0


def _h(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()


def sensor_name(paths: Sequence[str]) -> str:
    """The identity of a watcher: the absolute paths it follows."""
    return "\x1f".join(sorted(os.path.abspath(p) for p in paths))


def to_rows(key: str, r: Mapping[str, Any], sensor: str) -> WatchOffset:
    """One follower record as a store row (see the module docstring)."""
    state = r.get("state")
    path = str(r.get("path", ""))
    if state in ("live", "draining"):
        return WatchOffset(f"gen:{key}", path, int(r["dev"]), int(r["ino"]), int(r["offset"]),
                           int(r["line"]), f"{state}:{int(r['head_len'])}:{r['head']}")
    if state == "done":
        return WatchOffset(f"done:{r['head']}", path, 0, 0, 0, 0,
                           f"done:{int(r['head_len'])}:{r['head']}")
    if state == "stream":
        n = int(r.get("lines", 0))
        return WatchOffset(f"stream:{_h(path)}", path, 0, 0, n, n, "stream")
    if state == "pending":
        return WatchOffset(f"pending:{_h(sensor)}", json.dumps(r.get("items", [])), 0, 0, 0, 0,
                           "pending")
    raise ValueError(f"unknown watch record state {state!r}")


def from_row(o: WatchOffset, sensor: str) -> tuple[str, dict[str, Any]] | None:
    """A store row back as a follower record (None for rows of other watchers)."""
    kind, _, rest = o.file_key.partition(":")
    if kind == "gen":
        state, length, digest = o.head.split(":", 2)
        return rest, {"path": o.path, "dev": o.device, "ino": o.inode, "offset": o.offset,
                      "line": o.line, "head_len": int(length), "head": digest, "state": state}
    if kind == "done":
        _, length, digest = o.head.split(":", 2)
        return o.file_key, {"path": o.path, "state": "done", "head_len": int(length),
                            "head": digest}
    if kind == "stream":
        return "stream:" + o.path, {"path": o.path, "state": "stream", "lines": o.offset}
    if kind == "pending" and rest == _h(sensor):
        try:
            items = json.loads(o.path)
        except ValueError:
            items = []
        return "pending", {"path": "", "state": "pending", "items": items}
    return None


class StoreCheckpoint:
    """A :class:`~wormsign.watch.checkpoint.Checkpoint` in an incident store."""

    def __init__(self, store: Store, incident_id: int, sensor: str,
                 note: Callable[[str], None] | None = None) -> None:
        store.require_open(incident_id)
        self.store = store
        self.incident_id = incident_id
        self.sensor = sensor
        self.note = note or (lambda _m: None)
        self.sent: dict[str, WatchOffset] = {}
        self.paths = [p for p in sensor.split("\x1f") if p]

    def _mine(self, path: str) -> bool:
        """Whether a row's path is one this watcher follows (a file or one in a folder)."""
        return any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in self.paths)

    def load(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for o in self.store.get_watch_offsets(self.incident_id):
            try:
                rec = from_row(o, self.sensor)
            except ValueError:
                continue
            if rec is not None and (rec[0] == "pending" or self._mine(o.path)):
                out[rec[0]] = rec[1]
                self.sent[o.file_key] = WatchOffset(o.file_key, o.path, o.device, o.inode,
                                                    o.offset, o.line, o.head)
        return out

    def commit(self, alerts: Sequence[Alert], offsets: Offsets) -> int:
        rows = [to_rows(k, r, self.sensor) for k, r in offsets.items()]
        with_alerts = {a.file_path for a in alerts}
        changed = [o for o in rows if not o.file_key.startswith("stream:")
                   and self.sent.get(o.file_key) != o]
        # The stream rows of the paths with alerts go last: alerts count in them.
        streams = [o for o in rows if o.file_key.startswith("stream:") and o.path in with_alerts]
        try:
            res = ingest_alert_batch(self.store, self.incident_id, alerts,
                                     checkpoint=changed + streams)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise CheckpointBusy(f"incident store unavailable: {reason}") from exc
        for o in changed + streams:
            self.sent[o.file_key] = o
        for msg in res.errors:
            self.note(msg)
        present = {o.file_key for o in rows}
        gone = [k for k in self.sent if k.startswith(("gen:", "done:")) and k not in present]
        for k in gone:  # retired generations (their heads are kept as done:), old heads
            self.store.delete_watch_offset(self.incident_id, k)
            del self.sent[k]
        return res.added

    def finish(self) -> None:
        """Nothing to close: every commit is complete in itself."""


class Upkeep:
    """What an incident needs besides its alerts while a watch runs: the new records grouped
    into events with the other sensors' records, the blocklist refreshed, the playbooks of
    new families applied. How far the events are up to date is the row ``events:HASH``."""

    def __init__(self, store: Store, incident_id: int, sensor: str,
                 note: Callable[[str], None]) -> None:
        self.store = store
        self.incident_id = incident_id
        self.sensor = sensor
        self.note = note
        self.regrouped = 0  # records that joined another sensor's event
        self._events_key = f"events:{_h(sensor)}"
        self._grouped = self._load_watermark()

    def refresh(self) -> float:
        """Bring events, blocklist and playbook tasks up to date with the stored alerts;
        returns the seconds it took."""
        from wormsign.incidents.blocklist import refresh
        from wormsign.incidents.playbook import apply_playbooks

        t0 = time.monotonic()
        try:
            self.group_events()
            refresh(self.store, self.incident_id)
            apply_playbooks(self.store, self.incident_id)
        except (WormsignError, sa.exc.SQLAlchemyError) as exc:
            self.note(f"blocklist refresh failed: {exc}")
        return time.monotonic() - t0

    def group_events(self) -> int:
        """Group the records stored since the last call into events across sensors
        (:func:`wormsign.incidents.events.correlate_incident`); returns how many records
        changed event."""
        from wormsign.incidents.events import correlate_incident
        from wormsign.incidents.rollup import max_alert_id

        with self.store.engine.connect() as conn:
            top = max_alert_id(conn)
        if top <= self._grouped:
            return 0
        joined = correlate_incident(self.store, self.incident_id, after_id=self._grouped)
        self._save_watermark(top)
        self.regrouped += joined
        return joined

    def reload(self) -> None:
        """Read the watermark again (another process may have moved it)."""
        self._grouped = self._load_watermark()

    def _load_watermark(self) -> int:
        """The last alert id grouped into events for this watcher; when it has none yet,
        every row stored before it started (their ingest grouped them)."""
        from wormsign.incidents.rollup import max_alert_id

        for o in self.store.get_watch_offsets(self.incident_id):
            if o.file_key == self._events_key:
                return o.offset
        with self.store.engine.connect() as conn:
            top = max_alert_id(conn)
        self._save_watermark(top)
        return top

    def _save_watermark(self, top: int) -> None:
        with self.store.begin() as conn:
            self.store.save_watch_offsets(conn, self.incident_id, [
                WatchOffset(self._events_key, "", 0, 0, top, 0, "events")])
        self._grouped = top


class _InThread:
    """The upkeep in a thread of the watcher."""

    def __init__(self, upkeep: Upkeep) -> None:
        self.upkeep = upkeep
        self.took = 0.0
        self._thread: threading.Thread | None = None

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wormsign-blocklist",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.took = self.upkeep.refresh()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def finish(self, again: bool) -> int:
        """Wait, run once more when ``again``; the records regrouped elsewhere than in
        :attr:`upkeep` (none: this runner uses it)."""
        self.wait()
        if again:
            self.took = self.upkeep.refresh()
        return 0


def _upkeep_main(conn: Connection, url: str, incident_id: int, sensor: str) -> None:
    """The upkeep process: a refresh per ``"refresh"`` message, until ``"close"`` or until
    the watcher is gone (its end of the pipe closed: killed, even with SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the watcher, which closes us
    store = Store.open(url, migrate=False)
    try:
        up = Upkeep(store, incident_id, sensor, note=lambda m: conn.send(("note", m)))
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg == "close":
                conn.send(("closed", up.regrouped))
                return
            conn.send(("took", up.refresh()))
    finally:
        store.close()


class _InProcess:
    """The upkeep in a process of its own (started with ``spawn``: the watcher has threads),
    so that its work (grouping tens of thousands of records, rewriting a blocklist of as many
    sources) neither takes the watch loop's turn at the interpreter lock nor slows it on a
    second core; delays of the watch loop stay those of its own work. When the process
    cannot start or dies, the upkeep falls back to a thread."""

    def __init__(self, url: str, upkeep: Upkeep) -> None:
        import multiprocessing

        self.fallback = _InThread(upkeep)
        self.note = upkeep.note
        self.took = 0.0
        self._busy = False
        self._regrouped = 0
        self.failed = False
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc: Any = ctx.Process(target=_upkeep_main, name="wormsign-upkeep", daemon=True,
                                      args=(child, url, upkeep.incident_id, upkeep.sensor))
        try:
            self._proc.start()
        except OSError as exc:
            self.note(f"no upkeep process ({exc}); blocklist refreshes run in this process")
            self.failed = True
        child.close()

    def _drain(self, wait: bool) -> None:
        """Read what the process said; ``wait``: until its current refresh ends."""
        try:
            while self._busy and (wait or self._conn.poll()):
                kind, value = self._conn.recv()
                if kind == "note":
                    self.note(str(value))
                elif kind == "took":
                    self.took, self._busy = float(value), False
        except (EOFError, OSError):
            self._lost()

    def _lost(self) -> None:
        if not self.failed:
            self.note("the upkeep process ended; blocklist refreshes run in this process")
            self.fallback.upkeep.reload()
        self.failed, self._busy = True, False

    def busy(self) -> bool:
        if self.failed:
            return self.fallback.busy()
        self._drain(wait=False)
        return self._busy

    def start(self) -> None:
        if not self.failed:
            try:
                self._conn.send("refresh")
                self._busy = True
                return
            except OSError:
                self._lost()
        self.fallback.start()

    def wait(self) -> None:
        if self.failed:
            self.fallback.wait()
        else:
            self._drain(wait=True)

    def finish(self, again: bool) -> int:
        """Wait, run once more when ``again``, end the process; the records it regrouped."""
        if self.failed:
            return self._regrouped + self.fallback.finish(again)
        self._drain(wait=True)
        if again and not self.failed:
            self.start()
            self._drain(wait=True)
        try:
            self._conn.send("close")
            kind, value = self._conn.recv()
            while kind == "note":
                self.note(str(value))
                kind, value = self._conn.recv()
            self._regrouped = int(value) if kind == "closed" else 0
        except (EOFError, OSError):
            self._lost()
            return self.fallback.finish(again)
        self._proc.join(timeout=30)
        return self._regrouped


class StoreSink:
    """A store checkpoint plus the :class:`Upkeep` of the incident (blocklist, events,
    playbooks).

    The upkeep runs beside the watch loop, never in it: in a process of its own when the
    sink is opened from a store URL (:meth:`open`, what ``wormsign watch`` does), else in a
    background thread. It starts again no sooner than ``refresh_every`` seconds, or four
    times as long as it last took, after its previous start, and never while it runs.
    """

    def __init__(self, store: Store, incident_id: int, sensor: str,
                 note: Callable[[str], None], refresh_every: float = REFRESH_EVERY,
                 url: str | None = None) -> None:
        self.store = store
        self.incident_id = incident_id
        self.checkpoint = StoreCheckpoint(store, incident_id, sensor, note)
        self.note = note
        self.refresh_every = refresh_every
        self._elsewhere = 0  # records regrouped by the upkeep process
        self._unrefreshed = 0
        self._next = 0.0
        self.upkeep = Upkeep(store, incident_id, sensor, note)  # the watermark, set now
        self._runner: _InThread | _InProcess = (
            _InProcess(url, self.upkeep) if url is not None else _InThread(self.upkeep))

    @classmethod
    def open(cls, db: str | None, incident_id: int, paths: Sequence[str],
             note: Callable[[str], None]) -> StoreSink:
        store = Store.open(db)
        url = store.engine.url.render_as_string(hide_password=False)
        in_memory = store.dialect == "sqlite" and store.engine.url.database in (None, "",
                                                                               ":memory:")
        return cls(store, incident_id, sensor_name(paths), note,
                   url=None if in_memory else url)

    def after_commit(self, added: int) -> None:
        """Start an upkeep run when alerts were added and the last run is long enough
        ago."""
        self._unrefreshed += added
        if self._unrefreshed and not self._runner.busy() and time.monotonic() >= self._next:
            self._unrefreshed = 0
            self._next = time.monotonic() + max(self.refresh_every, 4 * self._runner.took)
            self._runner.start()

    @property
    def regrouped(self) -> int:
        """Records that joined another sensor's event, this run."""
        return self.upkeep.regrouped + self._elsewhere

    def wait(self) -> None:
        """Wait for the upkeep run in progress, if any."""
        self._runner.wait()

    def refresh(self) -> None:
        """Bring the blocklist and the playbook tasks up to date (in this thread)."""
        self.upkeep.refresh()

    def group_events(self) -> int:
        """:meth:`Upkeep.group_events` (in this thread)."""
        return self.upkeep.group_events()

    def close(self) -> None:
        self._elsewhere = self._runner.finish(again=bool(self._unrefreshed))
        self._unrefreshed = 0
        if self.regrouped:
            self.store.record_action(self.incident_id, "watch", "events across sensors: "
                                     f"{self.regrouped} record(s) regrouped")
        self.checkpoint.finish()
        self.store.close()
