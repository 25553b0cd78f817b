"""The incident store as the watcher's checkpoint: offsets, held requests and content keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from .lines import code_red, nimda_burst

pytest.importorskip("sqlalchemy")

from wormsign.incidents import Store
from wormsign.incidents.ingest import ingest_paths
from wormsign.watch.runner import Watcher
from wormsign.watch.store import StoreCheckpoint, sensor_name


def _count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM alerts").scalar_one())


def test_offsets_and_held_requests_round_trip_through_the_store(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(code_red(1, 0) + b"".join(nimda_burst("192.0.2.9", 5, n=2)))
    with Store.open(str(tmp_path / "case.db")) as store:
        iid = store.create_incident("t")
        sensor = sensor_name([str(log)])
        w = Watcher([str(log)], checkpoint=StoreCheckpoint(store, iid, sensor), hold=3600)
        w.step(now=0)
        assert _count(store) == 1  # the two Nimda candidates are held
        w.follower.close()
        saved = StoreCheckpoint(store, iid, sensor).load()
        assert len(saved["pending"]["items"]) == 2
        gens = [r for r in saved.values() if r.get("state") == "live"]
        assert [(g["path"], g["line"]) for g in gens] == [(str(log), 3)]
        with open(log, "ab") as f:
            f.write(b"".join(nimda_burst("192.0.2.9", 5, n=5)[2:]))
        w2 = Watcher([str(log)], checkpoint=StoreCheckpoint(store, iid, sensor), hold=3600)
        w2.step(now=0)
        assert _count(store) == 6
        with store.engine.connect() as conn:
            fams = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT family FROM alerts")}
        assert fams == {"code-red", "nimda"}
        # Another watcher of other paths in the same incident does not see these held requests.
        other = StoreCheckpoint(store, iid, sensor_name([str(tmp_path / "x.log")])).load()
        assert "pending" not in other


def test_the_same_log_ingested_after_watching_adds_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(code_red(i, i) for i in range(20)))
    with Store.open(str(tmp_path / "case.db")) as store:
        iid = store.create_incident("t")
        w = Watcher([str(log)], checkpoint=StoreCheckpoint(store, iid, sensor_name([str(log)])))
        w.step()
        w.step(final=True)
        assert _count(store) == 20
        res = ingest_paths(store, iid, [str(log)])
        assert res.added == 0
        assert _count(store) == 20


def test_two_watchers_of_one_incident_keep_their_own_offsets(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(code_red(1, 0))
    b.write_bytes(code_red(2, 0) + code_red(3, 1))
    with Store.open(str(tmp_path / "case.db")) as store:
        iid = store.create_incident("t")
        wa = Watcher([str(a)], checkpoint=StoreCheckpoint(store, iid, sensor_name([str(a)])))
        wa.step()
        wb = Watcher([str(b)], checkpoint=StoreCheckpoint(store, iid, sensor_name([str(b)])))
        wb.step()
        with open(b, "ab") as f:
            f.write(code_red(4, 2))
        wb.step()
        paths = {o.path for o in store.get_watch_offsets(iid) if o.file_key.startswith("gen:")}
        assert paths == {str(a), str(b)}
        saved = StoreCheckpoint(store, iid, sensor_name([str(a)])).load()
        assert {r["path"] for r in saved.values() if r.get("state") == "live"} == {str(a)}
        assert _count(store) == 4
