"""Hostile inputs through the early pre-scan of ``wormsign scan`` (``cli/_early.py``), which
reads large files before the command has parsed its arguments: the same clean result as one
process gives, and special files never opened by it."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from hostile.conftest import assert_clean, run_cli
from wormsign.cli import _early
from wormsign.logs.synth import CODE_RED

SIZE = 25 << 20  # over the 24 MiB from which the early pre-scan is forked
LINE = '10.0.0.{i} - - [19/Jul/2001:10:23:45 +0000] "GET {url} HTTP/1.0" 404 1 "-" "{ua}"\n'


def _log(path: Path, line_of: object) -> Path:
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        i = 0
        while f.tell() < SIZE:
            f.write(line_of(i))  # type: ignore[operator]
            i += 1
    return path


def _hostile(tmp_path: Path) -> list[Path]:
    rng = random.Random(7)
    one_line = tmp_path / "one-line.log"
    one_line.write_bytes(b"1.2.3.4 - - [" + b"a" * SIZE)
    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(rng.randbytes(SIZE))
    overlong = _log(tmp_path / "overlong.log", lambda i: LINE.format(
        i=i % 250, url=CODE_RED + "A" * (70_000 if i % 3 == 0 else 10), ua="-"))
    injected = _log(tmp_path / "injected.log", lambda i: LINE.format(
        i=i % 250, url=CODE_RED if i % 40 == 0 else "/x", ua="\u202e\x1b[31mevil\x07\udcff"))
    return [one_line, garbage, overlong, injected]


def test_hostile_large_inputs_give_the_one_process_result(tmp_path: Path) -> None:
    env = {"WORMSIGN_CACHE_DIR": str(tmp_path / "cache")}
    paths = _hostile(tmp_path)
    first = run_cli(["scan", "-q", "--json", str(paths[-1])], env=env)  # notes the databases
    assert_clean(first)
    assert (tmp_path / "cache" / "scan.keys").exists()
    for p in paths:
        alone = run_cli(["scan", "-q", "--json", "--workers", "1", str(p)], env=env)
        early = run_cli(["scan", "-q", "--json", str(p)], env=env)
        assert_clean(alone)
        assert_clean(early)
        assert early.returncode == alone.returncode, p.name
        assert json.loads(early.stdout) == json.loads(alone.stdout), p.name


def test_special_files_are_never_taken(tmp_path: Path) -> None:
    """A FIFO, a device and a link to one are left to the scan's own checks."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "zero.log"
    link.symlink_to("/dev/zero")
    for p in (fifo, link, Path("/dev/zero")):
        assert _early._plan(["scan", "-q", "--workers", "2", str(p)]) is None
    r = run_cli(["scan", "-q", "--json", str(link)])
    assert_clean(r)
    assert r.returncode == 2 and "zero.log" in r.stderr


@pytest.mark.parametrize("argv", [["scan", "-q", "--workers", "2", "\x1b[31m\u202e.log"],
                                  ["scan", "-q", "--workers", "99999999999999999999", "x"],
                                  ["scan", "-q", "--max-line-bytes", "-5", "x"],
                                  ["scan", "-q", "--alerts"], ["scan", "-q", "--", "x"]])
def test_odd_command_lines_start_nothing(argv: list[str]) -> None:
    """What the command line says never makes the first step fail or fork: a missing file,
    absurd numbers, an option without its value are the scan's to report."""
    _early.begin(argv)
    assert _early.take() is None
