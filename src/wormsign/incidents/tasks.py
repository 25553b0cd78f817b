"""Playbook tasks as records, their statuses and progress, and the clock that stamps them.

Kept below the store (:mod:`wormsign.incidents.store`), the queries
(:mod:`~wormsign.incidents.query`) and the playbooks (:mod:`~wormsign.incidents.playbook`),
which all need these pieces, so none of them has to import another to get them. The names
stay importable from where they were (``store.Task``, ``store.now_s``,
``playbook.progress``...).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from typing_extensions import TypedDict  # pydantic (the web API) needs it before 3.12

TASK_STATUSES = ("open", "in-progress", "done", "skipped")


def now_s() -> int:
    """The current time in integer seconds since the epoch."""
    return int(time.time())


def note_line(at: int, text: str) -> str:
    """A task note as shown: ``[YYYY-MM-DD HH:MM] text`` (UTC)."""
    return f"[{time.strftime('%Y-%m-%d %H:%M', time.gmtime(at))}] {text}"


@dataclass(frozen=True)
class Task:
    """One playbook task of an incident."""

    id: int
    incident_id: int
    playbook: str
    key: str
    phase: str
    seq: int
    title: str
    description: str
    status: str
    owner: str | None
    updated_at: int
    #: The task's notes, oldest first, one ``[YYYY-MM-DD HH:MM] text`` line each.
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StatusCounts(TypedDict):
    """Tasks by status and the share (in %, one decimal) done or skipped."""

    total: int
    by_status: dict[str, int]
    percent: float


class Progress(StatusCounts):
    """:class:`StatusCounts` over every task, and per playbook."""

    playbooks: dict[str, StatusCounts]


def _count(items: Sequence[Task]) -> StatusCounts:
    by: dict[str, int] = {}
    for x in items:
        by[x.status] = by.get(x.status, 0) + 1
    total = len(items)
    closed = by.get("done", 0) + by.get("skipped", 0)
    return {"total": total, "by_status": by,
            "percent": round(100.0 * closed / total, 1) if total else 0.0}


def progress(tasks: Sequence[Task]) -> Progress:
    """Counts by status and the share of tasks done or skipped, per playbook and overall."""
    playbooks = {pb: _count([x for x in tasks if x.playbook == pb])
                 for pb in sorted({x.playbook for x in tasks})}
    return {**_count(tasks), "playbooks": playbooks}
