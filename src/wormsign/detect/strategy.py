"""A scanner's target-selection strategy from where its probes land, with a confidence.

Per source the analysis counts its probes (attempts to a destination other than the one
just before), how many land in the source's own /8 and own /16, and how many consecutive
pairs of probes step by a small amount (``|dst - previous dst| <= SEQUENTIAL_GAP``).
Against these:

* ``sequential`` when at least half the steps are small (Blaster: the next address, and the
  next). Confidence: one minus the chance that random targets would step that small that often.
* ``local-preference`` when the own-/8 share is far above what uniform scanning gives (1/256
  of the whole space; see the view below) — a one-sided binomial test, p below ``LOCAL_P`` —
  and at least ``MIN_LOCAL`` of the rest above it.
  Confidence: one minus that p-value. The shares of the mixture (anywhere, own /8, own /16)
  are estimated by inverting the two observed shares, and compared with Code Red II's
  (1/8, 1/2, 3/8) by a chi-square test of the three counts (``code_red_ii_p``).
* ``uniform`` otherwise. Confidence: one minus the chance of seeing this few own-/8 probes if
  the scanner did prefer its /8 with at least ``MIN_LOCAL`` of its probes.
* ``unknown`` below ``min_probes`` probes (too few to say), or when the sensor's view holds
  no address of the source's own /8 or nothing else (then uniform and local preference land
  alike there).

*The view.* A host's own log, a telescope of its traffic or a simulation sees every probe
(the default: the whole IPv4 space). A sensor at a site border sees an outside scanner only
where it probes the site. With the view given (``view_cells``), "what uniform scanning would
give" is the share of the *viewed* addresses in the source's own /8 and /16, and the
mixture's shares are estimated from the probe density per viewed address in three cells (own
/16, the rest of own /8, elsewhere): a component whose cell the view lacks cannot be
estimated and its shares are left out.
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
U16 = 1.0 / 65536.0  # share of uniform targets in any one /16
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
    shares: tuple[float, float, float] | None  # estimated: anywhere, own /8, own /16
    code_red_ii_p: float | None  # chi-square p-value against Code Red II's shares

    def to_dict(self) -> dict[str, object]:
        shares = None if self.shares is None else dict(zip(
            ("anywhere", "own_8", "own_16"), (round(x, 6) for x in self.shares), strict=True))
        return {"name": self.name, "confidence": round(self.confidence, 6),
                "probes": self.probes, "own_8": round(self.own_8, 6),
                "own_16": round(self.own_16, 6), "sequential": round(self.sequential, 6),
                "shares": shares,
                "code_red_ii": None if self.code_red_ii_p is None else {
                    "shares": {"anywhere": 0.125, "own_8": 0.5, "own_16": 0.375},
                    "p_value": round(self.code_red_ii_p, 6),
                    "consistent": bool(self.code_red_ii_p >= 0.01)}}


#: Cell sizes (own /16, own /8 without own /16, elsewhere) of the whole IPv4 space.
FULL_CELLS = (float(2**16), float(2**24 - 2**16), float(2**32 - 2**24))
F64 = npt.NDArray[np.float64]
Cells = tuple[F64, F64, F64]


def full_cells(n: int) -> Cells:
    """The whole-space view for ``n`` sources."""
    return (np.full(n, FULL_CELLS[0]), np.full(n, FULL_CELLS[1]), np.full(n, FULL_CELLS[2]))


def view_cells(src: npt.NDArray[np.uint32], nets: list[tuple[int, int]]) -> Cells:
    """How many viewed addresses (``nets``: (network address, prefix length), disjoint) lie
    in each source's own /16, the rest of its own /8, and elsewhere."""
    s16 = np.zeros(len(src))
    s8 = np.zeros(len(src))
    total = 0.0
    for base, length in nets:
        size = float(2 ** (32 - length))
        total += size
        for own, acc in ((16, s16), (8, s8)):
            if length >= own:  # the network sits inside one /own: this one or not
                mask = np.uint32((0xFFFFFFFF << (32 - own)) & 0xFFFFFFFF)
                acc += np.where((src & mask) == np.uint32(base & int(mask)), size, 0.0)
            else:  # the network holds whole /own blocks: the source's or not
                mask = np.uint32((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
                acc += np.where((src & mask) == np.uint32(base), float(2 ** (32 - own)), 0.0)
    return s16, s8 - s16, total - s8


def cell_probs(shares: tuple[float, float, float],
               cells: tuple[float, float, float] = FULL_CELLS) -> tuple[float, float, float]:
    """P(elsewhere), P(own /8 but not own /16), P(own /16) of a viewed probe, for a mixture
    of shares (anywhere, own /8, own /16), each drawn uniformly within its block."""
    a, b8, b16 = shares
    d_e = a / 2.0**32
    d_8 = b8 / 2.0**24 + d_e
    d_16 = b16 / 2.0**16 + d_8
    m = np.array([cells[2] * d_e, cells[1] * d_8, cells[0] * d_16])
    total = float(m.sum())
    m = m / total if total > 0 else m
    return float(m[0]), float(m[1]), float(m[2])


def mixture_shares(counts: tuple[int, int, int], cells: tuple[float, float, float] = FULL_CELLS,
                   ) -> tuple[float, float, float] | None:
    """The (anywhere, own /8, own /16) shares whose mixture gives the probe counts
    (elsewhere, own /8 without /16, own /16) over the viewed cells; None when the view lacks
    a cell or there are no probes."""
    n_e, n_8, n_16 = counts
    if min(cells) <= 0 or n_e + n_8 + n_16 == 0:
        return None
    d_e, d_8, d_16 = n_e / cells[2], n_8 / cells[1], n_16 / cells[0]
    v = np.array([2.0**32 * d_e, 2.0**24 * max(d_8 - d_e, 0.0),
                  2.0**16 * max(d_16 - max(d_8, d_e), 0.0)])
    v = v / float(v.sum())
    return float(v[0]), float(v[1]), float(v[2])


def classify(probes: int, own8: int, own16: int, steps: int, small: int,
             min_probes: int = 20) -> Strategy:
    """The strategy of one source from its counts, with the whole space in view."""
    def one(v: int) -> npt.NDArray[np.int64]:
        return np.array([v], np.int64)

    return classify_many(one(probes), one(own8), one(own16), one(steps), one(small),
                         min_probes)[0]


def classify_many(probes: I64, own8: I64, own16: I64, steps: I64, small: I64,
                  min_probes: int = 20, cells: Cells | None = None) -> list[Strategy]:
    """:func:`classify` of many sources at once (the tests run on arrays: one call each);
    ``cells`` is the view (:func:`view_cells`; default the whole space)."""
    c16, c8, c_e = cells if cells is not None else full_cells(len(probes))
    viewed = c16 + c8 + c_e
    p0 = np.where(viewed > 0, (c16 + c8) / np.maximum(viewed, 1.0), 0.0)
    identifiable = (p0 > 0) & (p0 < 1)
    p0c = np.clip(p0, 1e-12, 1 - 1e-12)
    n = np.maximum(probes, 1).astype(np.float64)
    f8, f16 = own8 / n, own16 / n
    seq = np.where(steps > 0, small / np.maximum(steps, 1), 0.0)
    p_rand = min(1.0, (2 * SEQUENTIAL_GAP + 1) * U16)
    conf_seq = 1.0 - stats.binom.sf(small - 1, steps, p_rand)
    p_uniform = stats.binom.sf(own8 - 1, probes, p0c)
    least = p0c + MIN_LOCAL * (1.0 - p0c)
    conf_uniform = 1.0 - stats.binom.cdf(own8, probes, least)
    crii = _crii_p(probes, own8, own16, (c16, c8, c_e))
    out = []
    for i in range(len(probes)):
        cell = (float(c16[i]), float(c8[i]), float(c_e[i]))
        counts = (int(probes[i] - own8[i]), int(own8[i] - own16[i]), int(own16[i]))
        shares = mixture_shares(counts, cell)
        if probes[i] < min_probes:
            name, conf = "unknown", 0.0
        elif steps[i] and seq[i] >= SEQUENTIAL_SHARE:
            name, conf = "sequential", float(conf_seq[i])
        elif not identifiable[i]:
            name, conf = "unknown", 0.0
        elif p_uniform[i] < LOCAL_P and f8[i] >= least[i]:
            name, conf = "local-preference", 1.0 - float(p_uniform[i])
        else:
            name, conf = "uniform", float(conf_uniform[i])
        out.append(Strategy(name, conf, int(probes[i]), float(f8[i] if probes[i] else 0.0),
                            float(f16[i] if probes[i] else 0.0), float(seq[i]), shares,
                            None if np.isnan(crii[i]) else float(crii[i])))
    return out


def _crii_p(probes: I64, own8: I64, own16: I64, cells: Cells) -> F64:
    """Chi-square p-values of the three counts against Code Red II's shares over the view
    (NaN under 5 probes, or when the view lacks a cell)."""
    observed = np.stack([probes - own8, own8 - own16, own16]).astype(np.float64)
    c16, c8, c_e = cells
    expected = np.array([cell_probs(CODE_RED_II, (float(a), float(b), float(c)))
                         for a, b, c in zip(c16, c8, c_e, strict=True)]).T.reshape(3, -1)
    expected = expected * probes.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = ((observed - expected) ** 2 / expected).sum(axis=0)
    p: F64 = stats.chi2.sf(stat, 2)
    ok = (probes >= 5) & (np.minimum(np.minimum(c16, c8), c_e) > 0)
    return np.where(ok, p, np.nan)
