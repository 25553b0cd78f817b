"""``wormsign watch`` groups the records of one request seen by several sensors into one
event, as ``incident ingest`` does, also after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from detect import eventdata as ed
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents.events import evidence_counts
from wormsign.incidents.query import count_alerts
from wormsign.incidents.rollup import check as rollups_consistent
from wormsign.watch.runner import Watcher
from wormsign.watch.store import StoreSink, sensor_name


@pytest.fixture(scope="module")
def made() -> list[ed.Made]:
    return ed.requests_made(seed=11, sources=20)


def _logs(tmp: Path, made: list[ed.Made]) -> list[str]:
    return [str(ed.access_log(made, tmp / "access.log")),
            str(ed.error_log(made, tmp / "error.log")),
            str(ed.zeek_http(made, tmp / "http.log", skew=-9.0))]


def _watch(store: Store, iid: int, paths: list[str], *, close: bool = True) -> StoreSink:
    sink = StoreSink(store, iid, sensor_name(paths), note=lambda _m: None)
    w = Watcher(paths, checkpoint=sink.checkpoint, hold=0,
                on_commit=sink.after_commit if close else None)
    w.step()
    w.step(final=True)
    w.follower.close()
    sink.wait()
    if close:
        sink.group_events()
    return sink


def test_watched_sensors_count_each_request_once(tmp_path: Path, made: list[ed.Made]) -> None:
    paths = _logs(tmp_path, made)
    with Store.open(str(tmp_path / "case.db")) as store:
        iid = store.create_incident("live")
        sink = _watch(store, iid, paths)
        counts = evidence_counts(store, iid)
        assert counts["events"] == len(made)
        assert counts["evidence"] > len(made)
        assert count_alerts(store, iid) == len(made)
        assert sink.regrouped == counts["evidence"] - counts["events"]
        with store.engine.connect() as conn:
            assert rollups_consistent(conn, iid)
        # the same logs ingested afterwards add nothing and change no event
        assert sum(r.added for r in ingest_paths(store, iid, paths).files) == 0
        assert evidence_counts(store, iid) == counts


def test_rows_of_a_killed_watcher_are_grouped_after_its_restart(tmp_path: Path,
                                                                 made: list[ed.Made]) -> None:
    paths = _logs(tmp_path, made)
    with Store.open(str(tmp_path / "case.db")) as store:
        iid = store.create_incident("restart")
        _watch(store, iid, paths, close=False)  # stored, never grouped (killed)
        before = evidence_counts(store, iid)
        assert before["events"] > len(made)
        again = StoreSink(store, iid, sensor_name(paths), note=lambda _m: None)
        assert again.group_events() > 0
        assert evidence_counts(store, iid)["events"] == len(made)
        assert again.group_events() == 0  # up to date: nothing to regroup


def test_rows_stored_before_the_watch_are_left_to_their_ingest(tmp_path: Path,
                                                               made: list[ed.Made]) -> None:
    paths = _logs(tmp_path, made)
    with Store.open(str(tmp_path / "case.db")) as store:
        iid = store.create_incident("earlier")
        ingest_paths(store, iid, paths[:1])
        sink = StoreSink(store, iid, sensor_name(paths[1:]), note=lambda _m: None)
        assert sink.group_events() == 0  # nothing new since it started
        assert evidence_counts(store, iid)["events"] == count_alerts(store, iid)
