"""The forked worker pool of ``scan``: results in task order, errors raised at their turn, a
lost worker named, no process left behind, and the scan through it equal to one process."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from wormsign.detect import parallel, ranges
from wormsign.detect.forkpool import ForkPool, WorkerLost
from wormsign.detect.scanner import scan_paths
from wormsign.errors import InputError
from wormsign.logs.synth import worm_heavy_lines


def _children() -> set[int]:
    try:
        text = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text()
    except OSError:
        pytest.skip("no /proc children list")
    return {int(p) for p in text.split()}


def test_results_come_in_task_order_from_every_worker() -> None:
    before = _children()

    def work(i: int) -> tuple[int, int, bytes]:
        time.sleep(0.02 if i % 3 == 0 else 0)  # later tasks finish first
        return i, os.getpid(), bytes(i % 251 for _ in range(i * 1000))

    with ForkPool(3, work) as pool:
        got = list(pool.results(20))
    assert [g[0] for g in got] == list(range(20))
    assert all(g[2] == bytes(g[0] % 251 for _ in range(g[0] * 1000)) for g in got)
    assert len({g[1] for g in got}) == 3 and os.getpid() not in {g[1] for g in got}
    assert _children() == before


def test_a_task_error_is_raised_at_its_turn() -> None:
    def work(i: int) -> int:
        if i == 4:
            raise InputError("broken", path="x.log")
        return i

    seen: list[int] = []
    with pytest.raises(InputError, match="broken"), ForkPool(2, work) as pool:
        seen.extend(pool.results(8))
    assert seen == [0, 1, 2, 3]


def test_an_exception_that_does_not_pickle_becomes_its_text() -> None:
    class Odd(Exception):
        def __reduce__(self) -> str:
            raise TypeError("no")

    def work(i: int) -> int:
        raise Odd("strange")

    with pytest.raises(RuntimeError, match="Odd: strange"), ForkPool(1, work) as pool:
        list(pool.results(1))


def test_a_killed_worker_is_one_error_and_no_process_is_left() -> None:
    before = _children()

    def work(i: int) -> int:
        if i == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    with pytest.raises(WorkerLost, match="signal 9"), ForkPool(2, work) as pool:
        list(pool.results(6))
    assert _children() == before


def test_scan_through_the_fork_pool_equals_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "storm.log"
    lines = list(worm_heavy_lines(8000, seed=5))
    lines.insert(100, "not a log line\n")
    log.write_text("".join(lines))
    one = scan_paths([str(log)], workers=1)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(ranges, "MIN_SPLIT_BYTES", 1 << 16)
    monkeypatch.setattr(ranges, "RANGE_BYTES", 1 << 16)
    monkeypatch.setattr("threading.active_count", lambda: 1)
    pools: list[int] = []
    real = ForkPool.__init__

    def counted(self: ForkPool, n: int, work: object) -> None:
        pools.append(n)
        real(self, n, work)  # type: ignore[arg-type]

    monkeypatch.setattr(ForkPool, "__init__", counted)
    two = scan_paths([str(log)], workers=2)
    assert pools == [2]
    assert [f.to_dict() for f in one.files] == [f.to_dict() for f in two.files]
    assert list(one.alerts) == list(two.alerts) and len(one.alerts) > 1000


def _ended(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie not yet reaped, or gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_workers_with_nothing_left_end_before_the_pool_closes() -> None:
    """A worker that has been given its last task ends as soon as it has sent the result
    (its end overlaps the merging of the last results); the pool still reaps them all."""
    before = _children()
    with ForkPool(3, lambda i: i * 2) as pool:
        pids = [pid for pid, _, _ in pool._workers]
        got = list(pool.results(2))  # the third worker never gets a task
        deadline = time.monotonic() + 10
        while not all(map(_ended, pids)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(map(_ended, pids))
        with pytest.raises(RuntimeError, match="one results"):
            list(pool.results(1))
    assert got == [0, 2] and _children() == before
