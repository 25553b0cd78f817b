"""The early pre-scan of ``wormsign scan`` (``cli/_early.py``), forked before the command's
imports: which command lines it takes, and that the scan uses its records only when it read
the scan's own ranges with the scan's own databases, with the result of a full scan either
way and no process left behind."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from detect.prescanhelp import children, planned, used
from wormsign.cli import _early
from wormsign.cli.main import main
from wormsign.detect import bounds, hscache, parallel, prescan, prescanloop, ranges
from wormsign.detect.keywords import KeywordDatabases
from wormsign.logs.source import Limits
from wormsign.logs.synth import worm_heavy_lines

pytestmark = pytest.mark.skipif(not prescanloop.usable() or not sys.platform.startswith("linux"),
                                reason="the C helpers are not built, or not Linux (/proc)")


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Small files cut into many ranges, a private cache, no threads seen."""
    for mod in (bounds, parallel, ranges):
        monkeypatch.setattr(mod, "MIN_PARALLEL_BYTES", 0)
    for mod in (bounds, ranges):
        monkeypatch.setattr(mod, "MIN_SPLIT_BYTES", 1 << 16)
        monkeypatch.setattr(mod, "RANGE_BYTES", 1 << 16)
    monkeypatch.setattr("threading.active_count", lambda: 1)
    monkeypatch.setenv("WORMSIGN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_early, "_started", None)
    monkeypatch.setattr(_early, "MIN_BYTES", 0)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("early") / "storm.log"
    p.write_text("".join(worm_heavy_lines(12000, seed=5)))
    return p


def _adopted(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    seen: list[bool] = []
    real = prescan.Prescan.adopt.__func__  # type: ignore[attr-defined]

    def adopt(cls: type[prescan.Prescan], *a: object) -> prescan.Prescan | None:
        got = real(cls, *a)
        seen.append(got is not None)
        return got

    monkeypatch.setattr(prescan.Prescan, "adopt", classmethod(adopt))
    return seen


def _scan(log: Path, out: Path, capsys: pytest.CaptureFixture[str],
          workers: str = "2") -> dict[str, object]:
    assert main(["scan", "-q", "--json", "--workers", workers, "--alerts", str(out),
                 str(log)]) == 1
    return dict(json.loads(capsys.readouterr().out))


def test_plain_scan_command_lines_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "a.log"
    f.write_text("x\n")
    assert _early._plan(["scan", "-q", "--workers", "3", str(f)]) is None  # small: no fork
    monkeypatch.setattr(_early, "MIN_BYTES", 0)
    assert _early._plan(["scan", "-q", "--json", "--workers", "3", "--alerts", "o",
                         str(f)]) == ([str(f)], 3, _early.DEFAULT_MAX_LINE)
    assert _early._plan(["scan", "--quiet", "--workers=4", "--max-line-bytes", "900",
                         "--csv=c", str(f), str(f)]) == ([str(f), str(f)], 4, 900)
    for argv in (["rules", "list"], ["scan"], ["scan", "-q", "--rules", "r.yml", str(f)],
                 ["scan", "-q", "--format", "combined", str(f)], ["scan", "-q", "-"],
                 ["scan", "-q", str(tmp_path)], ["scan", "-q", "--workers", "1", str(f)],
                 ["scan", "-q", "--wor", "2", str(f)], ["scan", "-q", "--scheduler", "x", str(f)],
                 ["scan", "-q", "--help"], ["scan", "-q", "--json=1", str(f)]):
        assert _early._plan(argv) is None, argv
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _early._plan(["scan", "--workers", "2", str(f)]) is None  # a progress bar
    assert _early._plan(["scan", "-q", "--workers", "2", str(f)]) is not None
    monkeypatch.setattr(_early, "_started", None)
    _early.begin(["scan", "-q", "--workers", "two", str(f)])  # never raises
    _early.begin(["scan", "-q", "--workers", "2", str(tmp_path / "missing.log")])
    assert _early.take() is None


def test_its_defaults_are_the_scans() -> None:
    assert Limits().max_line_bytes == _early.DEFAULT_MAX_LINE
    assert bounds.MIN_PARALLEL_BYTES == _early.MIN_BYTES
    assert prescanloop.SHARED == _early.SHARED


def test_an_early_prescan_is_taken_over_and_used(log: Path, small: None, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    want = _scan(log, tmp_path / "one.jsonl", capsys, workers="1")
    _scan(log, tmp_path / "two.jsonl", capsys)  # notes its databases for the next scan
    assert hscache.recall(_early.NOTE) is not None
    before = children()
    _early.begin(["scan", "-q", "--json", "--workers", "2", str(log)])
    assert _early._started is not None
    time.sleep(0.5)
    adopted, works = _adopted(monkeypatch), planned(monkeypatch)
    assert _scan(log, tmp_path / "three.jsonl", capsys) == want
    assert (tmp_path / "three.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert adopted == [True] and len(used(works)) >= 3 and sum(used(works)) >= 5
    assert children() == before


def test_an_early_prescan_with_other_databases_is_not_used(log: Path, small: None,
                                                           tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    want = _scan(log, tmp_path / "one.jsonl", capsys, workers="1")
    other = KeywordDatabases([b"zzzz", b"yyyy"])  # another rule set's, as after a change
    assert other.keys is not None
    hscache.remember(_early.NOTE, other.keys)
    before = children()
    _early.begin(["scan", "-q", "--json", "--workers", "2", str(log)])
    time.sleep(0.5)
    adopted, works = _adopted(monkeypatch), planned(monkeypatch)
    assert _scan(log, tmp_path / "two.jsonl", capsys) == want
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert adopted == [True] and used(works) == []  # taken over, its records refused
    assert hscache.recall(_early.NOTE) != other.keys  # the scan noted its own again
    assert children() == before


def test_an_early_prescan_without_databases_ends_and_the_scan_prescans(
        log: Path, small: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    want = _scan(log, tmp_path / "one.jsonl", capsys, workers="1")
    assert hscache.recall(_early.NOTE) is None  # a first scan: nothing noted yet
    before = children()
    _early.begin(["scan", "-q", "--json", "--workers", "2", str(log)])
    time.sleep(0.3)
    adopted, works = _adopted(monkeypatch), planned(monkeypatch)
    assert _scan(log, tmp_path / "two.jsonl", capsys) == want
    assert adopted == [False] and used(works)  # it had ended; the scan's own pre-scan ran
    assert children() == before


def test_an_early_prescan_not_taken_over_is_ended(log: Path, small: None, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _scan(log, tmp_path / "one.jsonl", capsys)
    before = children()
    _early.begin(["scan", "-q", "--json", "--workers", "2", str(log)])
    assert _early._started is not None
    _scan(log, tmp_path / "two.jsonl", capsys, workers="1")  # one process: no pre-scan
    assert _early._started is None and children() == before
    _early.begin(["scan", "-q", "--workers", "2", str(log)])
    assert _early._started is not None
    _early.discard()
    assert _early._started is None and children() == before



def _full(log: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """The scan in one process, the early pre-scan kept aside meanwhile."""
    early = _early.take()
    try:
        return _scan(log, out, capsys, workers="1")
    finally:
        _early._started = early


def test_an_early_prescan_of_a_log_that_grew_is_used_where_it_still_holds(
        log: Path, small: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A log written to while the scan starts is cut otherwise by the scan than by the early
    pre-scan: its records are given to the scan's ranges that hold them (the result that of
    a full scan of the grown log); a file replaced meanwhile (another inode) gets none."""
    grown = tmp_path / "live.log"
    grown.write_bytes(log.read_bytes())
    _scan(grown, tmp_path / "zero.jsonl", capsys)  # notes the databases
    before = children()
    _early.begin(["scan", "-q", "--json", "--workers", "2", str(grown)])
    time.sleep(0.5)
    with open(grown, "a") as f:
        f.write("".join(worm_heavy_lines(3000, seed=8)))
    want = _full(grown, tmp_path / "one.jsonl", capsys)
    works = planned(monkeypatch)
    assert _scan(grown, tmp_path / "two.jsonl", capsys) == want
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert len(used(works)) >= 3 and children() == before
    _early.begin(["scan", "-q", "--json", "--workers", "2", str(grown)])
    time.sleep(0.5)
    new = tmp_path / "new.log"  # rotated: the same bytes in another file, renamed over it
    new.write_bytes(grown.read_bytes())
    os.replace(new, grown)
    works.clear()
    assert _scan(grown, tmp_path / "three.jsonl", capsys) == want
    assert used(works) == [] and children() == before
