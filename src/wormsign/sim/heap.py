"""A binary min-heap of timed events in four parallel arrays (time, host, kind, epoch).

An event whose epoch no longer matches its host's is stale and ignored when popped, so events
are never removed from the middle. ``hn[0]`` is the size; :func:`grow` makes room.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import njit

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@njit
def heap_push(ht: F64, hh: I64, hk: I64, he: I64, hn: I64, t: float, h: int, k: int,
              e: int) -> None:
    """Push (t, host, kind, epoch); capacity is checked by the caller."""
    i = hn[0]
    hn[0] += 1
    while i > 0:
        p = (i - 1) >> 1
        if ht[p] <= t:
            break
        ht[i] = ht[p]
        hh[i] = hh[p]
        hk[i] = hk[p]
        he[i] = he[p]
        i = p
    ht[i] = t
    hh[i] = h
    hk[i] = k
    he[i] = e


@njit
def heap_pop(ht: F64, hh: I64, hk: I64, he: I64, hn: I64) -> None:
    """Drop the earliest event (read it at index 0 first)."""
    n = hn[0] - 1
    hn[0] = n
    if n == 0:
        return
    t = ht[n]
    h = hh[n]
    k = hk[n]
    e = he[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and ht[c + 1] < ht[c]:
            c += 1
        if ht[c] >= t:
            break
        ht[i] = ht[c]
        hh[i] = hh[c]
        hk[i] = hk[c]
        he[i] = he[c]
        i = c
    ht[i] = t
    hh[i] = h
    hk[i] = k
    he[i] = e


@njit
def grow(ht: F64, hh: I64, hk: I64, he: I64, need: int) -> tuple[F64, I64, I64, I64]:
    """The heap arrays, doubled until ``need`` entries fit."""
    size = ht.shape[0]
    while size < need:
        size *= 2
    if size == ht.shape[0]:
        return ht, hh, hk, he
    nt = np.empty(size)
    nh = np.empty(size, np.int64)
    nk = np.empty(size, np.int64)
    ne = np.empty(size, np.int64)
    m = ht.shape[0]
    nt[:m] = ht
    nh[:m] = hh
    nk[:m] = hk
    ne[:m] = he
    return nt, nh, nk, ne
