"""Output files claimed before the work (``cli._files``): emptied once, never left stale."""

from __future__ import annotations

import itertools
import os
import stat
import threading
from pathlib import Path

import pytest

from wormsign.cli import scan as scan_cli
from wormsign.cli._files import _Allocated, claim_output, open_output
from wormsign.cli.main import main
from wormsign.errors import InputError
from wormsign.logs.synth import worm_heavy_lines


def test_claim_creates_or_empties_a_regular_file(tmp_path: Path) -> None:
    new, old = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    old.write_bytes(b"stale alert\n" * 1000)
    claim_output(str(new))
    claim_output(str(old))
    assert new.read_bytes() == b"" and old.read_bytes() == b""


def test_open_output_empties_a_file_that_holds_bytes(tmp_path: Path) -> None:
    p = tmp_path / "out"
    p.write_bytes(b"x" * 5000)
    with open_output(str(p)) as f:
        f.write(b"new")
    assert p.read_bytes() == b"new"
    claim_output(str(p))
    with open_output(str(p)) as f:
        f.write(b"after a claim")
    assert p.read_bytes() == b"after a claim"


@pytest.mark.parametrize("where", ["dir", "missing-dir"])
def test_unwritable_paths_are_one_line_errors(tmp_path: Path, where: str) -> None:
    path = tmp_path if where == "dir" else tmp_path / "no" / "such" / "a.jsonl"
    with pytest.raises(InputError) as exc:
        claim_output(str(path))
    assert str(path) in str(exc.value) and "cannot write" in str(exc.value)


def test_a_fifo_is_left_alone_until_written(tmp_path: Path) -> None:
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    done = threading.Event()

    def claim() -> None:
        claim_output(str(fifo))  # no reader: opening it would block
        done.set()

    t = threading.Thread(target=claim, daemon=True)
    t.start()
    t.join(5)
    assert done.is_set() and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_scan_reports_an_unwritable_alerts_file_before_scanning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(worm_heavy_lines(50, seed=1)))

    def no_scan(*_a: object, **_k: object) -> None:
        raise AssertionError("scanned before the outputs were checked")

    monkeypatch.setattr("wormsign.detect.scanner.scan_paths", no_scan)
    rc = main(["scan", "--json", "--alerts", str(tmp_path), str(log)])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err == f"wormsign: error: {tmp_path}: cannot write: Is a directory\n"


@pytest.mark.parametrize("background", [False, True])
def test_a_rescan_leaves_no_stale_alerts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch,
                                         background: bool) -> None:
    big, small = tmp_path / "big.log", tmp_path / "small.log"
    big.write_text("".join(worm_heavy_lines(4000, seed=3)))
    small.write_text("".join(worm_heavy_lines(300, seed=4)))
    if background:
        monkeypatch.setattr(scan_cli, "BACKGROUND_ALERTS", 1)
        monkeypatch.setattr(scan_cli.threading, "active_count", lambda: 1)
    out, fresh = tmp_path / "alerts.jsonl", tmp_path / "fresh.jsonl"
    for args in (["--alerts", str(out), str(big)], ["--alerts", str(out), str(small)],
                 ["--alerts", str(fresh), str(small)]):
        assert main(["scan", "-q", "--json", *args]) == 1
        capsys.readouterr()
    assert out.read_bytes() == fresh.read_bytes() and b"small.log" in out.read_bytes()
    assert b"big.log" not in out.read_bytes()


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    text = "".join(worm_heavy_lines(50, seed=1))
    log.write_text(text)
    for args in (["--alerts", str(log), str(log)], ["--csv", str(log), str(log.parent)]):
        assert main(["scan", "--json", *args]) == 2
        err = capsys.readouterr().err
        assert "is also an input" in err and err.count("\n") == 1
        assert log.read_text() == text


@pytest.mark.parametrize("ahead", [True, False])
def test_an_output_allocated_ahead_holds_what_was_written_and_no_more(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: bool) -> None:
    """A regular output file gets its disk space ahead of the writes (where the system can,
    else as usual: ``ahead`` False is the twin); it holds the bytes written, and the space
    allocated past them is given back when it is closed."""
    from wormsign.cli import _files

    calls: list[tuple[int, int]] = []
    real = _files.preallocate if ahead else _files._no_preallocation

    def spy(fd: int, at: int, size: int) -> bool:
        calls.append((at, size))
        return real(fd, at, size)

    monkeypatch.setattr(_files, "preallocate", spy)
    monkeypatch.setattr(_files, "AHEAD", 1 << 20)
    p = tmp_path / "alerts.jsonl"
    parts = [bytes([65 + k % 26]) * (300_000 + k) for k in range(12)]
    written = sum(map(len, parts))
    with open_output(str(p)) as f:
        for part in parts:
            f.write(part)
        f.flush()
        if ahead and real(f.fileno(), 0, 1):  # the file system can: space was taken ahead
            assert os.fstat(f.fileno()).st_blocks * 512 > written
    assert p.read_bytes() == b"".join(parts)
    assert os.stat(p).st_blocks * 512 < len(b"".join(parts)) + (1 << 20)
    assert calls[0][0] == 0 and all(a < b for (a, _), (b, _) in itertools.pairwise(calls))
    if not ahead:
        assert len(calls) == 1  # refused once: not asked again
    assert all(size <= max(1 << 20, 300_011) for _, size in calls)


def test_an_output_that_is_not_a_regular_file_is_written_as_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with open_output(str(fifo)) as f:
        assert not isinstance(getattr(f, "raw", None), _Allocated)
        f.write(b"x" * 100_000)
    reader.join(10)
    assert got == [b"x" * 100_000]
