"""Every preset runs, and the ones with published figures land on them (Moore, Shannon, Brown, IMW 2002; Moore et al. 2003)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from wormsign.errors import ValidationError
from wormsign.sim import Scenario, list_presets, load_preset, simulate
from wormsign.sim.models import fit_logistic, logistic_K
from wormsign.sim.presets import published_figures


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_runs_briefly(name: str) -> None:
    sc = load_preset(name)
    brief = dataclasses.replace(sc, hours=min(sc.hours, 24.0))
    res = simulate(brief, seed=1)
    assert res.ever_infected[-1] > sc.initial, f"{name} did not spread at all"
    assert res.probes.sum() > 0
    for block in sc.telescopes:
        assert block in res.telescopes


def test_code_red_v2_lands_on_published_figures() -> None:
    sc = load_preset("code-red-v2")
    pub = published_figures("code-red-v2")
    assert sc.hours <= pub["by_hours"]
    finals, peaks = [], []
    for seed in range(4):
        s = simulate(sc, seed).summary()
        finals.append(s["final_infected"])
        peaks.append(s["peak_new_per_min"])
    # about 359,000 infected by midnight UTC, peak about 2,000 new infections per minute (the
    # hour-by-hour fit to CAIDA's curve is tests/sim/test_code_red_fit.py)
    assert all(abs(f / pub["final_infected"] - 1) < 0.2 for f in finals)
    assert max(finals) <= sc.vulnerable
    assert all(abs(p / pub["peak_new_per_min"] - 1) < 0.2 for p in peaks)
    assert pub["curve"] == "code-red-2001-07-19"


def test_slammer_doubling_and_coverage() -> None:
    sc = load_preset("slammer")
    doublings, shares, peaks = [], [], []
    for seed in range(6):
        res = simulate(sc, seed)
        e, t = res.ever_infected, res.t
        i1, i2 = int(np.argmax(e >= 100)), int(np.argmax(e >= 1000))
        slope = np.polyfit(t[i1:i2], np.log(e[i1:i2]), 1)[0]
        doublings.append(np.log(2) / slope)
        shares.append(e[t <= 600][-1] / sc.vulnerable)
        peaks.append(float(np.max(res.probes / res.step_s)))
    assert 8.0 < float(np.mean(doublings)) < 9.2  # published: about 8.5 s
    assert min(shares) > 0.9  # more than 90 % within 10 minutes
    assert min(peaks) >= 55e6  # peak above 55 million scans per second


@pytest.mark.slow
def test_full_scale_uniform_matches_per_probe_reference() -> None:
    """Ten brute-force runs that draw every probe gave t50 12,690 +- 550 s and t90 15,310 +- 550 s."""
    sc = Scenario(address_bits=32, vulnerable=360_000, scan_rate=10, initial=10, hours=8,
                  strategy="uniform")
    t50 = np.array([simulate(sc, seed).threshold_times[1] for seed in range(30)])
    t90 = np.array([simulate(sc, seed).threshold_times[2] for seed in range(30)])
    # standard error of the difference of means: 550/sqrt(10) and ~400/sqrt(30)
    assert abs(t50.mean() - 12_690) < 3 * 190
    assert abs(t90.mean() - 15_310) < 3 * 190
    assert 250 < t50.std(ddof=1) < 900


def test_logistic_fit_gives_K_of_random_constant_spread() -> None:
    sc = Scenario(address_bits=32, vulnerable=360_000, scan_rate=10, initial=10, hours=8)
    res = simulate(sc, seed=4)
    k_fit, t_mid = fit_logistic(res.t, res.ever_infected, sc.vulnerable)
    assert k_fit == pytest.approx(logistic_K(sc), rel=0.03)
    assert t_mid == pytest.approx(res.threshold_times[1], abs=120)


def test_preset_file_with_several_problems_reports_each_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\n"                 # 1
                    "scan_rat: 5\n"               # 2: unknown key
                    "vulnerable: 100\n"           # 3
                    "hours: {a: 1}\n"             # 4: not a plain value
                    "exclude: [10.0.0.0/8, 7]\n"  # 5: not text
                    "address_bits: 16\n")         # 6
    with pytest.raises(ValidationError) as exc:
        load_preset(str(path))
    assert [(p.path, p.line) for p in exc.value.problems] == [
        (str(path), 2), (str(path), 4), (str(path), 5)]
    assert str(exc.value).startswith("3 problems in scenario\n  " + f"{path}:2: error:")


def test_preset_value_problems_point_at_their_parameters(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("name: values\n"              # 1
                    "address_bits: 16\n"          # 2
                    "strategy: teleport\n"        # 3: unknown strategy
                    "vulnerable: 100\n"           # 4
                    "initial: 1000\n"             # 5: more than vulnerable
                    "placement: everywhere\n")    # 6: unknown placement
    with pytest.raises(ValidationError) as exc:
        load_preset(str(path))
    lines = sorted(p.line for p in exc.value.problems if p.line is not None)
    assert lines == [3, 5, 6], [str(p) for p in exc.value.problems]
