"""Writing :class:`~wormsign.logs.conn.ConnBatch` rows as the files sensors write: Zeek
conn.log (TSV with its headers, or JSON lines), Suricata EVE ``flow`` events, and packet
captures (pcap) whose packets end each attempt as its outcome says.

For fixtures, tests and benchmarks: what these write, :mod:`wormsign.logs.connread` reads
back to the same columns (times to the microsecond; EVE carries no payload byte counts; a
capture carries no byte count of an unanswered or refused attempt).

    from wormsign.logs import connwrite
    connwrite.write_zeek_tsv(batch, "conn.log")       # or conn.log.gz
    connwrite.write_pcap(batch, "scan.pcap", seed=7)

Only IPv4 (the columns' addresses). Values the columns do not hold (uids, durations,
packet counts) are made up plausibly and deterministically from the row.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import struct
import time as _time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from wormsign.logs.conn import (
    ESTABLISHED,
    OTHER,
    PROTOCOLS,
    REFUSED,
    UNANSWERED,
    ConnBatch,
)
from wormsign.logs.conncols import STATE_OF_OUTCOME

Target = str | Path | IO[bytes]
Batches = ConnBatch | Iterable[ConnBatch]

#: The fields of a Zeek (6.x) conn.log and their types, in Zeek's order.
ZEEK_CONN_FIELDS = (
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
    ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
    ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"),
    ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"),
    ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
)
_OCTETS = [str(i) for i in range(256)]
_ROWS_PER_WRITE = 1 << 16


def ip_text(a: int) -> str:
    """Dotted quad of an IPv4 address held as an integer."""
    return (f"{_OCTETS[a >> 24]}.{_OCTETS[(a >> 16) & 255]}.{_OCTETS[(a >> 8) & 255]}."
            f"{_OCTETS[a & 255]}")


def _batches(data: Batches) -> Iterator[ConnBatch]:
    if isinstance(data, ConnBatch):
        yield data
    else:
        yield from data


@contextmanager
def _open(target: Target) -> Iterator[IO[bytes]]:
    """A binary file for ``target`` (gzip when its name ends in ``.gz``)."""
    if not isinstance(target, str | Path):
        yield target
        return
    path = Path(target)
    if path.suffix == ".gz":
        with gzip.open(path, "wb", compresslevel=3) as gz:
            yield gz  # type: ignore[misc]
    else:
        with open(path, "wb") as f:
            yield f


def _history(proto: int, outcome: int) -> str:
    if proto != 6:
        return {ESTABLISHED: "Dd", UNANSWERED: "D"}.get(outcome, "-")
    return {ESTABLISHED: "ShADadFf", REFUSED: "Sr", UNANSWERED: "S"}.get(outcome, "-")


def _packets(proto: int, outcome: int, sizes: tuple[int, int]) -> tuple[int, int, int, int]:
    """Made-up (orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes) fitting the outcome."""
    head = 40 if proto == 6 else 28
    ob, rb = max(sizes[0], 0), max(sizes[1], 0)
    if outcome == ESTABLISHED:
        return 3 + (ob > 0), 3 * head + ob + head * (ob > 0), 2 + (rb > 0), 2 * head + rb
    if outcome == REFUSED:
        return 1, head, 1, head
    if outcome == UNANSWERED:
        return 1, head + ob, 0, 0
    return 1 + (ob > 0), head + ob, int(rb > 0), rb + head * (rb > 0)


def _opt(v: int) -> str:
    return "-" if v < 0 else str(v)


def _zeek_row(b: ConnBatch, i: int, uid: int) -> list[str]:
    t = float(b.time[i])
    proto, outcome = int(b.proto[i]), int(b.outcome[i])
    ob, rb = int(b.orig_bytes[i]), int(b.resp_bytes[i])
    pk = _packets(proto, outcome, (ob, rb))
    return ["-" if math.isnan(t) else f"{t:.6f}", f"C{uid:x}", ip_text(int(b.src[i])),
            _opt(int(b.sport[i])), ip_text(int(b.dst[i])), _opt(int(b.dport[i])),
            PROTOCOLS.get(proto, "unknown_transport"), "-",
            "0.100000" if outcome == ESTABLISHED else "-", _opt(ob), _opt(rb),
            STATE_OF_OUTCOME[outcome], "-", "-", "0", _history(proto, outcome),
            str(pk[0]), str(pk[1]), str(pk[2]), str(pk[3]), "-"]


def _stamp(t: float) -> str:
    return _time.strftime("%Y-%m-%d-%H-%M-%S", _time.gmtime(t if math.isfinite(t) else 0))


def write_zeek_tsv(data: Batches, target: Target, *, header: bool = True) -> int:
    """Write rows as a Zeek TSV conn.log; returns the number of rows written."""
    n = 0
    with _open(target) as f:
        w = io.TextIOWrapper(f, encoding="utf-8", newline="\n", write_through=False)
        first = True
        t_end = 0.0
        for b in _batches(data):
            if first and header:
                t0 = float(np.nanmin(b.time)) if len(b) and not np.isnan(b.time).all() else 0
                w.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n"
                        "#unset_field\t-\n#path\tconn\n"
                        f"#open\t{_stamp(t0)}\n#fields\t"
                        + "\t".join(k for k, _ in ZEEK_CONN_FIELDS) + "\n#types\t"
                        + "\t".join(v for _, v in ZEEK_CONN_FIELDS) + "\n")
            first = False
            if len(b) and not np.isnan(b.time).all():
                t_end = max(t_end, float(np.nanmax(b.time)))
            for s in range(0, len(b), _ROWS_PER_WRITE):
                w.write("".join("\t".join(_zeek_row(b, i, n + i - s)) + "\n"
                                for i in range(s, min(s + _ROWS_PER_WRITE, len(b)))))
                n += min(_ROWS_PER_WRITE, len(b) - s)
        if header:
            w.write(f"#close\t{_stamp(t_end)}\n")
        w.flush()
        w.detach()
    return n


def write_zeek_json(data: Batches, target: Target) -> int:
    """Write rows as a Zeek JSON-lines conn.log (unset fields left out, as Zeek does)."""
    names = [k for k, _ in ZEEK_CONN_FIELDS]
    numeric = {"ts", "id.orig_p", "id.resp_p", "duration", "orig_bytes", "resp_bytes",
               "missed_bytes", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"}
    n = 0
    with _open(target) as f:
        for b in _batches(data):
            out = []
            for i in range(len(b)):
                row = _zeek_row(b, i, n + i)
                obj: dict[str, object] = {}
                for k, v in zip(names, row, strict=True):
                    if v != "-":
                        obj[k] = float(v) if k in numeric and "." in v else (
                            int(v) if k in numeric else v)
                out.append(json.dumps(obj, separators=(",", ":")))
            n += len(b)
            if out:
                f.write(("\n".join(out) + "\n").encode())
    return n


def _iso(t: float) -> str:
    if not math.isfinite(t):
        t = 0.0
    whole = math.floor(t)
    micros = min(round((t - whole) * 1e6), 999_999)
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(whole)) + f".{micros:06d}+0000"


_EVE_FLAGS = {ESTABLISHED: ("1b", "1b", "closed"), REFUSED: ("02", "14", "closed"),
              UNANSWERED: ("02", None, "new"), OTHER: ("18", "18", "established")}


def _eve_flow(b: ConnBatch, i: int, flow_id: int) -> dict[str, object]:
    t = float(b.time[i])
    proto, outcome = int(b.proto[i]), int(b.outcome[i])
    pk = _packets(proto, outcome, (int(b.orig_bytes[i]), int(b.resp_bytes[i])))
    end = t + (0.1 if outcome == ESTABLISHED else 0.0)
    obj: dict[str, object] = {
        "timestamp": _iso(end), "flow_id": flow_id, "event_type": "flow",
        "src_ip": ip_text(int(b.src[i])), "dest_ip": ip_text(int(b.dst[i])),
        "proto": PROTOCOLS.get(proto, str(proto)).upper(),
    }
    if b.sport[i] >= 0:
        obj["src_port"] = int(b.sport[i])
    if b.dport[i] >= 0:
        obj["dest_port"] = int(b.dport[i])
    ts_flags, tc_flags, state = _EVE_FLAGS[outcome]
    if proto != 6:
        state = "established" if outcome == ESTABLISHED else "new"
    obj["flow"] = {"pkts_toserver": pk[0], "pkts_toclient": pk[2],
                   "bytes_toserver": pk[1] + 14 * pk[0], "bytes_toclient": pk[3] + 14 * pk[2],
                   "start": _iso(t), "end": _iso(end), "age": int(end - t),
                   "state": state, "reason": "timeout", "alerted": False}
    if proto == 6:
        flags = int(ts_flags, 16) | (int(tc_flags, 16) if tc_flags else 0)
        tcp: dict[str, object] = {"tcp_flags": f"{flags:02x}", "tcp_flags_ts": ts_flags}
        if tc_flags:
            tcp["tcp_flags_tc"] = tc_flags
        for bit, name in ((1, "fin"), (2, "syn"), (4, "rst"), (8, "psh"), (16, "ack")):
            if flags & bit:
                tcp[name] = True
        tcp["state"] = state
        obj["tcp"] = tcp
    return obj


def write_eve_flow(data: Batches, target: Target) -> int:
    """Write rows as Suricata eve.json ``flow`` events (one JSON object a line)."""
    n = 0
    with _open(target) as f:
        for b in _batches(data):
            lines = [json.dumps(_eve_flow(b, i, 1_000_000 + n + i), separators=(",", ":"))
                     for i in range(len(b))]
            n += len(b)
            if lines:
                f.write(("\n".join(lines) + "\n").encode())
    return n


# ---- packet captures -------------------------------------------------------------------

_MAC_A, _MAC_B = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
_SEGMENT = 1460
_SYN, _RST, _ACK, _FIN, _PSH = 0x02, 0x04, 0x10, 0x01, 0x08


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = int(np.frombuffer(data, dtype=">u2").sum(dtype=np.int64))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ip(src: int, dst: int, proto: int, l4: bytes, ident: int) -> bytes:
    head = bytearray(struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0x4000,
                                 64, proto, 0, src, dst))
    struct.pack_into("!H", head, 10, _checksum(bytes(head)))
    return _MAC_B + _MAC_A + b"\x08\x00" + bytes(head) + l4


def _l4_sum(src: int, dst: int, proto: int, seg: bytes) -> int:
    """The TCP/UDP checksum; payloads are zeros, so only the header words count."""
    pseudo = struct.pack("!IIBBH", src, dst, 0, proto, len(seg))
    head = seg[: 20 if proto == 6 else 8]
    return _checksum(pseudo + head)


def _tcp(ends: tuple[int, int, int, int], seq: int, ack: int, flags: int, size: int) -> bytes:
    src, dst, sp, dp = ends
    seg = bytearray(struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                5 << 4, flags, 65535, 0, 0))
    seg += bytes(size)
    struct.pack_into("!H", seg, 16, _l4_sum(src, dst, 6, bytes(seg[:20])
                                             + bytes(size)) if size == 0 else
                     _l4_sum(src, dst, 6, bytes(seg)))
    return _ip(src, dst, 6, bytes(seg), seq)


def _udp(ends: tuple[int, int, int, int], size: int) -> bytes:
    src, dst, sp, dp = ends
    seg = bytearray(struct.pack("!HHHH", sp, dp, 8 + size, 0) + bytes(size))
    struct.pack_into("!H", seg, 6, _l4_sum(src, dst, 17, bytes(seg)) or 0xFFFF)
    return _ip(src, dst, 17, bytes(seg), sp ^ dp)


def _icmp(src: int, dst: int, typ: int, code: int, body: bytes) -> bytes:
    msg = bytearray(struct.pack("!BBHI", typ, code, 0, 0) + body)
    struct.pack_into("!H", msg, 2, _checksum(bytes(msg)))
    return _ip(src, dst, 1, bytes(msg), typ)


def _segments(ends: tuple[int, int, int, int], seq: int, ack: int, size: int,
              ) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        n = min(_SEGMENT, size - sent)
        yield _tcp(ends, seq + sent, ack, _PSH | _ACK, n)
        sent += n


def _tcp_packets(ends: tuple[int, int, int, int], outcome: int, sizes: tuple[int, int],
                 isn: tuple[int, int]) -> Iterator[bytes]:
    src, dst, sp, dp = ends
    back = (dst, src, dp, sp)
    a, b = isn
    ob, rb = max(sizes[0], 0), max(sizes[1], 0)
    if outcome == OTHER:
        yield from _segments(ends, a, b, max(ob, 1))
        yield from _segments(back, b, a, rb)
        return
    yield _tcp(ends, a, 0, _SYN, 0)
    if outcome == REFUSED:
        yield _tcp(back, 0, a + 1, _RST | _ACK, 0)
    if outcome != ESTABLISHED:
        return
    yield _tcp(back, b, a + 1, _SYN | _ACK, 0)
    yield _tcp(ends, a + 1, b + 1, _ACK, 0)
    yield from _segments(ends, a + 1, b + 1, ob)
    yield from _segments(back, b + 1, a + 1 + ob, rb)
    yield _tcp(ends, a + 1 + ob, b + 1 + rb, _FIN | _ACK, 0)


def _other_packets(ends: tuple[int, int, int, int], proto: int, outcome: int,
                   sizes: tuple[int, int]) -> Iterator[bytes]:
    src, dst, sp, dp = ends
    ob, rb = max(sizes[0], 0), max(sizes[1], 0)
    if proto == 17:
        first = _udp(ends, ob)
        yield first
        if outcome == ESTABLISHED:
            yield _udp((dst, src, dp, sp), rb)
    else:
        first = _icmp(src, dst, 8, 0, bytes(ob))
        yield first
        if outcome == ESTABLISHED:
            yield _icmp(dst, src, 0, 0, bytes(rb))
    if outcome == REFUSED:  # an ICMP unreachable from the target quotes the first packet
        yield _icmp(dst, src, 3, 3 if proto == 17 else 1, first[14:14 + 28])


def _conn_packets(b: ConnBatch, i: int, rng: np.random.Generator) -> Iterator[bytes]:
    ends = (int(b.src[i]), int(b.dst[i]), max(int(b.sport[i]), 0), max(int(b.dport[i]), 0))
    proto, outcome = int(b.proto[i]), int(b.outcome[i])
    sizes = (int(b.orig_bytes[i]), int(b.resp_bytes[i]))
    if proto == 6:
        isn = int(b.dst[i]) if b.mark[i] & 1 else int(rng.integers(0, 2**32))
        if isn == int(b.dst[i]) and not b.mark[i] & 1:
            isn ^= 1
        yield from _tcp_packets(ends, outcome, sizes, (isn, int(rng.integers(0, 2**32))))
    elif proto in (1, 17):
        yield from _other_packets(ends, proto, outcome, sizes)


def write_pcap(data: Batches, target: Target, *, seed: int = 0) -> int:
    """Write each row as the packets of its attempt (Ethernet, microsecond pcap): a SYN and
    what answered it (a SYN-ACK and the payload bytes both ways, a RST, nothing); a datagram
    and its reply or ICMP unreachable; an ICMP echo and its reply. A row with
    ``MARK_SEQ_IS_DST`` gets the destination address as its SYN's sequence number. The
    answer packets follow at 1 ms steps; a row without a time is written at time 0.
    Returns the number of packets written (other protocols than TCP, UDP, ICMP are
    left out)."""
    rng = np.random.default_rng(seed)
    n = 0
    with _open(target) as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for b in _batches(data):
            out: list[bytes] = []
            for i in range(len(b)):
                t = float(b.time[i])
                t = 0.0 if math.isnan(t) else t
                for k, pkt in enumerate(_conn_packets(b, i, rng)):
                    sec, usec = divmod(round((t + k * 0.001) * 1e6), 1_000_000)
                    out.append(struct.pack("<IIII", sec, usec, len(pkt), len(pkt)))
                    out.append(pkt)
                    n += 1
                if len(out) > 1 << 16:
                    f.write(b"".join(out))
                    out = []
            f.write(b"".join(out))
    return n
