"""The pre-scan (``detect/prescan.py``): ranges it began are finished from its records with
the result a full scan gives, whatever it managed before it was stopped, and nothing of it is
left running."""

from __future__ import annotations

import dataclasses
import itertools
import json
import mmap
import os
import pickle
import signal
import time
from pathlib import Path

import pytest

from detect.prescanhelp import children, planned, used
from wormsign.cli.main import main
from wormsign.detect import bounds, parallel, prescan, prescanloop, ranges, report
from wormsign.detect.chunkscan import RuleEngine
from wormsign.detect.keywords import KeywordDatabases, keyword_patterns
from wormsign.detect.scanner import ScanReport, scan_paths
from wormsign.logs.source import DEFAULT_LIMITS, Limits, expand
from wormsign.logs.synth import CODE_RED, worm_heavy_lines

pytestmark = pytest.mark.skipif(not prescanloop.usable(), reason="the C helpers are not built")


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in (parallel, ranges):
        monkeypatch.setattr(mod, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(ranges, "MIN_SPLIT_BYTES", 1 << 16)
    monkeypatch.setattr(ranges, "RANGE_BYTES", 1 << 16)
    monkeypatch.setattr("threading.active_count", lambda: 1)


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = list(worm_heavy_lines(9000, seed=21))
    for k in (7, 2500, 6100):  # bad lines in several ranges
        lines.insert(k, "not a log line\n")
    long_line = ('9.9.9.9 - - [19/Jul/2001:10:23:45 +0000] "GET ' + CODE_RED + "A" * 70000
                 + ' HTTP/1.0" 404 1 "-" "-"\n')
    lines.insert(4000, long_line)  # overlong (cut at 64 KiB): the pre-scan stops there
    lines.insert(5000, long_line[:9000] + ' HTTP/1.0" 404 1 "-" "-"\n')  # long, not cut
    p = tmp_path_factory.mktemp("pre") / "storm.log"
    p.write_text("".join(lines))
    return p


def _same(a: ScanReport, b: ScanReport) -> None:
    assert [f.to_dict() for f in a.files] == [f.to_dict() for f in b.files]
    assert list(a.alerts) == list(b.alerts)
    assert report.to_json(a) == report.to_json(b)


def _start(path: Path, limits: Limits = DEFAULT_LIMITS) -> prescan.Prescan:
    engine = RuleEngine()
    tasks = [t for inp in expand([str(path)]) for t in ranges.split(inp, None, 2)]
    pre = prescan.Prescan.start(tasks, KeywordDatabases(keyword_patterns(engine.rules)[0]),
                                limits)
    assert pre is not None
    return pre


def _checked(storm: Path, monkeypatch: pytest.MonkeyPatch, wait: float,
             limits: Limits = DEFAULT_LIMITS, workers: int = 2) -> list[parallel._Work]:
    """Scan ``storm`` with a pre-scan given ``wait`` seconds first, check the result is a
    full scan's, and give the work the scan planned."""
    want = scan_paths([str(storm)], workers=1)
    pre = _start(storm, limits)
    time.sleep(wait)
    works = planned(monkeypatch)
    _same(want, scan_paths([str(storm)], workers=workers, prescan=pre))
    return works


def test_a_finished_prescan_gives_the_full_scan(storm: Path, small_ranges: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    want = scan_paths([str(storm)], workers=1)
    before = children()
    pre = _start(storm)
    time.sleep(1.0)  # let it do everything it can
    works = planned(monkeypatch)
    got = scan_paths([str(storm)], workers=2, prescan=pre)
    _same(want, got)
    assert len(used(works)) >= 5 and sum(used(works)) >= 5  # ranges after the overlong line, at least
    assert children() == before


@pytest.mark.parametrize("budget", [1, 100_000, 400_000])
def test_a_prescan_stopped_part_way_gives_the_full_scan(storm: Path, small_ranges: None,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        budget: int) -> None:
    monkeypatch.setattr(prescanloop, "BUDGET", budget)
    works = _checked(storm, monkeypatch, 0.5, Limits(max_line_bytes=65536), workers=3)
    assert used(works)  # a range begun, cut where the records end


@pytest.mark.parametrize("room", ["none", "all", "some"])
def test_record_arrays_in_shared_memory_or_the_pipe_give_the_full_scan(
        storm: Path, small_ranges: None, monkeypatch: pytest.MonkeyPatch, room: str) -> None:
    """The records' offset arrays lie in memory shared with the pre-scan and are read there
    (not pickled); where it has no room left, or there is none, they come down the pipe.
    Either way the result is a full scan's."""
    if room == "none":
        monkeypatch.setattr(prescan, "shared_area", lambda: None)
    elif room == "some":
        monkeypatch.setattr(prescanloop, "SHARED", 40_000)
    works = _checked(storm, monkeypatch, 1.0)
    arrays = [r.newlines for w in works for rs in w.records if rs for r in rs if len(r.newlines)]
    kinds = {type(a) for a in arrays}
    assert kinds == {"none": {bytes}, "all": {memoryview}, "some": {bytes, memoryview}}[room]


def test_a_record_read_in_shared_memory_pickles_with_bytes() -> None:
    """A record whose arrays are views of the shared memory pickles (for workers that are not
    forked: a progress bar's scan, Dask) with its arrays as bytes."""
    area = mmap.mmap(-1, 4096)
    area[0:16] = (7).to_bytes(8, "little") + (99).to_bytes(8, "little")
    rec = prescan.ChunkRecord(0, 100, 2, 0, (), memoryview(area)[0:16], b"\x07" + bytes(7))
    back = pickle.loads(pickle.dumps(rec))
    assert isinstance(back.newlines, bytes) and back.newlines == bytes(area[0:16])
    assert back == rec


def test_a_record_placed_outside_the_shared_memory_is_refused() -> None:
    area = mmap.mmap(-1, 4096)
    pre = prescan.Prescan([], -1, (-1, -1), area=area)
    assert bytes(pre._record((0, 9, 1, 0, (), (8, 8), b"")).newlines) == bytes(8)
    for bad in ((4090, 8), (-8, 8), (0, -1)):
        with pytest.raises(ValueError):
            pre._record((0, 9, 1, 0, (), bad, b""))
    with pytest.raises(ValueError):
        prescan.Prescan([], -1, (-1, -1))._record((0, 9, 1, 0, (), (0, 8), b""))


def test_a_lost_prescan_costs_only_its_work(storm: Path, small_ranges: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    want = scan_paths([str(storm)], workers=1)
    pre = _start(storm)
    os.kill(pre._pid, signal.SIGKILL)
    works = planned(monkeypatch)
    _same(want, scan_paths([str(storm)], workers=2, prescan=pre))
    assert used(works) == []


def test_a_prescan_that_does_not_answer_is_left_behind(storm: Path, small_ranges: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prescan, "STOP_WAIT", 0.3)
    want = scan_paths([str(storm)], workers=1)
    before = children()
    pre = _start(storm)
    os.kill(pre._pid, signal.SIGSTOP)  # as a read hung on a network file system
    works = planned(monkeypatch)
    t = time.monotonic()
    _same(want, scan_paths([str(storm)], workers=2, prescan=pre))
    assert used(works) == [] and time.monotonic() - t < 5
    assert children() == before  # killed (a stopped process dies of SIGKILL) and reaped


def test_records_of_another_split_are_not_used(storm: Path, small_ranges: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    want = scan_paths([str(storm)], workers=1)
    pre = _start(storm)
    time.sleep(0.5)
    monkeypatch.setattr(ranges, "RANGE_BYTES", 1 << 17)  # the scan cuts other ranges
    works = planned(monkeypatch)
    _same(want, scan_paths([str(storm)], workers=2, prescan=pre))
    assert used(works) == []


def test_a_chunk_that_reads_back_otherwise_is_scanned(storm: Path, small_ranges: None) -> None:
    engine = RuleEngine()
    pre = _start(storm)
    time.sleep(0.5)
    found = pre.finish()
    index, records = max(found.items(), key=lambda kv: len(kv[1]))
    task = pre.tasks[index]
    want = parallel.run_task(task, None, DEFAULT_LIMITS)
    whole = parallel.finish_task(task, records, engine)
    assert whole.stats.lines == sum(r.lines for r in records) <= want.stats.lines
    assert len(whole.columns[0]) > 0
    # records that are not what is read back (the file changed): those chunks are scanned
    stale = [dataclasses.replace(r, newlines=r.newlines[8:], ends=b"") for r in records]
    again = parallel.finish_task(task, stale, engine)
    assert again.stats.lines == whole.stats.lines
    assert [c.tolist() for c in again.columns] == [c.tolist() for c in whole.columns]
    odd = [dataclasses.replace(records[0], length=records[0].length - 1)]
    part = parallel.finish_task(task, odd, engine)
    assert 1 <= part.stats.lines <= records[0].lines


def test_the_cli_prescans_a_large_log(storm: Path, small_ranges: None, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    alerts1, alerts2 = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert main(["scan", "-q", "--json", "--workers", "1", "--alerts", str(alerts1),
                 str(storm)]) == 1
    one = json.loads(capsys.readouterr().out)
    started: list[int] = []
    real = prescan.Prescan.start.__func__  # type: ignore[attr-defined]

    def start(cls: type[prescan.Prescan], *a: object) -> prescan.Prescan | None:
        pre = real(cls, *a)
        started.append(pre is not None)
        time.sleep(0.3)
        return pre

    monkeypatch.setattr(prescan.Prescan, "start", classmethod(start))
    works = planned(monkeypatch)
    before = children()
    assert main(["scan", "-q", "--json", "--workers", "2", "--alerts", str(alerts2),
                 str(storm)]) == 1
    assert json.loads(capsys.readouterr().out) == one
    assert alerts1.read_bytes() == alerts2.read_bytes()
    assert started == [True] and used(works) and children() == before


def test_the_rest_of_a_stopped_prescan_is_cut_smaller(storm: Path, small_ranges: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What a stopped pre-scan leaves is cut into smaller pieces at line starts (the workers
    then end together), with the result of a full scan."""
    monkeypatch.setattr(prescanloop, "BUDGET", 150_000)
    monkeypatch.setattr(parallel, "REST_PIECE", 9_000)
    works = _checked(storm, monkeypatch, 0.5)
    flat = works[0].flat
    split = [t for inp in expand([str(storm)]) for t in ranges.split(inp, None, 2)]
    assert len(flat) > 2 * len(split)
    assert all(a.end == b.start for a, b in itertools.pairwise(flat))
    with open(storm, "rb") as f:
        data = f.read()
    assert all(t.start == 0 or data[t.start - 1:t.start] == b"\n" for t in flat)


def test_a_files_first_range_is_prescanned_after_its_first_bytes(tmp_path: Path) -> None:
    """The pre-scan of a file's first range begins at the first line after the bytes the
    scan sniffs; a first range too short for that is not pre-scanned."""
    p = tmp_path / "a.log"
    line = b'1.2.3.4 - - [19/Jul/2001:10:23:45 +0000] "GET /x HTTP/1.0" 200 1 "-" "-"\n'
    p.write_bytes(line * 3000)
    task = ranges.Task(str(p), "combined", 0, len(line) * 3000)
    (got,) = prescan.ranges_of([task])
    assert got is not None and got[1] > bounds.SNIFFED and got[1] % len(line) == 0
    assert got[1] - bounds.SNIFFED <= len(line)
    assert prescan.ranges_of([ranges.Task(str(p), "combined", 0, 1000)]) == [None]


@pytest.fixture(scope="module")
def quiet_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mostly ordinary requests: the records of its chunks carry their few flagged lines;
    one of them is cut short inside its request (read the general way)."""
    normal = ('10.0.{a}.{b} - - [19/Jul/2001:10:{m:02d}:00 +0000] "GET /index{i}.html '
              'HTTP/1.1" 200 512 "-" "Mozilla/4.0"\n')
    worm = ('10.9.{a}.{b} - - [19/Jul/2001:11:{m:02d}:00 +0000] "GET ' + CODE_RED
            + ' HTTP/1.0" 404 1 "-" "-"\n')
    lines = [(worm if i % 150 == 0 else normal).format(a=i % 200, b=i % 250, m=i % 60, i=i)
             for i in range(30000)]
    lines[20040] = '10.9.9.9 - - [19/Jul/2001:11:00:00 +0000] "GET /default.ida?NNNNNNNN\n'
    p = tmp_path_factory.mktemp("quiet") / "quiet.log"
    p.write_text("".join(lines))
    return p


def test_records_carrying_their_flagged_lines_give_the_full_scan(
        quiet_log: Path, small_ranges: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records that carry their chunk's flagged lines are finished without reading the
    chunk again, with the columns a full scan of their range gives; a chunk whose flagged
    lines cannot be read that way (the line cut short) is read again."""
    want = scan_paths([str(quiet_log)], workers=1)
    pre = _start(quiet_log)
    time.sleep(1.0)
    works = planned(monkeypatch)
    _same(want, scan_paths([str(quiet_log)], workers=2, prescan=pre))
    records = [r for rs in works[0].records if rs for r in rs]
    assert records and all(r.copied is not None and r.newlines == b"" for r in records)
    engine = RuleEngine()
    pre = _start(quiet_log)
    time.sleep(1.0)
    found = pre.finish()
    odd = 0
    for index, recs in found.items():
        task = dataclasses.replace(pre.tasks[index], start=recs[0].offset,
                                   end=recs[-1].offset + recs[-1].length)
        full = parallel.run_task(task, None, DEFAULT_LIMITS)
        fin = parallel.finish_task(task, recs, engine)
        assert fin.stats.lines == full.stats.lines and fin.stats.skipped == full.stats.skipped
        assert [c.tolist() for c in fin.columns] == [c.tolist() for c in full.columns]
        odd += sum(b"NNNNNNNN\n" in (r.copied or b"") for r in recs)
    assert odd == 1


def test_pieces_end_at_newlines_and_stop_at_a_line_longer_than_a_piece(tmp_path: Path) -> None:
    """:func:`prescanloop.chunks`: contiguous pieces of whole lines (a short look at a
    piece's end finds its last newline, or the whole piece is searched), the range's last
    piece as it ends; a line longer than a piece ends them."""
    lines = [b"x" * n + b"\n" for n in (10, 5000, 3, 9000, 200, 7000, 1)] * 20
    data = b"".join(lines)
    p = tmp_path / "l.log"
    p.write_bytes(data + b"y" * 30_000 + b"\ntail")
    fd = os.open(p, os.O_RDONLY)
    try:
        got = list(prescanloop.chunks(fd, 0, len(data), size=12_000))
        assert b"".join(c for _o, c in got) == data
        assert all(c.endswith(b"\n") for _o, c in got)
        starts = list(itertools.accumulate([len(c) for _o, c in got], initial=0))[:-1]
        assert [o for o, _c in got] == starts
        rest = list(prescanloop.chunks(fd, len(data), len(data) + 30_006, size=12_000))
        assert rest == []  # the 30,000-byte line is longer than a piece
        last = list(prescanloop.chunks(fd, len(data) + 30_001, len(data) + 30_005, size=8))
        assert last == [(len(data) + 30_001, b"tail")]
    finally:
        os.close(fd)
