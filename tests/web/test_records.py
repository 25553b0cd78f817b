"""The API answers with the library's records: its keys are the records' fields, and the
OpenAPI document describes each of them (the response models derive from the records)."""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

import httpx

from web.helpers import csrf_of
from wormsign.incidents import Store
from wormsign.incidents.dashboard import IncidentRow, TaskCounts
from wormsign.incidents.query import (
    AlertRow,
    FamilyCount,
    IncidentRef,
    IncidentSummary,
    Totals,
    VersionedIncidentRef,
)
from wormsign.incidents.tasks import Progress, StatusCounts, Task


def keys(record: type[Any]) -> set[str]:
    if dataclasses.is_dataclass(record):
        return {f.name for f in dataclasses.fields(record)}
    return set(get_type_hints(record))


def test_alert_page_items_are_alert_rows(client: httpx.Client, store: Store,
                                         evidence: int) -> None:
    body = client.get(f"/api/incidents/{evidence}/alerts", params={"per_page": 20}).json()
    assert body["items"]
    for item in body["items"]:
        assert set(item) == keys(AlertRow)
    page = store.list_alerts(evidence, 1, 20)
    assert page.items and all(set(x) == keys(AlertRow) for x in page.items)
    first = page.items[0]
    assert first["timestamp"] is None or first["timestamp"].endswith("Z")
    assert isinstance(first["internal"], bool)


def test_tasks_are_task_records(client: httpx.Client, store: Store, evidence: int) -> None:
    items = client.get(f"/api/incidents/{evidence}/tasks").json()["items"]
    assert items
    assert all(set(x) == keys(Task) for x in items)
    assert items == [x.to_dict() for x in store.list_tasks(evidence)]
    detail = client.get(f"/api/incidents/{evidence}").json()
    assert all(set(x) == keys(Task) for x in detail["tasks"]["items"])
    prog = detail["tasks"]["progress"]
    assert set(prog) == keys(Progress) and prog["playbooks"]
    assert all(set(p) == keys(StatusCounts) for p in prog["playbooks"].values())
    assert set(detail["incident"]) == keys(IncidentRef)
    assert set(detail["totals"]) == keys(Totals)
    assert all(set(f) == keys(FamilyCount) for f in detail["families"])


def test_incident_rows_and_refs(client: httpx.Client) -> None:
    rows = client.get("/api/incidents", params={"status": "all"}).json()["items"]
    assert rows
    for row in rows:
        assert set(row) == keys(IncidentRow)
        assert set(row["tasks"]) == keys(TaskCounts)
    r = client.post("/api/incidents", json={"name": "records"},
                    headers={"X-CSRF-Token": csrf_of(client)})
    assert r.status_code == 201, r.text
    assert set(r.json()) == keys(IncidentRef)  # the overview row's extra counts are left out


def test_incident_summary_is_the_typed_dict(store: Store, evidence: int) -> None:
    s = store.get_incident_summary(evidence)
    assert set(s) == keys(IncidentSummary)
    assert set(s["incident"]) == keys(VersionedIncidentRef)
    assert set(s["totals"]) == keys(Totals)
    assert s["families"] and all(set(f) == keys(FamilyCount) for f in s["families"])
    assert all(set(x) == keys(Task) for x in s["tasks"]["items"])
    assert set(s["tasks"]["progress"]) == keys(Progress)


def test_openapi_describes_every_record_field(client: httpx.Client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name, record in (("TaskModel", Task), ("AlertModel", AlertRow),
                         ("IncidentRef", IncidentRef), ("IncidentRow", IncidentRow),
                         ("Totals", Totals), ("FamilyCount", FamilyCount),
                         ("TaskCounts", TaskCounts), ("Progress", Progress),
                         ("StatusCounts", StatusCounts)):
        doc = schemas[name]
        assert set(doc["properties"]) == keys(record), name
        assert set(doc["required"]) == keys(record), name  # every answer has every field
