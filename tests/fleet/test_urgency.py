from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import wormsign.sim as sim
from wormsign.errors import ConfigError
from wormsign.fleet.urgency import Outbreak, UrgencyModel, closed_form, from_simulator, human


def test_steady_state_wait_is_space_over_probe_rate() -> None:
    # Code Red's peak in the issue: ~3.6e6 probes/s over 2^32 addresses -> about 20 minutes
    o = closed_form(scan_rate=10.0, vulnerable=360_000)
    peak = o.state_time("peak")
    wait = o.expected_wait(peak)
    assert wait == pytest.approx(2**32 / 3.6e6, rel=0.01)
    assert 18 * 60 < wait < 22 * 60


def test_constant_rate_matches_exponential_law() -> None:
    lam = 1.0 / 500.0
    t = np.linspace(0, 10_000, 101)
    o = Outbreak(t, np.full_like(t, lam), "constant")
    assert o.expected_wait(0.0) == pytest.approx(500.0, rel=1e-6)
    assert o.survival(0.0, 500.0) == pytest.approx(math.exp(-1.0), rel=1e-6)
    assert o.expected_wait(50_000.0) == pytest.approx(500.0)     # beyond the series


def test_early_states_wait_longer() -> None:
    o = closed_form(10.0, 360_000)
    early = o.expected_wait(o.state_time("1%"))
    mid = o.expected_wait(o.state_time("50%"))
    peak = o.expected_wait(o.state_time("peak"))
    assert early > mid > peak
    assert o.state_time("2h") == 7200.0 and o.state_time("90m") == 5400.0


def test_logistic_shape() -> None:
    o = closed_form(10.0, 360_000, initial=10)
    k = 10.0 * 360_000 / 2**32
    a0 = 10 / 360_000
    t_half = math.log((1 - a0) / a0) / k
    i = int(np.argmin(np.abs(o.t - t_half)))
    assert o.rate[i] == pytest.approx(0.5 * o.rate.max(), rel=0.02)


@pytest.mark.parametrize("bad", ["soon", "0%", "150%", "-1h"])
def test_bad_states(bad: str) -> None:
    with pytest.raises(ConfigError):
        closed_form(10.0, 1000).state_time(bad)


def test_human() -> None:
    assert human(1190) == "20 min" and human(math.inf) == "never" and human(30) == "30 s"


def test_fallback_when_simulator_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wormsign.sim", None)   # import now fails
    assert from_simulator("code-red-v2") is None
    u = UrgencyModel(source="auto").for_model(None)
    assert u.source.startswith("closed-form") and "not importable" in u.source
    assert u.wait_s == pytest.approx(2**32 / 3.6e6, rel=0.01)
    with pytest.raises(ConfigError):
        UrgencyModel(source="sim").for_model(None)


def test_simulator_path() -> None:
    o = from_simulator("code-red-v2", seed=1)
    assert o is not None and "simulator" in o.source
    assert o.t.shape == o.rate.shape and o.rate.max() > 0
    # the wait at the peak is 2^bits / (probes per second) at the peak, whatever the preset
    scen = sim.load_preset("code-red-v2")
    peak_probes = float(o.rate.max()) * 2.0**scen.address_bits
    assert o.expected_wait(o.state_time("peak")) == pytest.approx(
        2.0**scen.address_bits / peak_probes, rel=0.1)
    u = UrgencyModel(source="sim").for_model({"preset": "code-red-v2"})
    assert "simulator" in u.source
    assert from_simulator("no-such-preset") is None


def test_a_failing_simulator_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    def boom(*args: object, **kw: object) -> object:
        raise RuntimeError("engine bug")

    fake = types.ModuleType("wormsign.sim")
    fake.load_preset = lambda name: object()  # type: ignore[attr-defined]
    fake.simulate = boom  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wormsign.sim", fake)
    u = UrgencyModel(source="auto").for_model(None)
    assert u.source.startswith("closed-form") and "RuntimeError" in u.source
    with pytest.raises(ConfigError) as exc:
        UrgencyModel(source="sim").for_model(None)
    assert "RuntimeError" in str(exc.value)
