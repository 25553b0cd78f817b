"""``wormsign watch``'s incident upkeep (events across sensors, blocklist, playbooks) in a
process of its own: the same store contents as in a thread, and a process that never
outlives its watcher."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from detect import eventdata as ed
from wormsign.incidents import Store
from wormsign.incidents.blocklist import entries
from wormsign.incidents.events import evidence_counts
from wormsign.watch.runner import Watcher
from wormsign.watch.store import StoreSink, sensor_name


@pytest.fixture(scope="module")
def made() -> list[ed.Made]:
    # from public addresses (private ones are never blocked)
    return [ed.Made(m.t, "61." + m.src.partition(".")[2], m.dst, m.url)
            for m in ed.requests_made(seed=5, sources=15)]


def _logs(tmp: Path, made: list[ed.Made]) -> list[str]:
    return [str(ed.access_log(made, tmp / "access.log")),
            str(ed.zeek_http(made, tmp / "http.log", skew=-4.0))]


def _run(sink: StoreSink, paths: list[str]) -> None:
    w = Watcher(paths, checkpoint=sink.checkpoint, hold=0, on_commit=sink.after_commit)
    w.step()
    w.step(final=True)
    w.follower.close()
    sink.wait()


def _contents(db: Path | str, iid: int) -> tuple[list[str], dict[str, int]]:
    with Store.open(str(db)) as store:
        return sorted(f"{e.address} {e.family} {e.events}" for e in entries(store, iid)), \
            evidence_counts(store, iid)


def test_a_process_gives_the_store_a_thread_gives(tmp_path: Path, made: list[ed.Made],
                                                   store_url: str) -> None:
    """The same incident upkeep in a thread and in the process (SQLite and PostgreSQL: the
    process opens the store from its URL, password and options included)."""
    paths = _logs(tmp_path, made)
    got = []
    for kind in ("thread", "process"):
        db = tmp_path / f"{kind}.db" if kind == "thread" else store_url
        with Store.open(str(db)) as store:
            iid = store.create_incident("live")
        notes: list[str] = []
        if kind == "thread":
            sink = StoreSink(Store.open(str(db)), iid, sensor_name(paths), note=notes.append)
        else:
            sink = StoreSink.open(str(db), iid, paths, note=notes.append)
            assert type(sink._runner).__name__ == "_InProcess"
        _run(sink, paths)
        sink.close()
        assert notes == []
        got.append((_contents(db, iid), sink.regrouped))
    (blocked, counts), regrouped = got[0]
    assert blocked, "the blocklist was refreshed"
    assert counts["events"] == len(made)
    assert got[1] == got[0]
    assert regrouped == counts["evidence"] - counts["events"]


def test_the_process_ends_with_its_watcher(tmp_path: Path, made: list[ed.Made]) -> None:
    paths = _logs(tmp_path, made)
    db = tmp_path / "case.db"
    with Store.open(str(db)) as store:
        iid = store.create_incident("live")
    sink = StoreSink.open(str(db), iid, paths, note=lambda _m: None)
    proc = sink._runner._proc  # type: ignore[union-attr]
    assert proc.is_alive()
    sink._runner._conn.close()  # type: ignore[union-attr]  # as when the watcher is killed
    proc.join(timeout=60)
    assert not proc.is_alive()
    sink.store.close()


def test_a_lost_process_leaves_the_upkeep_to_a_thread(tmp_path: Path,
                                                      made: list[ed.Made]) -> None:
    paths = _logs(tmp_path, made)
    db = tmp_path / "case.db"
    with Store.open(str(db)) as store:
        iid = store.create_incident("live")
    notes: list[str] = []
    sink = StoreSink.open(str(db), iid, paths, note=notes.append)
    proc = sink._runner._proc  # type: ignore[union-attr]
    proc.kill()
    proc.join(timeout=60)
    deadline = time.monotonic() + 30
    _run(sink, paths)
    while not any("upkeep process ended" in n for n in notes) and time.monotonic() < deadline:
        sink.after_commit(1)
        sink.wait()
    sink.close()
    assert any("upkeep process ended" in n for n in notes)
    blocked, counts = _contents(db, iid)
    assert blocked
    assert counts["events"] == len(made)
