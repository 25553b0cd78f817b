"""Stored forecasts of an incident: its observations, attach/latest, ``incident forecast``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from fakeforecast import fake_forecast, fake_observations
from incidents.helpers import T0, make_alert
from wormsign.cli.main import main
from wormsign.detect.alert import Alert
from wormsign.errors import ConfigError, InvalidError, NotFoundError
from wormsign.forecast import binning
from wormsign.forecast.observations import Observations
from wormsign.forecast.result import Forecast
from wormsign.incidents import Store, forecasts
from wormsign.incidents.ingest import ingest_alerts


def _outbreak(seed: int = 3) -> tuple[list[Alert], dict[str, float], int]:
    """Code Red from 150 external sources (growing), 8 internal ones, a few Nimda sources;
    each source sends 1-4 probes after its first. Returns alerts, the external Code Red
    sources' first times (unix s) and the number of external Code Red alerts."""
    rng = np.random.default_rng(seed)
    alerts: list[Alert] = []
    first: dict[str, float] = {}
    n_ext = 0
    times = np.sort(6 * 3600 * np.sqrt(rng.random(150)))   # more sources later on
    for k, off in enumerate(times):
        ip = f"198.51.{k // 200}.{k % 200 + 1}"
        for j in range(int(rng.integers(1, 5))):
            ts = T0 + timedelta(seconds=int(off) + 37 * j)
            alerts.append(make_alert(len(alerts), ip, "code-red", ts=ts))
            n_ext += 1
        first[ip] = (T0 + timedelta(seconds=int(off))).timestamp()
    for k in range(8):
        alerts.append(make_alert(len(alerts), f"10.0.0.{k + 1}", "code-red",
                                 ts=T0 + timedelta(seconds=100 + k)))
    for k in range(5):
        alerts.append(make_alert(len(alerts), f"203.0.113.{k + 1}", "nimda",
                                 ts=T0 + timedelta(seconds=7 * 3600 + k)))
    return alerts, first, n_ext


@pytest.fixture
def case(store: Store) -> tuple[Store, int, dict[str, float], int]:
    alerts, first, n_ext = _outbreak()
    iid = store.create_incident("outbreak")
    ingest_alerts(store, iid, alerts)
    return store, iid, first, n_ext


def test_observations_from_the_incident(case: tuple[Store, int, dict[str, float], int]) -> None:
    store, iid, first, n_ext = case
    obs = forecasts.observations_for(store, iid)
    assert obs.family == "code-red"            # the worm with the most sources
    assert obs.timebase.kind == "iso" and obs.monitor.size == 1
    assert obs.sources_total == len(first)
    assert obs.probes_total == n_ext           # internal sources' alerts left out
    assert obs.first_seen is not None
    assert np.allclose(obs.first_seen + obs.timebase.origin, sorted(first.values()))
    k = obs.edges.size - 1
    assert 1 <= k <= binning.MAX_INTERVALS
    widths = np.diff(obs.edges)
    assert np.all(widths[:-1] == widths[0]) and widths[-1] <= widths[0]
    assert obs.timebase.origin % widths[0] == 0          # round interval starts
    assert obs.first_seen[-1] < obs.edges[-1] == obs.end
    assert obs.skipped == 8 and any("internal" in n for n in obs.notes)
    # the new sources fall in the interval holding their first time
    idx = np.searchsorted(obs.edges, obs.first_seen, side="right") - 1
    assert np.array_equal(np.bincount(idx, minlength=k), obs.new_sources)


def test_family_choice_and_errors(case: tuple[Store, int, dict[str, float], int]) -> None:
    store, iid, _, _ = case
    nimda = forecasts.observations_for(store, iid, family="nimda")
    assert nimda.family == "nimda" and nimda.sources_total == 5
    with pytest.raises(ConfigError, match="no timestamped alerts"):
        forecasts.observations_for(store, iid, family="slammer")
    with pytest.raises(NotFoundError):
        forecasts.observations_for(store, iid + 99)
    empty = store.create_incident("empty")
    with pytest.raises(ConfigError, match="no timestamped alerts"):
        forecasts.observations_for(store, empty)


def test_attach_and_latest(store: Store) -> None:
    iid = store.create_incident("f")
    assert forecasts.latest(store, iid) is None
    a = fake_forecast(fake_observations(family="code-red")).to_json()
    b = fake_forecast(fake_observations(family="nimda"), rate_scale=2.0).to_json()
    fa, fb = forecasts.attach(store, iid, a), forecasts.attach(store, iid, b)
    assert fb > fa
    assert forecasts.latest(store, iid) == json.loads(json.dumps(b))
    assert forecasts.latest(store, iid, "code-red") == json.loads(json.dumps(a))
    assert forecasts.latest(store, iid, "slammer") is None
    rec = forecasts.latest_record(store, iid, "nimda")
    assert rec is not None and rec.status == "ok" and rec.id == fb
    assert any(x.kind == "forecast" for x in store.list_actions(iid))
    with pytest.raises(NotFoundError):
        forecasts.attach(store, iid + 99, a)
    with pytest.raises(NotFoundError):
        forecasts.latest(store, iid + 99)


