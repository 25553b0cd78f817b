"""The scan's C helpers (``_clfscan``, built by setup.py) when they are built and current,
else None, importing nothing else: the early pre-scan of ``wormsign scan``
(:mod:`wormsign.detect.prescanloop`) loads them before any other part of wormsign.
Every helper has a Python twin with the same results (see ``_clfscan.c``)."""

from __future__ import annotations

from types import ModuleType

C: ModuleType | None
try:
    from wormsign.logs import _clfscan as C
except ImportError:  # pragma: no cover - exercised by forcing the fallbacks in tests
    C = None
#: The version of the line rules the Python twins hold; an older build disagrees with them.
RULES = 2
if C is not None and getattr(C, "RULES", 1) != RULES:  # pragma: no cover
    C = None
