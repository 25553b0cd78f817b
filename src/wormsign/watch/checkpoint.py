"""Where the watcher commits alerts together with the read offsets that cover them.

A :class:`Checkpoint` takes, in one atomic step, the alerts found since the last commit and
the follower's offsets (JSON-able records, see
:meth:`wormsign.watch.follower.Follower.checkpoint`). Because both are committed together, a
watcher killed at any moment resumes from offsets that match exactly the alerts stored: no
line is lost, none is counted twice. :class:`MemoryCheckpoint` keeps both in memory (tests,
terminal-only runs); the incident store's implementation lives in
:mod:`wormsign.watch.store`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from wormsign.detect.alert import Alert
from wormsign.errors import StoreError

Offsets = Mapping[str, Mapping[str, Any]]


class CheckpointBusy(StoreError):
    """A commit failed for a reason that may pass (a locked or unreachable database):
    nothing of it was stored; the watcher retries it."""


class Checkpoint(Protocol):
    """Atomic commits of alerts and offsets; :meth:`load` returns the last offsets."""

    def load(self) -> dict[str, dict[str, Any]]:
        """The offsets of the last commit (empty the first time)."""

    def commit(self, alerts: Sequence[Alert], offsets: Offsets) -> int:
        """Store ``alerts`` (idempotently) and ``offsets`` together; returns alerts added.
        Raises :class:`CheckpointBusy` when nothing was stored but a retry may succeed."""


def alert_identity(a: Alert) -> tuple[str, int, str, str, str]:
    """What makes an alert the same alert (as the incident store's natural key)."""
    ts = a.timestamp.isoformat() if a.timestamp is not None else ""
    return (a.file_path, a.line, a.rule_id, a.source_ip, ts)


class MemoryCheckpoint:
    """An in-memory checkpoint that keeps every alert once (by :func:`alert_identity`)."""

    def __init__(self) -> None:
        self.alerts: dict[tuple[str, int, str, str, str], Alert] = {}
        self.offsets: dict[str, dict[str, Any]] = {}
        self.commits = 0
        self.duplicates = 0

    def load(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.offsets)

    def commit(self, alerts: Sequence[Alert], offsets: Offsets) -> int:
        added = 0
        for a in alerts:
            k = alert_identity(a)
            if k in self.alerts:
                self.duplicates += 1
            else:
                self.alerts[k] = a
                added += 1
        self.offsets = copy.deepcopy({k: dict(v) for k, v in offsets.items()})
        self.commits += 1
        return added
