"""Ingest: kind detection, idempotence, bad lines, assessments, raw logs, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from incidents.helpers import assess_doc, make_alert, synthetic_alerts, write_jsonl
from wormsign.detect.alert import Alert
from wormsign.errors import InputError
from wormsign.incidents import Store, detect_kind, ingest_paths
from wormsign.incidents import schema as t
from wormsign.incidents.ingest import alert_key, ingest_alert_batch, ingest_alerts, reap_stale_jobs
from wormsign.incidents.rollup import check as rollups_consistent
from wormsign.incidents.store import WatchOffset


def _count(store: Store, iid: int) -> tuple[int, int]:
    with store.engine.connect() as conn:
        n, keys = conn.execute(sa.select(sa.func.count(), sa.func.count(t.alerts.c.akey.distinct()))
                               .where(t.alerts.c.incident_id == iid)).one()
    return int(n), int(keys)


def test_detect_kind(tmp_path: Path) -> None:
    alerts = write_jsonl(tmp_path / "a.jsonl", [make_alert(0, "198.51.100.1", "nimda")])
    compact = tmp_path / "assess1.json"
    compact.write_text(json.dumps(assess_doc()))
    pretty = tmp_path / "assess2.json"
    pretty.write_text(json.dumps(assess_doc(), indent=2))
    eve = tmp_path / "eve.json"
    eve.write_text('{"event_type": "http", "src_ip": "1.2.3.4"}\n')
    log = tmp_path / "access.log"
    log.write_text('1.2.3.4 - - [19/Jul/2001:12:00:00 +0000] "GET / HTTP/1.0" 200 1\n')
    assert detect_kind(alerts) == "alerts"
    assert detect_kind(compact) == "assess"
    assert detect_kind(pretty) == "assess"
    assert detect_kind(eve) == "log"
    assert detect_kind(log) == "log"
    with pytest.raises(InputError, match="cannot read"):
        detect_kind(tmp_path / "missing")


def test_alert_key_is_the_content_not_the_place() -> None:
    a = make_alert(1, "198.51.100.1", "code-red")
    assert alert_key(a) == alert_key(make_alert(1, "198.51.100.1", "code-red"))
    # What happened decides: time, source, rule, URL, method, sensor, occurrence.
    assert alert_key(a) != alert_key(make_alert(2, "198.51.100.1", "code-red"))
    assert alert_key(a) != alert_key(make_alert(1, "198.51.100.2", "code-red"))
    assert alert_key(a) != alert_key(make_alert(1, "198.51.100.1", "nimda"))
    assert alert_key(a) != alert_key(replace(a, method="POST"))
    assert alert_key(a) != alert_key(a, occurrence=1)
    assert alert_key(a) != alert_key(a, sensor="edge-proxy")
    assert alert_key(a) != alert_key(replace(a, format="iis-w3c"))
    # Where it was read from does not: another path, line, file format of the same server
    # family (access vs error log), a non-canonical spelling of the address, the method's case.
    assert alert_key(a) == alert_key(replace(a, file_path="/x", line=99))
    assert alert_key(a) == alert_key(replace(a, format="apache-error", user_agent=None))
    assert alert_key(a) == alert_key(replace(a, method="get"))
    v6 = make_alert(1, "2001:db8::1", "code-red")
    assert alert_key(v6) == alert_key(replace(v6, source_ip="2001:DB8:0::1"))


def test_ingest_twice_adds_nothing(store: Store, tmp_path: Path) -> None:
    alerts = synthetic_alerts(1200, seed=5)
    path = write_jsonl(tmp_path / "a.jsonl", alerts)
    iid = store.create_incident("idem")
    first = ingest_paths(store, iid, [path], batch_size=100)
    assert first.added == 1200 and first.duplicates == 0
    again = ingest_paths(store, iid, [path], batch_size=333, reread=True)
    assert again.added == 0 and again.duplicates == 1200 and not again.files[0].unchanged
    skipped = ingest_paths(store, iid, [path])
    assert skipped.files[0].unchanged and skipped.added == 0
    assert skipped.duplicates == 1200
    assert _count(store, iid) == (1200, 1200)
    # Overlapping evidence in another file: only the new alerts are added.
    more = alerts[600:] + synthetic_alerts(1300, seed=5)[1200:]
    third = ingest_paths(store, iid, [write_jsonl(tmp_path / "b.jsonl", more)])
    assert third.added == 100 and third.duplicates == 600
    assert _count(store, iid) == (1300, 1300)
    with store.engine.connect() as conn:
        assert rollups_consistent(conn, iid)
    # The same alerts in another incident are that incident's own.
    other = store.create_incident("other")
    assert ingest_paths(store, other, [path]).added == 1200


def test_bad_lines_are_skipped_with_line_numbers(store: Store, tmp_path: Path) -> None:
    alerts = [make_alert(i, "198.51.100.7", "code-red") for i in range(3)]
    path = write_jsonl(tmp_path / "a.jsonl", alerts,
                       ["{not json", "[1, 2]", '{"rule.id": "x"}', "", "  "])
    iid = store.create_incident("bad")
    res = ingest_paths(store, iid, [path])
    assert res.added == 3 and res.skipped == 3
    errs = res.files[0].errors
    assert [e.split(":")[1] for e in errs] == ["4", "5", "6"]
    assert all(e.startswith(str(path)) for e in errs)


def test_missing_file_is_an_input_error(store: Store, tmp_path: Path) -> None:
    iid = store.create_incident("missing")
    with pytest.raises(InputError, match="no such file"):
        ingest_paths(store, iid, [tmp_path / "nope.jsonl"])


def test_assess_json_is_ingested_and_updated(store: Store, tmp_path: Path) -> None:
    doc = assess_doc()
    doc["hosts"].append({"findings": []})
    path = tmp_path / "assess.json"
    path.write_text(json.dumps(doc, indent=1))
    iid = store.create_incident("assess")
    res = ingest_paths(store, iid, [path])
    assert res.files[0].kind == "assess" and res.added == 2 and res.skipped == 1
    assets = {h["host"]: h for h in store.get_incident_summary(iid)["assets"]}
    assert assets["iis01"]["findings"][0]["status"] == "exploitable"
    assert assets["iis01"]["findings"][0]["aliases"] == ["CVE-2001-0500"]
    assert assets["iis02"]["exposure"] == "internal"
    doc["hosts"][0]["findings"][0]["status"] = "patched"
    path.write_text(json.dumps(doc))
    ingest_paths(store, iid, [path])
    assets = {h["host"]: h for h in store.get_incident_summary(iid)["assets"]}
    assert assets["iis01"]["findings"][0]["status"] == "patched"
    assert len(assets) == 2


def test_raw_log_is_scanned_on_the_fly(store: Store, tmp_path: Path) -> None:
    cr = "/default.ida?" + "N" * 224 + (
        "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090"
        "%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a")
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'198.51.100.{i} - - [19/Jul/2001:12:0{i}:00 +0000] "GET {cr} HTTP/1.0" 404 300 "-" "-"\n'
        for i in range(1, 4)) + '192.0.2.1 - - [19/Jul/2001:12:00:00 +0000] "GET / HTTP/1.0" '
        '200 10 "-" "Mozilla/4.0"\n')
    iid = store.create_incident("raw")
    res = ingest_paths(store, iid, [log])
    assert res.files[0].kind == "log"
    assert res.added == 3
    assert "code-red" in res.families
    assert ingest_paths(store, iid, [log], reread=True).added == 0


CHILD = textwrap.dedent("""
    import sys, time
    from wormsign.incidents import Store, ingest_paths
    store = Store.open(sys.argv[1])
    def slow(path, pos, added):
        print(pos, flush=True)
        time.sleep(0.05)
    ingest_paths(store, int(sys.argv[2]), [sys.argv[3]], batch_size=int(sys.argv[4]),
                 progress=slow)
    print("finished", flush=True)
