"""The closed-form fit: recovers what generated the data, and refuses thin evidence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tests.forecast.outbreaks import model_series, stochastic_series, truth

from wormsign.errors import ConfigError
from wormsign.forecast.closedform import fit
from wormsign.forecast.observations import Monitor, Observations, TimeBase
from wormsign.forecast.priors import prior_for

SLASH8 = 2**24
N, R, I0 = 100_000.0, 10.0, 10.0
"""K = r N / 2^32 = 0.84 per hour; t50 = 11.0 h."""


def _inside(iv: object, value: float) -> bool:
    return bool(iv.p5 <= value <= iv.p95)  # type: ignore[attr-defined]


def test_recovers_growth_midpoint_and_population() -> None:
    # /8 telescope, both streams, up to ~20 % infected (9.5 h)
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=57, seed=3)
    fc = fit(obs, prior_for("code-red"), seed=3)
    tr = truth(N, R, I0)
    assert fc.ok and fc.method == "closed-form"
    est = fc.estimates
    assert est["t50"].estimate == pytest.approx(tr["t50"], rel=0.02)
    assert est["t90"].estimate == pytest.approx(tr["t90"], rel=0.02)
    assert est["final_size"].estimate == pytest.approx(N, rel=0.05)
    assert fc.params["growth_per_hour"].estimate == pytest.approx(tr["k"] * 3600, rel=0.03)
    assert fc.params["scan_rate"].estimate == pytest.approx(R, rel=0.05)
    assert est["peak_new_per_min"].estimate == pytest.approx(tr["k"] * N / 4 * 60, rel=0.06)
    for iv in (*est.values(), *fc.params.values()):
        assert iv.p5 <= iv.estimate <= iv.p95


def test_intervals_contain_the_truth_in_most_seeds() -> None:
    tr = truth(N, R, I0)
    hits = {"t50": 0, "t90": 0, "final_size": 0}
    seeds = range(6)
    for seed in seeds:
        obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=50, seed=seed)
        fc = fit(obs, prior_for("code-red"), seed=seed)
        assert fc.ok
        hits["t50"] += _inside(fc.estimates["t50"], tr["t50"])
        hits["t90"] += _inside(fc.estimates["t90"], tr["t90"])
        hits["final_size"] += _inside(fc.estimates["final_size"], N)
    assert all(h >= 4 for h in hits.values()), hits


def test_stochastic_outbreak_is_forecast_within_its_interval() -> None:
    obs, level = stochastic_series(n=100_000, r=R, i0=10, size=SLASH8, step=300, steps=100,
                                   seed=4)
    assert 0.01 < level[-1] / 100_000 < 0.5
    fc = fit(obs, prior_for("code-red"), seed=1)
    assert fc.ok
    t50 = fc.estimates["t50"]
    assert t50.p5 > obs.edges[-1]
    assert fc.estimates["infected_now"].estimate == pytest.approx(level[-1], rel=0.2)


def test_single_address_early_evidence_is_not_enough() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=1, step=600, steps=50, seed=1)
    fc = fit(obs, prior_for("code-red"))
    assert fc.status == "not-enough-evidence"
    assert fc.reason
    doc = fc.to_json()
    assert doc["status"] == "not-enough-evidence" and "t50" not in doc


@pytest.mark.parametrize("counts", [np.zeros(48), np.full(48, 5.0)])
def test_no_growth_gives_no_confident_number(counts: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    y = counts if not counts.any() else rng.poisson(counts).astype(float)
    obs = Observations(monitor=Monitor(SLASH8), timebase=TimeBase(),
                       edges=np.arange(49) * 300.0, new_sources=y, probes=None)
    fc = fit(obs, prior_for("code-red"))
    assert fc.status == "not-enough-evidence", fc.estimates.get("t50")


def test_vulnerable_fixes_the_population() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=45, seed=2)
    fc = fit(obs, prior_for("code-red", vulnerable=120_000))
    assert fc.ok
    for iv in (fc.params["vulnerable"], fc.estimates["final_size"]):
        assert iv.estimate == iv.p5 == iv.p95 == 120_000
    assert any("--vulnerable" in n for n in fc.notes)
    free = fit(obs, prior_for("code-red"))
    assert free.params["vulnerable"].p95 > free.params["vulnerable"].p5


def test_scan_rate_fixes_the_rate() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=45, seed=2)
    fc = fit(obs, prior_for("code-red", scan_rate=10.0))
    assert fc.ok
    assert fc.params["scan_rate"].p5 == fc.params["scan_rate"].p95 == 10.0
    assert any("--scan-rate" in n for n in fc.notes)


def test_notes_say_what_is_identifiable_and_where_the_rate_came_from() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=45, seed=2,
                       probes=False)
    fc = fit(obs, prior_for("code-red"))
    assert fc.ok
    text = " ".join(fc.notes)
    assert "identifiable" in text and "code-red-v2" in text and "prior" in text


def test_time_base_origin_is_respected() -> None:
    base = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=50, seed=5)
    shifted = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=50, seed=5,
                           origin=7200.0)
    a = fit(base, prior_for("code-red"), seed=1)
    b = fit(shifted, prior_for("code-red"), seed=1)
    assert a.ok and b.ok
    for key in ("t50", "t90", "peak_time"):
        assert b.estimates[key].estimate - a.estimates[key].estimate == pytest.approx(
            7200.0, abs=60.0)
    assert b.curve is not None and b.curve.t[0] == pytest.approx(7200.0)
    iso = Observations(monitor=base.monitor, timebase=TimeBase("iso", 995_536_800.0),
                       edges=base.edges, new_sources=base.new_sources, probes=base.probes)
    doc = fit(iso, prior_for("code-red"), seed=1).to_json()
    assert doc["t50"]["estimate"].startswith("2001-07-")
    assert doc["time_base"] == "iso"


def test_json_document_and_curve() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=2**16, step=600, steps=60, seed=1)
    fc = fit(obs, prior_for("code-red"), seed=9, samples=200)
    assert fc.ok and fc.curve is not None
    doc = json.loads(json.dumps(fc.to_json()))
    for key in ("infected_now", "t50", "t90", "peak_time", "final_size", "peak_new_per_min"):
        assert set(doc[key]) == {"estimate", "p5", "p95"}
    assert set(doc["params"]) >= {"growth_per_hour", "scan_rate", "vulnerable"}
    c = fc.curve
    assert c.t[-1] > obs.edges[-1]
    for lo, mid, hi in (c.infected, c.seen, c.probe_rate):
        assert np.all(lo <= mid + 1e-9) and np.all(mid <= hi + 1e-9)
    # the seen curve follows what the monitor saw
    seen_now = float(np.interp(obs.edges[-1], c.t, c.seen[1]))
    assert seen_now == pytest.approx(obs.sources_total, rel=0.1)
    assert math.isfinite(float(c.probe_rate[1][-1]))


def test_same_seed_same_forecast() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=45, seed=2)
    a = fit(obs, prior_for("code-red"), seed=4)
    b = fit(obs, prior_for("code-red"), seed=4)
    assert a.to_json() == b.to_json()


def test_evidence_after_now_is_not_used() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=50, seed=7)
    assert obs.new_sources is not None and obs.probes is not None
    spoiled_s = obs.new_sources.copy()
    spoiled_s[40:] = 0.0
    spoiled_p = obs.probes.copy()
    spoiled_p[40:] = 0.0
    cut = Observations(monitor=obs.monitor, timebase=obs.timebase, edges=obs.edges,
                       new_sources=spoiled_s, probes=spoiled_p, now=float(obs.edges[40]))
    head = Observations(monitor=obs.monitor, timebase=obs.timebase, edges=obs.edges[:41],
                        new_sources=obs.new_sources[:40], probes=obs.probes[:40])
    a, b = fit(cut, prior_for("code-red"), seed=2), fit(head, prior_for("code-red"), seed=2)
    assert a.ok and b.ok
    assert a.estimates["t50"] == b.estimates["t50"]


def test_bootstrap_intervals_contain_the_truth_in_most_seeds() -> None:
    tr = truth(N, R, I0)
    hits = {"t50": 0, "t90": 0, "final_size": 0, "growth": 0}
    for seed in range(5):
        obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=50, seed=seed)
        fc = fit(obs, prior_for("code-red"), seed=seed, samples=200, intervals="bootstrap")
        assert fc.ok
        assert any("bootstrap" in n for n in fc.notes)
        hits["t50"] += _inside(fc.estimates["t50"], tr["t50"])
        hits["t90"] += _inside(fc.estimates["t90"], tr["t90"])
        hits["final_size"] += _inside(fc.estimates["final_size"], N)
        hits["growth"] += _inside(fc.params["growth_per_hour"], tr["k"] * 3600)
        for iv in (*fc.estimates.values(), *fc.params.values()):
            assert iv.p5 <= iv.estimate <= iv.p95
    assert all(h >= 4 for h in hits.values()), hits


def test_bootstrap_same_seed_same_result_other_seed_other_draws() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=45, seed=2)
    a = fit(obs, prior_for("code-red"), seed=4, samples=100, intervals="bootstrap")
    b = fit(obs, prior_for("code-red"), seed=4, samples=100, intervals="bootstrap")
    c = fit(obs, prior_for("code-red"), seed=5, samples=100, intervals="bootstrap")
    assert a.to_json() == b.to_json()
    assert a.estimates["t50"].estimate == c.estimates["t50"].estimate
    assert a.estimates["t50"].p5 != c.estimates["t50"].p5


def test_bootstrap_widens_with_overdispersed_counts() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=50, seed=1)
    assert obs.new_sources is not None and obs.probes is not None
    rng = np.random.default_rng(0)
    noisy = Observations(monitor=obs.monitor, timebase=obs.timebase, edges=obs.edges,
                         new_sources=obs.new_sources,
                         probes=rng.poisson(obs.probes * rng.gamma(2.0, 0.5, obs.probes.size))
                         .astype(float))
    a = fit(obs, prior_for("code-red"), seed=1, samples=100, intervals="bootstrap")
    b = fit(noisy, prior_for("code-red"), seed=1, samples=100, intervals="bootstrap")
    assert a.ok and b.ok

    def width(fc: object) -> float:
        iv = fc.params["scan_rate"]  # type: ignore[attr-defined]
        return float(iv.p95 - iv.p5)

    assert width(b) > width(a)


def test_profile_intervals_contain_the_mle_and_narrow_with_more_data() -> None:
    prior = prior_for("code-red")
    short = fit(model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=40, seed=6),
                prior, seed=1, intervals="profile")
    long = fit(model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=56, seed=6),
               prior, seed=1, intervals="profile")
    assert short.ok and long.ok
    assert any("profile likelihood" in n for n in long.notes)
    for fc in (short, long):
        for name in ("growth_per_hour", "midpoint", "scan_rate", "vulnerable"):
            iv = fc.params[name]
            assert iv.p5 < iv.estimate < iv.p95, (name, iv)

    def rel(fc: object) -> float:
        iv = fc.params["growth_per_hour"]  # type: ignore[attr-defined]
        return float((iv.p95 - iv.p5) / iv.estimate)

    assert rel(long) < rel(short)


def test_profile_intervals_contain_the_truth_in_most_seeds() -> None:
    tr = truth(N, R, I0)
    hits = {"growth": 0, "midpoint": 0, "scan_rate": 0}
    for seed in range(6):
        obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=50, seed=seed)
        fc = fit(obs, prior_for("code-red"), seed=seed, intervals="profile")
        assert fc.ok
        hits["growth"] += _inside(fc.params["growth_per_hour"], tr["k"] * 3600)
        hits["midpoint"] += _inside(fc.params["midpoint"], tr["t50"])
        hits["scan_rate"] += _inside(fc.params["scan_rate"], R)
    assert all(h >= 4 for h in hits.values()), hits


def test_profile_with_fixed_rate_and_population() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=45, seed=2)
    fc = fit(obs, prior_for("code-red", scan_rate=10.0, vulnerable=100_000),
             intervals="profile")
    assert fc.ok
    mid = fc.params["midpoint"]
    assert mid.p5 < mid.estimate < mid.p95
    assert fc.params["scan_rate"].p5 == fc.params["scan_rate"].p95 == 10.0


def test_interval_methods_match_the_api() -> None:
    from wormsign.forecast import api, closedform

    assert api.INTERVALS == closedform.INTERVALS


def test_unknown_interval_method_is_a_config_error() -> None:
    obs = model_series(n=N, r=R, i0=I0, size=SLASH8, step=600, steps=45, seed=2)
    with pytest.raises(ConfigError, match="intervals"):
        fit(obs, prior_for("code-red"), intervals="jackknife")
