"""Deterministic models: Random Constant Spread and the two-factor model."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from wormsign.sim import Scenario, simulate
from wormsign.sim.models import fit_logistic, logistic_K

SC = Scenario(address_bits=32, vulnerable=300_000, scan_rate=10.0, initial=10, hours=12)


def test_logistic_matches_staniford_paxson_weaver_K() -> None:
    res = simulate(dataclasses.replace(SC, model="logistic"))
    # their simulator: 10 scans/s and 300,000 vulnerable hosts fits K = 2.6 per hour
    assert logistic_K(SC) * 3600 == pytest.approx(2.5, abs=0.15)
    k_fit, t_mid = fit_logistic(res.t, res.infected, SC.vulnerable)
    assert k_fit == pytest.approx(logistic_K(SC), rel=1e-3)
    assert t_mid == pytest.approx(res.threshold_times[1], rel=1e-3)
    expected_t50 = math.log(SC.vulnerable / SC.initial - 1) / logistic_K(SC)
    assert res.summary()["t50_s"] == pytest.approx(expected_t50, rel=1e-6)
    assert res.summary()["peak_new_per_min"] == pytest.approx(
        logistic_K(SC) * SC.vulnerable / 4 * 60, rel=0.01)


def test_stochastic_mean_follows_the_logistic() -> None:
    det = simulate(dataclasses.replace(SC, model="logistic")).threshold_times[2]
    sto = np.mean([simulate(SC, s).threshold_times[2] for s in range(8)])
    assert sto == pytest.approx(det, rel=0.05)


def test_two_factor_without_countermeasures_is_the_logistic() -> None:
    plain = dataclasses.replace(SC, model="two-factor", tf_eta=0.0, tf_mu=0.0)
    tf = simulate(plain)
    lg = simulate(dataclasses.replace(SC, model="logistic"))
    np.testing.assert_allclose(tf.ever_infected, lg.ever_infected, rtol=1e-3, atol=1.0)


def test_two_factor_countermeasures_and_congestion_slow_the_worm() -> None:
    base = dataclasses.replace(SC, model="two-factor", tf_eta=0.0, tf_mu=0.0)
    congested = simulate(dataclasses.replace(base, tf_eta=3.0))
    quarantined = simulate(dataclasses.replace(base, tf_mu=0.5, removal_rate=((0.0, 0.2),)))
    plain = simulate(base)
    assert congested.threshold_times[1] > plain.threshold_times[1]
    assert quarantined.ever_infected[-1] < plain.ever_infected[-1]
    assert quarantined.removed[-1] > 0
    np.testing.assert_allclose(
        quarantined.susceptible + quarantined.infected + quarantined.removed, SC.vulnerable,
        rtol=1e-6)
