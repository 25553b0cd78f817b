"""Fitting a scenario to a published cumulative curve (forecast/calibrate.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from wormsign.errors import ConfigError
from wormsign.forecast.calibrate import (
    apply,
    fit_scenario,
    mean_field,
    published_curve,
    simulated_median,
)
from wormsign.sim import Scenario, load_preset
from wormsign.sim.montecarlo import run_seeds

SMALL = Scenario(address_bits=20, vulnerable=4000, scan_rate=1.0, initial=20, hours=1.0,
                 step_s=10.0)
TIMES = tuple(float(x) for x in np.arange(300.0, 3601.0, 300.0))


def test_packaged_curve_is_code_red_day() -> None:
    pc = published_curve()
    assert pc.hours[0] == 13 and pc.hours[-1] == 24
    assert list(pc.infected) == sorted(pc.infected)
    assert pc.infected[-1] == 359_104 and pc.skipped == 0
    assert any("C. Shannon" in note for note in pc.notes)
    pts = pc.seconds_from("2001-07-19T10:00:00Z")
    assert pts[0] == (3 * 3600.0, 5000.0) and pts[-1][0] == 14 * 3600.0


def test_curve_file_bad_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("# a source\nhour_utc,infected_cumulative\n1,10\nx,5\n2,-3\n3,40\n",
                    encoding="utf-8")
    pc = published_curve(str(path))
    assert pc.hours == (1.0, 3.0) and pc.skipped == 2 and pc.notes == ("a source",)
    path.write_text("hour,count\n1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        published_curve(str(path))
    assert err.value.line == 1 and err.value.path == str(path)
    with pytest.raises(ConfigError):
        published_curve("no-such-curve")
    path.write_bytes(b"hour_utc,infected_cumulative\n1,\xff\n")
    with pytest.raises(ConfigError) as err:
        published_curve(str(path))
    assert err.value.path == str(path)
    with pytest.raises(ConfigError):
        published_curve(str(tmp_path / "missing.csv"))


def test_apply_sets_fields_offsets_and_schedules() -> None:
    base = load_preset("code-red-v2")
    sc = apply(base, {"initial": 41.6, "offset_h": 0.5, "removal_rate@7": 0.3,
                      "removal_rate@0": 0.1})
    assert sc.initial == 42
    assert sc.hours == pytest.approx(base.hours - 0.5)
    start, base_start = sc.start_datetime(), base.start_datetime()
    assert start is not None and base_start is not None
    assert start - base_start == timedelta(minutes=30)
    assert sc.removal_rate == ((0.0, 0.1), (7.0, 0.3))
    with pytest.raises(ConfigError):
        apply(base, {"telescopes": 1.0})
    with pytest.raises(ConfigError):
        apply(base, {"removal_rate@soon": 1.0})
    with pytest.raises(ConfigError):
        apply(base, {"initial": float("nan")})


def test_mean_field_is_the_logistic_without_removal() -> None:
    k = SMALL.scan_rate * SMALL.vulnerable / SMALL.space
    a0 = SMALL.initial / SMALL.vulnerable
    t = np.array(TIMES)
    logistic = SMALL.vulnerable * a0 * np.exp(k * t) / (1 - a0 + a0 * np.exp(k * t))
    assert np.allclose(mean_field(SMALL, TIMES), logistic, rtol=1e-4)
    # removal lowers the curve
    removed = dataclasses.replace(SMALL, removal_rate=((0.0, 40.0),))
    assert (mean_field(removed, TIMES) < mean_field(SMALL, TIMES)).all()


def test_fit_recovers_the_parameters_of_a_simulated_curve() -> None:
    truth = dataclasses.replace(SMALL, scan_rate=1.5, initial=8)
    observed = simulated_median(truth, TIMES, run_seeds(99, 9))
    curve = list(zip(TIMES, observed, strict=True))
    cal = fit_scenario(SMALL, curve, ["scan_rate", "initial"],
                       {"scan_rate": (0.2, 10.0), "initial": (1.0, 200.0)},
                       seeds=5, seed=3, evaluations=15)
    got = cal.params
    assert got["scan_rate"] == pytest.approx(1.5, rel=0.1)
    assert 4 <= got["initial"] <= 16
    assert cal.scenario.scan_rate == got["scan_rate"]
    assert len(cal.residuals_pct) == len(TIMES) and max(map(abs, cal.residuals_pct)) < 25
    assert cal.objective < 0.01 and cal.runs == 5 * cal.evaluations
    assert cal.seeds == tuple(run_seeds(3, 5))


def test_bad_requests_are_config_errors() -> None:
    curve = [(600.0, 50.0), (1200.0, 400.0)]
    with pytest.raises(ConfigError):
        fit_scenario(SMALL, curve, ["scan_rate"], {"scan_rate": (5.0, 1.0)})
    with pytest.raises(ConfigError):
        fit_scenario(SMALL, curve, ["scan_rate"], {})
    with pytest.raises(ConfigError):
        fit_scenario(SMALL, [(600.0, -1.0), (1200.0, 4.0)], ["scan_rate"],
                     {"scan_rate": (1.0, 5.0)})
    with pytest.raises(ConfigError):
        fit_scenario(dataclasses.replace(SMALL, model="logistic"), curve, ["scan_rate"],
                     {"scan_rate": (1.0, 5.0)})
