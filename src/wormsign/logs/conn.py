"""The one normalised connection record, beside :class:`~wormsign.logs.record.Request`.

Most of a worm's footprint never reaches a web-server log: probes of closed ports and empty
addresses, floods, our own hosts scanning out. Zeek ``conn.log``, Suricata EVE ``flow``
events and packet captures say *that* a connection was tried and how it ended; every reader
of them produces these columns.

Bulk data is columns (:class:`ConnBatch`, numpy arrays, one row per connection attempt);
:class:`Connection` is the frozen record a library user can iterate
(:meth:`ConnBatch.records`). Addresses are IPv4 as unsigned 32-bit integers, the form scan
analysis needs (own /8 and /16, sequential targets); rows with IPv6 endpoints are counted by
the readers, not put in the columns.

Outcome codes, as Threshold Random Walk reads them (Jung et al. 2004): ``ESTABLISHED`` is a
success (the target answered the handshake, or a UDP flow got a reply), ``REFUSED`` (RST,
ICMP unreachable) and ``UNANSWERED`` (SYN or datagram with no reply) are failures, ``OTHER``
(mid-stream, partial, unknown) counts as neither.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

ESTABLISHED, REFUSED, UNANSWERED, OTHER = 0, 1, 2, 3
OUTCOMES = ("established", "refused", "unanswered", "other")
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp"}

#: ``mark`` bits: facts only a packet capture shows.
MARK_SEQ_IS_DST = 1  # the first SYN's sequence number equals the destination address (Mirai)


@dataclass(frozen=True, slots=True)
class Connection:
    """One connection attempt seen by a sensor."""

    timestamp: float | None  # Unix seconds, None when unknown
    source_ip: str  # canonical dotted quad
    source_port: int | None
    dest_ip: str
    dest_port: int | None
    proto: str  # "tcp" | "udp" | "icmp" | the IP protocol number as text
    outcome: str  # one of OUTCOMES
    orig_bytes: int | None = None  # payload bytes from the originator
    resp_bytes: int | None = None
    mark: int = 0
    path: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    format: str = field(default="", compare=False)


def _empty(dtype: npt.DTypeLike) -> npt.NDArray[np.generic]:
    return np.zeros(0, dtype=dtype)


@dataclass(frozen=True)
class ConnBatch:
    """Connection attempts as columns, all arrays of one length.

    ``time`` float64 Unix seconds (NaN unknown); ``src``/``dst`` uint32 IPv4; ``sport``/
    ``dport`` int32 (-1 unknown); ``proto`` uint8 IP protocol number; ``outcome`` uint8 code;
    ``orig_bytes``/``resp_bytes`` int64 payload bytes (-1 unknown); ``mark`` uint8 bits;
    ``line`` int64 line (or packet) number in ``path``; ``format`` the reader's id.
    """

    time: npt.NDArray[np.float64]
    src: npt.NDArray[np.uint32]
    dst: npt.NDArray[np.uint32]
    sport: npt.NDArray[np.int32]
    dport: npt.NDArray[np.int32]
    proto: npt.NDArray[np.uint8]
    outcome: npt.NDArray[np.uint8]
    orig_bytes: npt.NDArray[np.int64]
    resp_bytes: npt.NDArray[np.int64]
    mark: npt.NDArray[np.uint8]
    line: npt.NDArray[np.int64]
    path: str = ""
    format: str = ""

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @classmethod
    def empty(cls, path: str = "", format: str = "") -> ConnBatch:
        return cls(_empty(np.float64), _empty(np.uint32), _empty(np.uint32),  # type: ignore[arg-type]
                   _empty(np.int32), _empty(np.int32), _empty(np.uint8),  # type: ignore[arg-type]
                   _empty(np.uint8), _empty(np.int64), _empty(np.int64),  # type: ignore[arg-type]
                   _empty(np.uint8), _empty(np.int64), path, format)  # type: ignore[arg-type]

    def take(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> ConnBatch:
        """The rows selected by a boolean mask or an index array, same path and format."""
        return ConnBatch(self.time[index], self.src[index], self.dst[index],
                         self.sport[index], self.dport[index], self.proto[index],
                         self.outcome[index], self.orig_bytes[index], self.resp_bytes[index],
                         self.mark[index], self.line[index], self.path, self.format)

    def records(self) -> Iterator[Connection]:
        """Each row as a :class:`Connection` (for library users; analysis uses the columns)."""
        for i in range(len(self)):
            yield self.record(i)

    def record(self, i: int) -> Connection:
        t = float(self.time[i])
        sp, dp = int(self.sport[i]), int(self.dport[i])
        ob, rb = int(self.orig_bytes[i]), int(self.resp_bytes[i])
        proto = int(self.proto[i])
        return Connection(
            timestamp=None if np.isnan(t) else t,
            source_ip=str(ipaddress.IPv4Address(int(self.src[i]))),
            source_port=None if sp < 0 else sp,
            dest_ip=str(ipaddress.IPv4Address(int(self.dst[i]))),
            dest_port=None if dp < 0 else dp,
            proto=PROTOCOLS.get(proto, str(proto)),
            outcome=OUTCOMES[int(self.outcome[i])],
            orig_bytes=None if ob < 0 else ob,
            resp_bytes=None if rb < 0 else rb,
            mark=int(self.mark[i]),
            path=self.path, line=int(self.line[i]), format=self.format,
        )


def concat(batches: list[ConnBatch]) -> ConnBatch:
    """One batch of all rows (path and format of the first; empty when none)."""
    if not batches:
        return ConnBatch.empty()
    def col(name: str) -> npt.NDArray[np.generic]:
        return np.concatenate([getattr(b, name) for b in batches])

    return ConnBatch(col("time"), col("src"), col("dst"), col("sport"),  # type: ignore[arg-type]
                     col("dport"), col("proto"), col("outcome"),  # type: ignore[arg-type]
                     col("orig_bytes"), col("resp_bytes"), col("mark"),  # type: ignore[arg-type]
                     col("line"), batches[0].path, batches[0].format)  # type: ignore[arg-type]
