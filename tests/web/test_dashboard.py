"""The dashboard's queries (wormsign.incidents.dashboard) against the store's own API,
on SQLite and, when WORMSIGN_TEST_PG_URL is set, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from web.helpers import alert, mixed_alerts, write_alerts
from wormsign.errors import StoreError
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents.dashboard import Dashboard, alert_page, incident_view, overview


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store on SQLite and on PostgreSQL (``store_url`` of tests/conftest.py)."""
    with Store.open(store_url) as s:
        yield s


@pytest.fixture
def filled(store: Store, tmp_path: Path) -> int:
    iid = store.create_incident("dash")
    ingest_paths(store, iid, [write_alerts(tmp_path / "a.jsonl", mixed_alerts(500))])
    return iid


def test_incident_view_agrees_with_the_summary(store: Store, filled: int) -> None:
    view = incident_view(store, filled)
    summary = store.get_incident_summary(filled)
    assert view["totals"] == summary["totals"]
    assert {(f["family"], f["alerts"], f["sources"]) for f in view["families"]} == {
        (f["family"], f["alerts"], f["sources"]) for f in summary["families"]}
    assert {v["source_ip"] for v in view["victims"]} <= {v["host"] for v in summary["victims"]}
    assert len(view["victims"]) == min(10, len(summary["victims"]))
    assert sum(p["alerts"] for p in view["timeline"]["series"]) == 500
    assert view["timeline"]["bucket_seconds"] == summary["timeline"]["bucket_seconds"]
    assert [s["source_ip"] for s in view["top_sources"]][:1] == [
        summary["sources"][0]["source_ip"]]
    assert len(view["tasks"]["items"]) == len(summary["tasks"]["items"]) > 0


@pytest.mark.parametrize("filters", [
    {}, {"family": "nimda"}, {"internal": True}, {"internal": False},
    {"source_ip": "198.51.100.2"}, {"q": "cmd.exe"}, {"q": "%"},
    {"since": 995_547_600, "until": "2001-07-19T14:00:00Z"}, {"family": "nimda", "q": "scripts"},
])
def test_alert_page_matches_the_store(store: Store, filled: int,
                                      filters: dict[str, object]) -> None:
    for page, per_page in ((1, 50), (3, 37)):
        mine = alert_page(store, filled, page, per_page, filters)
        theirs = store.list_alerts(filled, page, per_page, filters)
        assert mine.total == theirs.total
        assert mine.items == theirs.items


def test_alert_page_rejects_unknown_filters(store: Store, filled: int) -> None:
    with pytest.raises(StoreError):
        alert_page(store, filled, 1, 50, {"colour": "red"})
    with pytest.raises(StoreError):
        alert_page(store, filled, 0, 50, {})


def test_cache_follows_new_evidence(store: Store, filled: int, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from wormsign.incidents import dashboard

    computed: list[int] = []
    real = dashboard.alert_aggregates

    def counted(*a: object, **k: object) -> object:
        computed.append(1)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(dashboard, "alert_aggregates", counted)
    dash = Dashboard(store)
    before = dash.incident(filled)
    again = dash.incident(filled)
    assert len(computed) == 1  # the aggregates are served from the cache
    # the view is the same but for the suppression state's clock (read live, to the second)
    assert {**again, "suppressed": {**again["suppressed"], "now": None}} == {
        **before, "suppressed": {**before["suppressed"], "now": None}}
    assert dash.alerts(filled, filters={"family": "nimda"}).total == (
        store.list_alerts(filled, 1, 1, {"family": "nimda"}).total)
    extra = [alert(1000 + i, "192.0.2.77", "nimda") for i in range(7)]
    ingest_paths(store, filled, [write_alerts(tmp_path / "more.jsonl", extra)])
    after = dash.incident(filled)
    assert after["totals"]["alerts"] == before["totals"]["alerts"] + 7
    assert dash.alerts(filled, filters={"source_ip": "192.0.2.77"}).total == 7
    # New own networks reclassify sources: the cached view must follow.
    store.add_networks(filled, ["192.0.2.0/24"], kind="own")
    assert dash.incident(filled)["totals"]["victims"] == after["totals"]["victims"] + 1


def test_overview_counts(store: Store, filled: int) -> None:
    empty = store.create_incident("empty")
    rows = {r["id"]: r for r in overview(store)}
    assert rows[filled]["alerts"] == 500
    assert rows[filled]["families"] == sorted(rows[filled]["families"])
    assert rows[filled]["tasks"]["total"] > 0 and rows[filled]["tasks"]["closed"] == 0
    assert rows[empty]["alerts"] == 0 and rows[empty]["tasks"]["total"] == 0
    store.close_incident(empty)
    assert empty not in {r["id"] for r in overview(store)}
    assert empty in {r["id"] for r in overview(store, include_closed=True)}
    task = store.list_tasks(filled)[0]
    store.update_task(filled, task.id, status="done")
    assert {r["id"]: r for r in overview(store)}[filled]["tasks"]["closed"] == 1


def test_cache_computes_once_under_concurrency(store: Store, filled: int) -> None:
    import threading
    import time

    dash = Dashboard(store)
    calls = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(dash._cached(("k",), slow)))
               for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [42] * 8 and len(calls) == 1
