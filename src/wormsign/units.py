"""Durations: the one parser every flag and file uses, and its inverse.

Before this module the blocklist TTL, the maintenance windows of ``assess --window`` and the
outbreak state of the urgency model each read durations their own way, with different units.
Now they all call :func:`parse_duration`; each caller only says what a bare number means
(``default_unit``) and what range it accepts.

Accepted: a number (``90``, ``1.5``) in the caller's default unit, or one or more
number-and-unit parts (``90s``, ``15m``, ``15min``, ``12h``, ``7d``, ``2w``, ``1h30m``,
``1d 12h``), case-insensitive, ASCII digits only. Results are finite, non-negative and at
most :data:`MAX_SECONDS`; anything else is a :class:`~wormsign.errors.ConfigError`.
"""

from __future__ import annotations

import math
import re

from wormsign.errors import ConfigError

UNIT_SECONDS: dict[str, int] = {
    "w": 7 * 86400, "d": 86400, "h": 3600, "min": 60, "m": 60, "s": 1,
}
MAX_SECONDS = 100 * 366 * 86400  # a century: far beyond any TTL, window or outbreak
MAX_TEXT = 64

_NUMBER = r"\d{1,12}(?:\.\d{1,9})?"
_PART = re.compile(rf"({_NUMBER})\s*(min|[smhdw])\s*", re.ASCII | re.IGNORECASE)
_PARTS = re.compile(rf"\s*(?:{_NUMBER}\s*(?:min|[smhdw])\s*)+", re.ASCII | re.IGNORECASE)
_BARE = re.compile(rf"\s*({_NUMBER})\s*", re.ASCII)
_HINT = "use e.g. 90s, 15m, 12h, 7d, 2w or 1h30m"


def parse_duration(text: str, *, default_unit: str | None = "s",
                   what: str = "duration") -> float:
    """Seconds in ``text``. A bare number is in ``default_unit`` (one of
    :data:`UNIT_SECONDS`); with ``default_unit=None`` a unit is required. ``what`` names the
    value in error messages (a flag such as ``--ttl``)."""
    if default_unit is not None and default_unit not in UNIT_SECONDS:
        raise ValueError(f"unknown default unit {default_unit!r}")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ConfigError(f"bad {what} {_show(text)}: {_HINT}")
    bare = _BARE.fullmatch(text)
    if bare is not None:
        if default_unit is None:
            raise ConfigError(f"{what} {text.strip()!r} needs a unit: {_HINT}")
        seconds = float(bare.group(1)) * UNIT_SECONDS[default_unit]
    elif _PARTS.fullmatch(text):
        seconds = math.fsum(float(n) * UNIT_SECONDS[u.lower()] for n, u in _PART.findall(text))
    else:
        raise ConfigError(f"bad {what} {_show(text)}: {_HINT}")
    if not 0.0 <= seconds <= MAX_SECONDS:
        raise ConfigError(f"{what} {text.strip()!r} is longer than 100 years")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest combined form :func:`parse_duration` reads back: ``5400`` → ``1h30m``,
    ``0.25`` → ``0.25s`` (fractions kept to the microsecond)."""
    if not (math.isfinite(seconds) and 0.0 <= seconds <= MAX_SECONDS):
        raise ConfigError(f"duration {seconds!r} s is not in [0, 100 years]")
    whole = math.floor(seconds)
    frac = round(seconds - whole, 6)
    if frac >= 1.0:
        whole, frac = whole + 1, 0.0
    parts: list[str] = []
    for unit in ("w", "d", "h", "m"):
        n, whole = divmod(whole, UNIT_SECONDS[unit])
        if n:
            parts.append(f"{n}{unit}")
    if whole or frac or not parts:
        tail = f"{frac:.6f}".rstrip("0").rstrip(".")[1:] if frac else ""
        parts.append(f"{whole}{tail}s")
    return "".join(parts)


def _show(text: object) -> str:
    """A short, safe rendering of a rejected value for the error message."""
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."
