"""Suricata eve.json ``flow`` events as connection columns.

    {"timestamp": "2021-03-01T10:00:01.000000+0000", "flow_id": 123, "event_type": "flow",
     "src_ip": "198.51.100.7", "src_port": 40123, "dest_ip": "192.0.2.10", "dest_port": 23,
     "proto": "TCP", "flow": {"pkts_toserver": 1, "pkts_toclient": 0, "bytes_toserver": 74,
     "bytes_toclient": 0, "start": "2021-03-01T10:00:01.000000+0000", ..., "state": "new"},
     "tcp": {"tcp_flags": "02", "tcp_flags_ts": "02", "syn": true, "state": "syn_sent"}}

Other event types in the same file (alerts, http, dns, stats) are counted under
``other_events`` and passed over. The time is the flow's ``start`` (else the event's
``timestamp``, which is when the flow was logged).

Outcome: TCP is ``established`` when the responder's flags (``tcp_flags_tc``) show a SYN
with an ACK, ``refused`` when they show a RST without one, ``unanswered`` when the
originator sent a SYN and nothing came back (``pkts_toclient`` 0), else ``other``
(mid-stream, flags not logged). Other protocols: ``established`` when anything came back,
``unanswered`` when nothing did (an ICMP error in reply is a flow of its own, so a refused
datagram reads as unanswered). EVE counts bytes with their headers, so the payload byte
columns stay unknown (-1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wormsign.logs.conn import ESTABLISHED, OTHER, REFUSED, UNANSWERED, ConnBatch
from wormsign.logs.conncols import (
    PROTO_NUMBERS,
    Rows,
    int_value,
    ipv4_int,
    is_ipv6,
    text_seconds,
)
from wormsign.logs.connstats import ConnStats
from wormsign.logs.source import DEFAULT_LIMITS, Input, Limits
from wormsign.logs.zeekconn import read_json_lines

FORMAT = "eve-flow"
_SYN, _RST, _ACK = 0x02, 0x04, 0x10


def eve_time(v: Any) -> float | None:
    """Unix seconds of an EVE timestamp (``2021-03-01T10:00:01.000000+0000``), or None."""
    return text_seconds(v) if isinstance(v, str) else None


def _flags(v: Any) -> int | None:
    if not isinstance(v, str) or not 0 < len(v) <= 4:
        return None
    try:
        return int(v, 16)
    except ValueError:
        return None


def flow_outcome(proto: int, flow: dict[str, Any], tcp: Any) -> int:
    """The outcome of one flow event (see the module text)."""
    back = int_value(flow.get("pkts_toclient"), 1 << 62)
    if proto != 6:
        if back is None:
            return OTHER
        return ESTABLISHED if back > 0 else UNANSWERED
    tcp = tcp if isinstance(tcp, dict) else {}
    ts, tc = _flags(tcp.get("tcp_flags_ts")), _flags(tcp.get("tcp_flags_tc"))
    if tc is not None and tc & _SYN and tc & _ACK:
        return ESTABLISHED
    if tc is not None and tc & _RST:
        return REFUSED
    if back == 0 and (ts is None or ts & _SYN):
        return UNANSWERED
    return OTHER


def _proto(v: Any) -> int:
    if isinstance(v, str):
        if v.isdigit() and len(v) < 4:
            return int(v) if int(v) < 256 else 0
        return PROTO_NUMBERS.get(v.lower(), 0)
    n = int_value(v, 255)
    return 0 if n is None else n


def _row(obj: dict[str, Any], rows: Rows, stats: ConnStats, line: int) -> None:
    a, b = obj.get("src_ip"), obj.get("dest_ip")
    if a is None or b is None:
        stats.skip("missing-field")
        return
    src, dst = ipv4_int(a), ipv4_int(b)
    if src is None or dst is None:
        if (src is not None or is_ipv6(a)) and (dst is not None or is_ipv6(b)):
            stats.ipv6 += 1
        else:
            stats.skip("address")
        return
    flow = obj.get("flow")
    flow = flow if isinstance(flow, dict) else {}
    t = eve_time(flow.get("start"))
    if t is None:
        t = eve_time(obj.get("timestamp"))
    bad = int(t is None)
    ports = []
    for key in ("src_port", "dest_port"):
        p = int_value(obj.get(key), 65535)
        bad += p is None and obj.get(key) is not None
        ports.append(-1 if p is None else p)
    proto = _proto(obj.get("proto"))
    rows.add(float("nan") if t is None else t, (src, dst, ports[0], ports[1]), proto,
             flow_outcome(proto, flow, obj.get("tcp")), (-1, -1), line)
    stats.bad_values += bad


def _event(obj: dict[str, Any], rows: Rows, stats: ConnStats, line: int) -> None:
    if obj.get("event_type") != "flow":
        stats.other_events += 1
    else:
        _row(obj, rows, stats, line)


def read_flows(inp: Input, stats: ConnStats, limits: Limits = DEFAULT_LIMITS,
               ) -> Iterator[ConnBatch]:
    """Batches of the flow events of an eve.json (one per chunk of lines)."""
    return read_json_lines(inp, stats, limits, FORMAT, _event)
