"""Apache/nginx access logs: common, combined and the vhost-prefixed variants.

    host ident user [date] "request" status bytes ["referer" "user-agent"]
    vhost[:port] host ident user [date] "request" status bytes "referer" "user-agent"

Worm lines break naive parsers: request lines of 450+ characters, lowercase methods, no HTTP
version, status 200/400/404/501, lines cut short by the logger. The structural check here (and
its C twin, ``_clfscan``) accepts a line once the prefix up to the opening quote of the request
is well formed; the rest is parsed as far as it goes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

# the optional C accelerator (built by setup.py; None when not built or of older line
# rules); same results as the regex below
from wormsign.logs._native import C as _clfscan
from wormsign.logs.lines import count_bad
from wormsign.logs.normalize import bounded_int, canonical_ip, status_code
from wormsign.logs.record import Request
from wormsign.logs.text import decode

_ADDR = rb"[0-9A-Fa-f.:]{2,45}"  # the characters an address may hold (canonical_ip decides)
_PREFIX = {
    3: re.compile(_ADDR + rb" [^ \n]+ [^ \n]+ \[[^\]\n]*\] \""),
    4: re.compile(rb"[^ \n]+ " + _ADDR + rb" [^ \n]+ [^ \n]+ \[[^\]\n]*\] \""),
}
_QS = r'([^"\\]*(?:\\.[^"\\]*)*)'
_LINE = {
    n: re.compile(
        r"^" + r"([^ ]+) " * n + r"\[([^\]]*)\] \"" + _QS
        + r'(?:"(?: (\d{3}|-)(?: (\d+|-))?)?(?: "' + _QS + r'"(?: "' + _QS + r'")?)?)?',
        re.ASCII,
    )
    for n in (3, 4)
}
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])}
_PROTO = re.compile(r"^[A-Za-z]+/\d+(\.\d+)?$")


def validate(buf: bytes, prefix_tokens: int, max_bad: int, *, force_python: bool = False,
             ) -> tuple[int, int, list[int]]:
    """Count the lines of ``buf`` and those that are not access-log lines.

    Returns ``(lines, bad, first_bad)`` with 1-based line numbers relative to ``buf``. A final
    line without a newline counts as a line; an empty ``buf`` has none.
    """
    if not buf:
        return 0, 0, []
    if _clfscan is not None and not force_python:
        lines, bad, first = _clfscan.validate(buf, prefix_tokens, max_bad)
        return int(lines), int(bad), list(first)
    prefix = _PREFIX[prefix_tokens]
    return count_bad(buf, 0, max_bad, lambda line, _n: prefix.match(line) is not None)


@lru_cache(maxsize=4096)
def parse_time(text: str) -> datetime | None:
    """``19/Jul/2001:10:23:45 -0700`` → aware datetime in UTC (None when malformed)."""
    try:
        day, mon, rest = text.split("/", 2)
        year, hh, mm, ss_zone = rest.split(":", 3)
        ss, _, zone = ss_zone.partition(" ")
        dt = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss[:2]))
        if zone and zone[0] in "+-" and len(zone) >= 5:
            sign = -1 if zone[0] == "-" else 1
            off = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
            return dt.replace(tzinfo=timezone(sign * off)).astimezone(UTC)
        return dt.replace(tzinfo=UTC)
    except (ValueError, KeyError, IndexError, OverflowError):
        return None  # year 1 or 9999 shifted out of range by its offset, "²", ...


def split_request(request: str) -> tuple[str | None, str, str | None]:
    """``METHOD URL [PROTO]`` → (method, url, protocol); tolerant of missing parts."""
    parts = request.split(" ")
    if len(parts) == 1:
        return None, parts[0], None
    if len(parts) >= 3 and _PROTO.match(parts[-1]):
        return parts[0], " ".join(parts[1:-1]), parts[-1]
    return parts[0], " ".join(parts[1:]), None


def _opt(s: str | None) -> str | None:
    return None if s is None or s in ("", "-") else s


_TAIL = re.compile(
    _QS + r'(?:"(?: (\d{3}|-)(?: (\d+|-))?)?(?: "' + _QS + r'"(?: "' + _QS + r'")?)?)?',
    re.ASCII,
)
_TAIL_FROM_RIGHT = re.compile(
    r'^(.*)" (\d{3}|-) (\d+|-)(?: "(.*)" "(.*)")?(?: .*)?$'
)
_Tail = tuple[str | None, str, str | None, int | None, int | None, str | None, str | None]


@lru_cache(maxsize=32768)
def _parse_tail(tail: bytes) -> _Tail:
    """Everything after ``] "``: request, status, size, referer, user agent. Worms and
    crawlers repeat it verbatim, so it is parsed once per distinct text."""
    text = decode(tail)
    m = _TAIL.match(text)
    assert m is not None  # every group is optional
    req, status_s, size_s, ref, ua = m.groups()
    req = req.replace('\\"', '"')  # Apache 2 escapes quotes in the request line
    if status_s is None:
        # Apache 1.3 wrote them unescaped: read from the right, and take the text as it is.
        r = _TAIL_FROM_RIGHT.match(text)
        if r is not None:
            req, status_s, size_s, ref, ua = r.groups()
    method, url, proto = split_request(req)
    return (method, url, proto, status_code(status_s), bounded_int(size_s), _opt(ref), _opt(ua))


def parse_line(raw: bytes, prefix_tokens: int, path: str = "", line: int = 0,
               fmt: str = "combined") -> Request | None:
    """Parse one access-log line into a :class:`Request` (None when it is not one)."""
    raw = raw.rstrip(b"\r\n")
    cut = raw.find(b'] "')
    if cut > 0:
        head = raw[:cut].split(b" ", prefix_tokens)
        if len(head) == prefix_tokens + 1 and head[-1][:1] == b"[" and all(head[:-1]):
            source = canonical_ip(decode(head[-4]))
            if source is None:
                return None
            method, url, proto, status, size, ref, ua = _parse_tail(raw[cut + 3:])
            host = decode(head[0]) if prefix_tokens == 4 else None
            return Request(
                timestamp=parse_time(decode(head[-1][1:])), source_ip=source,
                method=method, url=url, status=status, protocol=proto, user_agent=ua,
                host=host, size=size, referer=ref, path=path, line=line, format=fmt,
            )
    text = decode(raw)
    m = _LINE[prefix_tokens].match(text)
    if m is None:
        return None
    g = m.groups()
    off = prefix_tokens - 3
    host = g[0] if off else None
    ip = canonical_ip(g[off])
    if ip is None:
        return None
    method, url, proto = split_request(g[off + 4].replace('\\"', '"'))
    status_s, size_s = g[off + 5], g[off + 6]
    return Request(
        timestamp=parse_time(g[off + 3]),
        source_ip=ip,
        method=method,
        url=url,
        status=status_code(status_s),
        protocol=proto,
        user_agent=_opt(g[off + 8]),
        host=host,
        size=bounded_int(size_s),
        referer=_opt(g[off + 7]),
        path=path,
        line=line,
        format=fmt,
    )
