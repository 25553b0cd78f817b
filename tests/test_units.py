"""The one duration parser: what each caller accepts, its bounds, and its errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wormsign.cli.main import main
from wormsign.errors import ConfigError
from wormsign.fleet.plan import parse_window
from wormsign.fleet.urgency import closed_form
from wormsign.incidents.blocklist import ttl_seconds
from wormsign.incidents.networks import parse_duration as parse_ttl
from wormsign.units import MAX_SECONDS, UNIT_SECONDS, format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("1.5", 1.5), ("90s", 90.0), ("15m", 900.0), ("15min", 900.0),
    ("12h", 43200.0), ("7d", 604800.0), ("2w", 1209600.0), ("1.5h", 5400.0),
    ("1h30m", 5400.0), ("1d 12h", 129600.0), (" 4 H ", 14400.0), ("0", 0.0),
])
def test_accepted(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_default_unit_scales_bare_numbers_only() -> None:
    assert parse_duration("2", default_unit="h") == 7200.0
    assert parse_duration("2m", default_unit="h") == 120.0
    with pytest.raises(ConfigError, match="needs a unit"):
        parse_duration("2", default_unit=None)
    with pytest.raises(ValueError, match="unknown default unit"):
        parse_duration("2", default_unit="fortnight")


@pytest.mark.parametrize("text", [
    "", "h", "-5m", "1e3", "nan", "inf", "1,5h", "1h 30", "5 years", "٣h", "1.h", ".5h",
    "4hh", "1" * 70, "99999999999w", "1\x00h",
])
def test_refused_with_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


def test_bound_is_a_century() -> None:
    assert parse_duration("5200w") <= MAX_SECONDS
    with pytest.raises(ConfigError, match="100 years"):
        parse_duration("5300w")


def test_not_a_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_duration(3600)  # type: ignore[arg-type]


def test_format_examples() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(5400) == "1h30m"
    assert format_duration(0.25) == "0.25s"
    assert format_duration(8 * 86400 + 61.5) == "1w1d1m1.5s"
    for bad in (-1.0, math.inf, math.nan, MAX_SECONDS + 1.0):
        with pytest.raises(ConfigError):
            format_duration(bad)


@given(st.integers(min_value=0, max_value=MAX_SECONDS))
def test_whole_seconds_round_trip_exactly(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.floats(min_value=0.0, max_value=MAX_SECONDS, allow_nan=False))
def test_fractions_round_trip_to_the_microsecond(seconds: float) -> None:
    back = parse_duration(format_duration(seconds))
    assert math.isclose(back, seconds, rel_tol=1e-12, abs_tol=1e-6)


@given(st.lists(st.tuples(st.integers(0, 999), st.sampled_from(sorted(UNIT_SECONDS))),
                min_size=1, max_size=5))
def test_combined_parts_add_up(parts: list[tuple[int, str]]) -> None:
    text = " ".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == sum(n * UNIT_SECONDS[u] for n, u in parts)


@given(st.text(max_size=80), st.sampled_from([None, "s", "m", "h", "d"]))
def test_garbage_only_ever_raises_config_error(text: str, unit: str | None) -> None:
    try:
        seconds = parse_duration(text, default_unit=unit)
    except ConfigError:
        return
    assert math.isfinite(seconds) and 0.0 <= seconds <= MAX_SECONDS


# --- the callers keep what they accepted before, now through the one parser ---------------

def test_blocklist_ttl_keeps_seconds_and_units() -> None:
    assert parse_ttl("3600") == 3600
    assert parse_ttl("90m") == 5400
    assert parse_ttl("2w") == 14 * 86400
    assert parse_ttl("1d12h") == 129600
    assert ttl_seconds("12h") == 43200
    assert ttl_seconds(60) == 60
    for bad in ("0", "0.4s", "-1h", "soon"):
        with pytest.raises(ConfigError, match="duration"):
            parse_ttl(bad)


def test_window_takes_durations_with_units_or_an_end() -> None:
    start = datetime(2001, 7, 20, 2, 0, tzinfo=UTC)
    assert parse_window("web=2001-07-20T02:00/4h").end == start.replace(hour=6)
    assert parse_window("2001-07-20T02:00/90m").end == start.replace(hour=3, minute=30)
    assert parse_window("2001-07-20T02:00/1.5d").end == datetime(2001, 7, 21, 14, tzinfo=UTC)
    assert parse_window("2001-07-20T02:00/1h30m").end == start.replace(hour=3, minute=30)
    assert parse_window("2001-07-20T02:00/2001-07-20T05:00").end == start.replace(hour=5)
    with pytest.raises(ConfigError, match="bad window end"):
        parse_window("2001-07-20T02:00/soon")
    with pytest.raises(ConfigError, match="ends before it starts"):
        parse_window("2001-07-20T02:00/0h")


def test_outbreak_state_time_keeps_seconds_as_default() -> None:
    ob = closed_form(10.0, 360_000, hours=1.0)
    assert ob.state_time("3600") == 3600.0
    assert ob.state_time("4 h") == 14400.0
    assert ob.state_time("90m") == 5400.0
    assert ob.state_time("1h30m") == 5400.0
    with pytest.raises(ConfigError, match="bad outbreak state"):
        ob.state_time("later")


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--poll-interval", "soon", "bad --poll-interval 'soon'"),
    ("--poll-interval", "0", "--poll-interval must be"),
    ("--poll-interval", "2h", "--poll-interval must be"),
    ("--hold", "-5", "bad --hold '-5'"),
    ("--hold", "2d", "--hold must be"),
])
def test_watch_flags_read_durations(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    flag: str, value: str, message: str) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    rc = main(["watch", "--db", str(tmp_path / "w.db"), flag, value, str(log)])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
