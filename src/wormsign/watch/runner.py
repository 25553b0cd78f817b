"""The watch loop: follow, scan, attribute, commit, show; until told to stop.

Each :meth:`Watcher.step` reads what is new in every followed file, scans it, attributes the
matched requests (:mod:`wormsign.watch.live`) and commits the alerts together with the read
offsets and the held requests in one :class:`~wormsign.watch.checkpoint.Checkpoint` commit.
:meth:`Watcher.run` repeats it: right away while data keeps coming, otherwise when a
file-system event wakes it (``watchdog``, when installed: inotify, FSEvents, kqueue, ...) or
after ``poll_interval`` seconds, whichever comes first. The periodic poll always runs, so a
missed or unsupported event only delays a line, never loses it. Setting the ``stop`` event
(SIGTERM, Ctrl-C) ends the loop after a last step and commit.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from wormsign.detect.alert import Alert
from wormsign.rules.model import RulePack
from wormsign.watch.checkpoint import Checkpoint, CheckpointBusy
from wormsign.watch.detector import Detector
from wormsign.watch.follower import Follower
from wormsign.watch.live import LiveAttributor

PENDING_KEY = "pending"
BATCH_DELAY = 0.1  # while data flows: let writes gather (fewer, larger commits: 20 % less CPU)


@dataclass
class WatchTotals:
    """Running totals, for views and for the end-of-run summary."""

    lines: int = 0
    alerts: int = 0
    stored: int = 0
    commits: int = 0
    notes: list[str] = field(default_factory=list)


class _Waker:
    """Wakes the loop on file-system events (watchdog), if watchdog is installed."""

    def __init__(self, dirs: Sequence[str], event: threading.Event) -> None:
        self.observer: Any = None
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, _e: FileSystemEvent) -> None:
                event.set()

        try:
            obs = Observer()
            for d in dirs:
                obs.schedule(_Handler(), d, recursive=True)
            obs.daemon = True
            obs.start()
        except OSError:  # e.g. inotify watch limit reached: polling still works
            return
        self.observer = obs

    @property
    def active(self) -> bool:
        return self.observer is not None

    def close(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)


@dataclass(frozen=True)
class WatchOptions:
    """How a :class:`Watcher` reads and reports: the ``checkpoint`` (None: nothing kept),
    the rule ``pack``, the log format ``fmt`` (None: detected), the ``poll_interval`` in
    seconds, whether to start ``from_end``, how long to ``hold`` requests for attribution;
    ``on_alerts`` receives each step's alerts after they are committed; ``on_commit`` the
    number the checkpoint added (e.g. to refresh a blocklist); ``on_note`` one-line notes
    (a rotation whose rest is gone, a file that is not a log)."""

    checkpoint: Checkpoint | None = None
    pack: RulePack | None = None
    fmt: str | None = None
    poll_interval: float = 0.5
    from_end: bool = False
    hold: float | None = None
    on_alerts: Callable[[list[Alert]], None] | None = None
    on_commit: Callable[[int], None] | None = None
    on_note: Callable[[str], None] | None = None


class WatchKw(TypedDict, total=False):
    """:class:`WatchOptions` as keyword arguments of :class:`Watcher`."""

    checkpoint: Checkpoint | None
    pack: RulePack | None
    fmt: str | None
    poll_interval: float
    from_end: bool
    hold: float | None
    on_alerts: Callable[[list[Alert]], None] | None
    on_commit: Callable[[int], None] | None
    on_note: Callable[[str], None] | None


class Watcher:
    """Follows ``paths`` and reports alerts; see the module docstring. ``options``
    (:class:`WatchOptions`), or the keyword ``overrides`` of its fields, say how.
    """

    def __init__(self, paths: Sequence[str], options: WatchOptions | None = None,
                 **overrides: Unpack[WatchKw]) -> None:
        opts = dataclasses.replace(options or WatchOptions(), **overrides)
        checkpoint = opts.checkpoint
        self.totals = WatchTotals()
        self.note = opts.on_note or self.totals.notes.append
        self.checkpoint = checkpoint
        self.detector = Detector(opts.pack, opts.fmt)
        self.live = LiveAttributor(self.detector.engine.rules, self.detector.tables,
                                   hold=opts.hold)
        saved = checkpoint.load() if checkpoint is not None else {}
        pending = saved.pop(PENDING_KEY, {}).get("items", [])
        #: lines read from each followed path in all generations (never goes back)
        self.path_lines: dict[str, int] = {}
        for k in [k for k, r in saved.items() if r.get("state") == "stream"]:
            r = saved.pop(k)
            self.path_lines[str(r["path"])] = int(r.get("lines", 0))
        self.follower = Follower(paths, resume=saved, from_end=opts.from_end,
                                 on_note=self.note)
        self.poll_interval = opts.poll_interval
        self.on_alerts = opts.on_alerts
        self.on_commit = opts.on_commit
        self._restored = self.live.restore(pending, time.monotonic())
        self._errors_seen = 0
        self.wake = threading.Event()
        self._unsent: list[Alert] | None = None  # alerts read but not committed yet

    def step(self, now: float | None = None, *, final: bool = False,
             rescan: bool | None = True) -> list[Alert]:
        """One round: read, scan, attribute, commit; returns the alerts committed.
        ``rescan`` as in :meth:`Follower.poll`.

        While the checkpoint cannot commit (:class:`CheckpointBusy`: a locked or unreachable
        store), nothing more is read: each step retries the commit of what was read, so
        nothing is lost and memory stays bounded."""
        now = time.monotonic() if now is None else now
        if self._unsent is not None:
            return self._commit([], now, final)
        chunks = self.follower.poll(now, rescan)
        alerts, self._restored = self._restored, []
        for c in chunks:
            n = c.data.count(b"\n")
            self.totals.lines += n
            self.path_lines[c.path] = self.path_lines.get(c.path, 0) + n
            batch = self.detector.scan(c)
            if len(batch):
                alerts.extend(self.live.add(batch, now))
        alerts.extend(self.live.release(now, flush=final and self.checkpoint is None))
        self.detector.forget({s.key for s in (*self.follower.live.values(),
                                              *self.follower.draining)})
        for msg in self.detector.errors[self._errors_seen:]:
            self.note(msg)
        self._errors_seen = len(self.detector.errors)
        if self.checkpoint is None or not (chunks or alerts or final):
            return self._report(alerts)
        return self._commit(alerts, now, final)

    def _commit(self, alerts: list[Alert], now: float, final: bool) -> list[Alert]:
        assert self.checkpoint is not None
        alerts = (self._unsent or []) + alerts
        offsets: dict[str, Any] = dict(self.follower.checkpoint())
        for path, n in self.path_lines.items():
            offsets["stream:" + path] = {"path": path, "state": "stream", "lines": n}
        offsets[PENDING_KEY] = {"path": "", "state": PENDING_KEY,
                                "items": self.live.pending_records()}
        try:
            added = self.checkpoint.commit(alerts, offsets)
        except CheckpointBusy as exc:
            if self._unsent is None:
                self.note(f"{exc}; reading paused, retrying")
            self._unsent = alerts
            if final:
                raise
            return []
        if self._unsent is not None:
            self.note("store available again; reading resumed")
        self._unsent = None
        self.totals.stored += added
        self.totals.commits += 1
        if self.on_commit is not None:
            self.on_commit(added)
        return self._report(alerts)

    def _report(self, alerts: list[Alert]) -> list[Alert]:
        self.totals.alerts += len(alerts)
        if alerts and self.on_alerts is not None:
            self.on_alerts(alerts)
        return alerts

    def run(self, stop: threading.Event, *, tick: Callable[[], None] | None = None) -> None:
        """Step until ``stop`` is set; ``tick`` runs after every step (a live view)."""
        wake = self.wake
        waker = _Waker(self.follower.watch_dirs(), wake)
        try:
            woke = True
            while not stop.is_set():
                before = self.totals.lines
                self.step(rescan=True if woke else None)
                if tick is not None:
                    tick()
                if self.follower.busy:
                    continue
                if self.totals.lines != before:
                    stop.wait(BATCH_DELAY)
                    woke = False
                    continue
                woke = wake.wait(self.poll_interval)
                wake.clear()
        finally:
            waker.close()
            self.step(final=True)
            if tick is not None:
                tick()
            self.follower.close()

    def stop_signal(self, stop: threading.Event) -> Callable[..., None]:
        """A signal handler that asks :meth:`run` to stop."""
        def handler(*_a: object) -> None:
            stop.set()
            self.wake.set()
        return handler
