"""Playbooks as data: YAML files under ``incidents/playbooks/``, one per worm family.

A playbook lists tasks by phase (contain, eradicate, patch, verify, monitor, lessons). When
an incident's evidence shows a family, the matching playbooks' tasks are added to it
(idempotently: a task exists once per incident, playbook and key), each with a status, an
owner and notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import yaml

from wormsign.errors import ConfigError
from wormsign.incidents import schema as t
from wormsign.incidents.tasks import now_s, progress

if TYPE_CHECKING:
    from wormsign.incidents.store import Store

__all__ = ["PHASES", "Playbook", "TaskTemplate", "apply_playbooks", "families_seen",
           "load_playbooks", "progress"]

PHASES = ("contain", "eradicate", "patch", "verify", "monitor", "lessons")


@dataclass(frozen=True)
class TaskTemplate:
    key: str
    phase: str
    title: str
    description: str


@dataclass(frozen=True)
class Playbook:
    id: str
    name: str
    families: tuple[str, ...]
    references: tuple[str, ...]
    tasks: tuple[TaskTemplate, ...]


def _parse(data: Any, where: str) -> Playbook:
    if not isinstance(data, dict):
        raise ConfigError("a playbook is a mapping", where)
    for key in ("id", "name", "families", "tasks"):
        if key not in data:
            raise ConfigError(f"playbook lacks {key!r}", where)
    tasks = []
    seen: set[str] = set()
    for i, task in enumerate(data["tasks"]):
        if not isinstance(task, dict) or not {"key", "phase", "title"} <= task.keys():
            raise ConfigError(f"task {i} needs key, phase and title", where)
        if task["phase"] not in PHASES:
            raise ConfigError(f"task {task['key']}: phase must be one of {', '.join(PHASES)}",
                              where)
        if task["key"] in seen:
            raise ConfigError(f"task key {task['key']!r} repeated", where)
        seen.add(task["key"])
        tasks.append(TaskTemplate(str(task["key"]), str(task["phase"]), str(task["title"]),
                                  str(task.get("description", "")).strip()))
    return Playbook(str(data["id"]), str(data["name"]), tuple(map(str, data["families"])),
                    tuple(map(str, data.get("references", []))), tuple(tasks))


def load_playbooks(extra_dir: str | Path | None = None) -> dict[str, Playbook]:
    """The built-in playbooks (and any ``*.yaml`` in ``extra_dir``), by id."""
    books: dict[str, Playbook] = {}
    files: list[tuple[str, str]] = []
    base = resources.files("wormsign.incidents") / "playbooks"
    for entry in sorted(base.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            files.append((f"wormsign/incidents/playbooks/{entry.name}", entry.read_text("utf-8")))
    if extra_dir is not None:
        for p in sorted(Path(extra_dir).glob("*.y*ml")):
            files.append((str(p), p.read_text("utf-8")))
    for where, text in files:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            raise ConfigError(f"invalid YAML: {exc}", where,
                              None if line is None else line + 1) from exc
        book = _parse(data, where)
        books[book.id] = book
    return books


def families_seen(store: Store, incident_id: int) -> list[str]:
    """The distinct worm families attributed to sources in the incident's alerts."""
    s = t.source_families
    with store.engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(
            sa.select(s.c.family).where(s.c.incident_id == incident_id).distinct()))


def apply_playbooks(store: Store, incident_id: int,
                    books: dict[str, Playbook] | None = None) -> tuple[list[str], int]:
    """Add the tasks of every playbook whose family the evidence shows.

    Returns the families seen and the number of tasks added (0 when already applied).
    """
    books = books if books is not None else load_playbooks()
    families = families_seen(store, incident_id)
    stamp = now_s()
    added = 0
    with store.begin() as conn:
        for book in books.values():
            if not set(book.families) & set(families):
                continue
            order = {p: i for i, p in enumerate(PHASES)}
            rows = [{"incident_id": incident_id, "playbook": book.id, "key": task.key,
                     "phase": task.phase, "seq": order[task.phase] * 100 + i,
                     "title": task.title, "description": task.description, "status": "open",
                     "updated_at": stamp}
                    for i, task in enumerate(book.tasks)]
            n = store.insert_ignore(conn, t.tasks, rows)
            if n:
                added += n
                store.log_action(conn, incident_id, "playbook",
                                 f"applied {book.name} playbook ({n} tasks)")
    return families, added
