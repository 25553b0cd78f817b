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
