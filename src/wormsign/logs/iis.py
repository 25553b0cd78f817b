"""IIS W3C extended logs: columns named by ``#Fields:``, in any order, changing mid-file.

    #Software: Microsoft Internet Information Services 5.0
    #Date: 2001-07-19 00:00:01
    #Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status cs(User-Agent)
    2001-07-19 00:00:01 10.1.2.3 GET /default.ida NNNN...%u9090... 404 -

``cs-uri-stem`` and ``cs-uri-query`` are separate fields (joined with ``?`` into ``url``);
``-`` means empty; spaces inside fields are written as ``+``. IIS records requests decoded
one level, with raw bytes where the request had ``%c1%1c``-style escapes.

A row whose ``c-ip`` is not exactly one address (``canonical_ip``) is no request and counts
as skipped; a bad optional value (a status of ``²``, a 30-digit size) becomes None.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache

from wormsign.logs.lines import count_bad
from wormsign.logs.normalize import bounded_int, canonical_ip, status_code
from wormsign.logs.record import Request
from wormsign.logs.text import decode


@dataclass
class IISState:
    """Header context of one file: which ``#Fields:`` applies from which line on."""

    starts: list[int] = field(default_factory=list)
    fields: list[tuple[str, ...]] = field(default_factory=list)
    dates: list[tuple[int, str]] = field(default_factory=list)

    def fields_at(self, line: int) -> tuple[str, ...] | None:
        i = bisect.bisect_right(self.starts, line) - 1
        return self.fields[i] if i >= 0 else None

    def date_at(self, line: int) -> str | None:
        i = bisect.bisect_right(self.dates, (line, "\uffff")) - 1
        return self.dates[i][1] if i >= 0 else None


def validate(buf: bytes, base_line: int, state: IISState, max_bad: int,
             ) -> tuple[int, int, list[int]]:
    """Count lines, record header changes in ``state``, and find lines that do not fit.

    A data line fits when it has as many space-separated fields as the ``#Fields:`` in force.
    ``base_line`` is the number of lines before ``buf`` in the file; returned line numbers are
    absolute (1-based).
    """

    def accept(line: bytes, n: int) -> bool:
        if line[:1] == b"#":
            if line.startswith(b"#Fields:"):
                state.starts.append(n)
                state.fields.append(tuple(decode(line[8:].rstrip(b"\r")).split()))
            elif line.startswith(b"#Date:"):
                state.dates.append((n, decode(line[6:].rstrip(b"\r")).strip()[:10]))
            return True
        if not state.fields:
            return False
        names = state.fields[-1]
        n_values = line.rstrip(b"\r").count(b" ") + 1
        fits = n_values == len(names) or (n_values < len(names) and _cut_short(line, names))
        return fits and client_ok(line, names, "c-ip", b" ")

    return count_bad(buf, base_line, max_bad, accept)


@lru_cache(maxsize=256)
def _column(names: tuple[str, ...], key: str) -> int:
    return names.index(key) if key in names else -1


def client_ok(line: bytes, names: tuple[str, ...], key: str, sep: bytes) -> bool:
    """True when the row's client column (``key``) is exactly one address, or the header has
    no such column: a row whose client is a zone-id address or text is a counted skip."""
    i = _column(names, key)
    if i < 0:
        return True
    values = line.rstrip(b"\r").split(sep, i + 1)
    return i < len(values) and canonical_ip(decode(values[i])) is not None


_FIRST = {"date": re.compile(rb"\d{4}-\d\d-\d\d "), "time": re.compile(rb"\d\d:\d\d:\d\d ")}


def _cut_short(line: bytes, names: tuple[str, ...]) -> bool:
    """A row cut short (by a crash or a full disk) that still holds the client and the
    requested path: kept, so that a worm request in it is still seen."""
    first = _FIRST.get(names[0])
    if first is None or first.match(line) is None:
        return False
    have = line.rstrip(b"\r").count(b" ") + 1
    need = max((names.index(k) for k in ("c-ip", "cs-uri-stem") if k in names), default=len(names))
    return have > need


@lru_cache(maxsize=65536)
def _when(d: str, t: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(d), datetime.strptime(t[:8], "%H:%M:%S").time(),
                                tzinfo=UTC)
    except ValueError:
        return None


def _val(v: str | None) -> str | None:
    return None if v is None or v == "-" else v


def parse_line(raw: bytes, state: IISState, path: str = "", line: int = 0) -> Request | None:
    """Parse one data line with the ``#Fields:`` in force at ``line``."""
    names = state.fields_at(line)
    if names is None:
        return None
    values = decode(raw.rstrip(b"\r\n")).split(" ")
    if len(values) > len(names) or (len(values) < len(names) and not _cut_short(raw, names)):
        return None
    row = dict(zip(names, values, strict=False))  # a row cut short has only its first fields
    ip = canonical_ip(row.get("c-ip"))
    stem = _val(row.get("cs-uri-stem"))
    if ip is None or stem is None:
        return None
    query = _val(row.get("cs-uri-query"))
    url = stem if query is None else f"{stem}?{query}"
    day = _val(row.get("date")) or state.date_at(line)
    tod = _val(row.get("time"))
    ts = _when(day, tod) if day and tod else None
    status = _val(row.get("sc-status"))
    ua = _val(row.get("cs(User-Agent)"))
    size = _val(row.get("sc-bytes"))
    return Request(
        timestamp=ts,
        source_ip=ip,
        method=_val(row.get("cs-method")),
        url=url,
        status=status_code(status),
        protocol=_val(row.get("cs-version")),
        user_agent=ua.replace("+", " ") if ua else None,
        host=_val(row.get("cs-host")) or _val(row.get("s-ip")),
        size=bounded_int(size),
        referer=_val(row.get("cs(Referer)")),
        path=path,
        line=line,
        format="iis-w3c",
    )
