"""Golden outputs of the compiled kernel: seeded runs must stay identical, bit for bit.

Every preset (shrunk: 2^24 addresses, 1/256 of the hosts, so the density and the pace are
kept) and one scenario per strategy, defence and life-cycle option the kernel reads run with
fixed seeds; every time series and the threshold times are compared with ``np.array_equal``
against ``golden/kernel.npz``, written from the kernel as it stood before its split into
phases. A refactor that swaps two arrays, reorders random draws or changes one float
operation fails here.

Regenerate (only for an intended change of the model, never to make a refactor pass):
``WORMSIGN_REGEN_GOLDEN=1 python -m pytest tests/sim/test_kernel_golden.py``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from wormsign.sim import Scenario, list_presets, load_preset, simulate
from wormsign.sim.result import SimResult

GOLDEN = Path(__file__).parent / "golden" / "kernel.npz"
REGEN = os.environ.get("WORMSIGN_REGEN_GOLDEN") == "1"
SEEDS = (0, 7)

SMALL = Scenario(address_bits=20, vulnerable=2000, scan_rate=10.0, initial=3, hours=0.5,
                 step_s=10.0)
CASES: dict[str, dict[str, Any]] = {
    "uniform": {},
    "uniform-fixed-dt": {"dt_s": 2.0},
    "uniform-exponential-rates": {"scan_rate_dist": "exponential"},
    "uniform-lognormal-rates": {"scan_rate_dist": "lognormal", "scan_rate_sigma": 0.7},
    "uniform-cap": {"probe_cap": 300.0},
    "uniform-exclude-telescopes": {"exclude": ("127.0.0.0/8", "224.0.0.0/3"),
                                   "telescopes": ("44.0.0.0/8", "10.0.0.0/9")},
    "static-sequence": {"strategy": "static-sequence", "initial": 1, "scan_rate": 200.0,
                        "telescopes": ("44.0.0.0/8",)},
    "static-sequence-reboot": {"strategy": "static-sequence", "initial": 1, "scan_rate": 200.0,
                               "reboot_rate": ((0.0, 30.0),)},
    "permutation": {"strategy": "permutation", "telescopes": ("44.0.0.0/8",)},
    "permutation-reboot-delay": {"strategy": "permutation", "reboot_rate": ((0.0, 20.0),),
                                 "infection_delay_s": 30.0},
    "sequential-own": {"strategy": "sequential", "scan_rate": 50.0,
                       "telescopes": ("44.0.0.0/8", "200.0.0.0/6")},
    "sequential-random": {"strategy": "sequential", "sequential_start": "random",
                          "scan_rate": 50.0, "telescopes": ("44.0.0.0/8",)},
    "hitlist-uniform": {"strategy": "hitlist", "hitlist_size": 100, "initial": 1,
                        "scan_rate": 5.0, "telescopes": ("44.0.0.0/8",)},
    "hitlist-permutation": {"strategy": "hitlist", "hitlist_size": 100,
                            "hitlist_then": "permutation", "initial": 2, "scan_rate": 5.0},
    "hitlist-blacklist-filter": {"strategy": "hitlist", "hitlist_size": 300, "initial": 2,
                                 "blacklist_reaction_s": 60.0, "blacklist_coverage": 0.6,
                                 "content_filter_reaction_s": 300.0,
                                 "content_filter_coverage": 0.4},
    "local-preference": {"strategy": "local-preference", "placement": "clustered",
                         "scan_rate": 2.0, "exclude": ("127.0.0.0/8",),
                         "telescopes": ("44.0.0.0/8",)},
    "local-preference-lifecycle": {"strategy": "local-preference", "placement": "clustered",
                                   "scan_rate": 2.0, "patch_rate": ((0.0, 0.5), (0.2, 2.0)),
                                   "removal_rate": ((0.1, 1.0),), "reboot_rate": ((0.0, 3.0),),
                                   "blacklist_reaction_s": 120.0, "blacklist_coverage": 0.5,
                                   "filter_block": "64.0.0.0/2", "filter_egress": True,
                                   "telescopes": ("44.0.0.0/8",)},
    "defences-delay": {"content_filter_reaction_s": 120.0, "content_filter_coverage": 0.5,
                       "blacklist_reaction_s": 60.0, "blacklist_coverage": 0.7,
                       "infection_delay_s": 20.0},
    "filter-ingress-egress": {"filter_block": "0.0.0.0/1", "filter_ingress": True,
                              "filter_egress": True, "telescopes": ("44.0.0.0/8",)},
    "filter-ingress": {"filter_block": "128.0.0.0/2", "filter_ingress": True},
    "lifecycle-schedules": {"patch_rate": ((0.0, 0.3), (0.25, 1.5)),
                            "removal_rate": ((0.0, 0.5),), "reboot_rate": ((0.1, 2.0),),
                            "telescopes": ("44.0.0.0/8",)},
    "calendar-flood-dormant": {"hours": 30.0, "step_s": 600.0, "scan_rate": 0.05,
                               "start": "2001-07-19T10:00:00Z", "calendar": True,
                               "reboot_rate": ((0.0, 0.2),), "flood_rate": 3.0,
                               "telescopes": ("44.0.0.0/8",)},
    "calendar-wake-up": {"hours": 48.0, "step_s": 600.0, "scan_rate": 5.0,
                         "start": "2001-07-30T12:00:00Z", "calendar": True,
                         "wake_jitter_hours": 2.0, "removal_rate": ((0.0, 0.01),)},
    "calendar-static-sequence": {"strategy": "static-sequence", "hours": 48.0,
                                 "step_s": 600.0, "scan_rate": 1.0, "initial": 1,
                                 "start": "2001-07-19T00:00:00Z", "calendar": True,
                                 "reboot_rate": ((0.0, 0.1),)},
}


FROZEN_PRESETS: dict[str, dict[str, Any]] = {
    # code-red-v2 as it stood when the golden file was written, before its parameters were
    # fitted to CAIDA's curve (docs/code-red-fit.md): the golden runs pin the kernel, not
    # the preset's values
    "code-red-v2": {"name": "code-red-v2", "strategy": "uniform", "address_bits": 32,
                    "vulnerable": 360_000, "scan_rate": 5.0, "initial": 10, "hours": 14.0,
                    "start": "2001-07-19T10:00:00Z", "calendar": True,
                    "telescopes": ("44.0.0.0/8",)},
}


def _shrunk_preset(name: str) -> Scenario:
    """The preset with 2^24 addresses and 1/256 of its hosts, capped at 2,000 output rows."""
    sc = Scenario(**FROZEN_PRESETS[name]) if name in FROZEN_PRESETS else load_preset(name)
    hours = min(sc.hours, 48.0)
    step = max(sc.output_step(), hours * 3600.0 / 2000.0)
    return dataclasses.replace(
        sc, address_bits=24, vulnerable=max(sc.vulnerable // 256, 10 * sc.initial),
        hitlist_size=max(sc.hitlist_size // 256, 2), hours=hours, step_s=step)


def scenarios() -> dict[str, Scenario]:
    """Every golden scenario by name."""
    out = {f"preset-{name}": _shrunk_preset(name) for name in list_presets()}
    for name, change in CASES.items():
        out[name] = dataclasses.replace(SMALL, name=name, **change)
    return out


def outputs(res: SimResult) -> dict[str, npt.NDArray[np.float64]]:
    """Every series a run returns, by name."""
    arrays = {
        "t": res.t, "susceptible": res.susceptible, "infected": res.infected,
        "removed": res.removed, "new_infections": res.new_infections, "probes": res.probes,
        "ever_infected": res.ever_infected, "scanning": res.scanning, "flood": res.flood,
        "threshold_times": np.asarray(res.threshold_times, dtype=np.float64),
    }
    for k, (hits, unique) in enumerate(res.telescopes.values()):
        arrays[f"telescope{k}_probes"] = hits
        arrays[f"telescope{k}_unique"] = unique
    return arrays


def _run_all() -> dict[str, npt.NDArray[np.float64]]:
    got: dict[str, npt.NDArray[np.float64]] = {}
    for name, sc in scenarios().items():
        for seed in SEEDS:
            for key, arr in outputs(simulate(sc, seed=seed)).items():
                got[f"{name}/{seed}/{key}"] = np.asarray(arr, dtype=np.float64)
    return got


@pytest.fixture(scope="module")
def golden() -> dict[str, npt.NDArray[np.float64]]:
    if REGEN:
        GOLDEN.parent.mkdir(exist_ok=True)
        np.savez_compressed(GOLDEN, **_run_all())  # type: ignore[arg-type]
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


def test_golden_covers_every_scenario(golden: dict[str, npt.NDArray[np.float64]]) -> None:
    names = {key.split("/")[0] for key in golden}
    assert names == set(scenarios())
    assert {f"preset-{p}" for p in list_presets()} <= names


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_kernel_reproduces_golden(name: str,
                                  golden: dict[str, npt.NDArray[np.float64]]) -> None:
    sc = scenarios()[name]
    for seed in SEEDS:
        got = outputs(simulate(sc, seed=seed))
        want = {k.split("/", 2)[2]: v for k, v in golden.items()
                if k.startswith(f"{name}/{seed}/")}
        assert set(got) == set(want), f"{name} seed {seed}: series differ"
        for key, arr in got.items():
            assert np.array_equal(np.asarray(arr, dtype=np.float64), want[key],
                                  equal_nan=True), f"{name} seed {seed}: {key} differs"


def test_golden_runs_spread(golden: dict[str, npt.NDArray[np.float64]]) -> None:
    """The goldens are worth comparing: every scenario infected more than its first hosts."""
    for name, sc in scenarios().items():
        final = golden[f"{name}/{SEEDS[0]}/ever_infected"][-1]
        assert final > sc.initial, f"{name} never spread"
