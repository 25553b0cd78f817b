"""Version strings as comparable tuples (``"5.0"`` → ``(5, 0)``; ``"1.3.20"`` → ``(1, 3, 20)``)."""

from __future__ import annotations

import re

_NUM = re.compile(r"\d+")


def version_key(text: str) -> tuple[int, ...]:
    """The leading dotted numbers of ``text`` with trailing zeros dropped; () when none.

    ``"5"`` and ``"5.0"`` compare equal; letters end the version (``"2.0.52a"`` → (2, 0, 52)).
    """
    parts: list[int] = []
    for piece in text.strip().split("."):
        m = _NUM.match(piece.strip())
        if m is None:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece.strip()):
            break
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)
