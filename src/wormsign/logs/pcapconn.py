"""Packet captures (pcap, pcapng) as connection attempts and how each ended.

Packets are framed and decoded by compiled kernels (numba; no per-packet Python), then
grouped by flow (addresses, ports, protocol, either direction) and read in time order:

* TCP: an attempt starts with a SYN (no ACK); a SYN-ACK from the responder makes it
  ``established``, a RST or an ICMP destination-unreachable quoting it ``refused``, nothing
  ``unanswered``. Retransmitted SYNs are the same attempt; a SYN after the attempt was
  answered, or 30 s after its first SYN, starts another. ``mark`` gets
  :data:`~wormsign.logs.conn.MARK_SEQ_IS_DST` when the first SYN's sequence number equals
  the destination address (Mirai's scanner). Flows without a SYN (the capture began
  mid-stream, backscatter) are one ``other`` row (a flow that begins with a SYN-ACK is
  turned round: its receiver is the originator).
* UDP: the first datagram of a flow starts an attempt; a datagram back makes it
  ``established``, an ICMP unreachable quoting it ``refused``, nothing ``unanswered``; a
  minute without packets ends it (as Zeek's UDP timeout).
* ICMP echo: a request (``sport`` 8, ``dport`` 0, as Zeek writes it) answered by a reply is
  ``established``, else ``unanswered``; other ICMP messages are only read as answers.

``orig_bytes``/``resp_bytes`` are the transport payload bytes each side sent in the attempt
(retransmissions included). Link types: Ethernet (with VLAN tags), Linux cooked (v1, v2),
raw IP, BSD loopback. IPv6 packets are counted (``ipv6``), non-first IP fragments and
non-IP frames passed over. A record cut short by the end of the file counts as
``truncated``; a record header no capture can have (a length over 256 KiB or past the
snapshot length) as ``corrupt``, and reading that file stops there, keeping what came
before. A file that is not a capture at all is an :class:`~wormsign.errors.InputError`.

All packets' headers (about 90 bytes each) are held until the file is read, so memory grows
with the number of packets, not with their size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from wormsign.errors import InputError
from wormsign.logs._jit import njit
from wormsign.logs.conn import (
    ESTABLISHED,
    MARK_SEQ_IS_DST,
    OTHER,
    REFUSED,
    UNANSWERED,
    ConnBatch,
)
from wormsign.logs.conncols import MATRIX_COLUMNS, batch_from_matrix
from wormsign.logs.connstats import ConnStats
from wormsign.logs.source import DEFAULT_LIMITS, Input, InputStream, Limits, open_input

FORMAT = "pcap-conn"
_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": (False, 1e-6), b"\xa1\xb2\xc3\xd4": (True, 1e-6),
                b"\x4d\x3c\xb2\xa1": (False, 1e-9), b"\xa1\xb2\x3c\x4d": (True, 1e-9)}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_READ = 8 << 20
MAX_RECORD = 256 << 10

# packet matrix columns
(_P_SRC, _P_DST, _P_SPORT, _P_DPORT, _P_PROTO, _P_FLAGS, _P_SEQ, _P_PLEN, _P_KIND,
 _P_ICMP, _P_NUM) = range(11)
_PCOLS = 11
# packet kinds
_K_NONE, _K_PKT, _K_UNREACH, _K_IPV6, _K_BAD = range(5)
# frame kernel counters
_F_TRUNC, _F_CORRUPT, _F_IPV6, _F_BAD, _F_PACKETS = range(5)
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_TCP_RETRY = 30.0
_UDP_IDLE = 60.0
_NCOL = len(MATRIX_COLUMNS)
_I_SRC, _I_DST, _I_SP, _I_DP, _I_PROTO, _I_OUT, _I_OB, _I_RB, _I_LINE, _I_MARK = range(_NCOL)


def is_capture(head: bytes) -> bool:
    """True when ``head`` starts with a pcap or pcapng magic number."""
    return head[:4] in _PCAP_MAGICS or head[:4] == _PCAPNG_MAGIC


@njit
def _u16(buf: npt.NDArray[np.uint8], i: int) -> int:
    return (int(buf[i]) << 8) | int(buf[i + 1])


@njit
def _u32(buf: npt.NDArray[np.uint8], i: int, big: bool) -> int:
    if big:
        return ((int(buf[i]) << 24) | (int(buf[i + 1]) << 16) | (int(buf[i + 2]) << 8)
                | int(buf[i + 3]))
    return ((int(buf[i + 3]) << 24) | (int(buf[i + 2]) << 16) | (int(buf[i + 1]) << 8)
            | int(buf[i]))


@njit
def _l3(buf: npt.NDArray[np.uint8], off: int, end: int, link: int) -> tuple[int, int]:
    """(IP version 4/6 or 0, where the IP header starts) for a frame of link type ``link``."""
    if link == 1:  # Ethernet, maybe VLAN-tagged
        p = off + 12
        for _ in range(3):
            if p + 2 > end:
                return 0, 0
            et = _u16(buf, p)
            if et == 0x8100 or et == 0x88A8 or et == 0x9100:
                p += 4
                continue
            return (4 if et == 0x0800 else 6 if et == 0x86DD else 0), p + 2
        return 0, 0
    if link == 113 or link == 276:  # Linux cooked v1 / v2
        p = off + 14 if link == 113 else off
        if p + 2 > end:
            return 0, 0
        et = _u16(buf, p)
        return (4 if et == 0x0800 else 6 if et == 0x86DD else 0), (off + 16 if link == 113
                                                                   else off + 20)
    if link == 0 or link == 108:  # BSD loopback: address family, host or network order
        if off + 4 > end:
            return 0, 0
        fam = _u32(buf, off, link == 108)
        if fam > 0xFFFFFF:
            fam = _u32(buf, off, True)
        return (4 if fam == 2 else 6 if fam in (24, 28, 30) else 0), off + 4
    if link in (12, 14, 101, 228, 229):  # raw IP
        if off >= end:
            return 0, 0
        v = int(buf[off]) >> 4
        return (v if v in (4, 6) else 0), off
    return 0, 0


@njit
def _ports(buf: npt.NDArray[np.uint8], p: int, end: int, row: npt.NDArray[np.int64]) -> bool:
    if p + 4 > end:
        return False
    row[_P_SPORT] = _u16(buf, p)
    row[_P_DPORT] = _u16(buf, p + 2)
    return True


@njit
def _decode(buf: npt.NDArray[np.uint8], off: int, caplen: int, link: int,
            row: npt.NDArray[np.int64]) -> int:
    """Fill ``row`` from one frame; returns its kind (``_K_*``)."""
    end = off + caplen
    ver, ip = _l3(buf, off, end, link)
    if ver == 6:
        return _K_IPV6
    if ver != 4:
        return _K_NONE
    if ip + 20 > end or int(buf[ip]) >> 4 != 4:
        return _K_BAD
    ihl = (int(buf[ip]) & 15) * 4
    total = _u16(buf, ip + 2)
    if ihl < 20 or ip + ihl > end:
        return _K_BAD
    if _u16(buf, ip + 6) & 0x1FFF:
        return _K_NONE  # a later fragment: no transport header
    if total < ihl:
        total = end - ip  # offloaded length 0: what was captured
    proto = int(buf[ip + 9])
    row[_P_SRC] = _u32(buf, ip + 12, True)
    row[_P_DST] = _u32(buf, ip + 16, True)
    row[_P_PROTO] = proto
    row[_P_FLAGS] = 0
    row[_P_SEQ] = 0
    row[_P_PLEN] = 0
    row[_P_ICMP] = -1
    row[_P_SPORT] = 0
    row[_P_DPORT] = 0
    t = ip + ihl
    if proto == 6:
        if t + 14 > end:
            return _K_BAD
        row[_P_SPORT] = _u16(buf, t)
        row[_P_DPORT] = _u16(buf, t + 2)
        row[_P_SEQ] = _u32(buf, t + 4, True)
        row[_P_FLAGS] = int(buf[t + 13])
        row[_P_PLEN] = max(total - ihl - (int(buf[t + 12]) >> 4) * 4, 0)
        return _K_PKT
    if proto == 17:
        if not _ports(buf, t, end, row):
            return _K_BAD
        row[_P_PLEN] = max(total - ihl - 8, 0)
        return _K_PKT
    if proto == 1:
        if t + 2 > end:
            return _K_BAD
        typ = int(buf[t])
        row[_P_ICMP] = typ
        if typ == 3:  # destination unreachable: the quoted header says which attempt
            q = t + 8
            if q + 20 > end or int(buf[q]) >> 4 != 4:
                return _K_BAD
            qhl = (int(buf[q]) & 15) * 4
            qproto = int(buf[q + 9])
            row[_P_SRC] = _u32(buf, q + 12, True)
            row[_P_DST] = _u32(buf, q + 16, True)
            row[_P_PROTO] = qproto
            if qproto in (6, 17) and not _ports(buf, q + qhl, end, row):
                return _K_BAD
            return _K_UNREACH
        if typ == 0 or typ == 8:
            row[_P_SPORT] = 0
            row[_P_DPORT] = 0
            row[_P_PLEN] = max(total - ihl - 8, 0)
            return _K_PKT
        return _K_NONE
    return _K_NONE


# ``state`` of the frame kernels: rows kept, packets, then the counters below, then the
# pcapng byte order and number of interfaces.
_S_ROWS, _S_PACKETS, _S_IPV6, _S_BAD, _S_CORRUPT, _S_BIG, _S_IFACES = range(7)


@njit
def _keep(buf: npt.NDArray[np.uint8], frame: tuple[int, int, int], ts: float,
          out: npt.NDArray[np.int64], out_t: npt.NDArray[np.float64],
          state: npt.NDArray[np.int64]) -> None:
    """Decode one frame (offset, captured length, link type) into the next output row."""
    n = state[_S_ROWS]
    state[_S_PACKETS] += 1
    row = out[n]
    kind = _decode(buf, frame[0], frame[1], frame[2], row)
    if kind == _K_IPV6:
        state[_S_IPV6] += 1
    elif kind == _K_BAD:
        state[_S_BAD] += 1
    elif kind != _K_NONE:
        row[_P_KIND] = kind
        row[_P_NUM] = state[_S_PACKETS]
        out_t[n] = ts
        state[_S_ROWS] = n + 1


@njit
def _frame_pcap(buf: npt.NDArray[np.uint8], pos: int, hdr: npt.NDArray[np.int64],
                out: npt.NDArray[np.int64], out_t: npt.NDArray[np.float64],
                state: npt.NDArray[np.int64]) -> int:
    """Packets of a pcap from ``pos`` while whole records remain; returns where it stopped
    (-1 at a record header that cannot be true). ``hdr``: big-endian, nanoseconds, link."""
    big, nano, link = hdr[0] == 1, hdr[1] == 1, hdr[2]
    n = buf.shape[0]
    cap = out.shape[0]
    while pos + 16 <= n and state[_S_ROWS] < cap:
        incl = _u32(buf, pos + 8, big)
        if incl > MAX_RECORD:
            state[_S_CORRUPT] += 1
            return -1
        if pos + 16 + incl > n:
            break
        ts = _u32(buf, pos, big) + _u32(buf, pos + 4, big) * (1e-9 if nano else 1e-6)
        _keep(buf, (pos + 16, incl, link), ts, out, out_t, state)
        pos += 16 + incl
    return pos


@njit
def _u16e(buf: npt.NDArray[np.uint8], i: int, big: bool) -> int:
    return _u16(buf, i) if big else (int(buf[i + 1]) << 8) | int(buf[i])


@njit
def _interface(buf: npt.NDArray[np.uint8], pos: int, blen: int, ifaces: npt.NDArray[np.int64],
               ifres: npt.NDArray[np.float64], state: npt.NDArray[np.int64]) -> None:
    """Record an interface description block: link type and time resolution."""
    big = state[_S_BIG] == 1
    k = state[_S_IFACES]
    if k >= ifaces.shape[0]:
        return
    ifaces[k] = _u16e(buf, pos + 8, big)
    ifres[k] = 1e-6
    p = pos + 16
    while p + 4 <= pos + blen - 4:
        code, olen = _u16e(buf, p, big), _u16e(buf, p + 2, big)
        if code == 0:
            break
        if code == 9 and olen == 1 and p + 5 <= pos + blen:
            v = int(buf[p + 4])
            ifres[k] = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        p += 4 + ((olen + 3) // 4) * 4
    state[_S_IFACES] = k + 1


@njit
def _frame_pcapng(buf: npt.NDArray[np.uint8], pos: int, ifaces: npt.NDArray[np.int64],
                  ifres: npt.NDArray[np.float64], out: npt.NDArray[np.int64],
                  out_t: npt.NDArray[np.float64], state: npt.NDArray[np.int64]) -> int:
    """Packets of a pcapng from ``pos`` while whole blocks remain (as :func:`_frame_pcap`)."""
    n = buf.shape[0]
    cap = out.shape[0]
    while pos + 12 <= n and state[_S_ROWS] < cap:
        btype = _u32(buf, pos, state[_S_BIG] == 1)
        if btype == 0x0A0D0D0A:
            bom = _u32(buf, pos + 8, True)
            if bom not in (0x1A2B3C4D, 0x4D3C2B1A):
                state[_S_CORRUPT] += 1
                return -1
            state[_S_BIG] = 1 if bom == 0x1A2B3C4D else 0
            state[_S_IFACES] = 0
        big = state[_S_BIG] == 1
        blen = _u32(buf, pos + 4, big)
        if blen < 12 or blen % 4 != 0 or blen > MAX_RECORD + 4096:
            state[_S_CORRUPT] += 1
            return -1
        if pos + blen > n:
            break
        if btype == 1:
            _interface(buf, pos, blen, ifaces, ifres, state)
        elif btype == 6 or btype == 2:
            iface = _u32(buf, pos + 8, big) if btype == 6 else _u16e(buf, pos + 8, big)
            caplen = _u32(buf, pos + 20, big)
            if iface >= state[_S_IFACES] or caplen > blen - 32:
                state[_S_PACKETS] += 1
                state[_S_BAD] += 1
            else:
                stamp = (_u32(buf, pos + 12, big) << 32) | _u32(buf, pos + 16, big)
                _keep(buf, (pos + 28, caplen, ifaces[iface]), stamp * ifres[iface], out,
                      out_t, state)
        elif btype == 3:
            if state[_S_IFACES] == 0:
                state[_S_PACKETS] += 1
                state[_S_BAD] += 1
            else:
                caplen = min(_u32(buf, pos + 8, big), blen - 16)
                _keep(buf, (pos + 12, caplen, ifaces[0]), np.nan, out, out_t, state)
        pos += blen
    return pos


def _read_frames(stream: InputStream, head: bytes, path: str,
                 state: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64],
                                                        npt.NDArray[np.float64], int, bool]:
    """Every kept packet's fields, how many bytes were read, and whether the file ended in
    the middle of a record."""
    ng = head[:4] == _PCAPNG_MAGIC
    if not ng:
        big, res = _PCAP_MAGICS[head[:4]]
        fh = stream.read(24)
        if len(fh) < 24:
            raise InputError("not a readable capture: the file header is cut short", path=path)
        hdr = np.array([big, res < 1e-6,
                        int.from_bytes(fh[20:24], "big" if big else "little") & 0xFFFF],
                       dtype=np.int64)
    ifaces = np.zeros(64, dtype=np.int64)
    ifres = np.full(64, 1e-6)
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []
    carry = b""
    total = 24 * (not ng)
    while True:
        try:
            more = stream.read(_READ)
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path=path) from None
        total += len(more)
        data = carry + more if carry else more
        if not data:
            return *_joined(parts), total, False
        buf = np.frombuffer(data, dtype=np.uint8)
        pos = 0
        while True:
            cap = len(data) // 28 + 1
            out = np.empty((cap, _PCOLS), dtype=np.int64)
            out_t = np.empty(cap, dtype=np.float64)
            state[_S_ROWS] = 0
            pos = (_frame_pcapng(buf, pos, ifaces, ifres, out, out_t, state) if ng
                   else _frame_pcap(buf, pos, hdr, out, out_t, state))
            rows = int(state[_S_ROWS])
            parts.append((out[:rows].copy(), out_t[:rows].copy()))
            if pos < 0 or rows < cap:
                break
        if pos < 0:
            return *_joined(parts), total, False
        carry = data[pos:]
        if not more:
            return *_joined(parts), total, bool(carry)


def _joined(parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
            ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    if not parts:
        return np.zeros((0, _PCOLS), dtype=np.int64), np.zeros(0)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@njit
def _close(att: npt.NDArray[np.int64], att_t: float, out: npt.NDArray[np.int64],
           out_t: npt.NDArray[np.float64], k: int) -> int:
    """Write an open attempt as output row ``k``; returns the next row."""
    out[k, :] = att[:_NCOL]
    out_t[k] = att_t
    return k + 1


@njit
def _open(p: npt.NDArray[np.int64], flip: bool, outcome: int,
          att: npt.NDArray[np.int64]) -> None:
    """Start an attempt from packet ``p`` (its receiver as originator when ``flip``)."""
    a, b, pa, pb = p[_P_SRC], p[_P_DST], p[_P_SPORT], p[_P_DPORT]
    if flip:
        a, b, pa, pb = b, a, pb, pa
    att[_I_SRC], att[_I_DST], att[_I_SP], att[_I_DP] = a, b, pa, pb
    att[_I_PROTO], att[_I_OUT], att[_I_OB], att[_I_RB] = p[_P_PROTO], outcome, 0, 0
    att[_I_LINE] = p[_P_NUM]
    att[_I_MARK] = 0
    if p[_P_PROTO] == 1:
        att[_I_SP], att[_I_DP] = 8, 0


@njit
def _answer(p: npt.NDArray[np.int64], att: npt.NDArray[np.int64]) -> None:
    """A packet of an open attempt: payload counted, the outcome moved on by a reply."""
    from_orig = p[_P_SRC] == att[_I_SRC] and (p[_P_SPORT] == att[_I_SP]
                                              or p[_P_PROTO] == 1)
    if from_orig:
        att[_I_OB] += p[_P_PLEN]
        return
    att[_I_RB] += p[_P_PLEN]
    if att[_I_OUT] != UNANSWERED:
        return
    if p[_P_PROTO] != 6:
        if p[_P_PROTO] == 17 or p[_P_ICMP] == 0:
            att[_I_OUT] = ESTABLISHED
    elif p[_P_FLAGS] & _SYN and p[_P_FLAGS] & _ACK:
        att[_I_OUT] = ESTABLISHED
    elif p[_P_FLAGS] & _RST:
        att[_I_OUT] = REFUSED


@njit
def _flows(pk: npt.NDArray[np.int64], ts: npt.NDArray[np.float64],
           order: npt.NDArray[np.int64], starts: npt.NDArray[np.bool_],
           out: npt.NDArray[np.int64], out_t: npt.NDArray[np.float64]) -> int:
    """Attempts of the packets taken in ``order`` (grouped by flow, in time order within a
    flow; ``starts`` marks each flow's first packet); returns the number of rows written."""
    att = np.zeros(_NCOL, dtype=np.int64)
    att_t = 0.0
    last_t = 0.0
    live = False
    k = 0
    for j in range(order.shape[0]):
        p = pk[order[j]]
        t = ts[order[j]]
        if starts[j] and live:
            k = _close(att, att_t, out, out_t, k)
            live = False
        if p[_P_KIND] == _K_UNREACH:
            if (live and att[_I_OUT] == UNANSWERED and p[_P_SRC] == att[_I_SRC]
                    and (p[_P_SPORT] == att[_I_SP] or p[_P_PROTO] == 1)):
                att[_I_OUT] = REFUSED
            continue
        proto = p[_P_PROTO]
        fl = p[_P_FLAGS]
        if proto == 6 and fl & _SYN and not fl & _ACK:
            retry = (live and att[_I_OUT] == UNANSWERED and p[_P_SRC] == att[_I_SRC]
                     and p[_P_SPORT] == att[_I_SP] and not t - att_t > _TCP_RETRY)
            if not retry:
                if live:
                    k = _close(att, att_t, out, out_t, k)
                _open(p, False, UNANSWERED, att)
                att_t = t
                live = True
                if p[_P_SEQ] == p[_P_DST]:
                    att[_I_MARK] = MARK_SEQ_IS_DST
            att[_I_OB] += p[_P_PLEN]
            continue
        if live and proto != 6 and t - last_t > _UDP_IDLE:
            k = _close(att, att_t, out, out_t, k)
            live = False
        last_t = t
        if not live:
            if proto == 6:
                _open(p, bool(fl & _SYN and fl & _ACK), OTHER, att)
            elif proto == 1:
                _open(p, p[_P_ICMP] == 0, UNANSWERED if p[_P_ICMP] == 8 else OTHER, att)
            else:
                _open(p, False, UNANSWERED, att)
            att_t = t
            live = True
            if proto == 6 or p[_P_ICMP] == 0:
                _answer(p, att)
            else:
                att[_I_OB] += p[_P_PLEN]
            continue
        _answer(p, att)
    if live:
        k = _close(att, att_t, out, out_t, k)
    return k


def _group_order(pk: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64],
                                                      npt.NDArray[np.bool_]]:
    """Packets ordered by flow (either direction), then by packet number."""
    a = (pk[:, _P_SRC] << 16) | pk[:, _P_SPORT]
    b = (pk[:, _P_DST] << 16) | pk[:, _P_DPORT]
    lo = np.minimum(a, b)
    hi = (np.maximum(a, b) << 8) | pk[:, _P_PROTO]
    order = np.lexsort((pk[:, _P_NUM], hi, lo)).astype(np.int64)
    slo, shi = lo[order], hi[order]
    starts = np.ones(len(order), dtype=np.bool_)
    starts[1:] = (slo[1:] != slo[:-1]) | (shi[1:] != shi[:-1])
    return order, starts


