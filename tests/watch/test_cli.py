"""``wormsign watch`` as a process: SIGTERM ends it with status 0 and a committed
checkpoint; ``kill -9`` mid-stream and a restart store every worm line exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .lines import benign, code_red

pytest.importorskip("sqlalchemy")

from wormsign.incidents import Store

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


def _watch(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "wormsign", "watch", "--plain", "-q",
                             "--poll-interval", "0.2", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())


def _wait(cond: Callable[[], bool], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _stored(db: Path) -> list[tuple[str, int]]:
    with Store.open(str(db)) as s, s.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT file_path, line FROM alerts").all()
    return sorted((str(r[0]), int(r[1])) for r in rows)


@pytest.fixture
def incident(tmp_path: Path) -> Path:
    db = tmp_path / "case.db"
    with Store.open(str(db)) as s:
        assert s.create_incident("watch test") == 1
    return db


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_end_cleanly_with_status_0(tmp_path: Path, incident: Path,
                                                      sig: signal.Signals) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(code_red(1, 0) + benign(1, 1))
    p = _watch(str(log), "--incident", "1", "--db", str(incident))
    try:
        _wait(lambda: len(_stored(incident)) == 1)
        with open(log, "ab") as f:
            f.write(code_red(2, 2))
        _wait(lambda: len(_stored(incident)) == 2)
    finally:
        p.send_signal(sig)
        _out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert _stored(incident) == [(str(log), 1), (str(log), 3)]


def test_kill_9_mid_stream_and_restart_stores_every_line_once(tmp_path: Path,
                                                              incident: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    expected: list[tuple[str, int]] = []
    line = 0
    n = 0  # lines written in all: sources and times never repeat across generations
    p = _watch(str(log), "--incident", "1", "--db", str(incident))

    def write(bursts: int) -> None:
        nonlocal line, n
        for _ in range(bursts):
            with open(log, "ab") as f:
                for i in range(200):
                    line += 1
                    n += 1
                    if i % 7 == 0:
                        f.write(code_red(n, n / 100))
                        expected.append((str(log), line))
                    else:
                        f.write(benign(n, n / 100))
            time.sleep(0.02)

    try:
        for rnd in range(3):
            before = len(_stored(incident))
            write(10)
            _wait(lambda b=before: len(_stored(incident)) > b)  # it is up and committing
            write(10)  # ... and is killed in the middle of these
            if rnd == 0:
                os.kill(p.pid, signal.SIGKILL)
                p.communicate(timeout=30)
                p = _watch(str(log), "--incident", "1", "--db", str(incident))
            elif rnd == 1:
                os.kill(p.pid, signal.SIGKILL)
                p.communicate(timeout=30)
                os.rename(log, tmp_path / "access.log.1")  # rotated while it was down
                log.write_bytes(b"")
                line = 0
                p = _watch(str(log), "--incident", "1", "--db", str(incident))
        _wait(lambda: len(_stored(incident)) >= len(expected))
        time.sleep(1)
    finally:
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()
    got = _stored(incident)
    assert len(got) == len(expected)  # every worm line written, none twice
    assert sorted(got) == sorted(expected)


def test_terminal_output_is_escaped(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    evil = code_red(1, 0).replace(b"MSIE 5.5", b"\x1b[2J\xe2\x80\xae")
    url_evil = evil.replace(b"/default.ida?", b"/default.ida?\x1b]0;pwn\x07")
    log.write_bytes(url_evil)
    proc = subprocess.Popen([sys.executable, "-m", "wormsign", "watch", "--plain",
                             "--poll-interval", "0.2", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"isapi-ida-overflow" in out  # the escape bytes broke the N padding
    assert b"\x1b" not in out and b"\x07" not in out
    assert b"\\x1b" in out
