"""Grouped index pools: pick random susceptible hosts of a group in O(1), without Python objects.

A pool holds every host once, sorted by group; inside a group's segment the members that are
still available (susceptible) come first. ``pos`` maps a host to its slot, so removing or
re-adding a host is one swap. The engine keeps one pool per level of grouping (the side of a
filtered block; the scanner's own /8; its own /16).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import njit

I64 = npt.NDArray[np.int64]


def build_pool(group: I64, n_groups: int) -> tuple[I64, I64, I64, I64]:
    """``(mem, pos, start, cnt)`` for hosts grouped by ``group`` (all available)."""
    order = np.argsort(group, kind="stable").astype(np.int64)
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size, dtype=np.int64)
    counts = np.bincount(group, minlength=n_groups).astype(np.int64)
    start = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return order, pos, start, counts


@njit
def pool_remove(mem: I64, pos: I64, start: I64, cnt: I64, g: int, h: int) -> None:
    """Make host ``h`` (available, in group ``g``) unavailable."""
    i = pos[h]
    last = start[g] + cnt[g] - 1
    other = mem[last]
    mem[last] = h
    mem[i] = other
    pos[h] = last
    pos[other] = i
    cnt[g] -= 1


@njit
def pool_add(mem: I64, pos: I64, start: I64, cnt: I64, g: int, h: int) -> None:
    """Make host ``h`` (unavailable, in group ``g``) available again."""
    i = pos[h]
    first = start[g] + cnt[g]
    other = mem[first]
    mem[first] = h
    mem[i] = other
    pos[h] = first
    pos[other] = i
    cnt[g] += 1


@njit
def pool_pick(
    mem: I64, pos: I64, start: I64, cnt: I64, g: int, k: int, rng: np.random.Generator
) -> int:
    """Move ``k`` distinct random available members of group ``g`` to the segment's front.

    The chosen hosts are ``mem[start[g]:start[g]+k]``; nothing is removed (a partial
    Fisher-Yates shuffle), so several levels can pick from the same step-start population.
    """
    n = cnt[g]
    if k > n:
        k = n
    s = start[g]
    for j in range(k):
        r = s + j + rng.integers(0, n - j)
        a = mem[s + j]
        b = mem[r]
        mem[s + j] = b
        mem[r] = a
        pos[b] = s + j
        pos[a] = r
    return k
