"""What is known before the evidence: a family's preset gives scan rate, population, strategy.

From one monitor only the product of the scan rate and the infected count is identifiable in
the early phase, so a forecast needs a scan rate (or a population) from somewhere: the
family's simulator preset (:mod:`wormsign.sim.presets`) supplies it, and ``--scan-rate`` /
``--vulnerable`` override it. :func:`prior_for` returns that knowledge as one record,
:class:`Prior`, with the preset's sources, so that a forecast can say where its numbers came
from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wormsign.errors import ConfigError

FAMILY_PRESETS: dict[str, str] = {
    "code-red": "code-red-v2",
    "code-red-v2": "code-red-v2",
    "code-red-ii": "code-red-ii",
    "crii-backdoor": "code-red-ii",
    "slammer": "slammer",
    "sql-slammer": "slammer",
}
"""Detection family -> simulator preset whose parameters serve as the prior."""
DEFAULT_PRESET = "code-red-v2"


@dataclass(frozen=True)
class Prior:
    """The prior of a forecast: the preset it came from, its strategy, scan rate (probes per
    second per host), vulnerable population and initial infected count, whether it removes
    hosts (``removal``: any removal, patch or reboot rate), whether the scan rate and the
    population were given by the user (then fixed, not priors), and the sources."""

    preset: str
    strategy: str
    scan_rate: float
    vulnerable: int
    initial: int
    removal: bool
    scan_rate_given: bool = False
    vulnerable_given: bool = False
    sources: tuple[str, ...] = ()
    note: str = ""


def preset_for(family: str | None) -> tuple[str, str]:
    """(preset name, note) for a detection family; unknown families get the default with a
    note saying so."""
    if family is None or not family.strip():
        return DEFAULT_PRESET, f"no family given: the {DEFAULT_PRESET} preset is the prior"
    key = family.strip().lower().replace("_", "-").replace(" ", "-")
    if key in FAMILY_PRESETS:
        return FAMILY_PRESETS[key], ""
    return DEFAULT_PRESET, (f"no preset for family {family[:40]!r}: the {DEFAULT_PRESET} "
                            "preset is the prior")


def _check(name: str, value: float) -> None:
    from wormsign.sim.scenario import RANGES

    lo, hi, lo_open = RANGES[name]
    bad = (isinstance(value, bool) or not isinstance(value, int | float)
           or not math.isfinite(value) or (value <= lo if lo_open else value < lo) or value > hi)
    if bad:
        raise ConfigError(f"--{name.replace('_', '-')} must be within "
                          f"{'(' if lo_open else '['}{lo:g}, {hi:g}], not {value!r}")


def prior_for(family: str | None, *, preset: str | None = None, scan_rate: float | None = None,
              vulnerable: int | None = None) -> Prior:
    """The prior for ``family`` (or the named ``preset``), with the user's overrides.

    Raises :class:`ConfigError` for an unknown preset or an override outside the simulator's
    accepted range (:data:`wormsign.sim.scenario.RANGES`).
    """
    from wormsign.sim import load_preset

    note = ""
    if preset is None:
        preset, note = preset_for(family)
    if scan_rate is not None:
        _check("scan_rate", scan_rate)
    if vulnerable is not None:
        _check("vulnerable", vulnerable)
        if not float(vulnerable).is_integer():
            raise ConfigError(f"--vulnerable must be a whole number, not {vulnerable!r}")
        vulnerable = int(vulnerable)
    sc = load_preset(preset)
    removal = bool(sc.removal_rate or sc.patch_rate or sc.reboot_rate)
    return Prior(  # a scenario file is named by its path: the simulation loads it again
        preset=preset if preset.endswith((".yaml", ".yml")) else sc.name,
        strategy=sc.strategy,
        scan_rate=float(sc.scan_rate if scan_rate is None else scan_rate),
        vulnerable=int(sc.vulnerable if vulnerable is None else vulnerable),
        initial=int(sc.initial), removal=removal,
        scan_rate_given=scan_rate is not None, vulnerable_given=vulnerable is not None,
        sources=tuple(sc.sources), note=note,
    )
