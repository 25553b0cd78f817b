"""A typed wrapper over ``numba.njit`` so that mypy --strict keeps the decorated signatures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def njit(fn: F) -> F:
    """Compile ``fn`` in nopython mode, cached on disk next to the module, GIL released."""
    return cast(F, numba.njit(cache=True, nogil=True)(fn))

