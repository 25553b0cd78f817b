"""Hostile connection inputs (issue 12) thrown at ``wormsign scan`` in a child process:
Zeek conn.log (TSV and JSON), EVE flow and pcap with bad values, wrong types, injected text,
huge numbers, endless lines and truncated captures. Each ends in counted skips or a
one-line error, no traceback, bounded memory, and only canonical addresses in the output."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from tests.hostile.conftest import assert_clean, run_cli

from wormsign.logs import connwrite
from wormsign.logs.conn import ConnBatch
from wormsign.logs.normalize import canonical_ip

FIELDS = [name for name, _ in connwrite.ZEEK_CONN_FIELDS]
GOOD = ["995538225.5", "C1", "10.0.0.1", "1025", "192.0.2.80", "80", "tcp", "-", "0.1", "0",
        "0", "S0", "-", "-", "0", "S", "1", "40", "0", "0", "-"]


def _row(**change: str) -> str:
    vals = dict(zip(FIELDS, GOOD, strict=True))
    for k, v in change.items():
        key = k.replace("id_", "id.", 1)
        assert key in vals, key
        vals[key] = v
    return "\t".join(vals[f] for f in FIELDS)


def _zeek(rows: list[str]) -> bytes:
    head = "#separator \\x09\n#path\tconn\n#fields\t" + "\t".join(FIELDS) + "\n"
    return (head + "\n".join(rows) + "\n").encode("utf-8", "surrogateescape")


ZEEK_CASES: dict[str, bytes] = {
    "bad-values": _zeek([
        _row(id_orig_p="99999999999999999999"), _row(id_resp_p="²"), _row(ts="nan"),
        _row(ts="1e300"), _row(ts="-5"), _row(orig_bytes="-1"), _row(conn_state="\x1b[2J"),
        _row(id_orig_h="10.0.0.1%eth0"), _row(id_orig_h="::ffff:10.0.0.9"),
        _row(id_orig_h="010.000.000.001"), _row(id_orig_h="10.0.0.1\u202e"),
        _row(id_resp_h="<script>alert(1)</script>"), _row(proto="\u2066tcp"),
    ]),
    "missing-fields": _zeek(["995538225.5\tC1\t10.0.0.1", "", "\t\t\t", _row()]),
    "no-header": ("\n".join([_row()] * 50) + "\n").encode(),
    "fields-changed-midway": _zeek([_row()]) + b"#fields\tts\tid.orig_h\n1.0\t10.0.0.2\n",
    "out-of-order": _zeek([_row(ts=str(995538225 - i)) for i in range(200)]),
    "endless-line": _zeek([_row()]) + b"A" * (3 << 20),
    "binary-tail": _zeek([_row()]) + bytes(range(256)) * 64,
}

JSON_CASES: dict[str, bytes] = {
    "zeek-json-types": b"\n".join(json.dumps(d).encode() for d in [
        {"ts": 995538225.0, "id.orig_h": "10.0.0.1", "id.orig_p": 1, "id.resp_h": "192.0.2.1",
         "id.resp_p": 80, "proto": "tcp", "conn_state": "S0"},
        {"ts": "yesterday", "id.orig_h": ["10.0.0.1"], "id.resp_h": {"a": 1}, "proto": 6,
         "conn_state": None},
        {"ts": 1e308, "id.orig_h": "10.0.0.1", "id.resp_h": "192.0.2.1", "id.resp_p": -80,
         "proto": "tcp", "conn_state": "REJ"},
        {"ts": 995538226.0, "id": {"orig_h": "1.2.3.4\u0000", "resp_h": "192.0.2.1"},
         "proto": "udp", "conn_state": "S0"},
    ]) + b"\n" + b"[" * 100_000 + b"\n{not json\n",
    "eve-flow-types": b"\n".join(json.dumps(d).encode() for d in [
        {"timestamp": "2001-07-19T12:00:00.000000+0000", "event_type": "flow",
         "src_ip": "10.0.0.1", "src_port": 1, "dest_ip": "192.0.2.1", "dest_port": 80,
         "proto": "TCP", "flow": {"state": "new"}, "tcp": {"syn": True}},
        {"timestamp": 5, "event_type": "flow", "src_ip": "10.0.0.1\u202e", "dest_ip": 3,
         "proto": ["TCP"], "flow": "closed", "tcp": 7},
        {"timestamp": "9999-99-99T99:99:99", "event_type": "flow", "src_ip": "10.0.0.1",
         "dest_ip": "192.0.2.1", "proto": "UDP", "flow": {"pkts_toclient": "many"}},
        {"event_type": "flow"},
    ]) + b"\n",
}


def _sources(doc: object) -> set[str]:
    """Every value of an ``ip``/``source``/``target`` key anywhere in the JSON."""
    found: set[str] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("ip", "source", "target") and isinstance(v, str):
                found.add(v)
            found |= _sources(v)
    elif isinstance(doc, list):
        for v in doc:
            found |= _sources(v)
    return found


def _scan(path: Path) -> dict[str, object] | None:
    """The ``--json`` document's input entry for ``path`` (None after a one-line error)."""
    r = run_cli(["scan", "--json", str(path)])
    assert_clean(r)
    assert r.returncode in (0, 1, 2)
    if r.returncode == 2 or not r.stdout.strip():
        return None
    doc = json.loads(r.stdout)
    for ip in _sources(doc):
        assert canonical_ip(ip) == ip, ip
    inputs = doc["inputs"] if "network" not in doc else doc["network"]["inputs"]
    entry: dict[str, object] = inputs[0]
    return entry


