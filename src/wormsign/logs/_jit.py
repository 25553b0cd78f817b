"""A typed wrapper over ``numba.njit`` for the log readers' byte kernels (mypy --strict keeps
the decorated signatures). The readers sit below the simulator in the import flow, so they
cannot use :mod:`wormsign.sim._jit`; both compile the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def njit(fn: F) -> F:
    """Compile ``fn`` in nopython mode, cached on disk next to the module, GIL released."""
    return cast(F, numba.njit(cache=True, nogil=True)(fn))
