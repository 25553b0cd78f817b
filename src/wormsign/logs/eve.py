"""Suricata ``eve.json``: HTTP transactions (``event_type: http``, and the ``http`` object of
alert events when a sensor logs alerts only).

    {"timestamp": "2001-07-19T10:23:45.123456+0000", "event_type": "http", "src_ip": "10.0.0.1",
     "dest_ip": "192.0.2.80", "http": {"hostname": "www.example.com", "url": "/default.ida?NN...",
     "http_user_agent": "-", "http_method": "GET", "protocol": "HTTP/1.0", "status": 404}}

A transaction logged both as an http event and in alerts counts once (flow id + tx id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wormsign.logs.record import Request
from wormsign.logs.zeek import load_json


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
    except ValueError:
        return None


def parse(raw: bytes, state: EveState, path: str = "", line: int = 0) -> Request | None:
    """Parse one eve record into a request (None for non-HTTP records and repeats)."""
    obj = load_json(raw)
    if obj is None or obj.get("event_type") not in ("http", "alert"):
        return None
    http = obj.get("http")
    if not isinstance(http, dict) or not http.get("url") or not obj.get("src_ip"):
        return None
    key = (obj.get("flow_id"), obj.get("tx_id"))
    if key != (None, None):
        if key in state.seen:
            return None
        state.seen.add(key)
    status = http.get("status")
    length = http.get("length")
    return Request(
        timestamp=_ts(obj.get("timestamp")), source_ip=str(obj["src_ip"]),
        method=str(http["http_method"]) if http.get("http_method") else None,
        url=str(http["url"]), status=int(status) if isinstance(status, int) else None,
        protocol=str(http["protocol"]) if http.get("protocol") else None,
        user_agent=str(http["http_user_agent"]) if http.get("http_user_agent") else None,
        host=str(http["hostname"]) if http.get("hostname") else None,
        size=int(length) if isinstance(length, int) else None,
        referer=str(http["http_refer"]) if http.get("http_refer") else None,
        path=path, line=line, format="suricata-eve",
    )
