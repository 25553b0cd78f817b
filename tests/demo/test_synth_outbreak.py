"""Synthetic outbreak logs: probes at the simulated rates, stable repeating senders, labelled
files that the scanner reads."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from wormsign.detect.scanner import scan_paths
from wormsign.errors import ConfigError
from wormsign.logs import synth

START = datetime(2001, 7, 19, 10, tzinfo=UTC)


def _outbreak(steps: int = 600, step: float = 60.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A logistic-looking outbreak: rates and infected hosts that grow, per step."""
    t = np.arange(1, steps + 1) * step
    ever = np.floor(5000.0 / (1.0 + np.exp(-(t - t[-1] / 2) / 1800.0)))
    rate = ever * 5.0 / 2**32 * 2000.0  # a busy worm, so that counts are large enough to test
    return t, rate, ever


def test_probe_counts_follow_the_rates() -> None:
    t, rate, ever = _outbreak()
    servers = 200
    got = synth.worm_probes(t, rate, ever, servers, seed=3)
    counts = np.array([p.times.size for p in got])
    lam = float(np.sum(rate * np.diff(t, prepend=0.0)))
    # Poisson: mean lam, variance lam (dispersion index ~ chi2 with servers - 1 df)
    assert abs(counts.mean() - lam) < 5 * np.sqrt(lam / servers)
    disp = float(np.sum((counts - counts.mean()) ** 2) / counts.mean())
    assert stats.chi2.sf(disp, servers - 1) > 1e-4
    assert stats.chi2.cdf(disp, servers - 1) > 1e-4
    # probes land where the rate is: the half with the higher rate gets its share
    times = np.concatenate([p.times for p in got])
    step = np.diff(t, prepend=0.0)
    half = t <= t[-1] / 2
    share = float(np.sum((rate * step)[half]) / np.sum(rate * step))
    early = int(np.sum(times <= t[-1] / 2))
    assert stats.binomtest(early, times.size, share).pvalue > 1e-4


def test_probe_times_fall_inside_their_steps_and_are_sorted() -> None:
    t, rate, ever = _outbreak(steps=50)
    for p in synth.worm_probes(t, rate, ever, 5, seed=1):
        assert np.all(np.diff(p.times) >= 0)
        assert np.all((p.times > 0) & (p.times <= t[-1]))


def test_senders_are_hosts_infected_by_then_and_repeat() -> None:
    t = np.arange(1, 101, dtype=np.float64)
    ever = np.minimum(np.arange(1, 101), 4).astype(np.float64)  # only 4 hosts ever infected
    rate = np.full(100, 0.5)
    got = synth.worm_probes(t, rate, ever, 3, seed=5)
    for p in got:
        step = np.searchsorted(t, p.times)  # the step each probe fell in
        assert np.all(p.sources < ever[step])  # host k probes only once it is infected
        assert np.all(p.sources >= 0)
    senders = np.concatenate([p.sources for p in got])
    assert senders.size > 4 * 3  # many probes ...
    assert np.unique(senders).size <= 4  # ... from the same few hosts


def test_nobody_probes_before_the_first_infection() -> None:
    t = np.arange(1, 11, dtype=np.float64)
    ever = np.array([0, 0, 0, 0, 0, 2, 2, 2, 2, 2], dtype=np.float64)
    rate = np.full(10, 5.0)
    for p in synth.worm_probes(t, rate, ever, 4, seed=2):
        assert np.all(p.times > 5.0)


def test_probes_are_seeded() -> None:
    t, rate, ever = _outbreak(steps=100)
    a = synth.worm_probes(t, rate, ever, 3, seed=9)
    b = synth.worm_probes(t, rate, ever, 3, seed=9)
    c = synth.worm_probes(t, rate, ever, 3, seed=10)
    assert all(np.array_equal(x.times, y.times) and np.array_equal(x.sources, y.sources)
               for x, y in zip(a, b, strict=True))
    assert any(x.times.size != y.times.size or not np.array_equal(x.times, y.times)
               for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("bad", ["shape", "rate", "steps"])
def test_bad_outbreak_arrays_are_config_errors(bad: str) -> None:
    t, rate, ever = _outbreak(steps=10)
    if bad == "shape":
        rate = rate[:-1]
    elif bad == "rate":
        rate = rate.copy()
        rate[3] = -1.0
    else:
        t = t[::-1].copy()
    with pytest.raises(ConfigError):
        synth.worm_probes(t, rate, ever, 2)


def test_infection_addresses_are_stable_distinct_and_public() -> None:
    a = synth.infection_addresses(70_000, seed=4)
    assert a.size == np.unique(a).size == 70_000
    assert np.array_equal(synth.infection_addresses(100, seed=4), a[:100])  # k-th is stable
    assert not np.array_equal(synth.infection_addresses(100, seed=5), a[:100])
    nets = [ipaddress.IPv4Network(c) for c in synth._NOT_SOURCES]
    for x in a[::97]:
        ip = ipaddress.IPv4Address(int(x))
        assert ip.is_global and not any(ip in n for n in nets), ip


def _servers() -> list[synth.SyntheticServer]:
    return [synth.SyntheticServer("www1.example.test", "192.0.2.10", "iis"),
            synth.SyntheticServer("../www3 evil", "203.0.113.32", "apache")]


def test_outbreak_logs_are_labelled_and_scan_to_the_probes(tmp_path: Path) -> None:
    t, rate, ever = _outbreak(steps=120)
    servers = _servers()
    probes = synth.worm_probes(t, rate, ever, len(servers), seed=1)
    used = max(int(p.sources.max()) + 1 for p in probes)
    addresses = synth.infection_addresses(used, seed=1)
    paths = synth.write_outbreak_logs(tmp_path / "logs", servers, probes, addresses, START,
                                      float(t[-1]), background=300, seed=1)
    assert [p.parent for p in paths] == [tmp_path / "logs"] * 2
    assert all(p.name.startswith(synth.OUTBREAK_PREFIX) for p in paths)
    assert paths[0].name.endswith("iis-w3c.log") and paths[1].name.endswith("access.log")
    head = paths[0].read_text().splitlines()[:5]
    assert any(line.startswith("#Remark:") and "SYNTHETIC" in line for line in head)
    assert any(line == "#Fields: " + line.split(": ", 1)[1] for line in head if "Fields" in line)
    report = scan_paths([str(p) for p in paths], workers=1)
    assert [f.skipped for f in report.files] == [0, 0]
    headers = [sum(1 for x in p.read_text().splitlines() if x.startswith("#")) for p in paths]
    assert headers[1] == 0  # Apache's combined format has no comment lines
    assert [f.lines for f in report.files] == [300 + p.times.size + h
                                               for p, h in zip(probes, headers, strict=True)]
    seen = sorted(a.source_ip for a in report.alerts if a.family == "code-red")
    sent = sorted(str(ipaddress.IPv4Address(int(addresses[s])))
                  for p in probes for s in p.sources)
    assert seen == sent
    first = min(a.timestamp for a in report.alerts)
    assert first is not None and first.timestamp() >= START.timestamp()


def test_server_records_are_checked() -> None:
    with pytest.raises(ConfigError):
        synth.SyntheticServer("a", "192.0.2.1", "nginx")
    with pytest.raises(ConfigError):
        synth.SyntheticServer("a", "192.000.2.1", "iis")
    with pytest.raises(ConfigError):
        synth.write_outbreak_logs(Path("unused"), _servers(), [], np.zeros(0, np.uint32),
                                  START, 60.0)
