"""Packet captures (pcap, pcapng) as connection attempts and how each ended.

Packets are framed and decoded by compiled kernels (the C helper ``_connscan``, else its
numba twin in :mod:`wormsign.logs._pcapkernel`; no per-packet Python), then
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
``truncated``; a record header no capture can have (a length over 256 KiB, a pcapng block
length that is not a multiple of 4) as ``corrupt``, and reading that file stops there,
keeping what came before. Captures compressed with gzip are read as they are (within the
decompression budget of :class:`~wormsign.logs.source.Limits`). A file that is not a
capture at all is an :class:`~wormsign.errors.InputError`.

The capture is read a chunk (8 MiB) at a time and its attempts written out as batches as
it goes: only the attempts still open are held between chunks (a few made-up packets each),
and an attempt is written out once its flow has been silent for two minutes of capture time
(see :mod:`wormsign.logs.pcapcarry`: the results are those of the whole capture read at
once, except TCP packets arriving later than that, counted in ``late_answers``; over 250,000
open attempts the least recently seen are written out early, counted in
``flushed_early``). Memory is bounded by the chunk size and the open attempts, whatever the
number of packets.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from wormsign.errors import InputError
from wormsign.logs.conn import ConnBatch
from wormsign.logs.conncols import MATRIX_COLUMNS, batch_from_matrix
from wormsign.logs.connstats import ConnStats
from wormsign.logs.pcap import is_pcap
from wormsign.logs.pcapcarry import Carry, group_order
from wormsign.logs.source import DEFAULT_LIMITS, Input, InputStream, Limits, open_input

FORMAT = "pcap-conn"
_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": (False, 1e-6), b"\xa1\xb2\xc3\xd4": (True, 1e-6),
                b"\x4d\x3c\xb2\xa1": (False, 1e-9), b"\xa1\xb2\x3c\x4d": (True, 1e-9)}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_READ = 8 << 20
BATCH_ROWS = 1 << 16  # attempts written out are handed on in batches of about this many
(_P_SRC, _P_DST, _P_SPORT, _P_DPORT, _P_PROTO, _P_FLAGS, _P_SEQ, _P_PLEN, _P_KIND,
 _P_ICMP, _P_NUM) = range(11)
_PCOLS = 11
_S_ROWS, _S_PACKETS, _S_IPV6, _S_BAD, _S_CORRUPT, _S_BIG, _S_IFACES = range(7)
_NCOL = len(MATRIX_COLUMNS)
_I_LINE = MATRIX_COLUMNS.index("line")

Kernels = tuple[Callable[..., int], Callable[..., int]]


def kernels(prefer_c: bool = True) -> Kernels:
    """(frame, flows): the C helpers when built (no start-up cost), else their numba twins
    (:mod:`wormsign.logs._pcapkernel`), imported only then."""
    if prefer_c:
        try:
            from wormsign.logs import _connscan
        except ImportError:
            pass
        else:
            return _connscan.frame, _connscan.flows
    from wormsign.logs import _pcapkernel

    return _pcapkernel.frame, _pcapkernel.flows


def _read_frames(stream: InputStream | Inflated, head: bytes, path: str,
                 state: npt.NDArray[np.int64], frame: Callable[..., int],
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int, bool]:
    """Every kept packet's fields, how many bytes were read, and whether the file ended in
    the middle of a record (the whole capture at once: for tests and comparisons)."""
    end = [0, 0]
    parts = list(_frame_chunks(stream, head, path, state, frame, end))
    return *_joined(parts), end[0], bool(end[1])


def _frame_chunks(stream: InputStream | Inflated, head: bytes, path: str,
                  state: npt.NDArray[np.int64], frame: Callable[..., int], end: list[int],
                  ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """The kept packets' fields, a read (8 MiB) at a time; at the end ``end`` holds how
    many bytes were read and whether the file ended in the middle of a record."""
    ng = head[:4] == _PCAPNG_MAGIC
    hdr = np.zeros(3, dtype=np.int64)
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
    carry = b""
    end[0] = 24 * (not ng)
    while True:
        try:
            more = stream.read(_READ)
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path=path) from None
        end[0] += len(more)
        data = carry + more if carry else more
        if not data:
            return
        buf = np.frombuffer(data, dtype=np.uint8)
        pos = 0
        while True:
            cap = len(data) // 28 + 1
            out = np.empty((cap, _PCOLS), dtype=np.int64)
            out_t = np.empty(cap, dtype=np.float64)
            state[_S_ROWS] = 0
            pos = frame(buf, pos, ng, hdr, ifaces, ifres, out, out_t, state)
            rows = int(state[_S_ROWS])
            yield out[:rows].copy(), out_t[:rows].copy()
            if pos < 0 or rows < cap:
                break
        if pos < 0:
            return
        carry = data[pos:]
        if not more:
            end[1] = bool(carry)
            return


def _joined(parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
            ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    if not parts:
        return np.zeros((0, _PCOLS), dtype=np.int64), np.zeros(0)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def attempts(pk: npt.NDArray[np.int64], ts: npt.NDArray[np.float64], path: str,
             flows: Callable[..., int]) -> ConnBatch:
    """Connection attempts of decoded packets, in time order."""
    if len(pk) == 0:
        return ConnBatch.empty(path, FORMAT)
    order, starts = group_order(pk)
    out = np.empty((len(pk), _NCOL), dtype=np.int64)
    out_t = np.empty(len(pk), dtype=np.float64)
    n = flows(pk, ts, order, starts, out, out_t)
    by_time = np.lexsort((out[:n, _I_LINE], out_t[:n]))
    return batch_from_matrix(out_t[:n][by_time], out[:n][by_time], n, path, FORMAT)


GZIP_MAGIC = b"\x1f\x8b"


def gzipped_capture(head: bytes) -> bool:
    """True when ``head`` (a few KiB) is a gzip stream that starts with a capture."""
    if not head.startswith(GZIP_MAGIC):
        return False
    try:
        return is_pcap(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4))
    except zlib.error:
        return False


class Inflated:
    """A gzip-compressed capture read as its decompressed bytes (several members too),
    bounded by the decompression budget of :class:`~wormsign.logs.source.Limits`. A stream
    cut short or corrupt simply ends (the capture reader counts the cut record)."""

    def __init__(self, stream: InputStream, budget: int, path: str) -> None:
        self._stream = stream
        self._budget = budget
        self._path = path
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buf = b""
        self._eof = False
        self.decoded = 0

    def _more(self) -> bytes:
        comp = self._stream.read(1 << 16)
        try:
            out = self._d.decompress(comp) if comp else b""
            while self._d.eof and self._d.unused_data:
                rest = self._d.unused_data
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += self._d.decompress(rest)
        except zlib.error:
            self._eof = True
            return b""
        if not comp:
            self._eof = True
        self.decoded += len(out)
        if self.decoded > self._budget:
            raise InputError(f"decompressed size exceeds {self._budget} bytes; raise with "
                             "--max-decompressed-ratio", path=self._path)
        return out

    def peek(self, n: int) -> bytes:
        parts = [self._buf]
        held = len(self._buf)
        while held < n and not self._eof:
            out = self._more()
            parts.append(out)
            held += len(out)
        self._buf = b"".join(parts)
        return self._buf[:n]

    def read(self, n: int) -> bytes:
        head = self.peek(n)
        self._buf = self._buf[len(head):]
        return head


def read_capture(inp: Input, stats: ConnStats, limits: Limits = DEFAULT_LIMITS,
                 ) -> Iterator[ConnBatch]:
    """The attempts of one capture file (plain or gzip-compressed), a batch per chunk read
    (each in time order), holding only the attempts still open between chunks."""
    state = np.zeros(7, dtype=np.int64)
    end = [0, 0]
    with open_input(inp) as raw:
        stream: InputStream | Inflated = raw
        try:
            if gzipped_capture(raw.peek(4096)):
                stream = Inflated(raw, limits.budget(max(inp.size() or 0, 1)), inp.display)
            head = stream.peek(4)
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path=inp.display) from None
        if not is_pcap(head):
            raise InputError("not a pcap or pcapng capture", path=inp.display)
        frame, flows = kernels()
        carry = Carry(flows)
        done: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]] = []
        for pk, ts in _frame_chunks(stream, head, inp.display, state, frame, end):
            done.append(carry.feed(pk, ts))
            if sum(len(d[0]) for d in done) >= BATCH_ROWS:
                batch = _batch(done, inp.full_path)
                stats.records += len(batch)
                yield batch
                done = []
    batch = _batch([*done, carry.finish()], inp.full_path)
    stats.records += len(batch)
    stats.lines += int(state[_S_PACKETS])
    stats.bytes_read += end[0]
    stats.ipv6 += int(state[_S_IPV6])
    stats.skip("undecodable", int(state[_S_BAD]))
    stats.skip("corrupt", int(state[_S_CORRUPT]))
    stats.skip("truncated", end[1])
    stats.late_answers += carry.late
    stats.flushed_early += carry.overflow
    yield batch


def _batch(done: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]], path: str,
           ) -> ConnBatch:
    """Kernel rows (times, rows) as a batch in time order."""
    out_t = np.concatenate([d[0] for d in done])
    out = np.concatenate([d[1] for d in done])
    by_time = np.lexsort((out[:, _I_LINE], out_t))
    return batch_from_matrix(out_t[by_time], out[by_time], len(out), path, FORMAT)
