"""Faithfulness: the fast engine against the per-probe reference, distribution by distribution.

For each strategy (and for the life cycle with defences) both models run over many seeds in a
small space; two-sample Kolmogorov-Smirnov tests compare the time to 50 % infected (runs that
never get there count as the horizon plus one step: both samples are censored alike) and the
final number of hosts ever infected. Seeds are fixed, so the outcome is deterministic; the
threshold (p > 0.001 on each of 2 x 11 comparisons) keeps the false alarm rate of a faithful
engine near 2 %, while a 10 % change of pace is caught with these sample sizes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from wormsign.sim import Scenario, simulate

from .bruteforce import bruteforce

SEEDS = 100
BASE = Scenario(address_bits=18, vulnerable=1000, scan_rate=10.0, initial=5,
                hours=300 / 3600, dt_s=1.0, step_s=1.0)
CASES = {
    "uniform": {},
    "local-preference": {"strategy": "local-preference", "address_bits": 20, "vulnerable": 2000,
                             "placement": "clustered", "scan_rate": 2.0, "initial": 3},
    "static-sequence": {"strategy": "static-sequence", "initial": 1, "scan_rate": 200.0},
    "static-sequence-reboot": {"strategy": "static-sequence", "initial": 1, "scan_rate": 200.0,
                               "reboot_rate": ((0.0, 30.0),)},
    "permutation": {"strategy": "permutation"},
    "sequential": {"strategy": "sequential"},
    "sequential-random": {"strategy": "sequential", "sequential_start": "random"},
    "hitlist": {"strategy": "hitlist", "hitlist_size": 100, "initial": 1, "scan_rate": 5.0},
    "hitlist-permutation": {"strategy": "hitlist", "hitlist_size": 100,
                                "hitlist_then": "permutation", "initial": 1, "scan_rate": 5.0},
    "defences-delay": {"content_filter_reaction_s": 120.0, "content_filter_coverage": 0.5,
                       "filter_block": "0.0.0.0/1", "filter_egress": True,
                       "infection_delay_s": 5.0, "hours": 400 / 3600},
    "lifecycle-blacklist": {"removal_rate": ((0.0, 20.0),), "reboot_rate": ((0.0, 20.0),),
                                "patch_rate": ((0.0, 2.0),), "blacklist_reaction_s": 30.0,
                                "blacklist_coverage": 0.5},
}


def _censor(x: float, horizon: float) -> float:
    return horizon + 1.0 if math.isnan(x) else x


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_fast_engine_matches_per_probe_model(case: str) -> None:
    sc = dataclasses.replace(BASE, **CASES[case])
    horizon = sc.duration_s
    brute = [bruteforce(sc, seed) for seed in range(SEEDS)]
    fast = [simulate(sc, 100_000 + seed) for seed in range(SEEDS)]
    b_t50 = np.array([_censor(b[0], horizon) for b in brute])
    f_t50 = np.array([_censor(r.threshold_times[1], horizon) for r in fast])
    b_final = np.array([b[1] for b in brute])
    f_final = np.array([r.ever_infected[-1] for r in fast])
    p_t50 = stats.ks_2samp(b_t50, f_t50, method="asymp").pvalue
    p_final = stats.ks_2samp(b_final, f_final, method="asymp").pvalue
    msg = (f"{case}: t50 {b_t50.mean():.1f} vs {f_t50.mean():.1f} (p={p_t50:.2g}); "
           f"final {b_final.mean():.1f} vs {f_final.mean():.1f} (p={p_final:.2g})")
    assert p_t50 > 1e-3, msg
    assert p_final > 1e-3, msg
    # the scenario must actually spread, or the comparison says nothing
    assert f_final.mean() > 2 * sc.initial, msg


def test_reference_detects_a_wrong_engine() -> None:
    """The comparison has teeth: a 25 % faster scanner is told apart from the reference."""
    sc = dataclasses.replace(BASE, hours=200 / 3600)
    wrong = dataclasses.replace(sc, scan_rate=sc.scan_rate * 1.25)
    brute = np.array([bruteforce(sc, seed)[1] for seed in range(60)])
    fast = np.array([simulate(wrong, 5000 + seed).ever_infected[-1] for seed in range(60)])
    assert stats.ks_2samp(brute, fast, method="asymp").pvalue < 1e-3
