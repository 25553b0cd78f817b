"""Playbooks as data: YAML files under ``incidents/playbooks/``, one per worm family.

A playbook lists tasks by phase (contain, eradicate, patch, verify, monitor, lessons). When
an incident's evidence shows a family, the matching playbooks' tasks are added to it
(idempotently: a task exists once per incident, playbook and key), each with a status, an
owner and notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from wormsign.errors import Problem
from wormsign.incidents import schema as t
from wormsign.incidents.tasks import now_s, progress
from wormsign.validation import (
    key_line,
    line_of,
    parse_yaml,
    raise_problems,
    read_bounded,
    read_problem,
    unknown_keys,
)

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


_BOOK_KEYS = frozenset({"id", "name", "families", "references", "tasks"})
_TASK_KEYS = frozenset({"key", "phase", "title", "description"})


def _texts(data: Mapping[str, Any], key: str, where: str, problems: list[Problem],
           ) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem(where, key_line(data, key), f"{key!r} must be a list of text"))
        return ()
    return tuple(value)


def _task(task: Any, i: int, book: Mapping[str, Any], where: str, seen: dict[str, int | None],
          problems: list[Problem]) -> TaskTemplate | None:
    line = line_of(task, key_line(book, "tasks"))
    if not isinstance(task, dict):
        problems.append(Problem(where, line, f"task {i}: a task is a mapping"))
        return None
    n = len(problems)
    unknown_keys(task, _TASK_KEYS, where, "task", problems)
    missing = [k for k in ("key", "phase", "title") if k not in task]
    if missing:
        problems.append(Problem(where, line, f"task {i} lacks {', '.join(map(repr, missing))}"))
    name = str(task.get("key", i))
    for k in ("key", "title", "description"):
        if k in task and not isinstance(task[k], str):
            problems.append(Problem(where, key_line(task, k), f"task {name}: {k} must be text"))
    if "phase" in task and task["phase"] not in PHASES:
        problems.append(Problem(where, key_line(task, "phase"),
                                f"task {name}: phase must be one of {', '.join(PHASES)}, "
                                f"not {task['phase']!r}"))
    if isinstance(task.get("key"), str) and task["key"] in seen:
        problems.append(Problem(where, key_line(task, "key"), f"task key {name!r} repeated "
                                f"(first at line {seen[task['key']]})"))
    elif isinstance(task.get("key"), str):
        seen[task["key"]] = key_line(task, "key")
    if len(problems) > n:
        return None
    return TaskTemplate(task["key"], task["phase"], task["title"],
                        str(task.get("description", "")).strip())


def _parse(data: Any, where: str, problems: list[Problem]) -> Playbook | None:
    """The playbook in ``data``; appends every problem (file and line) and returns None when
    there is any."""
    if not isinstance(data, dict):
        problems.append(Problem(where, 1, "a playbook is a mapping"))
        return None
    n = len(problems)
    unknown_keys(data, _BOOK_KEYS, where, "playbook", problems)
    for key in ("id", "name", "families", "tasks"):
        if key not in data:
            problems.append(Problem(where, line_of(data, 1), f"playbook lacks {key!r}"))
    for key in ("id", "name"):
        if key in data and not isinstance(data[key], str):
            problems.append(Problem(where, key_line(data, key), f"{key!r} must be text"))
    families = _texts(data, "families", where, problems)
    references = _texts(data, "references", where, problems)
    raw_tasks = data.get("tasks", [])
    if not isinstance(raw_tasks, list):
        problems.append(Problem(where, key_line(data, "tasks"), "'tasks' must be a list"))
        raw_tasks = []
    seen: dict[str, int | None] = {}
    tasks = [_task(task, i, data, where, seen, problems) for i, task in enumerate(raw_tasks)]
    if len(problems) > n:
        return None
    return Playbook(data["id"], data["name"], families, references,
                    tuple(t for t in tasks if t is not None))


def _files(extra_dir: str | Path | None, problems: list[Problem]) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    base = resources.files("wormsign.incidents") / "playbooks"
    for entry in sorted(base.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            files.append((f"wormsign/incidents/playbooks/{entry.name}", entry.read_text("utf-8")))
    if extra_dir is not None:
        for p in sorted(Path(extra_dir).glob("*.y*ml")):
            try:
                files.append((str(p), read_bounded(p)))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(read_problem(p, exc, "playbook"))
    return files


def load_playbooks(extra_dir: str | Path | None = None) -> dict[str, Playbook]:
    """The built-in playbooks (and any ``*.yaml`` in ``extra_dir``), by id; raises one
    :class:`~wormsign.errors.ValidationError` listing every problem in every file."""
    books: dict[str, Playbook] = {}
    problems: list[Problem] = []
    for where, text in _files(extra_dir, problems):
        data, bad = parse_yaml(text, where)
        problems += bad
        book = None if bad else _parse(data, where, problems)
        if book is not None:
            books[book.id] = book
    raise_problems(problems, "playbooks")
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
