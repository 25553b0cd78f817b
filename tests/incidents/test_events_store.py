"""One event across sensors in the incident store: logs of the same requests ingested one
file at a time count each request once, whatever the order of the files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from detect import eventdata as ed
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents.events import evidence_counts
from wormsign.incidents.query import count_alerts, source_stats, timeline
from wormsign.incidents.rollup import check as rollups_consistent
from wormsign.logs.synth import CODE_RED, CODE_RED_II


@pytest.fixture(scope="module")
def made() -> list[ed.Made]:
    return ed.requests_made(seed=5, sources=24)


@pytest.fixture
def logs(tmp_path: Path, made: list[ed.Made]) -> dict[str, Path]:
    return {"access": ed.access_log(made, tmp_path / "access.log"),
            "error": ed.error_log(made, tmp_path / "error.log"),
            "zeek": ed.zeek_http(made, tmp_path / "http.log", skew=-12.0)}


def _families(store: Store, iid: int) -> Counter[str]:
    out: Counter[str] = Counter()
    for r in source_stats(store, iid):
        out[r["family"]] += r["alerts"]
    return out


@pytest.mark.parametrize("order", [("access", "error", "zeek"), ("error", "zeek", "access"),
                                   ("zeek", "access", "error")])
def test_files_ingested_one_by_one_count_requests(store: Store, logs: dict[str, Path],
                                                   made: list[ed.Made],
                                                   order: tuple[str, ...]) -> None:
    iid = store.create_incident("sensors")
    for name in order:
        ingest_paths(store, iid, [logs[name]])
    counts = evidence_counts(store, iid)
    assert counts["events"] == len(made)
    assert counts["evidence"] > len(made)
    assert count_alerts(store, iid) == len(made)
    fams = _families(store, iid)
    assert sum(fams.values()) == len(made)
    assert fams["code-red"] == sum(1 for m in made if m.url == CODE_RED)
    assert fams["code-red-ii"] == sum(1 for m in made if m.url == CODE_RED_II)
    assert "ida-overflow" not in fams
    with store.engine.connect() as conn:
        assert rollups_consistent(conn, iid)
    tl = timeline(store, iid, width=60)
    assert sum(s["alerts"] for s in tl["series"]) == len(made)


def test_error_log_alone_stays_ida_overflow(store: Store, logs: dict[str, Path],
                                            made: list[ed.Made]) -> None:
    iid = store.create_incident("error only")
    ingest_paths(store, iid, [logs["error"]])
    fams = _families(store, iid)
    assert fams["ida-overflow"] == sum(1 for m in made if m.dst == ed.SERVER
                                       and m.url in (CODE_RED, CODE_RED_II))
    assert "code-red" not in fams
    assert evidence_counts(store, iid)["merged"] == 0
