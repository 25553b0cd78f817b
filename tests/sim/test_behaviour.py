"""Life cycle, defences, the Code Red calendar, telescopes and placement do what they say."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wormsign.errors import ConfigError
from wormsign.sim import Scenario, simulate
from wormsign.sim.calendar import DORMANT, FLOOD, SPREAD, transitions
from wormsign.sim.population import load_density
from wormsign.sim.scenario import parse_schedule, parse_start

BASE = Scenario(address_bits=24, vulnerable=20_000, scan_rate=5.0, initial=10, hours=1.5)


def finals(sc: Scenario, seeds: range = range(4)) -> np.ndarray:
    return np.array([simulate(sc, s).ever_infected[-1] for s in seeds])


def t50s(sc: Scenario, seeds: range = range(4)) -> np.ndarray:
    return np.array([simulate(sc, s).threshold_times[1] for s in seeds])


def test_states_add_up_and_counts_are_consistent() -> None:
    sc = dataclasses.replace(BASE, removal_rate=((0.0, 1.0),), reboot_rate=((0.0, 1.0),),
                             patch_rate=((0.0, 0.5),))
    res = simulate(sc, 5)
    np.testing.assert_allclose(res.susceptible + res.infected + res.removed, sc.vulnerable)
    assert np.all(np.diff(res.ever_infected) >= 0)
    assert np.all(np.diff(res.removed) >= 0)
    assert res.new_infections.sum() >= res.ever_infected[-1] - sc.initial
    assert res.removed[-1] > 0


def test_removal_and_patching_shrink_the_outbreak() -> None:
    plain = finals(BASE)
    patched = finals(dataclasses.replace(BASE, patch_rate=((0.0, 2.0),)))
    assert patched.mean() < 0.8 * plain.mean()
    removed = simulate(dataclasses.replace(BASE, removal_rate=((0.0, 3.0),)), 1)
    assert removed.infected[-1] < 0.5 * removed.ever_infected[-1]


def test_time_varying_rates_start_when_scheduled() -> None:
    sc = dataclasses.replace(BASE, removal_rate=parse_schedule("0:0,1:50"))
    res = simulate(sc, 2)
    hour = res.t / 3600.0
    assert res.removed[hour <= 1.0].max() == 0
    assert res.removed[-1] > 0


def test_reboot_reinfects_memory_resident_hosts() -> None:
    sc = dataclasses.replace(BASE, reboot_rate=((0.0, 5.0),), hours=2.0)
    res = simulate(sc, 3)
    # more infection events than hosts: rebooted hosts were infected again
    assert res.new_infections.sum() + sc.initial > 1.2 * res.ever_infected[-1]
    assert res.removed[-1] == 0


def test_infection_delay_slows_spread() -> None:
    assert t50s(dataclasses.replace(BASE, infection_delay_s=120.0)).mean() > \
        t50s(BASE).mean() + 200


@pytest.mark.parametrize(("field", "reaction"), [("content_filter", 600.0),
                                                  ("blacklist", 60.0)])
def test_defences_contain_with_coverage_and_fast_reaction(field: str, reaction: float) -> None:
    def sc(coverage: float, react: float) -> Scenario:
        return dataclasses.replace(BASE, **{f"{field}_reaction_s": react,
                                            f"{field}_coverage": coverage})

    none = finals(sc(0.0, reaction)).mean()
    strong = finals(sc(0.95, reaction)).mean()
    late = finals(sc(0.95, 2500.0)).mean()
    assert strong < 0.6 * none
    assert late > strong  # reacting later buys less


def test_egress_filter_keeps_the_worm_inside_its_block() -> None:
    # every initial host inside 0.0.0.0/1: egress filtering stops it reaching the rest
    sc = dataclasses.replace(BASE, filter_block="0.0.0.0/1", filter_egress=True)
    res = [simulate(sc, s) for s in range(3)]
    with_filter = np.array([r.ever_infected[-1] for r in res])
    assert with_filter.mean() < finals(BASE, range(3)).mean()
    both = dataclasses.replace(sc, filter_ingress=True)
    # ingress and egress: each half spreads on its own, so it is slower than either alone
    assert t50s(both, range(3)).mean() > t50s(BASE, range(3)).mean() * 1.5


def test_telescope_sees_its_share_of_probes_and_the_sources() -> None:
    # in a 2^24 space a /16 is 256 addresses and a /32 (like a /24) is one address
    sc = dataclasses.replace(BASE, telescopes=("44.0.0.0/8", "198.51.0.0/16",
                                               "192.0.2.1/32"))
    res = simulate(sc, 4)
    probes8, sources8 = res.telescopes["44.0.0.0/8"]
    assert probes8.sum() / res.probes.sum() == pytest.approx(1 / 256, rel=0.02)
    # every infected host probes the /8 within seconds: unique sources follow infections
    assert sources8[-1] >= 0.99 * res.ever_infected[-1]
    for block in ("198.51.0.0/16", "192.0.2.1/32"):
        probes, sources = res.telescopes[block]
        assert np.all(np.diff(sources) >= 0)
        assert sources[-1] <= probes.sum()
    p16 = res.telescopes["198.51.0.0/16"][0].sum()
    assert p16 == pytest.approx(res.probes.sum() / 2**16, rel=0.2)
    p32 = res.telescopes["192.0.2.1/32"][0].sum()
    assert 0 < p32 < 3 * res.probes.sum() / 2**24


def test_sequential_scanner_telescope_counts_are_exact() -> None:
    sc = Scenario(address_bits=20, vulnerable=500, scan_rate=20.0, initial=5, hours=0.5,
                  strategy="sequential", telescopes=("0.0.0.0/1", "128.0.0.0/1"))
    res = simulate(sc, 1)
    low = res.telescopes["0.0.0.0/1"][0].sum()
    high = res.telescopes["128.0.0.0/1"][0].sum()
    # the two halves see every probe, up to the partial probe of each walker in each step
    assert low + high == pytest.approx(res.probes.sum(), abs=res.scanning.max() * 2)
    assert min(low, high) > 0


def test_calendar_phases() -> None:
    start = parse_start("2001-07-19T12:00:00Z")
    times, phases = transitions(start, 15 * 86400.0, True)
    assert list(phases) == [SPREAD, FLOOD, DORMANT, SPREAD]
    assert times[1] == 12 * 3600.0  # midnight UTC, 20 July
    assert times[2] == times[1] + 8 * 86400.0  # 28 July
    assert times[3] == times[2] + 4 * 86400.0  # 1 August


def test_code_red_calendar_floods_sleeps_and_wakes_with_jitter() -> None:
    sc = dataclasses.replace(BASE, calendar=True, start="2001-07-19T12:00:00Z",
                             hours=24 * 13 + 6, wake_jitter_hours=4.0, flood_rate=2.0)
    res = simulate(sc, 6)
    hour = res.t / 3600.0
    flood_days = (hour > 12) & (hour < 12 + 8 * 24)
    assert np.all(res.scanning[flood_days] == 0)
    assert np.all(res.new_infections[flood_days] == 0)
    assert res.flood[flood_days].sum() == pytest.approx(
        (res.infected[flood_days] * 2.0 * res.step_s[flood_days]).sum(), rel=0.01)
    dormant = (hour > 12 + 8 * 24) & (hour < 12 + 12 * 24)
    assert res.flood[dormant].sum() == 0
    assert np.all(res.scanning[dormant] == 0)
    wake = 12 + 12 * 24
    # after 1 August 00:00 hosts resume scanning gradually over the 4-hour jitter
    assert res.scanning[(hour > wake + 0.2) & (hour < wake + 0.5)].max() < res.infected[-1]
    assert res.scanning[-1] == res.infected[-1]


def test_scan_rate_distributions_keep_the_mean() -> None:
    for dist in ("exponential", "lognormal"):
        sc = dataclasses.replace(BASE, scan_rate_dist=dist)
        res = simulate(sc, 2)
        assert res.probes.sum() > 0
        assert res.ever_infected[-1] > 0.5 * sc.vulnerable


def test_local_preference_needs_clustering_to_pay_off() -> None:
    sc = Scenario(address_bits=32, vulnerable=50_000, scan_rate=5.0, initial=5, hours=6,
                  strategy="local-preference", placement="clustered",
                  exclude=("127.0.0.0/8", "224.0.0.0/3"))
    uniform = dataclasses.replace(sc, strategy="uniform")
    assert finals(sc, range(2)).mean() > 5 * finals(uniform, range(2)).mean()
    spread = dataclasses.replace(sc, placement="uniform")
    assert finals(sc, range(2)).mean() > 5 * finals(spread, range(2)).mean()


def test_default_density_has_empty_slash8s_and_dense_slash16s() -> None:
    d = load_density()
    assert 0 not in d.slash8 and 10 not in d.slash8 and 127 not in d.slash8
    assert all(k < 224 for k in d.slash8)
    assert 44 not in d.slash8  # the telescope /8
    assert len(d.slash8) < 150
    assert d.sources


def test_clustered_placement_avoids_excluded_blocks() -> None:
    from wormsign.sim.population import place_clustered

    rng = np.random.default_rng(0)
    addr = place_clustered(100_000, 32, load_density(), [(127 << 24, 128 << 24)], rng)
    assert np.unique(addr).size == addr.size
    slash16 = np.bincount(addr >> 16, minlength=65536)
    assert np.count_nonzero(slash16) < 20_000  # clustered, most /16s empty
    assert slash16.max() > 50 * addr.size / np.count_nonzero(slash16) / 10
    assert not np.any((addr >> 24) == 127)


def test_bad_density_file_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "d.yaml"
    bad.write_text("slash8: {300: 1}\n")
    with pytest.raises(ConfigError, match=r"d\.yaml"):
        load_density(str(bad))
    broken = tmp_path / "e.yaml"
    broken.write_text("slash8: [1, 2\n")
    with pytest.raises(ConfigError, match=r"e\.yaml"):
        load_density(str(broken))
