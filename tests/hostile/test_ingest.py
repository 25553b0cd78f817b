"""Hostile evidence for ``incident ingest``: every bad record is a counted skip with its line
number, never a crash, and no ingest job stays ``running`` after its process died or raised.

Self-contained (runs on SQLite, and on PostgreSQL when ``WORMSIGN_TEST_PG_URL`` is set).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from wormsign.incidents import Store, ingest_paths
from wormsign.incidents import schema as t
from wormsign.incidents.rollup import check as rollups_consistent
from wormsign.incidents.store import resolve_url

CODE_RED = "/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801"


def _good(i: int) -> dict[str, Any]:
    return {"@timestamp": f"2001-07-19T12:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "event.dataset": "combined", "source.ip": f"198.51.100.{i % 200 + 1}",
            "url.original": CODE_RED, "http.request.method": "GET",
            "http.response.status_code": 404, "rule.id": "cr-ida",
            "rule.name": "Code Red request", "rule.category": "code-red",
            "wormsign.family": "code-red", "wormsign.severity": "high",
            "log.file.path": "/var/log/access.log", "log.file.line": i + 1}


def _bad(**fields: Any) -> str:
    rec = {**_good(9999), **fields}
    return json.dumps(rec, allow_nan=True)


#: One hostile line each, as the issue lists them and more of their class.
HOSTILE = [
    _bad().replace('"http.response.status_code": 404', '"http.response.status_code": 1e999'),
    _bad().replace('"log.file.line": 10000', '"log.file.line": 123456789012345678901234567890'),
    _bad(**{"http.request.method": {"$gt": ""}}),
    _bad(**{"http.request.method": ["GET"]}),
    _bad().replace(CODE_RED, "/default.ida?\\ud800"),                   # lone surrogate
    _bad(**{"http.response.status_code": float("nan")}),                  # NaN
    _bad(**{"log.file.line": float("inf")}),
    _bad(**{"log.file.line": -1}),
    _bad(**{"http.response.status_code": 70000}),
    _bad(**{"http.response.status_code": "four hundred"}),
    _bad(**{"@timestamp": "0001-01-01T00:30:00+01:00"}),                 # year 0 in UTC
    _bad(**{"@timestamp": "9999-12-31T23:30:00-01:00"}),                 # year 10000 in UTC
    _bad(**{"@timestamp": "yesterday"}),
    _bad(**{"@timestamp": 996000000}),
    _bad(**{"source.ip": ["198.51.100.1"]}),
    _bad(**{"source.ip": "1" * 65}),
    _bad(**{"source.ip": ""}),
    _bad(**{"rule.id": {"x": 1}}),
    _bad(**{"url.original": "/a\u0000b"}),                                # NUL
    _bad(**{"wormsign.family": "f" * 300}),
    _bad(**{"user_agent.original": 42}),
    '{"rule.id": "cr-ida", "source.ip": "198.51.100.1", "log.file.line": '
    + "9" * 5000 + "}",                                                   # int too long
    "[" * 100_000 + "]" * 100_000,                                        # nested too deep
    '{"rule.id": "x", "source.ip": "1.2.3.4", "url.original": "\udcff\udcfe"}',  # bytes ff fe
    "null",
    '"just a string"',
    "{",
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'hostile.db'}")
        yield s
        s.close()
        return
    raw = os.environ.get("WORMSIGN_TEST_PG_URL")
    if not raw:
        pytest.skip("WORMSIGN_TEST_PG_URL is not set")
    base = resolve_url(raw)
    schema = "wsh_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    s = Store.open(f"{base}{sep}options=-csearch_path%3D{schema}")
    try:
        yield s
    finally:
        s.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _write(path: Path, lines: list[str]) -> Path:
    with path.open("wb") as fh:
        for line in lines:
            fh.write(line.encode("utf-8", "surrogateescape") + b"\n")
    return path


def _jobs(store: Store, iid: int) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(t.jobs.c.status)
                                 .where(t.jobs.c.incident_id == iid)).scalars())


@pytest.mark.parametrize("bad", range(len(HOSTILE)))
def test_each_hostile_record_is_a_counted_skip(store: Store, tmp_path: Path, bad: int) -> None:
    path = _write(tmp_path / "alerts.jsonl",
                  [json.dumps(_good(0)), HOSTILE[bad], json.dumps(_good(1))])
    iid = store.create_incident("hostile")
    res = ingest_paths(store, iid, [path])
    f = res.files[0]
    assert f.error is None and f.kind == "alerts"
    assert (f.added, f.skipped) == (2, 1), HOSTILE[bad][:120]
    assert len(f.errors) == 1 and f.errors[0].startswith(f"{path}:2: not an alert (")
    assert "\n" not in f.errors[0] and len(f.errors[0]) < 400
    assert _jobs(store, iid) == ["done"]
    with store.engine.connect() as conn:
        assert rollups_consistent(conn, iid)


def test_all_hostile_records_in_one_file_with_batches_between(store: Store,
                                                             tmp_path: Path) -> None:
    lines: list[str] = []
    for i, h in enumerate(HOSTILE):
        lines += [json.dumps(_good(i)), h]
    path = _write(tmp_path / "alerts.jsonl", lines)
    iid = store.create_incident("hostile")
    res = ingest_paths(store, iid, [path], batch_size=3)
    assert res.added == len(HOSTILE) and res.skipped == len(HOSTILE)
    assert [e.split(":")[1] for e in res.files[0].errors] == [
        str(2 * k + 2) for k in range(10)]              # the first ten, with line numbers
    assert _jobs(store, iid) == ["done"]
    again = ingest_paths(store, iid, [path], reread=True)
    assert again.added == 0 and again.skipped == len(HOSTILE)


def test_hostile_assessment_values_are_skipped(store: Store, tmp_path: Path) -> None:
    doc = {"hosts": [
        {"host": "iis01", "findings": [
            {"id": "MS01-033", "status": "exploitable"},
            {"id": {"$ne": 1}, "status": "exploitable"},
            {"id": "MS01-044", "status": "x" * 100},
            {"id": "MS00-078", "status": "patched", "fix": ["not", "text"]},
            {"id": "MS00-078", "status": "exploitable", "aliases": ["\ud800"]}]},
        {"host": {"name": "iis02"}, "findings": [{"id": "MS01-033", "status": "patched"}]},
        {"host": "iis03", "exposure": 7, "findings": {"id": "MS01-033", "status": "patched"}},
    ]}
    path = tmp_path / "assess.json"
    path.write_text(json.dumps(doc))
    iid = store.create_incident("assess")
    res = ingest_paths(store, iid, [path])
    f = res.files[0]
    assert f.kind == "assess" and f.error is None
    assert f.added == 2 and f.skipped == 5
    assert all(e.startswith(f"{path}: hosts[") for e in f.errors)
    hosts = {h["host"] for h in store.get_incident_summary(iid)["assets"]}
    assert hosts == {"iis01", "iis03"}
    assert _jobs(store, iid) == ["done"]


def test_a_job_that_raises_is_failed_and_the_rerun_goes_past_it(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wormsign.incidents.ingest as ingest
    path = _write(tmp_path / "alerts.jsonl", [json.dumps(_good(i)) for i in range(10)])
    iid = store.create_incident("raises")
    real = ingest._insert_alerts
    calls = {"n": 0}

    def flaky(*args: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(*args)

    monkeypatch.setattr(ingest, "_insert_alerts", flaky)
    with pytest.raises(RuntimeError):
        ingest_paths(store, iid, [path], batch_size=3)
    with store.engine.connect() as conn:
        job = conn.execute(sa.select(t.jobs).where(t.jobs.c.incident_id == iid)).one()
    assert job.status == "failed" and "disk on fire" in job.message
    assert job.position == 6 and job.finished_at is not None
    monkeypatch.setattr(ingest, "_insert_alerts", real)
    res = ingest_paths(store, iid, [path], batch_size=3)
    assert res.files[0].resumed_from == 6 and res.added == 4
    assert _jobs(store, iid) == ["done"]


def test_an_interrupted_job_is_not_left_running(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wormsign.incidents.ingest as ingest
    path = _write(tmp_path / "alerts.jsonl", [json.dumps(_good(i)) for i in range(4)])
    iid = store.create_incident("ctrl-c")

    def interrupt(*_args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "_insert_alerts", interrupt)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths(store, iid, [path])
    assert _jobs(store, iid) == ["interrupted"]


_ECS_KEYS = ("@timestamp", "event.dataset", "source.ip", "url.original", "http.request.method",
             "http.response.status_code", "user_agent.original", "destination.domain",
             "rule.id", "rule.name", "rule.category", "wormsign.family", "wormsign.severity",
             "log.file.path", "log.file.line")


def _json_values() -> Any:
    from hypothesis import strategies as st
    scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
               | st.text() | st.sampled_from(["2001-07-19T12:00:00Z", "198.51.100.1",
                                              "0001-01-01T00:30:00+01:00", "1e999"]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                        max_leaves=8)


def test_fuzzed_records_are_alerts_that_fit_or_counted_skips(tmp_path: Path) -> None:
    """Any JSON-ish record either becomes an alert the store accepts, or is a record error;
    one ingest over all of them never raises and accounts for every record."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from wormsign.incidents.ingest import RECORD_ERRORS, alert_from_record

    records: list[dict[str, Any]] = []

    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.dictionaries(st.sampled_from(_ECS_KEYS), _json_values(), max_size=8))
    def one(overrides: dict[str, Any]) -> None:
        rec = {**_good(len(records)), **overrides}
        with contextlib.suppress(RECORD_ERRORS):   # anything else fails the test
            alert_from_record(rec)
        records.append(rec)

    one()
    path = tmp_path / "fuzz.jsonl"
    with path.open("w", encoding="utf-8", errors="surrogatepass") as fh:
        for rec in records:
            fh.write(json.dumps(rec, allow_nan=True) + "\n")
    with Store.open(f"sqlite:///{tmp_path / 'fuzz.db'}") as store:
        iid = store.create_incident("fuzz")
        res = ingest_paths(store, iid, [path], batch_size=37)
        f = res.files[0]
        assert f.error is None
        assert f.records == len(records) == f.added + f.duplicates + f.skipped
        assert _jobs(store, iid) == ["done"]
        with store.engine.connect() as conn:
            assert rollups_consistent(conn, iid)


