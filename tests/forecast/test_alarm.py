"""The early warning: fires on a worm's exponential growth, not on background or noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.forecast.outbreaks import stochastic_series

from wormsign.forecast.alarm import detect
from wormsign.forecast.observations import Monitor, Observations, TimeBase

EDGES = np.arange(301) * 300.0


def _obs(new_sources: np.ndarray | None, probes: np.ndarray | None = None) -> Observations:
    return Observations(monitor=Monitor(2**24), timebase=TimeBase(), edges=EDGES,
                        new_sources=new_sources, probes=probes)


@pytest.mark.parametrize("rate", [0.2, 1.0, 5.0, 50.0, 2000.0])
def test_constant_background_never_fires(rate: float) -> None:
    for seed in range(8):
        y = np.random.default_rng(seed).poisson(rate, 300).astype(float)
        alarm = detect(_obs(y))
        assert math.isnan(alarm.time), (rate, seed, alarm)
        assert alarm.detail and alarm.method == "kalman"


def test_bursty_probe_noise_rarely_fires() -> None:
    fired = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        probes = rng.negative_binomial(2, 2 / (2 + 100.0), 300).astype(float)
        fired += not math.isnan(detect(_obs(None, probes)).time)
    assert fired <= 3


def test_silence_never_fires() -> None:
    alarm = detect(_obs(np.zeros(300)))
    assert math.isnan(alarm.time) and alarm.sources == 0


@pytest.mark.parametrize(("size", "seed"), [(2**24, 1), (2**24, 2), (2**16, 3), (2**16, 4)])
def test_outbreak_fires_before_five_percent(size: int, seed: int) -> None:
    n = 100_000
    obs, level = stochastic_series(n=n, r=10.0, i0=10, size=size, step=300, steps=110,
                                   seed=seed)
    assert level[-1] > 0.1 * n
    alarm = detect(obs)
    assert math.isfinite(alarm.time)
    i = int(np.searchsorted(obs.edges, alarm.time)) - 1
    assert level[i] < 0.05 * n
    assert alarm.sources == round(float(np.sum(obs.new_sources[: i + 1])))  # type: ignore[index]
    assert "growing" in alarm.detail


def test_outbreak_over_a_background_of_scanners_fires() -> None:
    n = 100_000
    obs, level = stochastic_series(n=n, r=10.0, i0=10, size=2**24, step=300, steps=110,
                                   seed=5, background=20.0)
    alarm = detect(obs)
    assert math.isfinite(alarm.time)
    i = int(np.searchsorted(obs.edges, alarm.time)) - 1
    assert level[i] < 0.05 * n


def test_probes_alone_are_enough() -> None:
    n = 100_000
    obs, level = stochastic_series(n=n, r=10.0, i0=10, size=2**24, step=300, steps=110, seed=6)
    only = Observations(monitor=obs.monitor, timebase=obs.timebase, edges=obs.edges,
                        new_sources=None, probes=obs.probes)
    alarm = detect(only)
    assert math.isfinite(alarm.time)
    assert alarm.sources == 0
    assert level[int(np.searchsorted(obs.edges, alarm.time)) - 1] < 0.05 * n
