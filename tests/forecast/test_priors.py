"""Priors from a family's preset, and the user's overrides."""

from __future__ import annotations

import math

import pytest

from wormsign.errors import ConfigError
from wormsign.forecast.priors import DEFAULT_PRESET, Prior, prior_for
from wormsign.sim import load_preset


@pytest.mark.parametrize(("family", "preset"), [
    ("code-red", "code-red-v2"), ("Code_Red", "code-red-v2"), ("code-red-ii", "code-red-ii"),
    ("slammer", "slammer")])
def test_family_reads_its_preset(family: str, preset: str) -> None:
    p = prior_for(family)
    sc = load_preset(preset)
    assert p.preset == preset
    assert (p.strategy, p.scan_rate, p.vulnerable, p.initial) == (
        sc.strategy, sc.scan_rate, sc.vulnerable, sc.initial)
    assert p.sources == sc.sources and p.sources
    assert not p.scan_rate_given and not p.vulnerable_given
    assert p.note == ""


def test_code_red_ii_is_local_preference() -> None:
    assert prior_for("code-red-ii").strategy == "local-preference"


@pytest.mark.parametrize("family", [None, "", "nimda", "x" * 500])
def test_unknown_family_gets_the_default_with_a_note(family: str | None) -> None:
    p = prior_for(family)
    assert p.preset == DEFAULT_PRESET
    assert "prior" in p.note
    assert len(p.note) < 200


def test_overrides_are_kept_and_flagged() -> None:
    p = prior_for("code-red", scan_rate=12.5, vulnerable=1000)
    assert (p.scan_rate, p.vulnerable) == (12.5, 1000)
    assert p.scan_rate_given and p.vulnerable_given
    q = prior_for("code-red", vulnerable=2000.0)  # type: ignore[arg-type]
    assert q.vulnerable == 2000 and isinstance(q.vulnerable, int)


def test_explicit_preset_wins_over_family() -> None:
    assert prior_for("code-red", preset="slammer").preset == "slammer"


@pytest.mark.parametrize("kw", [
    {"scan_rate": 0.0}, {"scan_rate": -1.0}, {"scan_rate": math.nan}, {"scan_rate": 1e7},
    {"scan_rate": True}, {"vulnerable": 0}, {"vulnerable": 2_000_000}, {"vulnerable": 1.5},
    {"vulnerable": math.inf}])
def test_bad_overrides_are_config_errors(kw: dict[str, float]) -> None:
    with pytest.raises(ConfigError) as err:
        prior_for("code-red", **kw)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_unknown_preset_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        prior_for(None, preset="no-such-preset")


def test_removal_from_a_preset_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "p.yaml"
    path.write_text("name: mine\nvulnerable: 5000\nscan_rate: 2\nremoval_rate: 0.1\n",
                    encoding="utf-8")
    p = prior_for(None, preset=str(path))
    assert isinstance(p, Prior)
    assert p.removal and p.vulnerable == 5000 and p.scan_rate == 2.0
    assert not prior_for("slammer").removal
    assert prior_for("code-red").removal  # the fitted code-red-v2 preset removes hosts
