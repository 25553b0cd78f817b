"""Canonical forms of request URLs, so rules survive the encodings worms and logs use.

Three logs write the same Nimda request three ways: Apache's access log as sent
(``..%c0%af..``), IIS decoded one level with raw bytes, Apache's error log decoded one level
with ``\\xNN`` escapes. :func:`escaped` unifies the byte forms (``\\xc0\\xaf`` → ``%c0%af``);
:func:`canonical` decodes everything (repeated percent-decoding, overlong UTF-8 sequences as IIS
read them, backslash as slash) and lowercases, for rules about *what* is requested.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote_to_bytes

_XESC = re.compile(r"\\x([0-9a-fA-F]{2})")
_PCT = re.compile(r"%([0-9a-fA-F]{2})")
# Overlong (non-shortest) UTF-8 forms of ASCII, and the lax 2-byte forms IIS 4/5 accepted
# (e.g. %c1%1c and %c1%9c both read as a backslash).
_OVERLONG = re.compile(rb"[\xc0\xc1][\x00-\xff]|\xe0[\x80-\x9f][\x80-\xbf]")


def escaped(url: str) -> str:
    """``\\xNN`` escapes as ``%nn`` and every percent escape lowercased."""
    if "\\x" in url:
        url = _XESC.sub(lambda m: "%" + m.group(1), url)
    if "%" in url:
        url = _PCT.sub(lambda m: "%" + m.group(1).lower(), url)
    return url


def _overlong(m: re.Match[bytes]) -> bytes:
    b = m.group()
    if len(b) == 2:
        return bytes([((b[0] & 0x1F) << 6 | (b[1] & 0x3F)) & 0x7F])
    return bytes([((b[1] & 0x3F) << 6 | (b[2] & 0x3F)) & 0x7F])


@lru_cache(maxsize=65536)
def canonical(url: str) -> str:
    """Fully decoded, lowercased form with ``/`` for ``\\``: what the server would resolve."""
    data = escaped(url).encode("utf-8", "surrogateescape")
    for _ in range(4):
        if b"%" not in data:
            break
        decoded = unquote_to_bytes(data)
        if decoded == data:
            break
        data = decoded
    data = _OVERLONG.sub(_overlong, data)
    return data.decode("utf-8", "backslashreplace").lower().replace("\\", "/")
