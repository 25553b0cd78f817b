"""Safe text: decode attacker-controlled log bytes without crashing and without control chars.

Invalid UTF-8 bytes and control characters become ``\\xNN`` text, the way Apache writes them in
its error log, so the same request looks the same whichever log it came from and nothing a
log contains can drive a terminal.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _hex(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


def decode(raw: bytes) -> str:
    """Decode log bytes: invalid UTF-8 and control characters become ``\\xNN``."""
    text = raw.decode("utf-8", "backslashreplace")
    if _CONTROL.search(text):
        text = _CONTROL.sub(_hex, text)
    return text


def safe(text: str) -> str:
    """Make already-decoded text safe for a terminal (control characters become ``\\xNN``)."""
    return _CONTROL.sub(_hex, text) if _CONTROL.search(text) else text
