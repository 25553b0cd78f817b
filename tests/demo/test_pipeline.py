"""The demo pipeline end to end, with fakes for the forecast calls (conftest.py)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.demo.conftest import FAKE_FINAL, FAKE_T50, FAKE_T90, Calls
from tests.demo.test_synth_outbreak import START

from wormsign.cli.demo import print_result
from wormsign.demo import DemoConfig, DemoResult, run_demo, steps
from wormsign.demo.compare import compare, iso
from wormsign.errors import ConfigError, InputError
from wormsign.forecast.observations import Monitor, Observations, TimeBase
from wormsign.forecast.result import Forecast

SEED = 11


@pytest.fixture(scope="module")
def run(fakes_module: Calls, tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, Calls,
                                                                          dict[str, str]]:
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = run_demo(DemoConfig(out=out, seed=SEED, background=200), lines.append)
    assert [x.split()[0] for x in lines] == ["simulate", "logs", "scan", "forecast", "assess",
                                             "incident", "report"]
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in result.logs.paths}
    return result, fakes_module, digests


def test_every_output_is_where_the_result_says(run: tuple[DemoResult, Calls, Any]) -> None:
    r, _, _ = run
    out = r.config.out
    doc = r.to_json()
    named = [doc["scan"]["json"], doc["scan"]["alerts_file"], doc["forecast"]["path"],
             doc["assess"]["json"], doc["assess"]["inventory"], doc["incident"]["db"],
             doc["report"]["html"], *(s["path"] for s in doc["logs"]["servers"])]
    for path in named:
        assert Path(path).is_file() and Path(path).is_relative_to(out), path
    assert "SYNTHETIC" in (out / "SYNTHETIC.txt").read_text()
    assert "SYNTHETIC" in (out / "fleet" / "SYNTHETIC.txt").read_text()
    assert "SYNTHETIC" in Path(doc["report"]["html"]).read_text()
    assert all(p.name.startswith("synthetic-") for p in r.logs.paths)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["schema"] == "wormsign.demo/1" and doc["synthetic"] is True


def test_servers_and_monitor_come_from_the_sample_fleet(run: tuple[DemoResult, Calls,
                                                                   Any]) -> None:
    r, calls, _ = run
    internet = list(r.logs.servers)
    assert len(internet) >= 3
    assert {s.kind for s in internet} == {"iis", "apache"}
    (load,) = calls.load
    assert load["paths"] == [str(r.scan.alerts_path)] and load["family"] == "code-red"
    monitor = load["monitor"]
    assert monitor.size == len(internet)
    assert set(monitor.blocks) == {f"{s.address}/32" for s in internet}
    (fc,) = calls.forecast
    assert fc["preset"] == "code-red-v2" and fc["seed"] == SEED
    blocks = {b for b, _, _ in r.truth.telescopes}
    assert set(r.org_blocks) == set(steps.org_blocks([s.address for s in internet]))
    assert set(r.org_blocks) <= blocks
    assert all(x.endswith("/24") for x in r.org_blocks)


def test_the_scan_sees_every_probe(run: tuple[DemoResult, Calls, Any]) -> None:
    r, _, _ = run
    assert r.scan.alerts == r.scan.family_requests == sum(r.logs.probes)
    assert r.scan.family_sources == r.logs.sources
    # the probes follow the simulated rate (Poisson: within 5 sd of what was expected)
    assert abs(sum(r.logs.probes) - r.logs.expected_probes) < 5 * math.sqrt(
        r.logs.expected_probes) + 1
    t0 = r.truth.start.timestamp()
    assert r.scan.first_seen is not None and r.scan.first_seen >= iso(t0)  # type: ignore[operator]


def test_assess_incident_and_forecast_are_joined(run: tuple[DemoResult, Calls, Any]) -> None:
    r, calls, _ = run
    doc = json.loads(Path(r.forecast.path or "").read_text())
    assert calls.assess == [r.forecast.doc]
    assert doc["status"] == "ok" and r.assess.used_forecast and not r.assess.note
    ((iid, attached),) = calls.attach
    assert iid == r.incident.incident_id and attached == r.forecast.doc
    assert r.incident.forecast_id == 7
    assert r.incident.alerts_added == r.scan.alerts
    assert "code-red" in r.incident.families and r.incident.tasks > 0
    from wormsign.incidents import Store

    with Store.open(str(r.incident.db)) as store:
        started = [t for t in store.list_tasks(r.incident.incident_id)
                   if t.status == "in-progress"]
        assert [f"{t.playbook}/{t.key}" for t in started] == [r.incident.started_task]


def test_truth_against_the_fake_forecast(run: tuple[DemoResult, Calls, Any]) -> None:
    r, _, _ = run
    checks = {c.quantity: c for c in r.comparison.checks}
    t0 = r.truth.start.timestamp()
    truth_t50, truth_t90 = t0 + r.truth.t50_s, t0 + r.truth.t90_s
    assert checks["t50"].truth == truth_t50
    assert checks["t90"].truth == pytest.approx(truth_t90, nan_ok=True)  # NaN: never reached
    assert checks["final_size"].truth == r.truth.final_size
    assert checks["t50"].estimate == pytest.approx(FAKE_T50)
    assert checks["t50"].inside is (abs(truth_t50 - FAKE_T50) <= 3600)
    assert checks["t90"].inside is (None if math.isnan(truth_t90)
                                    else abs(truth_t90 - FAKE_T90) <= 600)
    assert checks["final_size"].inside is (FAKE_FINAL.p5 <= r.truth.final_size
                                           <= FAKE_FINAL.p95)
    rows = {x["quantity"]: x for x in r.to_json()["truth_vs_forecast"]["checks"]}
    assert rows["t50"]["estimate"] == "2001-07-19T17:00:00Z"
    assert rows["t90"]["p5"] == "2001-07-19T11:50:00Z"
    assert rows["t50"]["error_s"] == pytest.approx(FAKE_T50 - truth_t50, abs=0.01)
    assert rows["final_size"]["estimate"] == 350_000


def test_the_printed_summary_says_where_and_how_close(run: tuple[DemoResult, Calls,
                                                                 Any]) -> None:
    r, _, _ = run
    buf = io.StringIO()
    print_result(r, buf)
    text = buf.getvalue()
    assert "SYNTHETIC" in text
    for path in (r.scan.alerts_path, r.report.path, r.incident.db, r.forecast.path):
        assert str(path) in text
    inside = {c.quantity: c.inside for c in r.comparison.checks}
    for line in text.splitlines():
        if line.strip().startswith(("t50", "t90", "final size")):
            q = line.split()[0] if not line.strip().startswith("final") else "final_size"
            word = "-" if inside[q] is None else "yes" if inside[q] else "no"
            assert line.rstrip().endswith(word), line
    assert "2001-07-19T17:00:00Z" in text


def test_same_seed_same_logs_and_a_fresh_incident(run: tuple[DemoResult, Calls,
                                                             dict[str, str]]) -> None:
    r, _, digests = run
    again = run_demo(DemoConfig(out=r.config.out, seed=SEED, background=200))
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in again.logs.paths} == digests
    assert again.incident.incident_id == 1  # the store was made afresh


def test_without_the_incident_extra_the_steps_say_why(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "missing_modules", lambda mods: ["sqlalchemy"])
    inc = steps.open_incident(tmp_path, [], [], None, 1)
    assert inc.db is None and "'incident' extra" in inc.reason and "sqlalchemy" in inc.reason
    rep = steps.write_report(inc, tmp_path)
    assert rep.path is None and "'incident' extra" in rep.reason
    assert not list(tmp_path.iterdir())


def test_a_module_the_report_lacks_skips_the_report(run: tuple[DemoResult, Calls, Any],
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import wormsign.incidents

    def lacks(*args: Any) -> str:
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(wormsign.incidents, "render_html", lacks)
    rep = steps.write_report(run[0].incident, tmp_path)
    assert rep.path is None and "'incident' extra" in rep.reason and "matplotlib" in rep.reason
    assert not (tmp_path / "report.html").exists()


def test_without_the_forecast_modules_the_step_says_why(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wormsign.forecast.readers", None)
    step = steps.forecast_from_scan(tmp_path / "alerts.jsonl", Monitor(1), tmp_path,
                                    preset="code-red-v2", seed=1)
    assert step.forecast is None and step.doc is None and "cannot forecast" in step.reason


def test_evidence_the_readers_refuse_is_no_forecast(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    def refuse(paths: list[str], **kw: Any) -> None:
        raise InputError("only 2 sources of code-red", path=paths[0])

    readers = types.ModuleType("wormsign.forecast.readers")
    readers.load = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wormsign.forecast.readers", readers)
    monkeypatch.setitem(sys.modules, "wormsign.forecast.api", types.ModuleType("api"))
    step = steps.forecast_from_scan(tmp_path / "alerts.jsonl", Monitor(1), tmp_path,
                                    preset="code-red-v2", seed=1)
    assert step.forecast is None and "only 2 sources" in step.reason
    assert "alerts.jsonl" in step.reason


def _truth() -> steps.OutbreakTruth:
    t = np.arange(1.0, 11.0)
    return steps.OutbreakTruth("p", 1, START, t, t, t, 10, 5.0, 9.0, 10, 1.0, ())


def test_a_forecast_without_numbers_compares_as_unknown() -> None:
    obs = Observations(Monitor(1), TimeBase("iso", 0.0), np.array([0.0, 1.0]),
                       np.array([1.0]), None)
    fc = Forecast("not-enough-evidence", "closed-form", obs, reason="2 sources")
    c = compare(_truth(), fc)
    assert c.reason == "2 sources" and c.covered == 0
    assert all(x.inside is None and math.isnan(x.estimate) for x in c.checks)
    assert compare(_truth(), None, "no module").reason == "no module"


def test_bad_configs_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        DemoConfig(seed=-1)
    with pytest.raises(ConfigError):
        DemoConfig(background=10**9)


def test_at_is_a_time_or_a_duration_since_the_start() -> None:
    assert steps.resolve_at(None, START) is None
    assert steps.resolve_at("2001-07-19T18:30:00Z", START) == "2001-07-19T18:30:00Z"
    assert steps.resolve_at("2001-07-19T20:30:00+02:00", START) == "2001-07-19T18:30:00Z"
    assert steps.resolve_at("2001-07-19 18:30", START) == "2001-07-19T18:30:00Z"
    assert steps.resolve_at("8h30m", START) == "2001-07-19T18:30:00Z"
    assert steps.resolve_at("8.5", START) == "2001-07-19T18:30:00Z"  # hours by default
    for bad in ("yesterday", "-3h", "2001-13-40"):
        with pytest.raises(ConfigError):
            steps.resolve_at(bad, START)
    with pytest.raises(ConfigError):
        DemoConfig(at="soon")


def test_the_forecast_is_made_as_of_at(run: tuple[DemoResult, Calls, Any],
                                       tmp_path: Path) -> None:
    r, calls, _ = run
    step = steps.forecast_from_scan(r.scan.alerts_path, Monitor(3), tmp_path,
                                    preset="code-red-v2", seed=1, at="2001-07-19T20:00:00Z")
    assert calls.load[-1]["at"] == "2001-07-19T20:00:00Z"
    assert step.path == tmp_path / "forecast.json" and step.forecast is not None
    assert r.to_json()["forecast"]["as_of"] == iso(
        r.forecast.forecast.observations.timebase.origin  # type: ignore[union-attr]
        + r.forecast.forecast.observations.end)  # type: ignore[union-attr]
