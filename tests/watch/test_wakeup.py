"""What wakes the watch loop: file-system events (watchdog) when installed, the periodic
poll always (so nothing depends on an event arriving)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from wormsign.watch.checkpoint import MemoryCheckpoint
from wormsign.watch.runner import Watcher

from .lines import code_red


def _run_until_alert(w: Watcher, cp: MemoryCheckpoint, log: Path, timeout: float) -> float:
    stop = threading.Event()
    t = threading.Thread(target=w.run, args=(stop,), daemon=True)
    t.start()
    try:
        time.sleep(1.0)  # the loop is now waiting (poll interval or event)
        t0 = time.monotonic()
        with open(log, "ab") as f:
            f.write(code_red(1, 0))
        while not cp.alerts and time.monotonic() - t0 < timeout:
            time.sleep(0.05)
        return time.monotonic() - t0
    finally:
        stop.set()
        w.wake.set()
        t.join(timeout=60)


def test_an_event_wakes_the_loop_long_before_the_poll_interval(tmp_path: Path) -> None:
    pytest.importorskip("watchdog")
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp, poll_interval=120)
    took = _run_until_alert(w, cp, log, timeout=60)
    assert len(cp.alerts) == 1
    assert took < 60  # the poll alone would have waited up to 120 s


def test_without_watchdog_the_poll_finds_new_lines(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "watchdog.observers", None)  # import fails
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp, poll_interval=0.2)
    _run_until_alert(w, cp, log, timeout=60)
    assert len(cp.alerts) == 1
