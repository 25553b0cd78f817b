"""A scanner's target-selection strategy from where its probes land, with a confidence.

Per source the analysis counts its probes (attempts to a destination other than the one
just before), how many land in the source's own /8 and own /16, and how many consecutive
pairs of probes step by a small amount (``|dst - previous dst| <= SEQUENTIAL_GAP``).
Against these:

* ``sequential`` when at least half the steps are small (Blaster: the next address, and the
  next). Confidence: one minus the chance that random targets would step that small that often.
* ``local-preference`` when the own-/8 share is far above the 1/256 uniform scanning gives
  (a one-sided binomial test, p below ``LOCAL_P``) and at least ``MIN_LOCAL`` above it.
  Confidence: one minus that p-value. The shares of the mixture (anywhere, own /8, own /16)
  are estimated by inverting the two observed shares, and compared with Code Red II's
  (1/8, 1/2, 3/8) by a chi-square test of the three counts (``code_red_ii_p``).
* ``uniform`` otherwise. Confidence: one minus the chance of seeing this few own-/8 probes if
  the scanner did prefer its /8 with at least ``MIN_LOCAL`` of its probes.
* ``unknown`` below ``min_probes`` probes (too few to say).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

SEQUENTIAL_GAP = 64
SEQUENTIAL_SHARE = 0.5
LOCAL_P = 1e-3
MIN_LOCAL = 0.05
U8 = 1.0 / 256.0  # share of uniform targets in any one /8
U16 = 1.0 / 65536.0
CODE_RED_II = (0.125, 0.5, 0.375)  # anywhere, own /8, own /16 (eEye 2001)
STRATEGIES = ("uniform", "local-preference", "sequential", "unknown")
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Strategy:
    """What one source's probes say about how it picks targets."""

    name: str  # one of STRATEGIES
    confidence: float  # 0..1, see the module docstring
    probes: int
    own_8: float  # observed share of probes in the source's own /8 (own /16 included)
    own_16: float  # observed share in its own /16
    sequential: float  # share of small steps between consecutive probes
    shares: tuple[float, float, float]  # estimated mixture: anywhere, own /8, own /16
    code_red_ii_p: float | None  # chi-square p-value against Code Red II's shares

    def to_dict(self) -> dict[str, object]:
        a, b8, b16 = self.shares
        return {"name": self.name, "confidence": round(self.confidence, 6),
                "probes": self.probes, "own_8": round(self.own_8, 6),
                "own_16": round(self.own_16, 6), "sequential": round(self.sequential, 6),
                "shares": {"anywhere": round(a, 6), "own_8": round(b8, 6),
                           "own_16": round(b16, 6)},
                "code_red_ii": None if self.code_red_ii_p is None else {
                    "shares": {"anywhere": 0.125, "own_8": 0.5, "own_16": 0.375},
                    "p_value": round(self.code_red_ii_p, 6),
                    "consistent": bool(self.code_red_ii_p >= 0.01)}}


def mixture_shares(own8: float, own16: float) -> tuple[float, float, float]:
    """The (anywhere, own /8 only, own /16) probabilities whose mixture gives the observed
    own-/8 and own-/16 shares (uniform draws land in the own /8 and /16 by chance too)."""
    t = (own8 - U8) / (1.0 - U8)  # b8 + b16
    b16 = (own16 - t * U8 - (1.0 - t) * U16) / (1.0 - U8)
    v = np.clip(np.array([1.0 - t, t - b16, b16]), 0.0, 1.0)
    total = float(v.sum())
    v = v / total if total > 0 else np.array([1.0, 0.0, 0.0])
    return float(v[0]), float(v[1]), float(v[2])


def cell_probs(shares: tuple[float, float, float]) -> tuple[float, float, float]:
    """P(elsewhere), P(own /8 but not own /16), P(own /16) for a mixture of shares."""
    a, b8, b16 = shares
    p16 = b16 + b8 * U8 + a * U16
    p8 = b8 * (1.0 - U8) + a * (U8 - U16)
    return 1.0 - p8 - p16, p8, p16


def classify(probes: int, own8: int, own16: int, steps: int, small: int,
             min_probes: int = 20) -> Strategy:
    """The strategy of one source from its counts (see the module docstring)."""
    def one(v: int) -> npt.NDArray[np.int64]:
        return np.array([v], np.int64)

    return classify_many(one(probes), one(own8), one(own16), one(steps), one(small),
                         min_probes)[0]


def classify_many(probes: I64, own8: I64, own16: I64, steps: I64, small: I64,
                  min_probes: int = 20) -> list[Strategy]:
    """:func:`classify` of many sources at once (the tests run on arrays: one call each)."""
    n = np.maximum(probes, 1).astype(np.float64)
    f8, f16 = own8 / n, own16 / n
    seq = np.where(steps > 0, small / np.maximum(steps, 1), 0.0)
    p_rand = min(1.0, (2 * SEQUENTIAL_GAP + 1) * U16)
    conf_seq = 1.0 - stats.binom.sf(small - 1, steps, p_rand)
    p_uniform = stats.binom.sf(own8 - 1, probes, U8)
    conf_uniform = 1.0 - stats.binom.cdf(own8, probes, U8 + MIN_LOCAL)
    crii = _crii_p(probes, own8, own16)
    out = []
    for i in range(len(probes)):
        shares = mixture_shares(float(f8[i]), float(f16[i])) if probes[i] else (1.0, 0.0, 0.0)
        if probes[i] < min_probes:
            name, conf = "unknown", 0.0
        elif steps[i] and seq[i] >= SEQUENTIAL_SHARE:
            name, conf = "sequential", float(conf_seq[i])
        elif p_uniform[i] < LOCAL_P and f8[i] - U8 >= MIN_LOCAL:
            name, conf = "local-preference", 1.0 - float(p_uniform[i])
        else:
            name, conf = "uniform", float(conf_uniform[i])
        out.append(Strategy(name, conf, int(probes[i]), float(f8[i] if probes[i] else 0.0),
                            float(f16[i] if probes[i] else 0.0), float(seq[i]), shares,
                            None if np.isnan(crii[i]) else float(crii[i])))
    return out


def _crii_p(probes: I64, own8: I64, own16: I64) -> npt.NDArray[np.float64]:
    """Chi-square p-values of the three counts against Code Red II's (NaN under 5 probes)."""
    observed = np.stack([probes - own8, own8 - own16, own16]).astype(np.float64)
    expected = np.array(cell_probs(CODE_RED_II))[:, None] * probes.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = ((observed - expected) ** 2 / expected).sum(axis=0)
    p: npt.NDArray[np.float64] = stats.chi2.sf(stat, 2)
    return np.where(probes >= 5, p, np.nan)
