"""Suricata EVE flow events into connection columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.logs.conn_helpers import assert_same, random_batch

from wormsign.logs import connwrite
from wormsign.logs.conn import ESTABLISHED, OTHER, REFUSED, UNANSWERED, concat
from wormsign.logs.connread import ConnStats, read_connections, sniff_connections


def _flow(src: str, dst: str, proto: str, back: int, ts: str | None, tc: str | None,
          **extra: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "timestamp": "2021-03-01T10:00:09.000000+0000", "event_type": "flow", "src_ip": src,
        "src_port": 40000, "dest_ip": dst, "dest_port": 23, "proto": proto,
        "flow": {"pkts_toserver": 1, "pkts_toclient": back,
                 "start": "2021-03-01T10:00:01.250000+0000", "state": "new"}}
    tcp: dict[str, object] = {}
    if ts is not None:
        tcp["tcp_flags_ts"] = ts
    if tc is not None:
        tcp["tcp_flags_tc"] = tc
    if tcp:
        obj["tcp"] = tcp
    obj.update(extra)
    return obj


def test_round_trip_without_byte_counts(tmp_path: Path) -> None:
    """TCP outcomes come back as written; a UDP flow only says whether anything came back."""
    want = random_batch(1500, seed=5, protos=(6,))
    p = tmp_path / "eve.json"
    connwrite.write_eve_flow(want, p)
    assert sniff_connections(str(p)) == "eve-flow"
    stats = ConnStats()
    got = concat(list(read_connections(str(p), stats=stats)))
    assert_same(got, want, ("time", "src", "dst", "sport", "dport", "proto", "outcome"))
    assert (got.orig_bytes == -1).all() and stats.records == 1500


def test_outcomes_and_other_events(tmp_path: Path) -> None:
    events = [
        _flow("10.0.0.1", "192.0.2.1", "TCP", 2, "1b", "12"),  # SYN-ACK back
        _flow("10.0.0.1", "192.0.2.2", "TCP", 1, "02", "14"),  # RST-ACK back
        _flow("10.0.0.1", "192.0.2.3", "TCP", 0, "02", None),  # nothing back
        _flow("10.0.0.1", "192.0.2.4", "TCP", 3, "18", "18"),  # mid-stream
        _flow("10.0.0.1", "192.0.2.5", "UDP", 0, None, None),
        _flow("10.0.0.1", "192.0.2.6", "UDP", 1, None, None),
        _flow("10.0.0.1", "192.0.2.7", "ICMP", 1, None, None),
        _flow("10.0.0.1", "192.0.2.8", "TCP", 0, None, None),  # flags not logged
        {"event_type": "alert", "src_ip": "10.0.0.1", "dest_ip": "192.0.2.1"},
        {"event_type": "stats", "stats": {}},
        _flow("2001:db8::1", "2001:db8::2", "TCP", 0, "02", None),
        _flow("10.0.0.1", "not an ip", "TCP", 0, "02", None),
        _flow("10.0.0.1", "192.0.2.9", "TCP", 0, "02", None, src_port="x",
              flow={"start": 5}, timestamp="garbage"),
        {"event_type": "flow", "dest_ip": "192.0.2.1"},
    ]
    p = tmp_path / "eve.json"
    p.write_text("".join(json.dumps(e) + "\n" for e in events) + "not json\n")
    stats = ConnStats()
    b = concat(list(read_connections(str(p), stats=stats)))
    assert list(b.outcome) == [ESTABLISHED, REFUSED, UNANSWERED, OTHER, UNANSWERED,
                               ESTABLISHED, ESTABLISHED, UNANSWERED, OTHER]
    assert list(b.proto) == [6, 6, 6, 6, 17, 17, 1, 6, 6]
    assert b.time[0] == 1614592801.25 and b.dport[0] == 23
    assert np.isnan(b.time[-1]) and b.sport[-1] == -1
    assert stats.other_events == 2 and stats.ipv6 == 1
    assert stats.skipped == {"address": 1, "missing-field": 1, "json": 1}
    assert stats.bad_values == 2 and stats.lines == 15


def test_flow_events_anywhere_in_the_head(tmp_path: Path) -> None:
    p = tmp_path / "eve.json"
    head = "".join(json.dumps({"event_type": "dns", "src_ip": "10.0.0.1"}) + "\n"
                   for _ in range(500))
    p.write_text(head + json.dumps(_flow("10.0.0.1", "192.0.2.1", "TCP", 0, "02", None)) + "\n")
    assert sniff_connections(str(p)) == "eve-flow"
    http_only = tmp_path / "http.json"
    http_only.write_text(json.dumps({"event_type": "http", "src_ip": "10.0.0.1",
                                     "http": {"url": "/"}}) + "\n")
    assert sniff_connections(str(http_only)) is None


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 70000), st.floats(),
                    st.sampled_from(["10.0.0.1", "::ffff:1.2.3.4", "fe80::1", "01.2.3.4", "TCP",
                                     "udp", "1b", "zz", "2021-03-01T10:00:01+0000", "-", ""]),
                    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                         st.integers(),
                                                                         max_size=2))
_KEYS = ["event_type", "src_ip", "dest_ip", "src_port", "dest_port", "proto", "flow", "tcp",
         "timestamp", "id.orig_h", "id.resp_h", "id.orig_p", "id.resp_p", "conn_state", "ts",
         "orig_bytes", "id"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=9), max_size=8),
       st.sampled_from(["eve-flow", "zeek-conn-json"]))
def test_any_json_counts_up(tmp_path_factory: pytest.TempPathFactory,
                            objs: list[dict[str, object]], fmt: str) -> None:
    """Whatever the values, every line is a row, a counted skip, IPv6 or another event."""
    p = tmp_path_factory.mktemp("j") / "in.json"
    lines = []
    for o in objs:
        if fmt == "eve-flow" and "event_type" not in o:
            o = {**o, "event_type": "flow"}
        lines.append(json.dumps(o))
    p.write_text("".join(x + "\n" for x in lines))
    stats = ConnStats()
    b = concat(list(read_connections(str(p), format=fmt, stats=stats)))
    assert stats.records == len(b)
    assert stats.records + stats.total_skipped + stats.ipv6 + stats.other_events == len(lines)
    assert set(b.outcome.tolist()) <= {0, 1, 2, 3}
