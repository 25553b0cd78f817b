"""The public surface of wormsign.sim that other parts of wormsign depend on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wormsign.sim as sim
from wormsign.errors import ConfigError
from wormsign.sim import Scenario, SimResult, list_presets, load_preset, simulate

SMALL = Scenario(address_bits=20, vulnerable=2000, scan_rate=20.0, initial=5, hours=2.0)


def test_exported_members() -> None:
    for name in ("Scenario", "SimResult", "load_preset", "list_presets", "simulate"):
        assert name in sim.__all__
        assert hasattr(sim, name)


def test_scenario_is_frozen_and_validated() -> None:
    sc = Scenario()
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.vulnerable = 1  # type: ignore[misc]
    with pytest.raises(ConfigError, match="strategy"):
        Scenario(strategy="nope")
    with pytest.raises(ConfigError, match="initial"):
        Scenario(vulnerable=5, initial=6)


def test_presets_listed_and_loaded() -> None:
    names = list_presets()
    for required in ("code-red-v2", "code-red-v1", "code-red-ii", "slammer", "warhol"):
        assert required in names
        sc = load_preset(required)
        assert sc.name == required
        assert sc.sources, f"{required} cites no source"
    with pytest.raises(ConfigError, match="unknown preset"):
        load_preset("code-red-v9")


def test_simulate_returns_series_and_summary() -> None:
    res = simulate(SMALL, seed=3)
    assert isinstance(res, SimResult)
    n = res.t.size
    for arr in (res.susceptible, res.infected, res.removed, res.new_infections, res.probes):
        assert isinstance(arr, np.ndarray)
        assert arr.shape == (n,)
    assert np.all(np.diff(res.t) > 0)
    np.testing.assert_allclose(res.susceptible + res.infected + res.removed, SMALL.vulnerable)
    summary = res.summary()
    assert set(summary) == set(sim.SUMMARY_KEYS)
    assert summary["final_infected"] == res.ever_infected[-1]
    rate = res.probe_rate_per_address()
    np.testing.assert_allclose(rate * res.step_s * SMALL.space, res.probes)


def test_same_seed_same_run() -> None:
    a = simulate(SMALL, seed=11)
    b = simulate(SMALL, seed=11)
    c = simulate(SMALL, seed=12)
    np.testing.assert_array_equal(a.infected, b.infected)
    assert a.summary() == b.summary()
    assert not np.array_equal(a.infected, c.infected)


def test_scenario_file_round_trip_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    sc = dataclasses.replace(load_preset("code-red-ii"), name="mine", hours=1.0)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(sc.to_dict()))
    assert load_preset(str(path)) == sc
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: uniform\nscan_rat: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:2: unknown scenario key 'scan_rat'"):
        load_preset(str(bad))
    worse = tmp_path / "worse.yaml"
    worse.write_text("vulnerable: -5\n")
    with pytest.raises(ConfigError, match=r"worse\.yaml.*vulnerable"):
        load_preset(str(worse))


def test_first_probe_probability_matches_a_one_address_telescope() -> None:
    """prob_probed_by() is what a /32 telescope sees: the share of runs probed by t."""
    sc = Scenario(address_bits=16, vulnerable=300, scan_rate=2.0, initial=3, hours=0.2,
                  telescopes=("192.0.2.1/32",))
    runs = [simulate(sc, seed) for seed in range(300)]
    half = runs[0].t.size * 3 // 4
    expected = np.mean([r.prob_probed_by()[half] for r in runs])
    seen = np.mean([r.telescopes["192.0.2.1/32"][1][half] > 0 for r in runs])
    assert 0.2 < expected < 0.9
    assert seen == pytest.approx(expected, abs=0.08)


def test_bad_seeds_and_infinite_rates_are_config_errors() -> None:
    import math

    import pytest

    from wormsign.errors import ConfigError
    from wormsign.sim import Scenario, simulate
    from wormsign.sim.montecarlo import run_seeds

    sc = Scenario(address_bits=20, vulnerable=1000, scan_rate=1.0, initial=1, hours=0.1)
    with pytest.raises(ConfigError, match="seed"):
        simulate(sc, seed=-1)
    with pytest.raises(ConfigError, match="seed"):
        run_seeds(-1, 3)
    with pytest.raises(ConfigError, match="finite"):
        Scenario(address_bits=20, vulnerable=1000, scan_rate=math.inf, initial=1, hours=0.1)
