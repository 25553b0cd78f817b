"""Hosts' first probes: the Poisson first-arrival time of the forecast probe rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wormsign.forecast.hosts import first_probes
from wormsign.forecast.result import Curve


def _curve(t: np.ndarray, rate: np.ndarray) -> Curve:
    z = np.zeros_like(t)
    return Curve(t=t, infected=(z, z, z), seen=(z, z, z), probe_rate=(rate / 2, rate, rate * 2))


def test_constant_rate_matches_the_exponential_quantiles() -> None:
    lam = 1e-3
    t = np.linspace(0.0, 10_000.0, 101)
    (h,) = first_probes(_curve(t, np.full_like(t, lam)), 100.0, [("www", "192.0.2.1")])
    assert h.host == "www" and h.address == "192.0.2.1"
    assert h.median == pytest.approx(100.0 + math.log(2) / lam, rel=1e-9)
    assert h.p5 == pytest.approx(100.0 - math.log(0.95) / lam, rel=1e-9)
    assert h.p5 < h.median


def test_beyond_the_curve_the_last_rate_holds() -> None:
    t = np.array([0.0, 100.0])
    (h,) = first_probes(_curve(t, np.array([1e-4, 1e-4])), 50.0, [("a", "")])
    assert h.median == pytest.approx(50.0 + math.log(2) / 1e-4)


def test_growing_rate_by_simulation() -> None:
    """Against sampled first arrivals of the same inhomogeneous Poisson process."""
    t = np.linspace(0.0, 4000.0, 401)
    rate = 1e-5 * np.exp(t / 500.0)
    (h,) = first_probes(_curve(t, rate), 1000.0, [("a", "")])
    rng = np.random.default_rng(3)
    fine = np.linspace(1000.0, 4000.0, 30001)
    lam = 1e-5 * np.exp(fine / 500.0)
    cum = np.concatenate([[0.0], np.cumsum(np.diff(fine) * (lam[1:] + lam[:-1]) / 2)])
    draws = np.interp(rng.exponential(size=20000), cum, fine)
    assert h.median == pytest.approx(float(np.median(draws)), rel=0.02)
    assert h.p5 == pytest.approx(float(np.quantile(draws, 0.05)), rel=0.02)


def test_never_probed_is_nan_and_no_hosts_is_empty() -> None:
    t = np.linspace(0.0, 100.0, 11)
    rate = np.where(t < 50, 1e-6, 0.0)
    (h,) = first_probes(_curve(t, rate), 60.0, [("a", "")])
    assert math.isnan(h.median) and math.isnan(h.p5)
    assert first_probes(_curve(t, rate), 0.0, []) == ()
