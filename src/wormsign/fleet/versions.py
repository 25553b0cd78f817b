"""Version strings as comparable tuples (``"5.0"`` → ``(5, 0)``; ``"1.3.20"`` → ``(1, 3, 20)``)."""

from __future__ import annotations

import re

_NUM = re.compile(r"\d+")


def version_key(text: str) -> tuple[int, ...]:
    """The leading dotted numbers of ``text`` with trailing zeros dropped; () when none.

    ``"5"`` and ``"5.0"`` compare equal; letters end the version (``"2.0.52a"`` → (2, 0, 52)).
    """
    parts = list(version_parts(text))
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def version_matches(listed: str, version: str) -> bool:
    """True when ``version`` is the listed version or a build of it: listed ``5.0`` matches
    ``5``, ``5.0`` and ``5.0.2195`` but not ``5.1``."""
    want = version_parts(listed)
    have = version_parts(version)
    if not want or not have:
        return False
    have = have + (0,) * max(0, len(want) - len(have))
    return have[: len(want)] == want


def version_parts(text: str) -> tuple[int, ...]:
    """The leading dotted numbers of ``text`` as they are written."""
    parts: list[int] = []
    for piece in text.strip().split("."):
        m = _NUM.match(piece.strip())
        if m is None:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece.strip()):
            break
    return tuple(parts)