def _dropped(entry: dict[str, object]) -> int:
    skipped = entry["skipped"]
    assert isinstance(skipped, dict)
    return sum(skipped.values()) + int(str(entry["bad_values"]))


@pytest.mark.parametrize("case", sorted(ZEEK_CASES) + sorted(JSON_CASES))
def test_hostile_connection_logs(tmp_path: Path, case: str) -> None:
    p = tmp_path / ("conn.log" if case in ZEEK_CASES else "eve.json")
    p.write_bytes(ZEEK_CASES.get(case) or JSON_CASES[case])
    entry = _scan(p)
    if case in ("bad-values", "missing-fields", "zeek-json-types", "eve-flow-types"):
        assert entry is not None and _dropped(entry) > 0, entry  # counted, not lost
    if case == "out-of-order":
        assert entry is not None and entry["records"] == 200 and entry["out_of_order"], entry


def _capture(tmp_path: Path) -> bytes:
    n = 200
    batch = ConnBatch(np.linspace(995538225.0, 995538325.0, n),
                      np.full(n, 0x0A000001, np.uint32),
                      np.arange(0xC0000201, 0xC0000201 + n, dtype=np.uint32),
                      np.full(n, 1025, np.int32), np.full(n, 80, np.int32),
                      np.full(n, 6, np.uint8), np.arange(n, dtype=np.uint8) % 3,
                      np.full(n, -1, np.int64), np.full(n, -1, np.int64),
                      np.zeros(n, np.uint8), np.arange(1, n + 1, dtype=np.int64))
    p = tmp_path / "good.pcap"
    connwrite.write_pcap([batch], str(p), seed=1)
    return p.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "bad-lengths", "header-only", "junk-body"])
def test_hostile_captures(tmp_path: Path, damage: str) -> None:
    good = _capture(tmp_path)
    if damage == "truncated":
        data = good[: len(good) // 2 + 7]
    elif damage == "bad-lengths":  # the second record claims 4 GB
        data = bytearray(good)
        first_len = struct.unpack_from("<I", data, 24 + 8)[0]
        struct.pack_into("<II", data, 24 + 16 + first_len + 8, 0xFFFFFFFF, 0xFFFFFFFF)
        data = bytes(data)
    elif damage == "header-only":
        data = good[:24]
    else:
        data = good[:24] + bytes(range(256)) * 400
    p = tmp_path / f"{damage}.pcap"
    p.write_bytes(data)
    _scan(p)