@pytest.mark.parametrize("doc", [[], {"status": "ok"}, {"schema": "wormsign.forecast/1"},
                                 {"schema": "wormsign.forecast/1", "status": "ok",
                                  "family": 3},
                                 {"schema": "wormsign.forecast/1", "status": "ok",
                                  "x": float("nan")}])
def test_attach_refuses_what_is_not_a_forecast(store: Store, doc: Any) -> None:
    iid = store.create_incident("f")
    with pytest.raises(InvalidError):
        forecasts.attach(store, iid, doc)
    assert forecasts.latest(store, iid) is None


def _fake_fit(obs: Observations, **_kw: Any) -> Forecast:
    return fake_forecast(obs)


def test_compute_stores_the_fit(case: tuple[Store, int, dict[str, float], int]) -> None:
    store, iid, first, _ = case
    fid, doc = forecasts.compute(store, iid, fit=_fake_fit)
    assert doc["family"] == "code-red" and doc["evidence"]["sources"] == len(first)
    assert doc["time_base"] == "iso" and doc["evidence"]["inputs"] == [f"incident {iid}"]
    rec = forecasts.latest_record(store, iid)
    assert rec is not None and rec.id == fid and rec.family == "code-red"


def test_estimate_rows_and_headline() -> None:
    doc = fake_forecast().to_json()
    rows = forecasts.estimate_rows(doc)
    assert [r[0] for r in rows][:2] == ["infected now", "half infected (t50)"]
    assert rows[0][1] == "20,000"
    assert "code-red" in forecasts.headline(doc)
    bad = fake_forecast(status="not-enough-evidence").to_json()
    assert forecasts.estimate_rows(bad) == [] and "not enough" in forecasts.headline(bad)


def test_cli_incident_forecast(case: tuple[Store, int, dict[str, float], int],
                               store_url: str, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    store, iid, first, _ = case
    monkeypatch.setattr(forecasts, "_api_forecast", _fake_fit)
    assert main(["incident", "--db", store_url, "forecast", str(iid), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "ok" and doc["evidence"]["sources"] == len(first)
    assert main(["incident", "--db", store_url, "forecast", str(iid), "--family",
                 "nimda"]) == 0
    out, err = capsys.readouterr()
    assert "nimda" in out and "half infected (t50)" in out and "stored as forecast #" in err
    latest = forecasts.latest(store, iid)
    assert latest is not None and latest["family"] == "nimda"
    assert main(["incident", "--db", store_url, "forecast", str(iid), "--family",
                 "slammer"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_forecast_view_prefers_the_incidents_family(
        case: tuple[Store, int, dict[str, float], int]) -> None:
    store, iid, first, _ = case
    assert forecasts.forecast_view(store, iid) is None
    forecasts.compute(store, iid, fit=_fake_fit)                     # code-red
    forecasts.compute(store, iid, family="nimda", fit=_fake_fit)     # newer, other family
    view = forecasts.forecast_view(store, iid)
    assert view is not None and view["family"] == "code-red" and view["absolute"]
    assert view["observed"]["sources"][-1] == len(first)
    assert view["observed"]["t"][0] >= min(first.values())
    curve = view["curve"]
    assert curve is not None and np.all(np.diff(curve["t"]) > 0)
    assert curve["t"][0] == pytest.approx(view["observed"]["t"][0], abs=7 * 86400)
    assert view["now"] == pytest.approx(view["observed"]["t"][-1])
    assert forecasts.forecast_view(store, iid, "nimda")["family"] == "nimda"  # type: ignore[index]


def test_report_shows_the_forecast_escaped(
        case: tuple[Store, int, dict[str, float], int]) -> None:
    from wormsign.incidents import render_html

    store, iid, _, _ = case
    assert "<h2>Forecast</h2>" not in render_html(store, iid)
    doc = fake_forecast(forecasts.observations_for(store, iid)).to_json()
    doc["notes"] = ["<script>alert(1)</script>"]
    forecasts.attach(store, iid, doc)
    html = render_html(store, iid)
    assert "<h2>Forecast</h2>" in html and "half infected (t50)" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    section = html.split("<h2>Forecast</h2>", 1)[1].split("<h2>", 1)[0]
    assert "360,000" in section
    chart = section.split('<svg id="forecast-chart"', 1)[1].split("</svg>", 1)[0]
    assert chart.count("<polyline") >= 4 and chart.count("<polygon") == 2
    assert "sources seen (log scale)" in chart and "hosts infected (log scale)" in chart


def test_chart_of_a_forecast_without_curve(store: Store) -> None:
    from wormsign.incidents import render_html
    from wormsign.incidents.charts import forecast_chart

    iid = store.create_incident("f")
    forecasts.attach(store, iid, fake_forecast(status="not-enough-evidence").to_json())
    view = forecasts.forecast_view(store, iid)
    assert view is not None and view["curve"] is None and view["rows"] == []
    chart = forecast_chart(view)
    assert chart.empty and not chart.paths
    assert [lb.text for lb in chart.labels] == ["no forecast curve"]
    assert "no forecast curve" in render_html(store, iid)
