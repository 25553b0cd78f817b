from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from wormsign.errors import ConfigError
from wormsign.fleet.assess import assess
from wormsign.fleet.plan import parse_window

from .conftest import era_kb


def _plan(sample: Path, **kw: object) -> list[tuple[int, tuple[str, ...], str]]:
    rep = assess(str(sample / "inventory.csv"), outbreak_source="closed-form", kb=era_kb(), **kw)  # type: ignore[arg-type]
    return [(w.wave, w.hosts, w.reason) for w in rep.plan]


def test_waves_ordered_by_risk(sample: Path) -> None:
    plan = _plan(sample)
    flat = [h for _, hosts, _ in plan for h in hosts]
    assert flat.index("www1.example.test") < flat.index("files.example.test")  # internet first
    assert flat.index("files.example.test") < flat.index("partner.example.test")
    assert flat.index("partner.example.test") < flat.index("gate.example.test")
    assert "shop.example.test" not in flat and "new.example.test" not in flat  # nothing to do
    assert [w for w, _, _ in plan] == list(range(1, len(plan) + 1))
    first_reason = plan[0][2]
    assert "internet" in first_reason and "MS01-033" in first_reason
    assert "20 min" in first_reason        # closed-form Code Red peak
    # high criticality outranks medium inside the internet-exploitable tier
    assert plan[0][1][0] == "www1.example.test"


def test_max_per_wave(sample: Path) -> None:
    plan = _plan(sample, max_per_wave=1)
    assert all(len(hosts) == 1 for _, hosts, _ in plan)
    assert len(plan) == len({h for _, hosts, _ in _plan(sample) for h in hosts})


def test_outbreak_state_changes_urgency(sample: Path) -> None:
    early = _plan(sample, outbreak_state="1%")[0][2]
    assert "'1%'" in early and "20 min" not in early


def test_windows_and_roles(sample: Path) -> None:
    windows = [parse_window("2001-07-20T02:00/4h"),
               parse_window("intranet=2001-07-19T22:00/2h")]
    plan = _plan(sample, windows=windows, max_per_wave=2)
    first_hosts, first_reason = plan[0][1], plan[0][2]
    assert "2001-07-19T22:00Z" in first_reason and "intranet" in first_reason
    assert first_hosts and all(h in ("files.example.test", "hr.example.test",
                                     "intranet.example.test") for h in first_hosts)
    assert "2001-07-20T02:00Z" in plan[1][2] and len(plan[1][1]) == 2
    assert "no maintenance window left" in plan[-1][2]
    every = [h for _, hosts, _ in plan for h in hosts]
    assert len(every) == len(set(every))


def test_parse_window() -> None:
    w = parse_window("web=2001-07-20T02:00Z/90m")
    assert w.role == "web" and w.start == datetime(2001, 7, 20, 2, tzinfo=UTC)
    assert (w.end - w.start).total_seconds() == 5400
    w2 = parse_window("2001-07-20T02:00/2001-07-20T03:00")
    assert (w2.end - w2.start).total_seconds() == 3600
    for bad in ("tomorrow", "2001-07-20T02:00", "2001-07-20T02:00/-1h",
                "2001-07-20T02:00/2001-07-19T00:00", "x/4h"):
        with pytest.raises(ConfigError):
            parse_window(bad)


def test_max_per_wave_must_be_positive(sample: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        _plan(sample, max_per_wave=0)
    assert "max-per-wave" in str(exc.value)


def test_plan_reason_uses_the_simulator(sample: Path) -> None:
    # a failing simulator falls back to the closed form silently: this test is what notices
    rep = assess(str(sample / "inventory.csv"))      # outbreak_source="auto"
    assert "simulator preset code-red-v2" in rep.plan[0].reason
