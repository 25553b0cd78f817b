"""A typed wrapper over ``numba.njit`` so that mypy --strict keeps the decorated signatures, and
:func:`borrow`, which lets the kernel's phases read records of arrays without reference counts.

numba counts a reference each time an array is read out of a record or passed to a function,
and each time a method of the random generator is called: an atomic operation that its
pruning pass cannot remove across a random draw. A phase called once per step that reads
twenty arrays then costs more than its work (two earlier splits of the kernel into phases were
1.4-13 times slower for that). ``borrow(x)`` returns ``x`` (an array, a random generator, or a
record of them) with its owner pointer cleared, like an array made by ``numba.carray``: nothing
is counted for it. A borrowed value is valid while its owner lives; the kernel's records and
generator are owned by the caller of ``run_kernel`` for the whole run, and no phase stores or
returns a borrowed value (the event heaps, which grow, are owned by the run's
:class:`wormsign.sim.state.Run`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numba
from numba.core import cgutils, types
from numba.extending import intrinsic

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_cgutils: Any = cgutils


def njit(fn: F) -> F:
    """Compile ``fn`` in nopython mode, cached on disk next to the module, GIL released."""
    return cast(F, numba.njit(cache=True, nogil=True)(fn))


def _unowned(context: Any, builder: Any, ty: Any, value: Any) -> Any:
    """LLVM ``value`` of numba type ``ty`` with the owner (meminfo) of every array or random
    generator in it set to null."""
    if isinstance(ty, types.Array | types.NumPyRandomGeneratorType):
        obj = _cgutils.create_struct_proxy(ty)(context, builder, value=value)
        obj.meminfo = _cgutils.get_null_value(obj.meminfo.type)
        return obj._getvalue()
    if isinstance(ty, types.BaseTuple):
        members: list[Any] = list(cast(Any, ty))
        for i, member in enumerate(members):
            item = _unowned(context, builder, member, builder.extract_value(value, i))
            value = builder.insert_value(value, item, i)
    return value


def _borrow(typingctx: Any, x: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return _unowned(context, builder, signature.args[0], args[0])

    return x(x), codegen


if TYPE_CHECKING:
    def borrow(x: T) -> T:
        """``x`` as a borrowed reference (compiled code only)."""
        return x
else:
    borrow = intrinsic(_borrow)
