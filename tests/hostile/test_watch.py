"""Hostile input for ``wormsign watch``: special files in a watched directory, endless lines,
escape sequences, compressed or bad arguments. Each ends in a note, a skipped line or a
one-line error; never a hang or a traceback."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wormsign.logs.synth import CODE_RED
from wormsign.watch.checkpoint import MemoryCheckpoint
from wormsign.watch.follower import Follower
from wormsign.watch.runner import Watcher
from wormsign.watch.view import PlainOutput

ROOT = Path(__file__).resolve().parents[2]


def code_red(i: int, t: int) -> bytes:
    """A Code Red request in Apache combined form (self-contained: no shared helpers)."""
    return (f'203.0.113.{i % 250 + 1} - - [18/Sep/2001:13:00:{t % 60:02d} +0000] '
            f'"GET {CODE_RED} HTTP/1.0" 404 120 "-" "-"\n').encode()


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "wormsign", "watch", *args],
                          capture_output=True, env=env, timeout=120)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_and_device_links_in_a_watched_directory_are_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.log")  # opening it for reading would block
    (tmp_path / "zero.log").symlink_to("/dev/zero")  # reading it would never end
    (tmp_path / "access.log").write_bytes(code_red(1, 0))
    cp = MemoryCheckpoint()
    w = Watcher([str(tmp_path)], checkpoint=cp)
    w.step()
    w.step()
    assert [a.line for a in cp.alerts.values()] == [1]
    assert set(w.follower.live) == {str(tmp_path / "access.log")}


def test_a_line_that_never_ends_is_skipped_in_bounded_reads(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with open(log, "wb") as f:
        f.write(b"A" * (3 << 20))
    notes: list[str] = []
    f2 = Follower([str(log)], max_read=1 << 20, on_note=notes.append)
    got = []
    for _ in range(5):
        got += f2.poll()
    with open(log, "ab") as f:
        f.write(b"A" * 100 + b"\n" + code_red(1, 0))
    for _ in range(5):
        got += f2.poll()
    assert [(c.data, c.first_line) for c in got] == [(code_red(1, 0), 2)]
    assert len(notes) == 1 and "longer than" in notes[0]


def test_notes_and_alerts_escape_terminal_controls() -> None:
    out, err = io.StringIO(), io.StringIO()
    p = PlainOutput(out, err)
    p.note("/var/log/\x1b[31mred\u202e.log: not a text log")
    assert "\x1b" not in err.getvalue() and "\u202e" not in err.getvalue()
    assert "\\x1b" in err.getvalue()


def test_bad_lines_are_counted_and_the_rest_still_alerted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(code_red(1, 0) + b"\x00garbage \xff\xfe not a log line\n" + code_red(2, 1))
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp)
    w.step()
    assert sorted(a.line for a in cp.alerts.values()) == [1, 3]
    assert w.detector.files[str(log)].skipped == 1


def test_a_compressed_file_is_a_one_line_error(tmp_path: Path) -> None:
    gz = tmp_path / "access.log.1.gz"
    with gzip.open(gz, "wb") as f:
        f.write(code_red(1, 0))
    r = _cli(str(gz))
    assert r.returncode == 2
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(gz) in lines[0] and "compressed" in lines[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("what", ["fifo", "/dev/zero", "-"])
def test_special_files_given_explicitly_are_one_line_errors(tmp_path: Path, what: str) -> None:
    arg = what
    if what == "fifo":
        arg = str(tmp_path / "pipe")
        os.mkfifo(arg)
    r = _cli(arg)
    assert r.returncode == 2
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and arg in lines[0]


@pytest.mark.parametrize("args", [["--poll-interval", "0"], ["--poll-interval", "nan"],
                                  ["--hold", "-1"], ["--db", "x.db"]])
def test_bad_options_are_one_line_errors(tmp_path: Path, args: list[str]) -> None:
    r = _cli(str(tmp_path), *args)
    assert r.returncode == 2
    assert len(r.stderr.decode().strip().splitlines()) == 1
    assert b"Traceback" not in r.stderr
