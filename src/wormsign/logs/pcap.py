"""Packet captures (pcap, pcapng): HTTP requests read straight off the wire.

Each TCP segment whose payload starts with an HTTP request line becomes a request (no stream
reassembly: worm request lines fit in their first segment). Needs the ``pcap`` extra (dpkt).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from struct import error as struct_error
from typing import IO, Any

from wormsign.errors import InputError
from wormsign.logs.clf import split_request
from wormsign.logs.normalize import canonical_ip
from wormsign.logs.record import Request
from wormsign.logs.source import InputStream
from wormsign.logs.text import decode

MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
          b"\x0a\x0d\x0d\x0a")
_REQUEST = re.compile(rb"^[A-Za-z]{3,12} [^\r\n]*")


def is_pcap(head: bytes) -> bool:
    """True when ``head`` starts with a pcap or pcapng magic number."""
    return head[:4] in MAGICS


def _ip_layer(dpkt: Any, datalink: int, buf: bytes) -> Any:
    if datalink == 1:  # Ethernet
        return dpkt.ethernet.Ethernet(buf).data
    if datalink == 113:  # Linux cooked capture
        return dpkt.sll.SLL(buf).data
    if datalink in (12, 14, 101):  # raw IP
        return dpkt.ip6.IP6(buf) if buf[:1] and buf[0] >> 4 == 6 else dpkt.ip.IP(buf)
    if datalink == 0:  # BSD loopback
        return dpkt.loopback.Loopback(buf).data
    return None


def _address(ip: Any) -> str:
    import socket  # here: ``scan`` imports this module before it reads anything

    family = socket.AF_INET6 if len(ip.src) == 16 else socket.AF_INET
    return socket.inet_ntop(family, ip.src)


def _request(payload: bytes, ip: Any, ts: float, path: str, n: int) -> Request | None:
    head, _, rest = payload.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n") if b"\r\n" in head else head.split(b"\n")
    if not _REQUEST.match(lines[0]):
        return None
    method, url, proto = split_request(decode(lines[0]))
    headers: dict[str, str] = {}
    for h in lines[1:]:
        k, sep, v = h.partition(b":")
        if sep:
            headers[decode(k).strip().lower()] = decode(v).strip()
    del rest
    source = canonical_ip(_address(ip))
    if source is None:
        return None
    try:
        when: datetime | None = datetime.fromtimestamp(ts, tz=UTC)
    except (ValueError, OverflowError, OSError):
        when = None  # a capture's time field out of range
    return Request(
        timestamp=when, source_ip=source, method=method,
        url=url, protocol=proto, user_agent=headers.get("user-agent"), host=headers.get("host"),
        referer=headers.get("referer"), path=path, line=n, format="pcap",
    )


MAX_RECORD = 16 << 20  # no capture's snapshot length comes near this


class _Bounded:
    """The capture file as dpkt reads it, refusing a record length no capture can have
    (a corrupt header claiming 2 GB would otherwise be allocated before it is read)."""

    def __init__(self, f: Any, path: str) -> None:
        self._f = f
        self._path = path

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > MAX_RECORD:
            raise InputError(f"corrupt capture: a record claims {n} bytes", path=self._path)
        data: bytes = self._f.read(n)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def requests(f: IO[bytes] | InputStream, path: str) -> Iterator[tuple[int, Request | None, bool]]:
    """Yield ``(packet_number, request or None, decodable)`` for every packet.

    ``f`` is a seekable file or an :func:`~wormsign.logs.source.open_input` stream (a pipe
    too: its first bytes are peeked, not consumed)."""
    try:
        import dpkt
    except ImportError:
        raise InputError("reading packet captures needs the 'pcap' extra "
                         "(pip install 'wormsign[pcap]')", path=path) from None
    if hasattr(f, "peek"):  # an open_input stream (maybe a pipe): look without consuming
        head = f.peek(4)[:4]
    else:
        head = f.read(4)
        f.seek(0)
    bounded = _Bounded(f, path)
    try:
        reader: Any = (dpkt.pcapng.Reader(bounded) if head == MAGICS[-1]
                       else dpkt.pcap.Reader(bounded))
    except (ValueError, dpkt.dpkt.Error) as exc:
        raise InputError(f"not a readable capture: {exc}", path=path) from None
    datalink = reader.datalink()
    n = 0
    try:
        for ts, buf in reader:
            n += 1
            try:
                ip = _ip_layer(dpkt, datalink, buf)
                tcp = getattr(ip, "data", None)
                if not isinstance(tcp, dpkt.tcp.TCP) or not tcp.data:
                    yield n, None, True
                    continue
                yield n, _request(bytes(tcp.data), ip, float(ts), path, n), True
            except (dpkt.dpkt.Error, ValueError, IndexError, struct_error):
                yield n, None, False
    except (dpkt.dpkt.Error, ValueError, struct_error) as exc:
        raise InputError(f"truncated or corrupt capture after packet {n}: {exc}",
                         path=path) from None

