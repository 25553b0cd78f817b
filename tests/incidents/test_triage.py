"""Triage marks and suppression in the store: applied to stored evidence, kept across
re-ingest, honoured by exports and feeds, and lifted by expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from wormsign.detect.suppress import IgnoreFile, Suppression
from wormsign.errors import InvalidError, NotFoundError
from wormsign.incidents import Store
from wormsign.incidents.exporters import export, render_blocklist
from wormsign.incidents.ingest import ingest_paths
from wormsign.incidents.suppress import add_rule, remove_rule, state, sync_file
from wormsign.incidents.triage import list_marks, mark

from .helpers import make_alert, write_jsonl

SOURCES = ["198.51.100.7", "198.51.100.8", "203.0.113.9"]


@pytest.fixture
def incident(store: Store, tmp_path: Path) -> tuple[int, Path]:
    alerts = [make_alert(i, SOURCES[i % 3], "code-red" if i % 3 else "nimda")
              for i in range(30)]
    path = write_jsonl(tmp_path / "alerts.jsonl", alerts)
    iid = store.create_incident("triage")
    ingest_paths(store, iid, [path])
    return iid, path


def exported(store: Store, iid: int) -> set[str]:
    return set(export(store, iid, "plain").split())


def test_false_positive_source_suppressed_across_reingest_and_export(
        store: Store, incident: tuple[int, Path]) -> None:
    iid, path = incident
    assert exported(store, iid) == set(SOURCES)
    m = mark(store, iid, "source", "198.51.100.7", "false-positive", note="our scanner",
             actor="alice")
    assert m.actor == "alice"
    doc = state(store, iid)
    assert doc["alerts"] == 10 and doc["sources_fully_suppressed"] == 1
    assert doc["marks"][0]["alerts"] == 10 and doc["marks"][0]["actor"] == "alice"
    assert exported(store, iid) == set(SOURCES) - {"198.51.100.7"}
    assert "1 source(s) suppressed" in export(store, iid, "nginx")
    # shown, never dropped: the alerts stay in the store
    assert store.get_incident_summary(iid)["totals"]["alerts"] == 30
    # re-ingest the same evidence (read again) and once more from scratch
    ingest_paths(store, iid, [path], reread=True)
    assert state(store, iid)["alerts"] == 10
    assert exported(store, iid) == set(SOURCES) - {"198.51.100.7"}
    kinds = [a.kind for a in store.list_actions(iid)]
    assert "triage" in kinds
    assert any("alice" in a.detail for a in store.list_actions(iid) if a.kind == "triage")


def test_expiry_brings_it_back(store: Store, incident: tuple[int, Path]) -> None:
    iid, _ = incident
    now = int(time.time())
    mark(store, iid, "source", "203.0.113.9", "benign-scanner", actor="bob", until=now + 2)
    assert "203.0.113.9" not in exported(store, iid)
    assert state(store, iid, now + 10)["alerts"] == 0  # at a later time: lapsed
    assert state(store, iid, now + 10)["marks"][0]["active"] is False
    time.sleep(2.2)
    assert "203.0.113.9" in exported(store, iid)
    assert "203.0.113.9" in render_blocklist(store, iid).text.split()


def test_confirmed_lifts_and_note_keeps(store: Store, incident: tuple[int, Path]) -> None:
    iid, _ = incident
    mark(store, iid, "rule", "cr-ida", "false-positive", actor="a")
    assert state(store, iid)["alerts"] == 20
    mark(store, iid, "rule", "cr-ida", "note", note="asked the vendor", actor="b")
    assert state(store, iid)["alerts"] == 20  # a note is not a verdict
    mark(store, iid, "rule", "cr-ida", "confirmed", actor="c")
    assert state(store, iid)["alerts"] == 0
    assert [m.verdict for m in list_marks(store, iid, latest=False)] == [
        "false-positive", "note", "confirmed"]


def test_alert_mark_names_the_evidence(store: Store, incident: tuple[int, Path]) -> None:
    iid, path = incident
    page = store.list_alerts(iid, per_page=1)
    aid = page.items[0]["id"]
    m = mark(store, iid, "alert", str(aid), "false-positive", actor="x")
    assert m.target_kind == "alert" and m.target.lstrip("-").isdigit()  # evidence key
    doc = state(store, iid)
    assert doc["alerts"] == 1 and doc["marks"][0]["alert_id"] == aid
    assert doc["sources_fully_suppressed"] == 0  # the source has other alerts
    ingest_paths(store, iid, [path], reread=True)
    assert state(store, iid)["alerts"] == 1
    with pytest.raises(NotFoundError):
        mark(store, iid, "alert", "999999", "false-positive")
    with pytest.raises(InvalidError):
        mark(store, iid, "source", "not-an-ip", "false-positive")
    with pytest.raises(InvalidError):
        mark(store, iid, "source", "198.51.100.7", "maybe")


def test_rules_typed_and_from_file(store: Store, incident: tuple[int, Path]) -> None:
    iid, _ = incident
    add_rule(store, iid, reason="drill", family="nimda", key="drill", actor="carol")
    assert state(store, iid)["alerts"] == 10
    with pytest.raises(InvalidError):
        add_rule(store, iid, reason="again", family="nimda", key="drill")
    f = IgnoreFile("wormsign-ignore.yml", (
        Suppression(id="net", reason="partner", source="198.51.100.0/24"),
        Suppression(id="path", reason="probe", path="/default.ida?N*", rule="cr-ida"),))
    assert sync_file(store, iid, f, actor="ci") == 2
    doc = state(store, iid)
    by_id = {r["id"]: r for r in doc["rules"]}
    assert by_id["net"]["alerts"] == 20 and by_id["path"]["alerts"] == 20
    assert doc["alerts"] == 30
    assert exported(store, iid) == set()
    # the file changed: rules no longer in it go
    sync_file(store, iid, IgnoreFile("wormsign-ignore.yml", ()))
    assert {r["id"] for r in state(store, iid)["rules"]} == {"drill"}
    remove_rule(store, iid, "drill")
    assert state(store, iid)["alerts"] == 0
    with pytest.raises(NotFoundError):
        remove_rule(store, iid, "drill")


def test_wide_cidr_over_many_sources(store: Store, tmp_path: Path) -> None:
    alerts = [make_alert(i, f"10.{i // 250 % 250}.{i % 250}.1", "code-red")
              for i in range(3000)]
    iid = store.create_incident("wide")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "w.jsonl", alerts)])
    add_rule(store, iid, reason="inside", source="10.0.0.0/8")
    assert state(store, iid)["alerts"] == 3000


def test_report_and_dashboard_show_suppression(store: Store,
                                               incident: tuple[int, Path]) -> None:
    from wormsign.incidents.dashboard import incident_view
    from wormsign.incidents.report import render_html
    iid, _ = incident
    mark(store, iid, "source", "198.51.100.8", "false-positive", note="<b>lab</b>",
         actor="dave")
    html = render_html(store, iid)
    assert "marks and suppressed evidence" in html and "&lt;b&gt;lab&lt;/b&gt;" in html
    view = incident_view(store, iid)
    assert view["suppressed"]["alerts"] == 10
    assert view["suppressed"]["marks"][0]["actor"] == "dave"


def test_path_glob_is_case_sensitive_and_literal(store: Store, tmp_path: Path) -> None:
    from wormsign.detect.alert import Alert
    iid = store.create_incident("globs")
    base = make_alert(0, "198.51.100.1", "nimda")
    urls = ["/scripts/a%5fb[1]*x", "/Scripts/a_b", "/scripts/aXb"]
    alerts = [Alert(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                       "url": u, "line": i + 1}) for i, u in enumerate(urls)]
    ingest_paths(store, iid, [write_jsonl(tmp_path / "g.jsonl", alerts)])
    add_rule(store, iid, reason="r", path="/scripts/a%5fb[1]*", key="lit")
    add_rule(store, iid, reason="r", path="/scripts/a_b", key="under")
    by = {r["id"]: r["alerts"] for r in state(store, iid)["rules"]}
    assert by == {"lit": 1, "under": 0}  # [ ] % _ are literal; /Scripts is not /scripts