def test_truncated_gzip_is_a_one_line_error_and_keeps_what_was_read(
        store: Store, tmp_path: Path) -> None:
    import gzip
    full = gzip.compress(("\n".join(json.dumps(_good(i)) for i in range(3000)) + "\n").encode())
    path = tmp_path / "alerts.jsonl.gz"
    path.write_bytes(full[: len(full) // 2])
    other = _write(tmp_path / "other.jsonl", [json.dumps(_good(5000))])
    iid = store.create_incident("truncated")
    res = ingest_paths(store, iid, [path, other], batch_size=500)
    bad, good = res.files
    assert bad.error is not None and str(path) in bad.error and "\n" not in bad.error
    assert "the records before it are stored" in bad.error
    assert good.added == 1
    with store.engine.connect() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(t.alerts)).scalar_one()
        assert rollups_consistent(conn, iid)
    assert kept > 1                                   # whole batches before the damage
    assert sorted(_jobs(store, iid)) == ["done", "failed"]


def test_overlong_record_is_skipped_without_buffering(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wormsign.incidents.ingest as ingest
    monkeypatch.setattr(ingest, "MAX_RECORD_BYTES", 4096)
    huge = _bad(**{"url.original": "/" + "A" * 50_000})
    path = _write(tmp_path / "alerts.jsonl", [json.dumps(_good(0)), huge, json.dumps(_good(1))])
    iid = store.create_incident("overlong")
    res = ingest_paths(store, iid, [path])
    f = res.files[0]
    assert (f.added, f.skipped) == (2, 1)
    assert f.errors == [f"{path}:2: not an alert (longer than 4,096 bytes)"]
