"""Several processes, or a Dask cluster, give the result of one process: files, lines, alerts."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from wormsign.cli.main import main
from wormsign.detect import parallel, ranges, report
from wormsign.detect.scanner import ScanReport, scan_paths
from wormsign.logs.source import Input
from wormsign.logs.synth import CODE_RED, worm_heavy_lines, write_sample


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut even small files into many ranges, and never fall back to one process."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(ranges, "MIN_SPLIT_BYTES", 1 << 16)
    monkeypatch.setattr(ranges, "RANGE_BYTES", 1 << 16)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("par")
    write_sample(d / "sample", 3000, 11)
    data = "".join(worm_heavy_lines(6000, seed=9)).encode()
    # bad lines, an overlong line and a line with no end, scattered over the ranges
    lines = data.splitlines(keepends=True)
    for k in (5, 1500, 3001, 4500):
        lines.insert(k, b"not a log line\n")
    lines.insert(2000, b"9.9.9.9 - - [19/Jul/2001:10:23:45 +0000] \"GET " + CODE_RED.encode()
                 + b"A" * 70000 + b" HTTP/1.0\" 404 1 \"-\" \"-\"\n")
    (d / "storm.log").write_bytes(b"\xef\xbb\xbf" + b"".join(lines) + b"5.5.5.5 - - [19/Jul")
    (d / "storm2.log.gz").write_bytes(gzip.compress(data[: len(data) // 3]))
    return d


def _same(a: ScanReport, b: ScanReport) -> None:
    assert [f.to_dict() for f in a.files] == [f.to_dict() for f in b.files]
    assert list(a.alerts) == list(b.alerts)
    assert report.to_json(a) == report.to_json(b)


def test_ranges_and_files_in_parallel_equal_one_process(logs: Path, small_ranges: None) -> None:
    tasks = ranges.split(Input(str(logs / "storm.log")), None)
    assert len(tasks) > 10 and all(t.start is not None for t in tasks)
    for workers in (2, 3, 7):  # ranges that end together: a multiple of the workers
        cut = ranges.split(Input(str(logs / "storm.log")), None, workers)
        assert len(cut) % workers == 0 and len(cut) >= len(tasks)
        assert [(t.start, t.end) for t in cut] == sorted((t.start, t.end) for t in cut)
        assert cut[0].start == 0 and cut[-1].end == tasks[-1].end
        assert all(a.end == b.start for a, b in itertools.pairwise(cut))
    one = scan_paths([str(logs)], workers=1)
    two = scan_paths([str(logs)], workers=2)
    _same(one, two)
    storm = next(f for f in two.files if f.path.endswith("storm.log"))
    assert storm.skipped == 5 and storm.overlong == 1 and storm.first_skipped[0] == 6
    assert len(two.alerts) > 1000


def test_default_workers_small_input_stays_in_process(logs: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*_a: object, **_k: object) -> None:
        raise AssertionError("a pool was started for a small input")

    monkeypatch.setattr(parallel, "_run_local", no_pool)
    _same(scan_paths([str(logs / "sample")], workers=None), scan_paths([str(logs / "sample")]))


def test_dask_cluster_equals_local(logs: Path, small_ranges: None) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        on_dask = scan_paths([str(logs)], scheduler=cluster.scheduler_address)
    _same(scan_paths([str(logs)], workers=1), on_dask)


def test_cli_workers_and_scheduler_errors(logs: Path, capsys: pytest.CaptureFixture[str],
                                          small_ranges: None) -> None:
    assert main(["scan", "--json", "--workers", "2", str(logs / "storm.log")]) == 1
    two = json.loads(capsys.readouterr().out)
    assert main(["scan", "--json", "--workers", "1", str(logs / "storm.log")]) == 1
    assert json.loads(capsys.readouterr().out) == two
    assert main(["scan", "--workers", "0", str(logs)]) == 2
    assert "--workers" in capsys.readouterr().err


def test_unreachable_scheduler_is_one_line(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    assert main(["scan", "--scheduler", "tcp://127.0.0.1:1", str(logs / "storm.log")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "127.0.0.1:1" in err


def test_scheduler_without_the_dask_extra(logs: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    assert main(["scan", "--scheduler", "tcp://127.0.0.1:8786", str(logs / "storm.log")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'wormsign[dask]'" in err and err.count("\n") == 1
