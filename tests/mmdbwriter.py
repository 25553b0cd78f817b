"""A small MaxMind DB (MMDB 2.0) writer, for tests and benchmarks only: ``maxminddb`` reads
databases but cannot write them, and real GeoLite2 / DB-IP files cannot ship here.

Written from the format specification (https://maxmind.github.io/MaxMind-DB/): an IPv6
search tree with 32-bit records (IPv4 networks live under ``::/96``), 16 zero bytes, the data
section, then ``\\xab\\xcd\\xefMaxMind.com`` and the metadata map. Networks must not overlap.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


class U16(int):
    """An integer written as uint16 (the metadata's readers insist on exact types)."""


class U32(int):
    """An integer written as uint32."""


class U64(int):
    """An integer written as uint64."""


_TYPES = {U16: 5, U32: 6, U64: 9}


def _ctrl(type_: int, size: int) -> bytes:
    ext = b""
    if size < 29:
        bits = size
    elif size < 285:
        bits, ext = 29, bytes([size - 29])
    elif size < 65821:
        bits, ext = 30, (size - 285).to_bytes(2, "big")
    else:
        bits, ext = 31, (size - 65821).to_bytes(3, "big")
    if type_ <= 7:
        return bytes([(type_ << 5) | bits]) + ext
    return bytes([bits, type_ - 7]) + ext


def encode(v: Any) -> bytes:
    """One value in the MMDB data-section encoding."""
    if isinstance(v, bool):
        return _ctrl(14, int(v))
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _ctrl(2, len(b)) + b
    if isinstance(v, float):
        return _ctrl(3, 8) + struct.pack(">d", v)
    if isinstance(v, int):
        if v < 0:
            raise ValueError("negative integers are not needed here")
        type_ = _TYPES.get(type(v)) or (5 if v < 1 << 16 else 6 if v < 1 << 32 else 9)
        b = v.to_bytes((v.bit_length() + 7) // 8, "big") if v else b""
        return _ctrl(type_, len(b)) + b
    if isinstance(v, dict):
        return _ctrl(7, len(v)) + b"".join(encode(str(k)) + encode(x) for k, x in v.items())
    if isinstance(v, list):
        return _ctrl(11, len(v)) + b"".join(encode(x) for x in v)
    raise TypeError(f"cannot encode {type(v).__name__}")


def _bits(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[int]:
    # an IPv4 network sits under ::/96: its 32 bits are the low bits of the 128
    value = int(net.network_address)
    plen = net.prefixlen + (96 if net.version == 4 else 0)
    return [(value >> (127 - i)) & 1 for i in range(plen)]


def write_mmdb(path: Path, networks: Iterable[tuple[str, dict[str, Any]]],
               database_type: str = "wormsign-test") -> Path:
    """Write ``(cidr, record)`` pairs as a MaxMind DB file at ``path``."""
    data = bytearray()
    offsets: dict[bytes, int] = {}
    root: list[Any] = [None, None]
    for cidr, record in networks:
        blob = encode(record)
        off = offsets.setdefault(blob, len(data))
        if off == len(data):
            data += blob
        node = root
        bits = _bits(ipaddress.ip_network(cidr))
        for b in bits[:-1]:
            if node[b] is None:
                node[b] = [None, None]
            if not isinstance(node[b], list):
                raise ValueError(f"{cidr} overlaps another network")
            node = node[b]
        node[bits[-1]] = ("data", off)
    order: list[list[Any]] = [root]
    index = {id(root): 0}
    i = 0
    while i < len(order):  # breadth first: every node gets its number
        for child in order[i]:
            if isinstance(child, list):
                index[id(child)] = len(order)
                order.append(child)
        i += 1
    n = len(order)

    def record(child: Any) -> int:
        if child is None:
            return n
        if isinstance(child, list):
            return index[id(child)]
        return n + 16 + int(child[1])

    tree = b"".join(struct.pack(">II", record(a), record(b)) for a, b in order)
    meta = {"node_count": U32(n), "record_size": U16(32), "ip_version": U16(6),
            "database_type": database_type, "languages": ["en"],
            "binary_format_major_version": U16(2), "binary_format_minor_version": U16(0),
            "build_epoch": U64(int(time.time())), "description": {"en": "wormsign test data"}}
    path.write_bytes(tree + b"\x00" * 16 + bytes(data) + METADATA_MARKER + encode(meta))
    return path
