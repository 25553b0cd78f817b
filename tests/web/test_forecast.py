"""The dashboard's forecast: ``GET /api/incidents/{id}/forecast`` and the incident page's SVG
chart (escaped like everything else)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from fakeforecast import fake_forecast
from web.helpers import XSS, alert, write_alerts
from wormsign.incidents import Store, forecasts, ingest_paths
from wormsign.incidents.charts import forecast_chart


def outbreak_incident(store: Store, tmp: Path, name: str = "forecast case") -> int:
    """An incident with 120 Code Red sources arriving faster and faster."""
    iid = store.create_incident(name)
    alerts = [alert(i, f"198.51.{i // 200}.{i % 200 + 1}", "code-red",
                    seconds=int(3 * 3600 * np.sqrt(i / 120))) for i in range(120)]
    ingest_paths(store, iid, [write_alerts(tmp / f"fc{iid}.jsonl", alerts)])
    return iid


def _attach(store: Store, iid: int, **changes: Any) -> dict[str, Any]:
    doc = fake_forecast(forecasts.observations_for(store, iid)).to_json()
    doc.update(changes)
    forecasts.attach(store, iid, doc)
    return doc


def test_api_forecast(client: httpx.Client, store: Store, tmp_path: Path) -> None:
    iid = outbreak_incident(store, tmp_path)
    r = client.get(f"/api/incidents/{iid}/forecast")
    assert r.status_code == 404 and r.json()["error"]["status"] == 404
    assert client.get("/api/incidents/999999/forecast").status_code == 404
    doc = _attach(store, iid)
    r = client.get(f"/api/incidents/{iid}/forecast")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    got = r.json()
    assert got["schema"] == doc["schema"] and got["curve"]["t"] == doc["curve"]["t"]
    assert got["t50"] == doc["t50"] and got["family"] == "code-red"
    assert client.get(f"/api/incidents/{iid}/forecast",
                      params={"family": "nimda"}).status_code == 404
    assert "/api/incidents/{iid}/forecast" in client.get("/openapi.json").json()["paths"]


def test_incident_page_shows_the_forecast_chart(client: httpx.Client, store: Store,
                                                 tmp_path: Path) -> None:
    iid = outbreak_incident(store, tmp_path)
    assert 'id="forecast-chart"' not in client.get(f"/incidents/{iid}").text
    _attach(store, iid, family=XSS[:60])
    html = client.get(f"/incidents/{iid}").text
    assert 'id="forecast-chart"' in html and "half infected (t50)" in html
    svg = html.split('id="forecast-chart"', 1)[1].split("</svg>", 1)[0]
    assert svg.count("<polyline") >= 4 and svg.count("<polygon") == 2
    points = re.findall(r'points="([^"]*)"', svg)
    assert points and all(re.fullmatch(r"[-0-9., ]+", p) for p in points)
    assert "<script>window" not in html and "&lt;script&gt;window" in html


def test_chart_geometry_stays_in_the_box() -> None:
    obs_t = np.linspace(1000.0, 5000.0, 50)
    view = {"curve": {"t": np.linspace(0.0, 9000.0, 97),
                      **{f"{k}_{p}": np.linspace(0, 100.0, 97) * s
                         for k in ("seen", "infected")
                         for p, s in (("p5", 0.5), ("p50", 1.0), ("p95", 2.0))}},
            "observed": {"t": list(obs_t), "sources": list(np.arange(50.0))},
            "absolute": True, "now": 5000.0}
    chart = forecast_chart(view, width=800, height=300)
    assert not chart.empty
    for p in chart.paths:
        xy = np.array([[float(v) for v in pt.split(",")] for pt in p.points.split()])
        assert np.all((xy[:, 0] >= 0) & (xy[:, 0] <= 800))
        assert np.all((xy[:, 1] >= 0) & (xy[:, 1] <= 300))
    assert forecast_chart({"curve": None}).empty
