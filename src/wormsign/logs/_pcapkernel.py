"""The numba twins of the C helpers ``_connscan.frame`` and ``_connscan.flows`` (packets of
a capture into header columns; connection attempts of packets grouped by flow), with the
same arguments and results as described in ``_connscan.c``. Used where the C helper is not
built; imported only then, since loading numba costs about a second per process."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.logs._jit import njit
from wormsign.logs.conn import ESTABLISHED, MARK_SEQ_IS_DST, OTHER, REFUSED, UNANSWERED

MAX_RECORD = 256 << 10
(_P_SRC, _P_DST, _P_SPORT, _P_DPORT, _P_PROTO, _P_FLAGS, _P_SEQ, _P_PLEN, _P_KIND,
 _P_ICMP, _P_NUM) = range(11)
_K_NONE, _K_PKT, _K_UNREACH, _K_IPV6, _K_BAD = range(5)
_S_ROWS, _S_PACKETS, _S_IPV6, _S_BAD, _S_CORRUPT, _S_BIG, _S_IFACES = range(7)
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_TCP_RETRY = 30.0
_UDP_IDLE = 60.0
_NCOL = 10
_I_SRC, _I_DST, _I_SP, _I_DP, _I_PROTO, _I_OUT, _I_OB, _I_RB, _I_LINE, _I_MARK = range(_NCOL)


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
        elif (btype == 6 or btype == 2) and blen < 32:
            state[_S_PACKETS] += 1
            state[_S_BAD] += 1
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
            if state[_S_IFACES] == 0 or blen < 16:
                state[_S_PACKETS] += 1
                state[_S_BAD] += 1
            else:
                caplen = min(_u32(buf, pos + 8, big), blen - 16)
                _keep(buf, (pos + 12, caplen, ifaces[0]), np.nan, out, out_t, state)
        pos += blen
    return pos


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




def frame(buf: npt.NDArray[np.uint8], pos: int, ng: bool, *arrays: npt.NDArray[Any]) -> int:
    """Packets of a pcap (``ng`` False) or pcapng from ``pos`` (as ``_connscan.frame``, whose
    positional form it takes: ``hdr, ifaces, ifres, out, out_t, state``)."""
    hdr, ifaces, ifres, out, out_t, state = arrays
    if ng:
        return int(_frame_pcapng(buf, pos, ifaces, ifres, out, out_t, state))
    return int(_frame_pcap(buf, pos, hdr, out, out_t, state))


flows = _flows
