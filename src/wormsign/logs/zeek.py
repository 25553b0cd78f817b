"""Zeek ``http.log``: tab-separated with ``#fields`` headers, or JSON lines.

    #separator \\x09
    #fields ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri ...
    995538225.123456 CHhAvV... 10.0.0.1 1025 192.0.2.80 80 1 GET www.example.com /default.ida?NNN...

``-`` is unset and ``(empty)`` empty; Zeek writes non-printable bytes as ``\\xNN``.

A row whose ``id.orig_h`` is not exactly one address (``canonical_ip``) is no request and
counts as skipped; a bad optional value (``status_code`` of ``²``, a time
out of range, an object where text belongs) becomes None. JSON that nests too deep for the
parser is a bad line, never an error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from wormsign.logs.iis import IISState, client_ok
from wormsign.logs.lines import count_bad
from wormsign.logs.normalize import canonical_ip, status_code
from wormsign.logs.record import Request
from wormsign.logs.text import clean, decode


def validate_tsv(buf: bytes, base_line: int, state: IISState, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
    """Count lines; a data line fits when it has as many tab-separated fields as ``#fields``."""

    def accept(line: bytes, n: int) -> bool:
        if line[:1] == b"#":
            if line.startswith(b"#fields"):
                names = decode(line[8:].strip(b"\r")).replace("\\x09", "\t").split("\t")
                state.starts.append(n)
                state.fields.append(tuple(x for x in names if x))
            return True
        if not state.fields:
            return False
        columns = state.fields[-1]
        return (line.rstrip(b"\r").count(b"\t") + 1 == len(columns)
                and client_ok(line, columns, "id.orig_h", b"\t"))

    return count_bad(buf, base_line, max_bad, accept)


def text_value(v: Any, *, numbers: bool = True) -> str | None:
    """A JSON or TSV value as clean text; None for unset, empty, and values that are not
    text (objects, lists, booleans; numbers too unless ``numbers``)."""
    if isinstance(v, str):
        return None if v in ("-", "(empty)", "") else clean(v)
    if numbers and isinstance(v, int | float) and not isinstance(v, bool):
        return str(v) if abs(v) < 1e18 else None
    return None


_val = text_value


def _ts(v: Any) -> datetime | None:
    try:
        if isinstance(v, bool):
            return None
        if isinstance(v, int | float) or (isinstance(v, str) and v.isascii()
                                          and v.replace(".", "", 1).isdigit()):
            return datetime.fromtimestamp(float(v), tz=UTC)
        if isinstance(v, str):
            return datetime.fromisoformat(v.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _record(row: dict[str, Any], path: str, line: int, fmt: str) -> Request | None:
    ip = canonical_ip(row.get("id.orig_h"))
    uri = text_value(row.get("uri"), numbers=False)
    if ip is None or uri is None:
        return None
    return Request(
        timestamp=_ts(row.get("ts")), source_ip=ip, method=_val(row.get("method")), url=uri,
        status=status_code(row.get("status_code")),
        protocol=_val(row.get("version")), user_agent=_val(row.get("user_agent")),
        host=_val(row.get("host")), referer=_val(row.get("referrer")),
        path=path, line=line, format=fmt,
    )


def parse_tsv(raw: bytes, state: IISState, path: str = "", line: int = 0) -> Request | None:
    """Parse one data line of a TSV ``http.log``."""
    names = state.fields_at(line)
    if names is None:
        return None
    values = [decode(v) for v in raw.rstrip(b"\r\n").split(b"\t")]
    if len(values) != len(names):
        return None
    return _record(dict(zip(names, values, strict=True)), path, line, "zeek-http")


def validate_json(buf: bytes, base_line: int, max_bad: int, *, required: str,
                  source_key: str = "id.orig_h") -> tuple[int, int, list[int]]:
    """Count lines and those that are not JSON objects (``required`` must appear in each), or
    whose source (``source_key``) is there but is not exactly one address."""
    key = required.encode()

    def accept(line: bytes, _n: int) -> bool:
        s = line.strip()
        if not s or s[:1] != b"{" or s[-1:] != b"}" or key not in s:
            return not s
        obj = load_json(s)
        if obj is None:
            return False
        if source_key in obj:
            return canonical_ip(obj[source_key]) is not None
        nested = obj.get("id")  # Zeek's JSON writer may nest id.orig_h as {"id": {...}}
        if source_key == "id.orig_h" and isinstance(nested, dict) and "orig_h" in nested:
            return canonical_ip(nested["orig_h"]) is not None
        return True

    return count_bad(buf, base_line, max_bad, accept)


def load_json(raw: bytes) -> dict[str, Any] | None:
    """One JSON object, or None (bad JSON, wrong type, invalid UTF-8 made safe first)."""
    try:
        obj = json.loads(decode(raw.strip()))
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def parse_json(raw: bytes, path: str = "", line: int = 0) -> Request | None:
    """Parse one line of a JSON ``http.log``."""
    obj = load_json(raw)
    if obj is None:
        return None
    if "id.orig_h" not in obj and isinstance(obj.get("id"), dict):
        obj = {**obj, **{f"id.{k}": v for k, v in obj["id"].items()}}
    return _record(obj, path, line, "zeek-http-json")
