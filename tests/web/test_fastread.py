"""The API's read cache: versions follow every change, cached answers are never stale, and
alert pages found by keyset equal the plain ordered query, whatever order pages are asked in."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from web.helpers import alert, csrf_of, mixed_alerts, write_alerts
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents import schema as t
from wormsign.web.fastread import ReadCache


def reference(store: Store, iid: int, conds: list[sa.ColumnElement[bool]]) -> list[int]:
    a = t.alerts
    q = (sa.select(a.c.id).where(a.c.incident_id == iid, *conds)
         .order_by(a.c.ts, a.c.family, a.c.id))
    with store.engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(q)]


@pytest.mark.parametrize(("filters", "conds"), [
    ({}, []),
    ({"family": "nimda"}, [t.alerts.c.family == "nimda"]),
    ({"internal": True}, [t.alerts.c.internal == 1]),
    ({"source_ip": "198.51.100.2"}, [t.alerts.c.source_ip == "198.51.100.2"]),
    ({"q": "cmd.exe", "family": "nimda"}, [t.alerts.c.url.contains("cmd.exe"),
                                          t.alerts.c.family == "nimda"]),
])
def test_pages_in_any_order_equal_the_ordered_query(store: Store, evidence: int,
                                                    filters: dict[str, object],
                                                    conds: list[sa.ColumnElement[bool]]) -> None:
    want = reference(store, evidence, conds)
    assert want, "the filter selects something"
    reads = ReadCache(store)
    version = reads.version(evidence)
    for per_page in (1, 7, 50):
        pages = -(-len(want) // per_page)
        order = list(range(1, pages + 1))
        random.Random(per_page).shuffle(order)
        got: dict[int, list[int]] = {}
        for p in order + order[:5]:  # asked twice: the second time from remembered keys
            page = reads.alert_page(evidence, p, per_page, filters, version)
            assert page["total"] == len(want) and page["pages"] == pages
            ids = [a["id"] for a in page["items"]]
            assert got.setdefault(p, ids) == ids
        assert [i for p in range(1, pages + 1) for i in got[p]] == want
        beyond = reads.alert_page(evidence, pages + 1, per_page, filters, version)
        assert beyond["items"] == [] and beyond["total"] == len(want)


def test_alerts_without_a_time_are_paged_too(store: Store, tmp_path: Path) -> None:
    iid = store.create_incident("untimed")
    alerts = mixed_alerts(40) + [dataclasses.replace(alert(i, "192.0.2.9", "nimda"),
                                                     timestamp=None, line=1000 + i)
                                 for i in range(15)]
    ingest_paths(store, iid, [write_alerts(tmp_path / "a.jsonl", alerts)])
    want = reference(store, iid, [])
    assert len(want) == 55
    reads = ReadCache(store)
    version = reads.version(iid)
    order = [4, 1, 6, 2, 5, 3, 6, 1]
    got = {p: [a["id"] for a in reads.alert_page(iid, p, 10, {}, version)["items"]]
           for p in order}
    assert [i for p in range(1, 7) for i in got[p]] == want


def test_the_version_follows_every_change(store: Store, tmp_path: Path) -> None:
    reads = ReadCache(store)
    iid = store.create_incident("versions")
    seen = {reads.version(iid)}

    def changed() -> None:
        v = reads.version(iid)
        assert v not in seen
        seen.add(v)

    ingest_paths(store, iid, [write_alerts(tmp_path / "a.jsonl", mixed_alerts(30))])
    changed()
    task = store.list_tasks(iid)[0]
    store.update_task(iid, task.id, status="done")
    changed()
    store.update_task(iid, task.id, note="contained")
    changed()
    store.add_networks(iid, ["10.9.0.0/16"], "own")
    changed()
    before = reads.version(None)
    store.create_incident("another")
    assert reads.version(None) != before  # the incident list changed
    store.close_incident(iid)
    changed()


def test_cached_answers_are_never_stale(client: httpx.Client, store: Store,
                                        tmp_path: Path) -> None:
    iid = store.create_incident("fresh answers")
    ingest_paths(store, iid, [write_alerts(tmp_path / "a.jsonl", mixed_alerts(20))])
    url = f"/api/incidents/{iid}"
    first = client.get(url).json()
    assert client.get(url).json() == first  # from the cache
    tasks = client.get(f"{url}/tasks").json()["items"]
    r = client.patch(f"{url}/tasks/{tasks[0]['id']}", json={"owner": "eve"},
                     headers={"X-CSRF-Token": csrf_of(client)})
    assert r.status_code == 200
    assert client.get(f"{url}/tasks").json()["items"][0]["owner"] == "eve"
    assert client.get(url).json()["tasks"]["items"][0]["owner"] == "eve"
    # New evidence from outside the server (the CLI) shows at once.
    more = [alert(5000 + i, "203.0.113.200", "code-red") for i in range(5)]
    ingest_paths(store, iid, [write_alerts(tmp_path / "b.jsonl", more)])
    assert client.get(url).json()["totals"]["alerts"] == first["totals"]["alerts"] + 5
    page = client.get(f"{url}/alerts", params={"source_ip": "203.0.113.200"}).json()
    assert page["total"] == 5
    rows = client.get("/api/incidents").json()["items"]
    assert next(r for r in rows if r["id"] == iid)["alerts"] == 25
