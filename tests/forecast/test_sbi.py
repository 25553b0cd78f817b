"""Simulation-based inference (forecast/sbi.py): a small, fast local-preference outbreak with
hidden parameters is fitted back through the monitor that watched it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pytest

from wormsign.errors import ConfigError
from wormsign.forecast import sbi
from wormsign.forecast.observations import Monitor, Observations, TimeBase
from wormsign.forecast.result import Forecast
from wormsign.sim import Scenario, simulate

BLOCK = "44.0.0.0/8"
TEMPLATE = Scenario(name="small-lp", address_bits=24, vulnerable=4000, scan_rate=2.0,
                    initial=5, hours=24, strategy="local-preference", telescopes=(BLOCK,),
                    step_s=60)
TRUTH = dataclasses.replace(TEMPLATE, scan_rate=3.0, vulnerable=5000)


@dataclass(frozen=True)
class StandInPrior:
    """The attributes of forecast.priors.Prior that sbi.fit reads."""

    preset: str | None = None
    strategy: str = "local-preference"
    scan_rate: float = 2.0
    vulnerable: int = 4000
    initial: int = 5
    removal: bool = False
    scan_rate_given: bool = False
    vulnerable_given: bool = False
    sources: tuple[str, ...] = ()


@pytest.fixture(scope="module")
def outbreak() -> tuple[Observations, dict[str, float]]:
    """The hidden outbreak observed through the /8 up to 5 % infected."""
    res = simulate(TRUTH, 11)
    t5 = float(np.interp(0.05 * TRUTH.vulnerable, res.ever_infected, res.t))
    obs = sbi.observe(res, BLOCK, until_s=t5, interval_s=300.0)
    truth = {"t50": res.threshold_times[1], "t90": res.threshold_times[2],
             "infected_now": float(np.interp(obs.end, res.t, res.ever_infected))}
    return obs, truth


def _fit(obs: Observations, **kw: object) -> Forecast:
    args: dict[str, object] = {"runs": 40, "seed": 3, "workers": 1, "scenario": TEMPLATE}
    args.update(kw)
    prior = args.pop("prior", StandInPrior())
    return sbi.fit(obs, prior, **args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted(outbreak: tuple[Observations, dict[str, float]]) -> Forecast:
    return _fit(outbreak[0], runs=120)


def test_recovers_hidden_parameters_roughly(
        outbreak: tuple[Observations, dict[str, float]], fitted: Forecast) -> None:
    _, truth = outbreak
    assert fitted.ok, fitted.reason
    assert fitted.method == "simulation"
    est = fitted.estimates
    for key in ("infected_now", "t50", "t90"):
        iv = est[key]
        assert iv.p5 <= iv.estimate <= iv.p95
        assert 0.6 * truth[key] <= iv.estimate <= 1.5 * truth[key], (key, iv, truth[key])
    rate = fitted.params["scan_rate"]
    assert rate.p5 <= TRUTH.scan_rate <= rate.p95
    assert est["final_size"].p5 <= TRUTH.vulnerable <= est["final_size"].p95
    assert fitted.params["growth_per_hour"].estimate > 0
    assert any("ABC-SMC" in n for n in fitted.notes)
    assert any(n.startswith("vulnerable:") for n in fitted.notes)


def test_curve_bands_are_ordered_and_in_the_observations_time_base(
        outbreak: tuple[Observations, dict[str, float]], fitted: Forecast) -> None:
    obs, _ = outbreak
    curve = fitted.curve
    assert curve is not None
    assert curve.t[0] == pytest.approx(float(obs.edges[0]))
    assert curve.t[-1] > obs.end
    for lo, mid, hi in (curve.infected, curve.seen, curve.probe_rate):
        assert np.all(lo <= mid + 1e-9) and np.all(mid <= hi + 1e-9)
    # the monitor sees a share of the infected hosts, never more
    assert np.all(curve.seen[1] <= curve.infected[1] + 1e-9)
    # at now the seen band brackets what was actually seen
    i = int(np.searchsorted(curve.t, obs.end))
    assert curve.seen[0][i] <= 1.5 * obs.sources_total
    assert curve.seen[2][i] >= 0.6 * obs.sources_total
    doc = fitted.to_json()
    assert doc["status"] == "ok" and doc["method"] == "simulation"
    assert doc["t50"]["p5"] <= doc["t50"]["p95"]


def test_same_seed_same_result_and_spread_does_not_matter(
        outbreak: tuple[Observations, dict[str, float]]) -> None:
    obs, _ = outbreak
    a = _fit(obs).to_json()
    assert a == _fit(obs).to_json()
    assert a == _fit(obs, workers=2).to_json()
    assert a != _fit(obs, seed=4).to_json()


def test_two_sources_are_not_enough_evidence() -> None:
    obs = Observations(monitor=Monitor(2**24, (BLOCK,)), timebase=TimeBase(),
                       edges=np.arange(0.0, 3601.0, 600.0),
                       new_sources=np.array([0.0, 1.0, 0.0, 0.0, 1.0, 0.0]), probes=None)
    fc = _fit(obs)
    assert fc.status == "not-enough-evidence"
    assert "2 distinct sources" in fc.reason
    doc = fc.to_json()
    assert "t50" not in doc and "params" not in doc


def test_observations_no_run_resembles_are_not_enough_evidence() -> None:
    # thousands of sources in minutes, then nothing: no run of the template looks like that
    new = np.zeros(12)
    new[:3] = [3000.0, 0.0, 3000.0]
    obs = Observations(monitor=Monitor(2**24, (BLOCK,)), timebase=TimeBase(),
                       edges=np.arange(0.0, 13 * 600.0, 600.0), new_sources=new, probes=None)
    fc = _fit(obs)
    assert fc.status == "not-enough-evidence"
    assert fc.reason


def test_profile_shift_finds_a_known_offset() -> None:
    t = np.arange(60.0, 36_000.0 + 1, 60.0)
    seen = 2000.0 / (1.0 + np.exp(-(t - 15_000.0) / 1800.0))
    offset = 4321.0  # observations start this long after the simulation
    edges = np.arange(0.0, 9000.0 + 1, 300.0)
    cum = np.interp(edges + offset, np.concatenate(([0.0], t)),
                    np.concatenate(([0.0], seen)))
    now = float(edges[-1])
    target = sbi.Target(now - edges[1:], now - edges[:-1], cum[1:] - 0.0, None,
                        np.linspace(-now, 3600.0, 10), 3600.0)
    dist, now_sim = sbi.profile_shift(t, seen, np.zeros_like(t), target)
    assert now_sim == pytest.approx(now + offset, abs=60.0)
    assert dist < 0.05


def test_weighted_quantiles_weigh_and_keep_infinity() -> None:
    x = np.array([1.0, 2.0, 3.0, math.inf])
    q = sbi.weighted_quantiles(x, np.array([0.0, 1.0, 0.0, 0.0]))
    assert list(q) == [2.0, 2.0, 2.0]
    q = sbi.weighted_quantiles(x, np.ones(4))
    assert q[0] == 1.0 and math.isinf(q[2])


def test_monitor_blocks() -> None:
    obs = Observations(monitor=Monitor(2**16, (), "a /16"), timebase=TimeBase(),
                       edges=np.array([0.0, 1.0]), new_sources=np.array([1.0]), probes=None)
    block, note = sbi.monitor_block(obs, TEMPLATE)
    assert block.endswith("/16") and note and "populated" in note
    two = dataclasses.replace(obs, monitor=Monitor(2, ("10.1.2.3/32", "10.1.2.200/32")))
    block, note = sbi.monitor_block(two, TEMPLATE)
    assert block == "10.1.2.2/31" and note
    one = dataclasses.replace(obs, monitor=Monitor(1, ("10.1.2.3/32",)))
    assert sbi.monitor_block(one, TEMPLATE) == ("10.1.2.3/32", None)


def test_removal_is_fitted_when_the_prior_has_it(
        outbreak: tuple[Observations, dict[str, float]]) -> None:
    fc = _fit(outbreak[0], prior=StandInPrior(removal=True, scan_rate_given=True), runs=30)
    assert fc.ok, fc.reason
    assert "removal_per_hour" in fc.params
    assert fc.params["scan_rate"].p5 == fc.params["scan_rate"].p95 == 2.0
    assert any("scan_rate: given" in n for n in fc.notes)


def test_bad_requests_are_config_errors(
        outbreak: tuple[Observations, dict[str, float]]) -> None:
    obs = outbreak[0]
    with pytest.raises(ConfigError):
        _fit(obs, runs=0)
    with pytest.raises(ConfigError):
        _fit(obs, horizon_s=-5.0)
    with pytest.raises(ConfigError, match="preset or a scenario"):
        _fit(obs, scenario=None)
    with pytest.raises(ConfigError, match="scheduler"):
        _fit(obs, scheduler="not an address")


def test_dask_scheduler_gives_the_local_result(
        outbreak: tuple[Observations, dict[str, float]]) -> None:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    obs = outbreak[0]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        on_dask = _fit(obs, scheduler=cluster.scheduler_address).to_json()
    assert on_dask == _fit(obs).to_json()


def test_long_series_are_merged_exactly() -> None:
    n = 5000
    new = np.ones(n)
    obs = Observations(monitor=Monitor(2**24, (BLOCK,)), timebase=TimeBase(),
                       edges=np.arange(0.0, n + 1.0), new_sources=new, probes=2 * new)
    target = sbi.make_target(obs, 3600.0)
    assert target.sources is not None and target.probes is not None
    assert target.sources.size == target.probes.size <= sbi.MAX_POINTS
    assert target.sources[-1] == n and target.probes.sum() == 2 * n
    assert np.all(np.diff(target.ends_back) < 0) and target.ends_back[-1] == 0.0


def test_accept_keeps_the_closest_runs_with_enough_effective_weight() -> None:
    dist = np.array([0.5, 0.1, math.inf, 0.3, 0.2] * 10)
    w = np.ones(dist.size) / dist.size
    idx, tol = sbi.accept(dist, w, 50)
    assert idx.size == sbi.MIN_EFFECTIVE
    assert np.all(dist[idx] <= tol) and tol == 0.2
    # runs the importance weights rule out (weight 0) are never accepted: the tolerance grows
    w2 = np.where(dist == 0.1, 0.0, w)
    idx2, tol2 = sbi.accept(dist, w2 / w2.sum(), 50)
    assert idx2.size == sbi.MIN_EFFECTIVE and tol2 == 0.3
    assert not np.any(dist[idx2] == 0.1)


def test_run_template_follows_the_observation_interval() -> None:
    def obs_with(interval: float, new: list[float]) -> Observations:
        edges = np.arange(len(new) + 1) * interval
        return Observations(monitor=Monitor(2**24, (BLOCK,)), timebase=TimeBase(),
                            edges=edges, new_sources=np.array(new), probes=None)

    fast = obs_with(10.0, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    tpl = sbi.run_template(TEMPLATE, fast, BLOCK, 3600.0)
    # as fine as the row limit allows; 7 % growth a second: adaptive internal steps
    assert tpl.step_s is not None and 10.0 <= tpl.step_s <= 30.0 and tpl.dt_s is None
    assert tpl.duration_s / tpl.step_s <= sbi.MAX_ROWS
    assert tpl.telescopes == (BLOCK,)
    assert tpl.duration_s >= 3600.0 + 60.0
    slow = obs_with(600.0, [100.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    tpl = sbi.run_template(TEMPLATE, slow, BLOCK, 3600.0)
    assert tpl.step_s == 600.0 and tpl.dt_s == 600.0  # slow growth: the cheap fixed step
