"""Connection attempts of a capture read in chunks, with bounded state between chunks.

Each chunk's packets go through the flow kernel (``flows`` of
:func:`wormsign.logs.pcapconn.kernels`) together with the attempts still open from the
chunks before. An attempt stays open while its flow's last packet is at most
:data:`FLUSH_AFTER` seconds (capture time) older than the newest packet read; then it is
written out. An open attempt is carried to the next chunk not as its packets but as a few
packets made up to put the kernel back into the same state (the first packet, at the
attempt's time and packet number, with the originator's bytes; an ICMP unreachable for a
refused datagram; the answer, with the responder's bytes, at the time of the flow's last
packet; a no-op marking when the flow was last seen): at most five packets per attempt,
whatever the attempt's length.

:data:`FLUSH_AFTER` exceeds the kernel's own windows (a SYN 30 s after the attempt's first
SYN, or a datagram after 60 s of silence, starts a new attempt anyway), so results are those
of reading the whole capture at once except for TCP packets (or ICMP unreachables) arriving
more than :data:`FLUSH_AFTER` seconds after their flow's previous packet: the attempt was
written out, and such a late packet starts a new ``other`` row (counted in ``late``; an
unreachable then changes nothing). At most :data:`MAX_OPEN` attempts are carried; over that
the least recently seen are written out early (counted in ``overflow``). Attempts whose
packets carry no time (pcapng simple packet blocks) are held until the end or the cap.
Written-out attempts leave in time order within a chunk, not across chunks (an attempt
held open is written out after later ones: as a Zeek conn.log, which logs a connection when
it ends).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from wormsign.logs.conn import ESTABLISHED, MARK_SEQ_IS_DST, OTHER, REFUSED, UNANSWERED

FLUSH_AFTER = 120.0
MAX_OPEN = 250_000
(_P_SRC, _P_DST, _P_SPORT, _P_DPORT, _P_PROTO, _P_FLAGS, _P_SEQ, _P_PLEN, _P_KIND,
 _P_ICMP, _P_NUM) = range(11)
_PCOLS = 11
_K_PKT, _K_UNREACH = 1, 2
_SYN, _RST, _ACK = 0x02, 0x04, 0x10
_NCOL = 10
_I_SRC, _I_DST, _I_SP, _I_DP, _I_PROTO, _I_OUT, _I_OB, _I_RB, _I_LINE, _I_MARK = range(_NCOL)
_MIX = np.uint64(0x9E3779B97F4A7C15)

Rows = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]


def flow_keys(src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64],
              sport: npt.NDArray[np.int64], dport: npt.NDArray[np.int64],
              proto: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64],
                                                     npt.NDArray[np.int64]]:
    """(lo, hi): the same for both directions of a flow."""
    a = (src << 16) | sport
    b = (dst << 16) | dport
    return np.minimum(a, b), (np.maximum(a, b) << 8) | proto


def group_order(pk: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64],
                                                     npt.NDArray[np.bool_]]:
    """Packets ordered by flow (either direction), then by packet number (stable: packets
    of one number keep their order)."""
    lo, hi = flow_keys(pk[:, _P_SRC], pk[:, _P_DST], pk[:, _P_SPORT], pk[:, _P_DPORT],
                       pk[:, _P_PROTO])
    order = np.lexsort((pk[:, _P_NUM], hi, lo)).astype(np.int64)
    slo, shi = lo[order], hi[order]
    starts = np.ones(len(order), dtype=np.bool_)
    starts[1:] = (slo[1:] != slo[:-1]) | (shi[1:] != shi[:-1])
    return order, starts


def _row_groups(pk: npt.NDArray[np.int64], order: npt.NDArray[np.int64],
                gid: npt.NDArray[np.int64], line: npt.NDArray[np.int64],
                ) -> npt.NDArray[np.int64]:
    """The flow of each attempt row: that of the packet that opened it (its number is the
    row's ``line``; the made-up packets of one attempt share theirs, in one flow)."""
    by_num = np.argsort(pk[:, _P_NUM], kind="stable")  # nearly sorted already: cheap
    at = by_num[np.searchsorted(pk[by_num, _P_NUM], line)]
    flow_of = np.empty(len(pk), dtype=np.int64)
    flow_of[order] = gid
    out: npt.NDArray[np.int64] = flow_of[at]
    return out


def _hash(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    out: npt.NDArray[np.uint64] = (lo.astype(np.uint64) * _MIX) ^ hi.astype(np.uint64)
    return out


def _synthetic(att: npt.NDArray[np.int64], att_t: npt.NDArray[np.float64],
               last_t: npt.NDArray[np.float64], seen: npt.NDArray[np.float64],
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Packets that put the flow kernel back into the state of the open attempts ``att``
    (rows as the kernel writes them): per attempt the opener, a refusing unreachable, a
    filler (no time: keeps the idle rule from firing between made-up packets), the answer at
    the flow's last time, a no-op at the time it was last seen."""
    m = len(att)
    s, d, pr, out = att[:, _I_SRC], att[:, _I_DST], att[:, _I_PROTO], att[:, _I_OUT]
    ob, rb, mark = att[:, _I_OB], att[:, _I_RB], att[:, _I_MARK]
    icmp, tcp, udp = pr == 1, pr == 6, pr == 17
    sp = np.where(icmp, 0, att[:, _I_SP])
    dp = np.where(icmp, 0, att[:, _I_DP])
    icmp_other = icmp & (out == OTHER)
    rb_rest = np.where(icmp_other, 0, rb)
    moved = ~((last_t == att_t) | (np.isnan(last_t) & np.isnan(att_t)))
    final = ((rb_rest > 0) | (out == ESTABLISHED) | (tcp & (out == REFUSED))
             | (~tcp & moved))
    filler = ~tcp & (final | (icmp_other & (ob > 0)))
    final |= filler
    pk = np.zeros((m, 5, _PCOLS), dtype=np.int64)
    ts = np.full((m, 5), np.nan)
    fwd = (s, d, sp, dp)
    back = (d, s, dp, sp)
    for k in range(5):
        for c, v in zip((_P_SRC, _P_DST, _P_SPORT, _P_DPORT), fwd, strict=True):
            pk[:, k, c] = v
        pk[:, k, _P_PROTO] = pr
        pk[:, k, _P_KIND] = _K_PKT
        pk[:, k, _P_ICMP] = -1
        pk[:, k, _P_NUM] = att[:, _I_LINE]
    # 0: the opener
    op = pk[:, 0]
    for c, v in zip((_P_SRC, _P_DST, _P_SPORT, _P_DPORT), back, strict=True):
        op[:, c] = np.where(icmp_other, v, op[:, c])
    op[:, _P_FLAGS] = np.where(tcp, np.where(out == OTHER, _ACK, _SYN), 0)
    op[:, _P_SEQ] = np.where(mark & MARK_SEQ_IS_DST, d, d ^ 1)
    op[:, _P_PLEN] = np.where(icmp_other, rb, ob)
    op[:, _P_ICMP] = np.where(icmp, np.where(icmp_other, 0, 8), -1)
    ts[:, 0] = att_t
    # 1: an unreachable that refused a datagram or echo
    pk[:, 1, _P_KIND] = _K_UNREACH
    pk[:, 1, _P_ICMP] = 3
    # 2: the filler, from the originator (an ICMP reply-opened attempt's bytes)
    pk[:, 2, _P_PLEN] = np.where(icmp_other, ob, 0)
    pk[:, 2, _P_ICMP] = np.where(icmp, 8, -1)
    pk[:, 2, _P_FLAGS] = np.where(tcp, _ACK, 0)
    # 3: the answer (from the originator for a datagram never answered)
    fin = pk[:, 3]
    from_resp = ~(udp & (out == UNANSWERED))
    for c, v in zip((_P_SRC, _P_DST, _P_SPORT, _P_DPORT), back, strict=True):
        fin[:, c] = np.where(from_resp, v, fin[:, c])
    fin[:, _P_PLEN] = np.where(from_resp, rb_rest, 0)
    fin[:, _P_FLAGS] = np.where(tcp, np.where(out == ESTABLISHED, _SYN | _ACK,
                                              np.where(out == REFUSED, _RST, _ACK)), 0)
    fin[:, _P_ICMP] = np.where(icmp, np.where(out == ESTABLISHED, 0, 8), -1)
    ts[:, 3] = last_t
    # 4: a no-op unreachable from the responder, carrying when the flow was last seen
    for c, v in zip((_P_SRC, _P_DST, _P_SPORT, _P_DPORT), back, strict=True):
        pk[:, 4, c] = v
    pk[:, 4, _P_KIND] = _K_UNREACH
    pk[:, 4, _P_ICMP] = 3
    ts[:, 4] = seen
    keep = np.zeros((m, 5), dtype=np.bool_)
    keep[:, 0] = True
    keep[:, 1] = ~tcp & (out == REFUSED)
    keep[:, 2] = filler
    keep[:, 3] = final
    keep[:, 4] = (s != d) & ~np.isnan(seen) & ~(seen <= np.fmax(att_t, last_t))
    return pk[keep], ts[keep]


class Carry:
    """Attempts of a capture chunk by chunk: :meth:`feed` each chunk's packets (columns as
    the frame kernel writes them, packet numbers rising), :meth:`finish` at the end; each
    returns the attempts written out (time, kernel rows)."""

    def __init__(self, flows: Callable[..., int], flush_after: float = FLUSH_AFTER,
                 max_open: int = MAX_OPEN) -> None:
        self.flows = flows
        self.flush_after = flush_after
        self.max_open = max_open
        self.pk = np.zeros((0, _PCOLS), dtype=np.int64)
        self.ts = np.zeros(0)
        self.now = -np.inf
        self.late = 0  # TCP flows that went on after their attempt was written out
        self.overflow = 0  # attempts written out early: more than max_open were open
        self.gone = np.zeros(0, dtype=np.uint64)  # hashes of flows recently written out

    @property
    def open(self) -> int:
        """Packets carried (a few per open attempt)."""
        return len(self.pk)

    def finish(self) -> Rows:
        return self._run(self.pk, self.ts)[:2]

    def feed(self, pk: npt.NDArray[np.int64], ts: npt.NDArray[np.float64]) -> Rows:
        if len(ts) and not np.isnan(ts).all():
            self.now = max(self.now, float(np.nanmax(ts)))
        carried = len(self.pk)
        allpk = np.concatenate([self.pk, pk])
        allts = np.concatenate([self.ts, ts])
        out_t, out, order, starts = self._run(allpk, allts)
        if not len(order):
            return out_t, out
        gid = np.cumsum(starts) - 1
        first_at = np.flatnonzero(starts)
        ots = allts[order]
        seen = np.fmax.reduceat(ots, first_at)  # NaN only where no packet has a time
        real = np.where(allpk[order, _P_KIND] != _K_UNREACH, np.arange(len(order)), -1)
        lastpos = np.maximum.reduceat(real, first_at)
        last_t = np.where(lastpos >= 0, ots[np.maximum(lastpos, 0)], np.nan)
        first = order[starts]
        glo, ghi = flow_keys(*(allpk[first, c] for c in (_P_SRC, _P_DST, _P_SPORT,
                                                            _P_DPORT, _P_PROTO)))
        self._count_late(allpk[first], order[starts] >= carried, _hash(glo, ghi))
        rg = _row_groups(allpk, order, gid, out[:, _I_LINE])
        cand = np.flatnonzero(np.r_[rg[1:] != rg[:-1], True]) if len(rg) else rg
        g = rg[cand]
        keep = ~(self.now - seen[g] > self.flush_after)
        if keep.sum() > self.max_open:
            recent = np.argsort(-np.where(keep, np.nan_to_num(seen[g], nan=-np.inf),
                                          np.inf), kind="stable")
            over = recent[self.max_open:]
            over = over[keep[over]]
            self.overflow += len(over)
            keep[over] = False
        self.gone = np.r_[self.gone, _hash(glo[g[~keep]], ghi[g[~keep]])][-self.max_open:]
        held = cand[keep]
        self.pk, self.ts = _synthetic(out[held], out_t[held], last_t[g[keep]],
                                      seen[g[keep]])
        emit = np.ones(len(out), dtype=np.bool_)
        emit[held] = False
        return out_t[emit], out[emit]

    def _count_late(self, firsts: npt.NDArray[np.int64], fresh: npt.NDArray[np.bool_],
                    keys: npt.NDArray[np.uint64]) -> None:
        """Flows that start mid-attempt (a TCP packet other than a SYN, an unreachable)
        after an attempt of theirs was written out."""
        mid = fresh & ((firsts[:, _P_KIND] == _K_UNREACH)
                       | ((firsts[:, _P_PROTO] == 6)
                          & ((firsts[:, _P_FLAGS] & (_SYN | _ACK)) != _SYN)))
        if mid.any() and len(self.gone):
            self.late += int(np.isin(keys[mid], self.gone).sum())

    def _run(self, pk: npt.NDArray[np.int64], ts: npt.NDArray[np.float64],
             ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64],
                        npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """The kernel's attempts of ``pk`` (flow order) and the grouping used."""
        order, starts = group_order(pk)
        out = np.empty((len(pk), _NCOL), dtype=np.int64)
        out_t = np.empty(len(pk), dtype=np.float64)
        n = self.flows(pk, ts, order, starts, out, out_t) if len(pk) else 0
        return out_t[:n], out[:n], order, starts
