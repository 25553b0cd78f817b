"""A binary min-heap of timed events, one row ``(time, host, kind, epoch)`` per event.

Rows are contiguous, so sifting touches one cache line per level. Host, kind and epoch are
stored as float64 (exact below 2^53). An event whose epoch no longer matches its host's is
stale and ignored when popped, so events are never removed from the middle. ``hn[0]`` is the
size; :func:`grow` makes room.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import njit

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@njit
def heap_push(hp: F64, hn: I64, t: float, h: int, k: int, e: int) -> None:
    """Push (t, host, kind, epoch); capacity is checked by the caller."""
    i = hn[0]
    hn[0] += 1
    while i > 0:
        p = (i - 1) >> 1
        if hp[p, 0] <= t:
            break
        hp[i, 0] = hp[p, 0]
        hp[i, 1] = hp[p, 1]
        hp[i, 2] = hp[p, 2]
        hp[i, 3] = hp[p, 3]
        i = p
    hp[i, 0] = t
    hp[i, 1] = h
    hp[i, 2] = k
    hp[i, 3] = e


@njit
def heap_pop(hp: F64, hn: I64) -> None:
    """Drop the earliest event (read it from row 0 first)."""
    n = hn[0] - 1
    hn[0] = n
    if n == 0:
        return
    t = hp[n, 0]
    h = hp[n, 1]
    k = hp[n, 2]
    e = hp[n, 3]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and hp[c + 1, 0] < hp[c, 0]:
            c += 1
        if hp[c, 0] >= t:
            break
        hp[i, 0] = hp[c, 0]
        hp[i, 1] = hp[c, 1]
        hp[i, 2] = hp[c, 2]
        hp[i, 3] = hp[c, 3]
        i = c
    hp[i, 0] = t
    hp[i, 1] = h
    hp[i, 2] = k
    hp[i, 3] = e


@njit
def grow(hp: F64, need: int) -> F64:
    """The heap storage, doubled until ``need`` rows fit."""
    size = hp.shape[0]
    while size < need:
        size *= 2
    if size == hp.shape[0]:
        return hp
    out = np.empty((size, 4))
    out[: hp.shape[0]] = hp
    return out
