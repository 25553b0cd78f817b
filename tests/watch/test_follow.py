"""The follower and the watch loop on real files: growth, rotation, truncation, new files,
resuming from a checkpoint. Every test counts alerts against the worm lines written."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from wormsign.watch.checkpoint import MemoryCheckpoint
from wormsign.watch.follower import Follower
from wormsign.watch.runner import Watcher

from .lines import benign, code_red, combined, nimda_burst


def _write(path: Path, data: bytes, mode: str = "ab") -> None:
    with open(path, mode) as f:
        f.write(data)


def _lines(cp: MemoryCheckpoint) -> list[tuple[str, int]]:
    return sorted((a.file_path, a.line) for a in cp.alerts.values())


def test_partial_lines_wait_for_their_newline(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    line = code_red(1, 0)
    _write(log, benign(0, 0) + line[:30], "wb")
    f = Follower([str(log)])
    chunks = f.poll()
    assert [c.data for c in chunks] == [benign(0, 0)]
    for piece in (line[30:60], line[60:-1]):
        _write(log, piece)
        assert f.poll() == []
    _write(log, b"\n")
    chunks = f.poll()
    assert [(c.data, c.first_line) for c in chunks] == [(line, 2)]


def test_lines_appended_in_pieces_are_alerted_once(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp)
    assert w.step() == []  # not there yet
    data = b"".join(code_red(i, i) if i % 3 == 0 else benign(i, i) for i in range(60))
    for k in range(0, len(data), 97):
        _write(log, data[k:k + 97])
        w.step()
    w.step(final=True)
    assert _lines(cp) == [(str(log), i + 1) for i in range(60) if i % 3 == 0]
    assert cp.duplicates == 0
    assert w.totals.lines == 60


def test_rename_rotation_reads_the_old_file_to_its_end(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, code_red(1, 0) + benign(1, 1), "wb")
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp)
    w.step()
    os.rename(log, tmp_path / "access.log.1")
    _write(tmp_path / "access.log.1", code_red(2, 2))  # the server still writes the old file
    _write(log, code_red(3, 3), "wb")
    w.step()
    _write(tmp_path / "access.log.1", code_red(4, 4))
    _write(log, code_red(5, 5))
    w.step()
    w.follower.drain_grace = 0
    w.step()
    w.step(final=True)
    got = sorted((a.source_ip, a.line) for a in cp.alerts.values())
    assert got == sorted([(code_red(1, 0).split()[0].decode(), 1),
                          (code_red(2, 0).split()[0].decode(), 3),
                          (code_red(4, 0).split()[0].decode(), 4),
                          (code_red(3, 0).split()[0].decode(), 1),
                          (code_red(5, 0).split()[0].decode(), 2)])
    assert cp.duplicates == 0
    assert not w.follower.draining  # the rotated generation was retired


def test_copy_truncate_reads_the_unread_rest_from_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, b"".join(code_red(i, i) for i in range(5)), "wb")
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp)
    w.step()
    _write(log, b"".join(code_red(i, i) for i in range(5, 8)))  # not read before the rotation
    shutil.copyfile(log, tmp_path / "access.log.1")
    with open(log, "r+b") as f:
        f.truncate(0)
    _write(log, b"".join(code_red(i, 100 + i) for i in range(8, 10)))
    w.step()
    w.step(final=True)
    got = sorted((a.source_ip, a.line) for a in cp.alerts.values())
    want = sorted([(code_red(i, 0).split()[0].decode(), i + 1) for i in range(8)]
                  + [(code_red(i, 0).split()[0].decode(), i - 7) for i in range(8, 10)])
    assert got == want
    assert w.follower.truncations == 1


def test_truncated_and_regrown_past_the_offset_is_noticed_by_its_head(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, code_red(1, 0), "wb")
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp)
    w.step()
    # Rewritten with more than before, so the size alone does not show the truncation.
    _write(log, benign(0, 50) + code_red(2, 51) + code_red(3, 52), "wb")
    w.step()
    assert w.follower.truncations == 1
    assert sorted(a.line for a in cp.alerts.values()) == [1, 2, 3]


def test_compressed_rotation_appearing_later_is_not_read_again(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, b"".join(code_red(i, i) for i in range(4)), "wb")
    cp = MemoryCheckpoint()
    w = Watcher([str(tmp_path)], checkpoint=cp)
    w.follower.drain_grace = 0
    w.step()
    os.rename(log, tmp_path / "access.log.1")
    _write(log, code_red(9, 9), "wb")
    for _ in range(3):
        w.step()
    assert len(cp.alerts) == 5
    # logrotate's next round: access.log.1 -> access.log.2.gz, and a copy under a new name.
    with open(tmp_path / "access.log.1", "rb") as src, gzip.open(tmp_path / "access.log.2.gz",
                                                                 "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(tmp_path / "access.log.1")
    shutil.copyfile(tmp_path / "access.log.2.gz", tmp_path / "archive.gz")
    for _ in range(3):
        w.step()
    assert len(cp.alerts) == 5
    assert cp.duplicates == 0


def test_copy_of_a_read_generation_under_a_new_name_is_not_read_again(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, b"".join(code_red(i, i) for i in range(30)), "wb")
    cp = MemoryCheckpoint()
    notes: list[str] = []
    w = Watcher([str(tmp_path)], checkpoint=cp, on_note=notes.append)
    w.step()
    shutil.copyfile(log, tmp_path / "saved-by-admin.log")
    w.step()
    assert len(cp.alerts) == 30
    assert any("already read" in n for n in notes)


def test_new_file_in_a_watched_directory_starts_at_zero(tmp_path: Path) -> None:
    cp = MemoryCheckpoint()
    w = Watcher([str(tmp_path)], checkpoint=cp)
    w.step()
    sub = tmp_path / "vhost2"
    sub.mkdir()
    _write(sub / "access.log", code_red(1, 0) + benign(0, 1) + code_red(2, 2), "wb")
    w.step()
    assert sorted((a.file_path, a.line) for a in cp.alerts.values()) == [
        (str(sub / "access.log"), 1), (str(sub / "access.log"), 3)]


def test_resume_from_checkpoint_after_a_rotation_while_away(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, b"".join(code_red(i, i) for i in range(3)), "wb")
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp)
    w.step()
    w.follower.close()  # "killed": only the checkpoint survives
    _write(log, b"".join(code_red(i, i) for i in range(3, 6)))
    os.rename(log, tmp_path / "access.log.1")
    with open(tmp_path / "access.log.1", "rb") as src, gzip.open(tmp_path / "access.log.1.gz",
                                                                 "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(tmp_path / "access.log.1")  # compressed meanwhile
    _write(log, code_red(7, 7), "wb")
    w2 = Watcher([str(log)], checkpoint=cp)
    w2.step()
    w2.step(final=True)
    assert sorted(a.line for a in cp.alerts.values()) == [1, 1, 2, 3, 4, 5, 6]
    assert cp.duplicates == 0


def test_resume_in_place_reads_only_what_is_new(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, code_red(1, 0), "wb")
    cp = MemoryCheckpoint()
    Watcher([str(log)], checkpoint=cp).step()
    _write(log, code_red(2, 1))
    w = Watcher([str(log)], checkpoint=cp)
    w.step()
    assert w.totals.lines == 1
    assert sorted(a.line for a in cp.alerts.values()) == [1, 2]
    assert cp.duplicates == 0


def test_nimda_burst_is_decided_when_it_fires_and_a_lone_probe_after_the_hold(
        tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp, hold=3600)
    _write(log, b"".join(nimda_burst("192.0.2.9", 0, n=3)), "wb")
    w.step(now=0)
    assert cp.alerts == {}  # 3 requests: not a burst yet, held
    assert len(cp.offsets["pending"]["items"]) == 3
    _write(log, b"".join(nimda_burst("192.0.2.9", 0.3, n=2)[1:]))
    w.step(now=1)
    assert {a.family for a in cp.alerts.values()} == {"nimda"}
    assert len(cp.alerts) == 4
    # A lone traversal probe: held until the log moves a burst window past it.
    probe = combined("192.0.2.77", "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir", 10)
    _write(log, probe)
    w.step(now=2)
    assert len(cp.alerts) == 4
    _write(log, benign(1, 200) + code_red(5, 200))
    w.step(now=3)
    fam = {a.source_ip: a.family for a in cp.alerts.values()}
    assert fam["192.0.2.77"] != "nimda"
    assert len(cp.alerts) == 6


def test_held_requests_survive_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    cp = MemoryCheckpoint()
    w = Watcher([str(log)], checkpoint=cp, hold=3600)
    _write(log, b"".join(nimda_burst("192.0.2.9", 0, n=2)), "wb")
    w.step(now=0)
    assert cp.alerts == {}
    w.follower.close()
    _write(log, b"".join(nimda_burst("192.0.2.9", 0, n=6)[2:]))
    w2 = Watcher([str(log)], checkpoint=cp, hold=3600)
    w2.step(now=0)
    assert sorted(a.line for a in cp.alerts.values()) == [1, 2, 3, 4, 5, 6]
    assert {a.family for a in cp.alerts.values()} == {"nimda"}


def test_overlong_line_is_skipped_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, b"x" * 5000 + b"\n" + code_red(1, 0), "wb")
    notes: list[str] = []
    f = Follower([str(log)], max_read=1024, on_note=notes.append)
    chunks = []
    for _ in range(10):
        chunks += f.poll()
    assert b"".join(c.data for c in chunks) == code_red(1, 0)
    assert chunks[0].first_line == 2
    assert any("longer than" in n for n in notes)


def test_a_file_that_is_not_a_log_is_reported_once_and_the_rest_is_watched(
        tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 40 + b"\n")
    _write(tmp_path / "access.log", code_red(1, 0), "wb")
    notes: list[str] = []
    cp = MemoryCheckpoint()
    w = Watcher([str(tmp_path)], checkpoint=cp, on_note=notes.append)
    w.step()
    w.step()
    assert len(cp.alerts) == 1
    assert sum("data.bin" in n for n in notes) == 1


class _Flaky(MemoryCheckpoint):
    """A checkpoint whose store is locked for the first ``failures`` commits."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def commit(self, alerts, offsets):  # type: ignore[no-untyped-def]
        from wormsign.watch.checkpoint import CheckpointBusy

        if self.failures:
            self.failures -= 1
            raise CheckpointBusy("database is locked")
        return super().commit(alerts, offsets)


def test_a_busy_store_pauses_reading_and_loses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(code_red(1, 0))
    cp = _Flaky(failures=2)
    notes: list[str] = []
    w = Watcher([str(log)], checkpoint=cp, on_note=notes.append)
    assert w.step() == []
    _write(log, code_red(2, 1))
    assert w.step() == []  # still busy: the new line is not read yet
    assert w.totals.lines == 1
    assert len(w.step()) == 1  # committed now
    w.step()
    assert sorted(a.line for a in cp.alerts.values()) == [1, 2]
    assert cp.offsets and cp.duplicates == 0
    assert any("paused" in n for n in notes) and any("resumed" in n for n in notes)
