"""Threshold Random Walk scan detection (Jung, Paxson, Berger, Balakrishnan 2004), on columns.

A remote source's *first contacts* (its first connection attempt to each distinct
destination) are Bernoulli trials: a benign host's succeed with probability ``theta0``, a
scanner's with ``theta1 < theta0``, because a scanner guesses addresses and most guesses hit
nothing. Each outcome moves the log-likelihood ratio ``ln P(Y|scanner)/P(Y|benign)``:

* success: ``ln(theta1 / theta0)`` (down, towards benign)
* failure: ``ln((1 - theta1) / (1 - theta0))`` (up, towards scanner)

Wald's sequential test decides *scanner* when the sum reaches ``ln(eta1)``, ``eta1 = beta /
alpha``, and *benign* when it falls to ``ln(eta0)``, ``eta0 = (1 - beta) / (1 - alpha)``:
``alpha`` is the false-positive probability the test aims at and ``beta`` the detection
probability. The paper's values are the defaults here: ``theta0 = 0.8``, ``theta1 = 0.2``,
``alpha = 0.01``, ``beta = 0.99``; with them a fresh source is a scanner after four failed
first contacts in a row.

One change for a long-running monitor: the paper stops a source's walk at the benign
threshold. Here the walk *rests* there (it is floored at ``ln(eta0)``) and keeps going, so a
host that was benign for a week and then turns into a scanner (an inside host infected) is
still caught: from the floor it needs ``ln(eta1) - ln(eta0)`` of evidence (seven failures in
a row with the defaults). The start of the excursion that crossed is kept as the time the
scanning began.

The walk with its floor is Lindley's recursion ``D_n = max(0, D_{n-1} + x_n)`` for ``D = S -
floor``, whose closed form ``D_n = max(D_0 + C_n, C_n - min_{k<=n} C_k)`` (``C`` the running
sum) evaluates a whole batch of sources at once with cumulative sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wormsign.detect.netparams import TRWParams as TRWParams  # re-exported

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class WalkResult:
    """One batch of walks, per group (source) of the input.

    ``walk`` the value after the group's last step (or at the crossing); ``crossed`` the row
    index of the first step at or above the upper threshold (-1 none); ``last_floor`` the row
    index of the last step on the floor before the crossing (or the end; -1 none);
    ``last_low`` the row index of the last step at the walk's lowest value so far (where the
    run of evidence that crossed began: the change point; -1 none in this batch);
    ``lowest`` that lowest value; ``successes``/``failures`` the steps counted, up to and
    including the crossing."""

    walk: F64
    crossed: I64
    last_floor: I64
    last_low: I64
    lowest: F64
    successes: I64
    failures: I64


def segment_starts(group: I64, n_groups: int) -> I64:
    """Row index where each group's rows start (``group`` sorted, values in ``[0, n)``)."""
    return np.searchsorted(group, np.arange(n_groups)).astype(np.int64)


def walk_batch(group: I64, success: B, start: F64, lowest: F64, p: TRWParams) -> WalkResult:
    """Run the floored walks of ``len(start)`` groups over their rows.

    ``group`` (sorted, one group's rows in time order) says whose step each row is,
    ``success`` its outcome, ``start`` each group's walk value before this batch and
    ``lowest`` its lowest value so far."""
    n_groups = len(start)
    n = len(group)
    x = np.where(success, p.step_success, p.step_failure)
    csum = np.cumsum(x)
    first = segment_starts(group, n_groups)
    has = first < np.append(first[1:], n)
    base = np.where(first > 0, csum[np.maximum(first - 1, 0)], 0.0)
    c = csum - base[group]  # running sum within the group
    m = _segment_min(c, group)
    d0 = np.maximum(start - p.lower, 0.0)
    d = np.maximum(d0[group] + c, c - m)
    d = np.maximum(d, 0.0)
    s = d + p.lower
    rows = np.arange(n, dtype=np.int64)
    crossed = _first_per_group(group, s >= p.upper - 1e-9, n_groups)
    end = np.where(crossed >= 0, crossed, np.append(first[1:], n) - 1)
    floor = (d <= 1e-9) & (rows <= end[group])
    last_floor = _last_per_group(group, floor, n_groups)
    low = np.minimum(_segment_min(s, group), lowest[group])
    last_low = _last_per_group(group, (s <= low + 1e-9) & (rows <= end[group]), n_groups)
    new_lowest = np.where(has, low[np.clip(end, 0, max(n - 1, 0))] if n else lowest, lowest)
    upto = rows <= end[group]
    succ = np.bincount(group[upto & success], minlength=n_groups).astype(np.int64)
    fail = np.bincount(group[upto & ~success], minlength=n_groups).astype(np.int64)
    walk = np.where(has, s[np.clip(end, 0, max(n - 1, 0))] if n else start, start)
    return WalkResult(walk=walk.astype(np.float64), crossed=crossed, last_floor=last_floor,
                      last_low=last_low, lowest=new_lowest.astype(np.float64),
                      successes=succ, failures=fail)


def _segment_min(v: F64, group: I64) -> F64:
    """Running minimum within each group: each later group is shifted below every earlier
    one, so one ``minimum.accumulate`` does all groups."""
    if not len(v):
        return v
    span = float(np.abs(v).max()) * 2.0 + 1.0
    shift = group.astype(np.float64) * span
    out: F64 = np.minimum.accumulate(v - shift) + shift
    return out


def _first_per_group(group: I64, mask: B, n_groups: int) -> I64:
    out = np.full(n_groups, -1, np.int64)
    idx = np.flatnonzero(mask)
    if len(idx):
        g, pos = np.unique(group[idx], return_index=True)
        out[g] = idx[pos]
    return out


def _last_per_group(group: I64, mask: B, n_groups: int) -> I64:
    out = np.full(n_groups, -1, np.int64)
    idx = np.flatnonzero(mask)
    if len(idx):
        rev = idx[::-1]
        g, pos = np.unique(group[rev], return_index=True)
        out[g] = rev[pos]
    return out
