"""Safe text: log contents are attacker-controlled, wherever they end up.

- :func:`decode` turns log bytes into text without ever failing: invalid UTF-8 and control
  characters become ``\\xNN``, the way Apache writes them in its error log, so the same request
  looks the same whichever log it came from and nothing a log contains can drive a terminal.
- :func:`safe` makes any text safe for a terminal (control, line-separator and bidi-override
  characters escaped).
- :func:`csv_cell` keeps spreadsheets from running a cell as a formula (OWASP's advice).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _escape(c: int) -> str:
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


# str.translate tables: one C-level pass, however many characters need escaping (a regex
# substitution calls back into Python per character: 0.1 s for a 64 KB line of tabs).
_CONTROL_TABLE = {c: _escape(c) for c in [*range(0x20), *range(0x7F, 0xA0)]}
_UNSAFE_TABLE = {**_CONTROL_TABLE, **{c: _escape(c) for c in [
    0x200E, 0x200F, *range(0x202A, 0x202F), 0x2028, 0x2029, *range(0x2066, 0x206A)]}}
_CLEAN_TABLE = {**_CONTROL_TABLE, **{c: _escape(c) for c in range(0xD800, 0xE000)}}


def decode(raw: bytes) -> str:
    """Decode log bytes: invalid UTF-8 and control characters become ``\\xNN``."""
    text = raw.decode("utf-8", "backslashreplace")
    if _CONTROL.search(text):
        text = text.translate(_CONTROL_TABLE)
    return text


def safe(text: str) -> str:
    """``text`` with control, line-separator and bidi-override characters escaped."""
    return text.translate(_UNSAFE_TABLE) if _UNSAFE.search(text) else text


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not evaluate: a leading ``= + - @`` (or tab, CR,
    LF) gets a ``'`` prefix."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


_SURROGATE_OR_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(value: str) -> str:
    """Text that came out of a JSON string (whose ``\\u`` escapes can hold any code point),
    made as safe as :func:`decode` makes raw bytes: control characters as ``\\xNN`` and lone
    surrogates (which no encoder accepts) as ``\\udNNN``."""
    if _SURROGATE_OR_CONTROL.search(value):
        return value.translate(_CLEAN_TABLE)
    return value