""")


def test_killed_ingest_leaves_consistent_store_and_rerun_completes(
        store_url: str, tmp_path: Path) -> None:
    n, batch = 6000, 250
    path = write_jsonl(tmp_path / "big.jsonl", synthetic_alerts(n, seed=11))
    with Store.open(store_url) as store:
        iid = store.create_incident("crash")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, store_url, str(iid), str(path),
                             str(batch)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    batches = 0
    deadline = time.monotonic() + 60
    while batches < 4 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        batches += 1
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert batches >= 4, "the child did not get far enough to be killed mid-ingest"
    with Store.open(store_url) as store:
        count, keys = _count(store, iid)
        with store.engine.connect() as conn:
            job = conn.execute(sa.select(t.jobs).where(t.jobs.c.incident_id == iid)).one()
        # Whole batches only, and the job's bookkeeping agrees with the rows.
        assert 0 < count < n and count == keys
        assert count % batch == 0
        assert job.status == "running" and job.added == count
        with store.engine.connect() as conn:
            assert rollups_consistent(conn, iid)
        # The killed process is gone: the next ingest marks its job interrupted, and
        # reading the same file again resumes it.
        assert reap_stale_jobs(store, iid) == 1
        res = ingest_paths(store, iid, [path], batch_size=batch)
        assert res.files[0].resumed_from == job.position > 0
        assert _count(store, iid) == (n, n)
        assert res.added == n - count
        with store.engine.connect() as conn:
            statuses = conn.execute(sa.select(t.jobs.c.status)
                                    .where(t.jobs.c.incident_id == iid)).scalars().all()
        assert statuses == ["done"]
        with store.engine.connect() as conn:
            assert rollups_consistent(conn, iid)


PARALLEL = textwrap.dedent("""
    import sys
    from wormsign.incidents import Store, ingest_paths
    with Store.open(sys.argv[1]) as store:
        res = ingest_paths(store, int(sys.argv[2]), [sys.argv[3]], batch_size=200)
        store.update_task(int(sys.argv[2]), "nimda/monitor.alerts", note=sys.argv[3])
    print(res.added)
