"""The API entry: prior, evidence check, dispatch, alarm and hosts (fits are fakes here)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from tests.forecast import obs_fakes

from wormsign.errors import ConfigError
from wormsign.forecast.api import ForecastOptions, evidence_problem, forecast, resolve_method
from wormsign.forecast.observations import Monitor, Observations, TimeBase


def _obs(new: list[float], probes: list[float] | None = None,
         family: str = "code-red") -> Observations:
    edges = np.arange(len(new) + 1, dtype=np.float64) * 600.0
    return Observations(monitor=Monitor(size=2**24, blocks=("44.0.0.0/8",)),
                        timebase=TimeBase("seconds"), edges=edges,
                        new_sources=np.asarray(new, dtype=np.float64),
                        probes=None if probes is None else np.asarray(probes, np.float64),
                        family=family, now=float(edges[-1]))


GROWING = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> obs_fakes.Calls:
    return obs_fakes.install(monkeypatch)


def test_method_choice() -> None:
    assert resolve_method("auto", "uniform", False) == "closed-form"
    assert resolve_method("auto", "uniform", True) == "closed-form"
    assert resolve_method("auto", "local-preference", False) == "simulation"
    assert resolve_method("simulation", "uniform", False) == "simulation"
    with pytest.raises(ConfigError, match="--method"):
        resolve_method("magic", "uniform", False)


@pytest.mark.parametrize(("new", "probes", "why"), [
    ([1, 2, 3, 0, 0], None, "only 6 source"),
    ([0, 0, 40, 0, 0], None, "only 1 interval"),
    ([0, 0, 0, 0, 0], [0, 30, 30, 0, 0], "only 2 interval"),
])
def test_too_little_evidence_is_refused_without_numbers(
        calls: obs_fakes.Calls, new: list[float], probes: list[float] | None,
        why: str) -> None:
    obs = _obs(new, probes)
    assert why in evidence_problem(obs)
    fc = forecast(obs)
    assert fc.status == "not-enough-evidence" and why in fc.reason
    assert calls.fits == []
    doc = fc.to_json()
    assert doc["status"] == "not-enough-evidence"
    for key in ("params", "infected_now", "t50", "t90", "final_size", "curve", "hosts"):
        assert key not in doc
    json.dumps(doc, allow_nan=False)


def test_few_sources_but_many_probes_is_enough(calls: obs_fakes.Calls) -> None:
    obs = _obs([1, 1, 1, 1, 1], [10, 20, 30, 40, 50])
    assert evidence_problem(obs) == ""
    assert forecast(obs).ok


def test_dispatch_and_notes(calls: obs_fakes.Calls) -> None:
    fc = forecast(_obs(GROWING), horizon_s=7200.0, seed=5)
    assert fc.ok and fc.method == "closed-form" and fc.seed == 5
    assert calls.fits[-1] == ("closed-form", {"horizon_s": 7200.0, "seed": 5,
                                              "intervals": "laplace"})
    notes = fc.to_json()["notes"]
    assert any("identifiable" in n and "preset code-red-v2" in n for n in notes)
    assert len(notes) == len(set(notes))
    fc = forecast(_obs(GROWING, family="code-red-ii"), runs=7, workers=2)
    assert fc.method == "simulation"
    method, kw = calls.fits[-1]
    assert method == "simulation" and kw["runs"] == 7 and kw["workers"] == 2
    fc = forecast(_obs(GROWING), scan_rate=3.5)
    assert any("3.5/s is the one given" in n for n in fc.notes)
    fc = forecast(_obs(GROWING, family="code-red-ii"), method="closed-form")
    assert fc.method == "closed-form"  # the closed form itself notes what it assumes


def test_alarm_and_hosts_are_added(calls: obs_fakes.Calls, tmp_path: Path) -> None:
    fc = forecast(_obs(GROWING), inventory=[("www", "192.0.2.1"), ("db", "192.0.2.2")])
    assert fc.alarm is not None and fc.alarm.method == "fake"
    assert [h.host for h in fc.hosts] == ["www", "db"]
    assert all(h.p5 <= h.median and h.median >= fc.observations.end for h in fc.hosts)
    inv = tmp_path / "inv.csv"
    inv.write_text("host,software,version,address\nweb1,IIS,5.0,192.0.2.10\n"
                   ",IIS,5.0,192.0.2.11\n")
    fc = forecast(_obs(GROWING), inventory=str(inv))
    assert [(h.host, h.address) for h in fc.hosts] == [("web1", "192.0.2.10")]
    assert any("1 row(s) skipped" in n for n in fc.notes)
    doc = fc.to_json()
    assert doc["hosts"][0]["first_probe_median"] is not None


def test_intervals_pass_to_the_closed_form_only(calls: obs_fakes.Calls) -> None:
    fc = forecast(_obs(GROWING), intervals="bootstrap")
    assert calls.fits[-1][1]["intervals"] == "bootstrap"
    assert not any("--intervals" in n for n in fc.notes)
    fc = forecast(_obs(GROWING, family="code-red-ii"), intervals="profile")
    assert fc.method == "simulation" and "intervals" not in calls.fits[-1][1]
    assert any("--intervals profile applies to the closed form only" in n for n in fc.notes)


@pytest.mark.parametrize("kw", [{"runs": 0}, {"workers": 0}, {"horizon_s": -1.0},
                                {"intervals": "jackknife"}])
def test_bad_requests(calls: obs_fakes.Calls, kw: dict[str, float | str]) -> None:
    with pytest.raises(ConfigError):
        forecast(_obs(GROWING), **kw)  # type: ignore[arg-type]


@pytest.mark.skipif(any(importlib.util.find_spec(f"wormsign.forecast.{m}") is None
                        for m in ("priors", "closedform", "alarm")),
                    reason="needs the fit modules (merged from the fit branch)")
def test_real_closed_form_end_to_end(tmp_path: Path) -> None:
    """A Random Constant Spread outbreak seen through a /8 up to ~5 % infected: the real fit
    through the real reader finds t50 near the truth, with hosts and an alarm."""
    from wormsign.forecast.readers import load

    n, r, i0 = 360_000, 10.0, 10.0
    k = r * n / 2.0**32  # growth per second
    t = np.arange(300.0, 8700.0, 300.0)
    infected = n / (1.0 + (n / i0 - 1.0) * np.exp(-k * t))
    t50 = math.log(n / i0 - 1.0) / k
    rng = np.random.default_rng(4)
    seen = np.cumsum(rng.poisson(np.diff(infected, prepend=i0)))  # every host seen at once
    probes = rng.poisson(infected * r * 300.0 / 256.0)
    rows = "".join(f"{a:.0f},{b},{c}\n" for a, b, c in zip(t, seen, probes, strict=True))
    path = tmp_path / "tel.csv"
    path.write_text("time,sources,probes\n" + rows)
    obs = load([str(path)], family="code-red", monitor="44.0.0.0/8")
    fc = forecast(obs, scan_rate=r, vulnerable=n, inventory=[("www", "192.0.2.1")])
    assert fc.ok, fc.reason
    est = fc.estimates["t50"]
    assert abs(est.estimate - t50) / t50 < 0.2
    assert fc.hosts and fc.hosts[0].median > obs.end and fc.alarm is not None
    doc = fc.to_json()
    assert isinstance(doc["t50"]["estimate"], float) and doc["time_base"] == "seconds"


def test_options_object_and_keywords_are_the_same_call(calls: obs_fakes.Calls) -> None:
    """``forecast(obs, ForecastOptions(...), **overrides)``: the keywords win over the object."""
    a = forecast(_obs(GROWING), horizon_s=7200.0, seed=5, intervals="bootstrap")
    fit_a = calls.fits[-1]
    b = forecast(_obs(GROWING), ForecastOptions(horizon_s=7200.0, seed=9, intervals="bootstrap"),
                 seed=5)
    assert calls.fits[-1] == fit_a == ("closed-form", {"horizon_s": 7200.0, "seed": 5,
                                                       "intervals": "bootstrap"})
    assert a.to_json() == b.to_json()
    with pytest.raises(TypeError):
        forecast(_obs(GROWING), horizon=7200.0)  # type: ignore[call-arg]
