"""What the pre-scan tests watch: the work a scan plans from a pre-scan's records, and the
processes the test process has."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wormsign.detect import parallel


def children() -> set[int]:
    """The pids of this process's children (Linux ``/proc``)."""
    text = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text()
    return {int(p) for p in text.split()}


def planned(monkeypatch: pytest.MonkeyPatch) -> list[parallel._Work]:
    """The work each later scan plans (its tasks, each with the records it is finished from)."""
    works: list[parallel._Work] = []
    real = parallel._with_records

    def plan(*a: object) -> parallel._Work:
        works.append(real(*a))  # type: ignore[arg-type]
        return works[-1]

    monkeypatch.setattr(parallel, "_with_records", plan)
    return works


def used(works: list[parallel._Work]) -> list[int]:
    """How many chunks each task finished from records has, over ``works``."""
    return [len(r) for w in works for r in w.records if r]