""")


def test_concurrent_ingests_into_one_incident(store_url: str, tmp_path: Path) -> None:
    alerts = synthetic_alerts(4000, seed=21)
    files = [write_jsonl(tmp_path / "a.jsonl", alerts[:2500]),
             write_jsonl(tmp_path / "b.jsonl", alerts[1500:])]
    with Store.open(store_url) as store:
        iid = store.create_incident("parallel")
        ingest_paths(store, iid, [write_jsonl(tmp_path / "seed.jsonl",
                                              [make_alert(0, "198.51.100.1", "nimda")])])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", PARALLEL, store_url, str(iid), str(f)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for f in files]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    added = sum(int(out.strip()) for out, _ in outs)
    assert added == 4000
    with Store.open(store_url) as store:
        assert _count(store, iid) == (4001, 4001)
        with store.engine.connect() as conn:
            assert rollups_consistent(conn, iid)
        notes = store.find_task(iid, "nimda/monitor.alerts").notes
        assert all(str(f) in notes for f in files)


def test_unreadable_file_is_reported_and_the_others_ingested(store: Store,
                                                              tmp_path: Path) -> None:
    binary = tmp_path / "core.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    good = write_jsonl(tmp_path / "a.jsonl", [make_alert(i, "198.51.100.4", "nimda")
                                              for i in range(3)])
    iid = store.create_incident("mixed")
    res = ingest_paths(store, iid, [binary, good])
    assert [f.path for f in res.failed] == [str(binary)]
    assert str(binary) in (res.failed[0].error or "")
    assert res.added == 3
    assert any("not ingested" in a.detail for a in store.list_actions(iid))


def _offset(path: Path, offset: int, line: int, head: str = "h1") -> WatchOffset:
    st = path.stat() if path.exists() else None
    dev, ino = (st.st_dev, st.st_ino) if st else (1, 2)
    return WatchOffset(WatchOffset.key_for(dev, ino), str(path), dev, ino, offset, line, head)


def test_ingest_alerts_saves_the_offset_with_the_alerts(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("x\n" * 10)
    iid = store.create_incident("watch")
    alerts = [make_alert(i, "198.51.100.9", "code-red", file_path=str(log)) for i in range(6)]
    assert ingest_alerts(store, iid, alerts[:4], checkpoint=_offset(log, 400, 4)) == 4
    [saved] = store.get_watch_offsets(iid)
    assert (saved.path, saved.offset, saved.line, saved.head) == (str(log), 400, 4, "h1")
    assert saved.updated_at > 0
    # A restart goes on from the saved offset.
    assert ingest_alerts(store, iid, alerts[4:], checkpoint=_offset(log, 600, 6)) == 2
    assert store.get_watch_offsets(iid)[0].offset == 600
    assert _count(store, iid) == (6, 6)
    # The whole file ingested afterwards (as alerts or as the raw log) adds nothing.
    assert ingest_alert_batch(store, iid, alerts).duplicates == 6
    # The offset alone (lines with no alerts) and forgetting a file.
    store.save_watch_offset(iid, _offset(log, 700, 7))
    assert store.get_watch_offsets(iid)[0].line == 7
    store.delete_watch_offset(iid, saved.file_key)
    assert store.get_watch_offsets(iid) == []
    with store.engine.connect() as conn:
        assert rollups_consistent(conn, iid)


def test_ingest_alerts_is_atomic_with_its_checkpoint(store: Store, tmp_path: Path) -> None:
    from wormsign.errors import ConflictError
    log = tmp_path / "access.log"
    log.write_text("x\n")
    iid = store.create_incident("atomic")
    good = make_alert(0, "198.51.100.9", "code-red", file_path=str(log))

    def boom() -> Iterator[Alert]:
        yield good
        raise RuntimeError("scanner died")

    with pytest.raises(RuntimeError):
        ingest_alerts(store, iid, boom(), checkpoint=_offset(log, 100, 1))
    assert store.get_watch_offsets(iid) == [] and _count(store, iid) == (0, 0)
    store.close_incident(iid)
    with pytest.raises(ConflictError):
        ingest_alerts(store, iid, [good], checkpoint=_offset(log, 100, 1))


def test_identical_requests_stay_apart_across_watch_batches(store: Store,
                                                            tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("x\n")
    iid = store.create_incident("twins")
    twin = make_alert(0, "198.51.100.9", "code-red", file_path=str(log))
    # The same request twice in one second, split over two batches (and a restart).
    assert ingest_alerts(store, iid, [twin], checkpoint=_offset(log, 100, 1)) == 1
    assert ingest_alerts(store, iid, [replace(twin, line=2)],
                         checkpoint=_offset(log, 200, 2)) == 1
    # A new file under the same identity (copy-truncate: another head) starts afresh,
    # and its first line is the same event as the first line before: stored once.
    assert ingest_alerts(store, iid, [twin], checkpoint=_offset(log, 100, 1, "h2")) == 0
    assert _count(store, iid) == (2, 2)
    # The raw log read later holds the same two requests: nothing new.
    res = ingest_alert_batch(store, iid, [twin, replace(twin, line=2)])
    assert (res.added, res.duplicates) == (0, 2)


def test_running_jobs_whose_process_is_gone_are_marked_interrupted(store: Store,
                                                                    tmp_path: Path) -> None:
    import socket

    from wormsign.incidents.ingest import STALE_AFTER, reap_stale_jobs
    from wormsign.incidents.store import now_s
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    iid = store.create_incident("reap")
    now = now_s()
    host = socket.gethostname()
    base = {"incident_id": iid, "fingerprint": "1:1", "kind": "alerts", "status": "running"}
    rows = [
        {**base, "path": "/dead", "pid": dead.pid, "hostname": host, "started_at": now,
         "heartbeat_at": now},                                   # this host, pid gone
        {**base, "path": "/alive", "pid": os.getpid(), "hostname": host, "started_at": now,
         "heartbeat_at": now},                                   # this very process
        {**base, "path": "/remote", "pid": 1, "hostname": "elsewhere", "started_at": now,
         "heartbeat_at": now},                                   # another host, recent
        {**base, "path": "/silent", "pid": 1, "hostname": "elsewhere", "started_at": 0,
         "heartbeat_at": now - STALE_AFTER - 5},                 # another host, silent
        {**base, "path": "/legacy", "pid": None, "hostname": None, "heartbeat_at": None,
         "started_at": now - STALE_AFTER - 5},                   # started before 0004
    ]
    with store.begin() as conn:
        conn.execute(t.jobs.insert(), rows)
    assert reap_stale_jobs(store, iid) == 3
    with store.engine.connect() as conn:
        got = dict(conn.execute(sa.select(t.jobs.c.path, t.jobs.c.status)).all())
        msg = conn.execute(sa.select(t.jobs.c.message).where(t.jobs.c.path == "/dead")).scalar()
    assert got == {"/dead": "interrupted", "/alive": "running", "/remote": "running",
                   "/silent": "interrupted", "/legacy": "interrupted"}
    assert f"process {dead.pid}" in msg
    # An ingest reaps first: a killed run never stays `running`.
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl",
                                          [make_alert(0, "198.51.100.1", "nimda")])])


WATCHER = textwrap.dedent("""
    import json, os, sys, time
    from wormsign.detect.alert import Alert
    from wormsign.incidents import Store
    from wormsign.incidents.ingest import ingest_alerts
    from wormsign.incidents.store import WatchOffset

    def follow(store, iid, path, batch, pause):
        st = os.stat(path)
        key = WatchOffset.key_for(st.st_dev, st.st_ino)
        saved = {o.file_key: o for o in store.get_watch_offsets(iid)}.get(key)
        offset, line = (saved.offset, saved.line) if saved else (0, 0)
        with open(path, "rb") as fh:
            fh.seek(offset)
            while True:
                chunk = [fh.readline() for _ in range(batch)]
                chunk = [c for c in chunk if c]
                if not chunk:
                    return
                offset += sum(map(len, chunk))
                line += len(chunk)
                alerts = [Alert.from_ecs(json.loads(c)) for c in chunk]
                cp = WatchOffset(key, path, st.st_dev, st.st_ino, offset, line, "head")
                ingest_alerts(store, iid, alerts, checkpoint=cp)
                print(line, flush=True)
                time.sleep(pause)

    if __name__ == "__main__":
        with Store.open(sys.argv[1]) as store:
            follow(store, int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        print("finished", flush=True)
""")


def test_watch_checkpoints_survive_kill_9(store_url: str, tmp_path: Path) -> None:
    """A follower killed with SIGKILL and restarted from its saved offset loses and doubles
    nothing, identical requests (the same request twice in one second) included."""
    alerts = synthetic_alerts(1500, seed=31)
    twins = [replace(a, line=a.line + 10_000) for a in alerts[::10]]
    lines = [x for pair in zip(alerts[::10], twins, strict=True) for x in pair]
    lines += [a for i, a in enumerate(alerts) if i % 10]
    log = tmp_path / "live.jsonl"
    write_jsonl(log, [replace(a, file_path=str(log)) for a in lines])
    with Store.open(store_url) as store:
        iid = store.create_incident("watch")
    script = tmp_path / "watcher.py"
    script.write_text(WATCHER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, str(script), store_url, str(iid), str(log), "37"]
    proc = subprocess.Popen([*args, "0.05"], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    seen = 0
    while seen < 8 and proc.stdout.readline():
        seen += 1
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert seen == 8, "the follower did not get far enough to be killed mid-file"
    with Store.open(store_url) as store:
        [saved] = store.get_watch_offsets(iid)
        assert 0 < saved.line < len(lines) and _count(store, iid)[0] == saved.line
    done = subprocess.run([*args, "0"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("finished"), done.stderr
    with Store.open(store_url) as store:
        assert _count(store, iid) == (len(lines), len(lines))
        assert store.get_watch_offsets(iid)[0].offset == log.stat().st_size
        with store.engine.connect() as conn:
            assert rollups_consistent(conn, iid)
        # The finished file ingested as a whole afterwards adds nothing.
        assert ingest_paths(store, iid, [log]).added == 0
