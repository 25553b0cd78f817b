"""Forked worker processes for a list of tasks they inherit: the local pool of ``scan``.

Each worker is a ``fork`` of the caller, so it holds the task list and the compiled rules
already; it is sent task numbers one at a time through a pipe, and sends back each result
pickled. Results come back in task order, while the workers take the next task as soon as
they finish one (the ranges of one large file end together).

This is what :class:`concurrent.futures.ProcessPoolExecutor` does for ``scan`` without its
start-up: its import, queues and feeder thread cost 20-25 ms of a 0.45 s scan on this
project's 2-core test machine, against 3 ms for the forks. Use it only where ``fork`` is safe
(no other thread running; see :func:`wormsign.detect.parallel.scan_parallel`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
from collections.abc import Callable, Iterator
from typing import Any

from wormsign.errors import WormsignError

_LEN = 8  # bytes of a result's length
_TASK = 4  # bytes of a task number


class WorkerLost(WormsignError):
    """A worker process ended without giving its result back (killed, out of memory)."""


class ForkPool:
    """``n`` forked workers running ``work(i)`` for task numbers ``i`` (use as a context
    manager: leaving it ends the workers, at once if an error is under way)."""

    def __init__(self, n: int, work: Callable[[int], Any]) -> None:
        self._work = work
        self._workers: list[tuple[int, int, int]] = []  # pid, task pipe, result pipe
        try:
            for _ in range(n):
                self._workers.append(self._start())
        except BaseException:
            self.close(kill=True)
            raise

    def __enter__(self) -> ForkPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.close(kill=kind is not None)

    def _start(self) -> tuple[int, int, int]:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        _widen(result_w)
        pid = os.fork()
        if pid == 0:  # the worker: serve until the task pipe closes, never return
            code = 1
            try:
                for _pid, other_w, other_r in self._workers:  # another worker's ends
                    os.close(other_w)
                    os.close(other_r)
                os.close(task_w)
                os.close(result_r)
                code = _serve(task_r, result_w, self._work)
            finally:
                os._exit(code)
        os.close(task_r)
        os.close(result_w)
        return pid, task_w, result_r

    def results(self, n_tasks: int) -> Iterator[Any]:
        """``work(0)``, ``work(1)``, ... ``work(n_tasks - 1)``, in that order; a task's
        exception is raised here, at its turn. Once per pool: a worker left with nothing
        to do is released (it ends while the last results are still being taken)."""
        done: dict[int, bytearray] = {}
        busy: dict[int, tuple[int, int]] = {}  # result pipe -> (worker, task)
        given = 0
        for w in range(len(self._workers)):
            if given < n_tasks:
                busy[self._give(w, given)] = (w, given)
                given += 1
            else:
                self._release(w)
        for want in range(n_tasks):
            while want not in done:
                ready, _, _ = select.select(list(busy), [], [])
                for fd in ready:
                    w, task = busy.pop(fd)
                    done[task] = self._receive(w)
                    if given < n_tasks:
                        busy[self._give(w, given)] = (w, given)
                        given += 1
                    else:  # nothing left to give it: it ends while the rest is merged
                        self._release(w)
            yield _unpack(done.pop(want))  # no name holds it here once it is merged

    def _release(self, w: int) -> None:
        """Close worker ``w``'s task pipe: it ends (once idle) without waiting for
        :meth:`close`."""
        pid, task_w, result_r = self._workers[w]
        if task_w >= 0:
            with contextlib.suppress(OSError):
                os.close(task_w)
            self._workers[w] = (pid, -1, result_r)

    def _give(self, w: int, task: int) -> int:
        _, task_w, result_r = self._workers[w]
        if task_w < 0:
            raise RuntimeError("the pool's workers were released: one results() per pool")
        os.write(task_w, task.to_bytes(_TASK, "little"))
        return result_r

    def _receive(self, w: int) -> bytearray:
        pid, _, result_r = self._workers[w]
        head = _read_exact(result_r, _LEN)
        body = _read_exact(result_r, int.from_bytes(head, "little")) if head else None
        if body is None:
            raise WorkerLost(f"a scan worker process ended without its result "
                             f"({_status(pid)}); try --workers 1")
        return body

    def close(self, kill: bool = False) -> None:
        """End the workers (closing their task pipes; with ``kill``, at once) and reap them."""
        for pid, task_w, result_r in self._workers:
            if kill:
                _signal(pid, signal.SIGKILL)
            for fd in (task_w, result_r):
                if fd >= 0:  # (a released worker's task pipe is closed already)
                    with contextlib.suppress(OSError):
                        os.close(fd)
        for pid, _, _ in self._workers:
            with contextlib.suppress(ChildProcessError):  # reaped already (by _status)
                os.waitpid(pid, 0)
        self._workers = []


#: Linux's ``F_SETPIPE_SZ``: a 1 MiB pipe carries a worker's columns in 16 times fewer
#: turns of the two processes than the default 64 KiB.
_SETPIPE_SZ = 1031


def _widen(fd: int) -> None:
    with contextlib.suppress(OSError, ValueError):
        import fcntl

        fcntl.fcntl(fd, _SETPIPE_SZ, 1 << 20)


def _unpack(payload: bytearray) -> Any:
    ok, value = pickle.loads(payload)  # noqa: S301 - from our own forked worker
    if not ok:
        raise value
    return value


def _serve(task_r: int, result_w: int, work: Callable[[int], Any]) -> int:
    while head := _read_exact(task_r, _TASK):
        try:
            payload = pickle.dumps((True, work(int.from_bytes(head, "little"))), protocol=5)
        except BaseException as exc:  # handed to the parent, raised there
            payload = _error(exc)
        _write_all(result_w, len(payload).to_bytes(_LEN, "little") + payload)
    return 0


def _error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, exc), protocol=5)
    except Exception:  # an exception that does not pickle: its text
        text = f"{type(exc).__name__}: {exc}"
        return pickle.dumps((False, RuntimeError(text)), protocol=5)


def _read_exact(fd: int, n: int) -> bytearray | None:
    """``n`` bytes from ``fd``; None at its end (before or inside them)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            return None
        got += k
    return buf


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _status(pid: int) -> str:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
