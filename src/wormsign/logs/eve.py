"""Suricata ``eve.json``: HTTP transactions (``event_type: http``, and the ``http`` object of
alert events when a sensor logs alerts only).

    {"timestamp": "2001-07-19T10:23:45.123456+0000", "event_type": "http", "src_ip": "10.0.0.1",
     "dest_ip": "192.0.2.80", "http": {"hostname": "www.example.com", "url": "/default.ida?NN...",
     "http_user_agent": "-", "http_method": "GET", "protocol": "HTTP/1.0", "status": 404}}

A transaction logged both as an http event and in alerts counts once (flow id + tx id).

Every value is checked for its type: a record whose ``src_ip`` is not exactly one address
(``canonical_ip``: no zone id, no text) or whose ``url`` is not a string is no request (and
:func:`wormsign.logs.zeek.validate_json` counts it as a skipped line); a bad optional value
(a timestamp out of range, a status of ``1e999``, an object where text belongs) becomes None.
Strings are cleaned of control characters and lone surrogates (:func:`~wormsign.logs.text.clean`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wormsign.logs.normalize import bounded_int, canonical_ip, status_code
from wormsign.logs.record import Request
from wormsign.logs.zeek import load_json, text_value


@dataclass
class EveState:
    """Transactions already seen in this file."""

    seen: set[tuple[Any, Any]] = field(default_factory=set)


def _ts(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    s = v.replace("Z", "+00:00")
    if len(s) > 5 and s[-5] in "+-" and s[-3] != ":":
        s = s[:-2] + ":" + s[-2:]
    try:
        return datetime.fromisoformat(s).astimezone(UTC)
    except (ValueError, OverflowError):
        return None  # malformed, or year 1 / 9999 shifted out of range by its offset


def parse(raw: bytes, state: EveState, path: str = "", line: int = 0) -> Request | None:
    """Parse one eve record into a request (None for non-HTTP records and repeats)."""
    obj = load_json(raw)
    if obj is None or obj.get("event_type") not in ("http", "alert"):
        return None
    http = obj.get("http")
    if not isinstance(http, dict):
        return None
    url = text_value(http.get("url"), numbers=False)
    source = canonical_ip(obj.get("src_ip"))
    if url is None or source is None:
        return None
    key = (_key(obj.get("flow_id")), _key(obj.get("tx_id")))
    if key != (None, None):
        if key in state.seen:
            return None
        state.seen.add(key)
    return Request(
        timestamp=_ts(obj.get("timestamp")), source_ip=source,
        method=text_value(http.get("http_method")), url=url,
        status=status_code(http.get("status")),
        protocol=text_value(http.get("protocol")),
        user_agent=text_value(http.get("http_user_agent")),
        host=text_value(http.get("hostname")),
        size=bounded_int(http.get("length")),
        referer=text_value(http.get("http_refer")),
        path=path, line=line, format="suricata-eve",
    )


def _key(v: Any) -> int | str | None:
    """A flow or transaction id, only when it is a plain number or text (hashable)."""
    return v if isinstance(v, int | str) and not isinstance(v, bool) else None
