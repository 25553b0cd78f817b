"""Small numpy helpers shared by the packages (this module imports nothing of wormsign's).

:func:`sorted_unique` is ``np.unique(a)`` for the integer columns of the scanner and the
simulator: numpy's plain ``unique`` asks ``numpy.ma`` whether the array is masked, and the
first such call in a process imports ``numpy.ma`` (30-40 ms, paid again by every worker
process of a scan); a sort and one comparison give the same values without it.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

S = TypeVar("S", bound=np.generic)


def sorted_unique(a: npt.NDArray[S]) -> npt.NDArray[S]:
    """The distinct values of ``a`` (flattened), sorted: ``np.unique(a)`` for arrays of
    numbers without NaN."""
    s = np.sort(np.asarray(a).ravel())
    if s.size < 2:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]
