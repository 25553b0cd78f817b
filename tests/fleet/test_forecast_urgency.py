"""``assess --forecast FILE``: urgency from a forecast's median probe-rate curve."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakeforecast import fake_forecast, fake_observations
from wormsign.cli.main import main
from wormsign.errors import ConfigError
from wormsign.fleet.assess import assess
from wormsign.fleet.urgency import Outbreak, UrgencyModel, forecast_advisories, read_forecast


def _doc(**kw: Any) -> dict[str, Any]:
    iso = bool(kw.pop("iso", False))
    return fake_forecast(fake_observations(iso=iso), **kw).to_json()


def test_from_forecast_seconds_document() -> None:
    doc = _doc()
    ob = Outbreak.from_forecast(doc)
    assert ob.t[0] == 0.0 and np.all(np.diff(ob.t) > 0)
    assert np.allclose(ob.rate, doc["curve"]["probe_rate_p50"], rtol=1e-5)
    assert ob.now == pytest.approx(float(doc["evidence"]["to"]) - float(doc["curve"]["t"][0]))
    assert ob.state_time("now") == ob.now
    assert "family code-red" in ob.source


def test_iso_document_gives_the_same_outbreak() -> None:
    a, b = Outbreak.from_forecast(_doc()), Outbreak.from_forecast(_doc(iso=True))
    assert isinstance(_doc(iso=True)["curve"]["t"][0], str)
    assert np.allclose(a.t, b.t) and np.allclose(a.rate, b.rate)
    assert a.now == pytest.approx(b.now)
    assert a.expected_wait(a.now) == pytest.approx(b.expected_wait(b.now), rel=1e-6)


def _mutations() -> list[tuple[str, Any]]:
    good = _doc()
    out: list[tuple[str, Any]] = [("list", [1, 2]), ("no schema", {**good, "schema": "x"}),
                                  ("not ok", _doc(status="not-enough-evidence"))]
    for name, change in [
        ("no curve", lambda d: d.pop("curve")),
        ("short", lambda d: d["curve"].update(t=d["curve"]["t"][:3])),
        ("bad time", lambda d: d["curve"]["t"].__setitem__(2, "yesterday")),
        ("bool time", lambda d: d["curve"]["t"].__setitem__(2, True)),
        ("unsorted", lambda d: d["curve"]["t"].reverse()),
        ("no rates", lambda d: d["curve"].update(probe_rate_p50=[None] * len(d["curve"]["t"]))),
        ("base", lambda d: d.update(time_base="weeks")),
    ]:
        d = copy.deepcopy(good)
        change(d)
        out.append((name, d))
    return out


@pytest.mark.parametrize(("name", "doc"), _mutations(), ids=[n for n, _ in _mutations()])
def test_bad_documents_are_one_line_errors(name: str, doc: Any) -> None:
    with pytest.raises(ConfigError) as exc:
        Outbreak.from_forecast(doc, name="f.json")
    text = str(exc.value)
    assert text.startswith("f.json: ") and "\n" not in text


def test_not_enough_evidence_says_why() -> None:
    with pytest.raises(ConfigError, match="only 2 sources"):
        Outbreak.from_forecast(_doc(status="not-enough-evidence"), name="f.json")


def test_now_needs_a_forecast() -> None:
    ob = Outbreak(np.array([0.0, 1.0]), np.array([1.0, 1.0]), "x")
    with pytest.raises(ConfigError, match="forecast"):
        ob.state_time("now")


def test_forecast_advisories_by_family() -> None:
    advs = {"MS01-033": ("code-red", "code-red-ii"), "MS00-078": ("nimda",)}
    assert forecast_advisories("code-red", advs) == {"MS01-033"}
    assert forecast_advisories("nimda", advs) == {"MS00-078"}
    assert forecast_advisories(None, advs) == set(advs)
    assert forecast_advisories("slammer", advs) == set(advs)


def test_faster_forecast_means_sooner_probe() -> None:
    slow = UrgencyModel(forecast=Outbreak.from_forecast(_doc()), forecast_ids=frozenset({"A"}))
    fast = UrgencyModel(forecast=Outbreak.from_forecast(_doc(rate_scale=50.0)),
                        forecast_ids=frozenset({"A"}))
    assert slow.state == "now"
    assert fast.for_advisory("A", None).wait_s < slow.for_advisory("A", None).wait_s


def test_assess_uses_the_forecast(sample: Path) -> None:
    inv = str(sample / "inventory.csv")
    preset = assess(inv, outbreak_source="closed-form")
    fc = assess(inv, outbreak_source="closed-form", forecast=_doc(rate_scale=0.01),
                forecast_name="cr.json")
    assert fc.urgency.state == "now" and preset.urgency.state == "peak"
    u_fc = fc.urgency.for_advisory("MS01-033", fc.kb.advisories["MS01-033"].outbreak)
    u_pre = preset.urgency.for_advisory("MS01-033", preset.kb.advisories["MS01-033"].outbreak)
    assert "cr.json" in u_fc.source and u_fc.wait_s != pytest.approx(u_pre.wait_s)
    # nimda advisories keep their preset (at peak: a preset has no "now")
    nimda = fc.urgency.for_advisory("MS00-078", fc.kb.advisories["MS00-078"].outbreak)
    assert "cr.json" not in nimda.source and nimda.state == "peak"
    reasons = " ".join(w.reason for w in fc.plan if "MS01-033" in w.reason)
    assert "forecast cr.json" in reasons
    doc = fc.to_json()
    assert doc["urgency"]["source"] == "forecast" and doc["urgency"]["advisories"] == [
        "MS01-033"]
    assert "urgency" not in preset.to_json()


def test_cli_forecast(sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "cr.json"
    f.write_text(json.dumps(_doc()))
    inv = str(sample / "inventory.csv")
    assert main(["assess", inv, "--outbreak-model", "closed-form", "--forecast", str(f)]) == 1
    out = capsys.readouterr().out
    assert "Urgency: urgency from forecast" in out and "cr.json" in out
    assert main(["assess", inv, "--outbreak-model", "closed-form", "--forecast", str(f),
                 "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["urgency"]["state"] == "now"
    assert read_forecast(str(f))["status"] == "ok"


@pytest.mark.parametrize("content", ["{not json", json.dumps({"schema": "wormsign.forecast/1",
                                                               "status": "not-enough-evidence",
                                                               "reason": "two\nlines"})])
def test_cli_bad_forecast_is_one_line(sample: Path, tmp_path: Path, content: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.json"
    f.write_text(content)
    assert main(["assess", str(sample / "inventory.csv"), "--forecast", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.json" in err


def test_cli_forecast_that_is_not_a_file(sample: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (tmp_path, tmp_path / "absent.json"):
        assert main(["assess", str(sample / "inventory.csv"), "--forecast", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(bad) in err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["assess", str(sample / "inventory.csv"), "--forecast", str(deep)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
