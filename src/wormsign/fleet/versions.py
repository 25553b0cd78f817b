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


_PRE = re.compile(r"[-_.~]?(alpha|beta|rc|pre|preview|m)\.?(\d*)$", re.I)
_PRE_RANK = {"alpha": -3000, "m": -3000, "beta": -2000, "pre": -1000, "preview": -1000,
             "rc": -1000}
_ORDER_WIDTH = 8


def version_order(text: str) -> tuple[int, ...]:
    """A key that orders release versions the way projects number them, for ranges.

    Each dotted piece gives (number, suffix): a single letter counts up (OpenSSL
    ``0.9.6d`` < ``0.9.6e`` < ``0.9.7``), a short run of letters likewise (``3.6.cca`` <
    ``3.6.ccb``), a pre-release tag counts down (``2.0-beta9`` < ``2.0`` and ``2.0-rc1`` >
    ``2.0-beta9``); other suffixes (``-SNAPSHOT``, ``p1``) end the version. Pieces are padded
    with zeros so ``2.0`` and ``2.0.0`` compare equal. () when ``text`` has no leading number.
    """
    pieces: list[tuple[int, int]] = []
    for piece in text.strip().split("."):
        piece = piece.strip()
        m = _NUM.match(piece)
        if m is None:
            if pieces and piece.isalpha() and len(piece) <= 3 and pieces[-1][1] == 0:
                pieces[-1] = (pieces[-1][0], _letters(piece))   # "3.6.ccb"
            break
        rest = piece[m.end():]
        suffix = 0
        if rest:
            pre = _PRE.match(rest)
            if rest.isalpha() and len(rest) <= 3 and pre is None:
                suffix = _letters(rest)
            elif pre is not None:
                suffix = _PRE_RANK[pre.group(1).lower()] + int(pre.group(2) or 0)
        pieces.append((int(m.group()), suffix))
        if rest:
            break
    if not pieces:
        return ()
    pieces = pieces[:_ORDER_WIDTH] + [(0, 0)] * max(0, _ORDER_WIDTH - len(pieces))
    return tuple(x for p in pieces for x in p)


def _letters(text: str) -> int:
    """``a`` → 1 ... ``z`` → 26, ``aa`` → 27...: a run of letters as a bijective base-26
    number (``cca`` < ``ccb``; ``z`` < ``aa``)."""
    n = 0
    for ch in text.lower():
        n = n * 26 + (ord(ch) - 96)
    return n
