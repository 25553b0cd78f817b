"""``wormsign.sim._jit.borrow``: a borrowed array, record or random generator is the same object,
without its owner (so the kernel's phases count no references)."""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import numpy.typing as npt

from wormsign.sim._jit import borrow


class _Rec(NamedTuple):
    a: npt.NDArray[np.float64]
    b: npt.NDArray[np.int64]
    k: float


@numba.njit
def _write(rec: _Rec, x: npt.NDArray[np.float64]) -> float:
    rec = borrow(rec)
    x = borrow(x)
    rec.a[1] = rec.k
    rec.b[0] += 5
    x[:2] = 3.0
    view = x[1:]
    view[-1] = -1.0
    return float(rec.a.sum() + x.sum())


@numba.njit
def _draw(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
    rng = borrow(rng)
    out = np.empty(n)
    for i in range(n):
        out[i] = rng.random() + rng.binomial(10, 0.3)
    return out


@numba.njit
def _owned_draw(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
    out = np.empty(n)
    for i in range(n):
        out[i] = rng.random() + rng.binomial(10, 0.3)
    return out


def test_writes_through_a_borrowed_record_and_array_reach_the_owner() -> None:
    rec = _Rec(np.zeros(3), np.array([1, 2], dtype=np.int64), 2.5)
    x = np.zeros(4)
    total = _write(rec, x)
    assert rec.a.tolist() == [0.0, 2.5, 0.0]
    assert rec.b.tolist() == [6, 2]
    assert x.tolist() == [3.0, 3.0, 0.0, -1.0]
    assert total == 2.5 + 5.0


def test_a_borrowed_generator_draws_the_owners_stream_and_advances_it() -> None:
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    assert np.array_equal(_draw(a, 50), _owned_draw(b, 50))
    assert a.random() == b.random()  # both generators advanced alike
