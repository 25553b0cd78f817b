"""The store: opening, URLs, migrations, incidents, networks, tasks, summary and alert pages."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from incidents.helpers import make_alert, synthetic_alerts, write_jsonl
from wormsign.errors import ConfigError, StoreError
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents.rollup import check as rollups_consistent
from wormsign.incidents.schema import metadata
from wormsign.incidents.store import default_db_path, resolve_url


def test_migrated_schema_matches_metadata(store: Store) -> None:
    insp = sa.inspect(store.engine)
    tables = set(insp.get_table_names())
    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables
    for name, table in metadata.tables.items():
        cols = {c["name"] for c in insp.get_columns(name)}
        assert cols == {c.name for c in table.columns}, name
        idx = {i["name"] for i in insp.get_indexes(name)}
        assert {i.name for i in table.indexes} <= idx, name


def test_reopen_is_idempotent(store_url: str) -> None:
    with Store.open(store_url) as s:
        iid = s.create_incident("first")
    with Store.open(store_url) as s:
        assert [i.id for i in s.list_incidents()] == [iid]
        with s.engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from alembic_version")).scalar() == 1


def test_resolve_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert resolve_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url(str(tmp_path / "x" / "a.db")) == f"sqlite:///{tmp_path / 'x' / 'a.db'}"
    assert (tmp_path / "x").is_dir()
    monkeypatch.setenv("WORMSIGN_DB", str(tmp_path / "env.db"))
    assert resolve_url(None) == f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.delenv("WORMSIGN_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "wormsign" / "wormsign.db"
    assert resolve_url(None).endswith("/xdg/wormsign/wormsign.db")


def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    with Store.open(str(tmp_path / "w.db")) as s, s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_unreachable_or_bad_store_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open"):
        Store.open("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StoreError) as exc:
        Store.open("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "secret" not in str(exc.value)
    with pytest.raises(StoreError):
        Store.open("nosuchdialect://x/y")


def test_incident_lifecycle(store: Store) -> None:
    a = store.create_incident("web farm", own=["203.0.113.0/24"], allow=["192.0.2.0/24"])
    b = store.create_incident("second")
    assert [i.id for i in store.list_incidents()] == [b, a]
    assert store.get_incident(a).name == "web farm"
    assert store.networks(a) == {"own": ["203.0.113.0/24"], "allow": ["192.0.2.0/24"]}
    closed = store.close_incident(a)
    assert closed.status == "closed" and closed.closed_at is not None
    assert [i.id for i in store.list_incidents(include_closed=False)] == [b]
    with pytest.raises(StoreError, match="closed"):
        ingest_paths(store, a, [])
    with pytest.raises(StoreError, match="no incident"):
        store.get_incident(9999)
    with pytest.raises(StoreError):
        store.create_incident("  ")
    with pytest.raises(ConfigError):
        store.create_incident("x", own=["not-a-cidr"])
    kinds = [x.kind for x in store.list_actions(a)]
    assert kinds[0] == "created" and kinds[-1] == "closed"


def test_summary_families_victims_and_timeline(store: Store, tmp_path: Path) -> None:
    alerts = synthetic_alerts(3000, seed=7)
    iid = store.create_incident("case")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts)])
    s = store.get_incident_summary(iid, top=5)
    assert s["totals"]["alerts"] == len(alerts)
    assert s["totals"]["sources"] == len({a.source_ip for a in alerts})
    fam_counts = {f["family"]: f["alerts"] for f in s["families"]}
    for fam in fam_counts:
        assert fam_counts[fam] == sum(1 for a in alerts if a.family == fam)
    assert len(s["sources"]) == 5
    assert s["sources"][0]["alerts"] >= s["sources"][-1]["alerts"]
    internal = {a.source_ip for a in alerts if a.source_ip.startswith("10.")}
    assert {v["host"] for v in s["victims"]} == internal
    assert all(v["status"] == "infected" for v in s["victims"])
    assert sum(p["alerts"] for p in s["timeline"]["series"]) == len(alerts)
    top10 = [x["source_ip"] for x in store.get_incident_summary(iid, top=10)["sources"]]
    per_src = {}
    for p in s["source_timeline"]["series"]:
        per_src[p["source"]] = per_src.get(p["source"], 0) + p["alerts"]
    assert set(per_src) == set(top10)
    for ip, n in per_src.items():
        assert n == sum(1 for a in alerts if a.source_ip == ip)
    assert s["timeline"]["series"][0]["start"].endswith("Z")


def test_own_networks_reclassify_victims(store: Store, tmp_path: Path) -> None:
    alerts = [make_alert(i, "203.0.113.9", "code-red") for i in range(3)]
    alerts += [make_alert(10 + i, "198.51.100.1", "code-red") for i in range(2)]
    iid = store.create_incident("own")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts)])
    assert store.get_incident_summary(iid)["victims"] == []
    store.add_networks(iid, ["203.0.113.0/24"], "own")
    victims = store.get_incident_summary(iid)["victims"]
    assert [v["host"] for v in victims] == ["203.0.113.9"]
    assert victims[0]["alerts"] == 3
    with store.engine.connect() as conn:
        assert rollups_consistent(conn, iid)


def test_list_alerts_pages_and_filters(store: Store, tmp_path: Path) -> None:
    alerts = synthetic_alerts(500, seed=3)
    iid = store.create_incident("pages")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts)])
    p1 = store.list_alerts(iid, 1, 200)
    p3 = store.list_alerts(iid, 3, 200)
    assert p1.total == 500 and p1.pages == 3 and len(p1.items) == 200 and len(p3.items) == 100
    times = [x["timestamp"] for x in p1.items]
    assert times == sorted(times)
    nimda = store.list_alerts(iid, 1, 1000, {"family": "nimda"})
    assert nimda.total == sum(1 for a in alerts if a.family == "nimda")
    assert all(x["family"] == "nimda" for x in nimda.items)
    src = alerts[0].source_ip
    assert store.list_alerts(iid, 1, 1000, {"source_ip": src}).total == sum(
        1 for a in alerts if a.source_ip == src)
    internal = store.list_alerts(iid, 1, 1000, {"internal": True})
    assert internal.total == sum(1 for a in alerts if a.source_ip.startswith("10."))
    assert store.list_alerts(iid, 1, 10, {"q": "cmd.exe"}).total == nimda.total
    mid = alerts[250].timestamp
    assert mid is not None
    since = store.list_alerts(iid, 1, 10, {"since": mid.isoformat()}).total
    assert since == sum(1 for a in alerts if a.timestamp is not None and a.timestamp >= mid)
    with pytest.raises(StoreError, match="unknown"):
        store.list_alerts(iid, 1, 10, {"colour": "red"})
    with pytest.raises(StoreError):
        store.list_alerts(iid, 0, 10)


def test_classifier_fast_path_agrees_with_ipaddress() -> None:
    import ipaddress

    from wormsign.incidents.networks import Classifier

    cls = Classifier.from_cidrs(own=["203.0.113.0/25"], allow=["192.0.2.0/24"])
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                 "192.168.0.0/16", "203.0.113.0/25")]
    for text in ("10.0.0.1", "172.31.255.255", "172.32.0.1", "192.168.1.1", "203.0.113.127",
                 "203.0.113.128", "192.0.2.9", "8.8.8.8", "127.0.0.1", "224.0.0.5",
                 "0.0.0.0", "255.255.255.255", "169.254.1.1", "1.2.3", "01.2.3.4",
                 "256.1.1.1", "fd00::1", "2001:db8::1", "::1", "example.org", ""):
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            assert not cls.is_internal(text) and not cls.is_blockable(text), text
            continue
        internal = any(addr in n for n in private if n.version == addr.version) or (
            addr in ipaddress.ip_network("fc00::/7"))
        assert cls.is_internal(text) == internal, text
        blockable = not (internal or addr.is_loopback or addr.is_multicast
                         or addr.is_link_local or addr.is_unspecified
                         or text in ("255.255.255.255", "0.0.0.0")
                         or addr in ipaddress.ip_network("192.0.2.0/24"))
        assert cls.is_blockable(text) == blockable, text


def test_schema_head_constant_matches_the_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from wormsign.incidents.store import MIGRATIONS, SCHEMA_HEAD

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


def test_rollup_migration_backfills_existing_alerts(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from wormsign.incidents.ingest import ALERT_COLUMNS, alert_row
    from wormsign.incidents.networks import Classifier
    from wormsign.incidents.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'v2.db'}"
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    alerts = synthetic_alerts(300, seed=8)
    cls = Classifier()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.execute(sa.text("INSERT INTO incidents (name, status, created_at) "
                             "VALUES ('v2', 'open', 1)"))
        cols = ", ".join(ALERT_COLUMNS)
        marks = ", ".join(f":{c}" for c in ALERT_COLUMNS)
        conn.execute(sa.text(f"INSERT INTO alerts ({cols}) VALUES ({marks})"),
                     [dict(zip(ALERT_COLUMNS, alert_row(1, None, a, cls), strict=True))
                      for a in alerts])
    engine.dispose()
    with Store.open(url) as s:
        with s.engine.connect() as conn:
            assert rollups_consistent(conn, 1)
        summary = s.get_incident_summary(1)
        assert summary["totals"]["alerts"] == 300
        assert sum(p["alerts"] for p in summary["timeline"]["series"]) == 300


def test_upgrade_from_first_revision_keeps_data(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from wormsign.incidents.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(sa.text("INSERT INTO incidents (name, status, created_at) "
                             "VALUES ('old', 'open', 1)"))
    engine.dispose()
    with Store.open(url) as s:
        assert [i.name for i in s.list_incidents()] == ["old"]
        assert "ix_alerts_host" in {i["name"] for i in sa.inspect(s.engine).get_indexes("alerts")}


def test_typed_store_errors(store: Store) -> None:
    from wormsign.errors import ConflictError, InvalidError, NotFoundError
    with pytest.raises(NotFoundError, match="no incident with id 999"):
        store.get_incident(999)
    with pytest.raises(NotFoundError):
        store.incident_version(999)
    with pytest.raises(InvalidError):
        store.create_incident("  ")
    iid = store.create_incident("typed")
    with pytest.raises(InvalidError):
        store.add_networks(iid, ["192.0.2.0/24"], kind="enemy")
    with pytest.raises(NotFoundError, match="has no task"):
        store.find_task(iid, "contain.nothing")
    store.close_incident(iid)
    with pytest.raises(ConflictError, match="is closed"):
        store.require_open(iid)
    assert issubclass(NotFoundError, StoreError) and issubclass(ConflictError, StoreError)


def test_feed_tokens_are_hashed_checked_and_revocable(store: Store) -> None:
    from wormsign.errors import NotFoundError
    from wormsign.incidents import schema as t
    a = store.create_incident("feeds")
    b = store.create_incident("other")
    tok = store.create_feed_token(a, "edge-fw-1")
    tok2 = store.create_feed_token(a, "edge-fw-2")
    assert len(tok) >= 40 and tok != tok2
    assert store.check_feed_token(a, tok) and store.check_feed_token(a, tok2)
    assert not store.check_feed_token(b, tok)          # per incident
    assert not store.check_feed_token(a, tok[:-1])
    assert not store.check_feed_token(a, "")
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(t.feed_tokens.c.token_sha256)).scalars().all()
    assert tok not in stored and len(stored) == 2     # only hashes are kept
    assert all(tok not in x.detail for x in store.list_actions(a))
    listed = store.list_feed_tokens(a)
    assert [x.label for x in listed] == ["edge-fw-1", "edge-fw-2"]
    assert all(x.active for x in listed)
    gone = store.revoke_feed_token(a, "edge-fw-1")
    assert [x.label for x in gone] == ["edge-fw-1"] and not gone[0].active
    assert not store.check_feed_token(a, tok) and store.check_feed_token(a, tok2)
    store.revoke_feed_token(a, listed[1].id)
    assert not store.check_feed_token(a, tok2)
    with pytest.raises(NotFoundError):
        store.revoke_feed_token(a, "edge-fw-1")        # already revoked
    with pytest.raises(NotFoundError):
        store.create_feed_token(999, "x")


def test_incident_version_moves_with_evidence_and_networks(store: Store,
                                                          tmp_path: Path) -> None:
    iid = store.create_incident("etag")
    other = store.create_incident("other")
    v0 = store.incident_version(iid)
    path = write_jsonl(tmp_path / "a.jsonl", synthetic_alerts(50, seed=3))
    ingest_paths(store, iid, [path])
    v1 = store.incident_version(iid)
    assert v1 > v0
    ingest_paths(store, iid, [path], reread=True)      # nothing new: no change
    assert store.incident_version(iid) == v1
    store.add_networks(iid, ["203.0.113.0/24"], kind="allow")
    assert store.incident_version(iid) > v1
    assert store.incident_version(other) == 0
    with store.begin() as conn:                        # what the blocklist refresh calls
        store.bump_version(conn, other)
    assert store.incident_version(other) == 1


def test_task_notes_are_rows(store: Store, tmp_path: Path) -> None:
    iid = store.create_incident("notes")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl",
                                          [make_alert(0, "198.51.100.1", "nimda")])])
    store.update_task(iid, "nimda/monitor.alerts", note="first")
    x = store.update_task(iid, "nimda/monitor.alerts", note="  second\n", status="done")
    lines = x.notes.splitlines()
    assert [ln.split("] ", 1)[1] for ln in lines] == ["first", "second"]
    assert all(ln.startswith("[20") for ln in lines) and x.status == "done"
    assert x.to_dict()["notes"] == x.notes


def _add_notes(url: str, iid: int, who: int, n: int) -> None:
    with Store.open(url) as s:
        for i in range(n):
            s.update_task(iid, "nimda/monitor.alerts", note=f"w{who}-{i}")


def test_notes_written_concurrently_are_all_kept(store_url: str, tmp_path: Path) -> None:
    import multiprocessing
    with Store.open(store_url) as s:
        iid = s.create_incident("notes race")
        ingest_paths(s, iid, [write_jsonl(tmp_path / "a.jsonl",
                                          [make_alert(0, "198.51.100.1", "nimda")])])
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add_notes, args=(store_url, iid, w, 300)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with Store.open(store_url) as s:
        notes = s.find_task(iid, "nimda/monitor.alerts").notes.splitlines()
        texts = [ln.split("] ", 1)[1] for ln in notes]
        assert len(texts) == 900
        assert set(texts) == {f"w{w}-{i}" for w in range(3) for i in range(300)}
        # Each writer's notes keep their order.
        for w in range(3):
            mine = [x for x in texts if x.startswith(f"w{w}-")]
            assert mine == [f"w{w}-{i}" for i in range(300)]
        assert sum(a.kind == "task" for a in s.list_actions(iid)) == 900


def test_upgrade_turns_task_notes_into_rows(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from wormsign.incidents.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'v3.db'}"
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(sa.text("INSERT INTO incidents (name, status, created_at) "
                             "VALUES ('v3', 'open', 1)"))
        conn.execute(sa.text(
            "INSERT INTO tasks (incident_id, playbook, key, phase, seq, title, description, "
            "status, owner, notes, updated_at) VALUES (1, 'nimda', 'monitor.alerts', "
            "'monitor', 1, 'Watch', '', 'open', NULL, :n, 1000)"),
            {"n": "[2001-09-18 13:05] moved to VLAN 9\nno stamp here"})
    engine.dispose()
    with Store.open(url) as s:
        [task] = s.list_tasks(1)
        assert task.notes.splitlines() == ["[2001-09-18 13:05] moved to VLAN 9",
                                           "[1970-01-01 00:16] no stamp here"]
        assert s.incident_version(1) == 0
        assert [i.name for i in s.list_incidents()] == ["v3"]


def test_upgrade_rekeys_alerts_by_content_and_drops_copies(tmp_path: Path) -> None:
    import hashlib
    from dataclasses import replace

    from alembic import command
    from alembic.config import Config

    from wormsign.detect.alert import Alert
    from wormsign.incidents.ingest import ALERT_COLUMNS, alert_row
    from wormsign.incidents.networks import Classifier
    from wormsign.incidents.store import MIGRATIONS

    def old_key(a: Alert) -> int:         # the path-and-line key of revisions before 0005
        assert a.timestamp is not None
        raw = "\x1f".join((a.file_path, str(a.line), a.rule_id, a.source_ip,
                           a.timestamp.isoformat()))
        return int.from_bytes(hashlib.blake2b(raw.encode(), digest_size=8).digest(), "big",
                              signed=True)

    url = f"sqlite:///{tmp_path / 'v4.db'}"
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    alerts = synthetic_alerts(200, seed=4)
    twin = replace(alerts[0], line=500)           # the same request again later in the log
    originals = [*alerts, twin]
    copies = [replace(a, file_path="/copy/access.log") for a in originals]
    cls = Classifier()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        conn.execute(sa.text("INSERT INTO incidents (name, status, created_at) "
                             "VALUES ('v4', 'open', 1)"))
        cols = ", ".join(ALERT_COLUMNS)
        marks = ", ".join(f":{c}" for c in ALERT_COLUMNS)
        conn.execute(sa.text(f"INSERT INTO alerts ({cols}) VALUES ({marks})"),
                     [dict(zip(ALERT_COLUMNS, alert_row(1, None, a, cls, old_key(a)),
                               strict=True)) for a in originals + copies])
        conn.execute(sa.text(
            "INSERT INTO source_families (incident_id, source_ip, family, internal, alerts, "
            "first_seen, last_seen) SELECT incident_id, source_ip, family, max(internal), "
            "count(*), min(ts), max(ts) FROM alerts GROUP BY incident_id, source_ip, family"))
    engine.dispose()
    with Store.open(url) as s:
        with s.engine.connect() as conn:
            assert rollups_consistent(conn, 1)
            n = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar()
        assert n == 201                               # the copy is gone, the twin stays
        assert s.get_incident_summary(1)["totals"]["alerts"] == 201
        assert s.incident_version(1) == 1
        # Ingesting the same evidence now adds nothing.
        res = ingest_paths(s, 1, [write_jsonl(tmp_path / "a.jsonl", originals)])
        assert (res.added, res.duplicates) == (0, 201)
