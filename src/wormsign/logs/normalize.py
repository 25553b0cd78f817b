"""Canonical forms of request URLs, so rules survive the encodings worms and logs use.

Three logs write the same Nimda request three ways: Apache's access log as sent
(``..%c0%af..``), IIS decoded one level with raw bytes, Apache's error log decoded one level
with ``\\xNN`` escapes. :func:`escaped` unifies the byte forms (``\\xc0\\xaf`` → ``%c0%af``);
:func:`canonical` decodes everything (repeated percent-decoding, overlong UTF-8 sequences as IIS
read them, backslash as slash) and lowercases, for rules about *what* is requested.

Values read from logs get canonical forms here too. :func:`canonical_ip` is the one gate a
source address passes before it becomes a record's ``source_ip`` (and, through alerts, a
firewall rule): every reader drops a line whose client field is not exactly one IPv4/IPv6
address (zone ids, hostnames, text) -- it returns no request, and the access-log and JSON
validators count such lines as skipped. :func:`bounded_int` and :func:`status_code` turn a bad
number (``²``, ``1e999``, 30 digits, an object) into None, keeping the rest of the record.
"""

from __future__ import annotations

import ipaddress
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


# --- values read from logs --------------------------------------------------------------------

_MAX_INT = 2**63 - 1  # sizes and counts that a column (int64) can hold


def canonical_ip(text: object) -> str | None:
    """The canonical text of an IPv4 or IPv6 address, or None when ``text`` is not exactly one.

    Only what :mod:`ipaddress` parses is kept, written back with ``str()`` of the object:
    ``2001:DB8:0::1`` → ``2001:db8::1``; IPv4-mapped IPv6 (``::ffff:10.1.2.3``, dual-stack
    servers) → ``10.1.2.3``. Zone ids (``fe80::1%eth0``, ``2a00:1450:4001::1%x}``), hostnames,
    surrounding space, newlines and any other text give None: a log field is attacker-written
    and a source address ends up in firewall rules. Shared by the readers, the exporters and
    the incident store.
    """
    if not isinstance(text, str) or not 2 <= len(text) <= 45 or "%" in text:
        return None
    return _canonical_ip(text)


@lru_cache(maxsize=65536)
def _canonical_ip(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return None
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
    return str(ip)


def canonical_network(text: object) -> str | None:
    """The canonical text of an IPv4/IPv6 network or address (``10.1.2.3/8`` →
    ``10.0.0.0/8``, an address → its ``/32`` or ``/128``), or None: the same rules as
    :func:`canonical_ip` for lists of own networks, allowlists and CIDR blocklists."""
    if not isinstance(text, str) or not 2 <= len(text) <= 49 or "%" in text:
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv6Network):
        mapped = net.network_address.ipv4_mapped
        if mapped is not None and net.prefixlen >= 96:
            return str(ipaddress.IPv4Network(f"{mapped}/{net.prefixlen - 96}", strict=False))
    return str(net)


def bounded_int(value: object, lo: int = 0, hi: int = _MAX_INT) -> int | None:
    """``value`` as an int in ``[lo, hi]``, or None.

    Accepts ints (not bools) and strings of ASCII digits only: ``"²"`` (which
    ``str.isdigit`` accepts), ``"1e999"``, NaN, 30-digit numbers and objects all give None,
    so that one bad value in a line makes a field empty instead of ending the run."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and 0 < len(value) <= 19 and value.isascii() and value.isdigit():
        n = int(value)
    else:
        return None
    return n if lo <= n <= hi else None


def status_code(value: object) -> int | None:
    """An HTTP status (100-999) or None."""
    return bounded_int(value, 100, 999)
