"""Grouped index pools: pick random susceptible hosts of a group in O(1), without Python objects.

A pool holds every host once, sorted by group; inside a group's segment the members that are
still available (susceptible) come first. ``pos`` maps a host to its slot, so removing or
re-adding a host is one swap. The engine keeps one pool per level of grouping (the side of a
filtered block; the scanner's own /8; its own /16).

The available members of a segment are kept in uniformly random order: the pool starts
shuffled, removing a member by swapping the last one into its slot keeps a uniformly random
order of the rest, and a re-added member is swapped to a random slot. So ``k`` random
distinct members are simply the last ``k`` of the segment, with no draw at all; and since host
ids are a random labelling, consecutive picks touch neighbouring memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import njit

I64 = npt.NDArray[np.int64]


def build_pool(group: I64, n_groups: int,
               rng: np.random.Generator | None = None) -> tuple[I64, I64, I64, I64]:
    """``(mem, pos, start, cnt)`` for hosts grouped by ``group`` (all available).

    Within a group, members keep host-id order (already random) or, with ``rng``, a fresh
    random order independent of other pools.
    """
    if rng is None:
        order = np.argsort(group, kind="stable").astype(np.int64)
    else:
        perm = rng.permutation(group.size)
        order = perm[np.argsort(group[perm], kind="stable")].astype(np.int64)
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
def _swap(mem: I64, pos: I64, i: int, j: int) -> None:
    a = mem[i]
    b = mem[j]
    mem[i] = b
    mem[j] = a
    pos[b] = i
    pos[a] = j


@njit
def pool_add(mem: I64, pos: I64, start: I64, cnt: I64, g: int, h: int,
             rng: np.random.Generator) -> None:
    """Make host ``h`` (unavailable, in group ``g``) available again, at a random slot."""
    first = start[g] + cnt[g]
    _swap(mem, pos, pos[h], first)
    cnt[g] += 1
    _swap(mem, pos, first, start[g] + rng.integers(0, cnt[g]))


@njit
def pool_pick(cnt: I64, g: int, k: int) -> int:
    """How many of ``k`` random distinct available members of ``g`` exist: they are
    ``mem[start[g] + cnt[g] - k : start[g] + cnt[g]]``. Nothing is removed, so several levels
    can pick from the same step-start population."""
    return int(min(k, cnt[g]))