def attempts(pk: npt.NDArray[np.int64], ts: npt.NDArray[np.float64], path: str) -> ConnBatch:
    """Connection attempts of decoded packets, in time order."""
    if len(pk) == 0:
        return ConnBatch.empty(path, FORMAT)
    order, starts = _group_order(pk)
    out = np.empty((len(pk), _NCOL), dtype=np.int64)
    out_t = np.empty(len(pk), dtype=np.float64)
    n = _flows(pk, ts, order, starts, out, out_t)
    by_time = np.lexsort((out[:n, _I_LINE], out_t[:n]))
    return batch_from_matrix(out_t[:n][by_time], out[:n][by_time], n, path, FORMAT)


def read_capture(inp: Input, stats: ConnStats, limits: Limits = DEFAULT_LIMITS,
                 ) -> Iterator[ConnBatch]:
    """The attempts of one capture file as one batch (``limits`` apply to text inputs only)."""
    del limits
    state = np.zeros(7, dtype=np.int64)
    with open_input(inp) as stream:
        try:
            head = stream.peek(4)
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path=inp.display) from None
        if not is_capture(head):
            raise InputError("not a pcap or pcapng capture", path=inp.display)
        pk, ts, total, cut = _read_frames(stream, head, inp.display, state)
    stats.lines += int(state[_S_PACKETS])
    stats.bytes_read += total
    stats.ipv6 += int(state[_S_IPV6])
    stats.skip("undecodable", int(state[_S_BAD]))
    stats.skip("corrupt", int(state[_S_CORRUPT]))
    stats.skip("truncated", int(cut))
    batch = attempts(pk, ts, inp.display)
    stats.records += len(batch)
    yield batch
