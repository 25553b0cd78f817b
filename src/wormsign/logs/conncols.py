"""Building :class:`~wormsign.logs.conn.ConnBatch` columns: from a kernel's row matrix, or
row by row for the JSON readers; the Zeek connection states as outcomes; IPv4 text as
integers. Shared by the connection readers and the writer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.logs.conn import ESTABLISHED, OTHER, REFUSED, UNANSWERED, ConnBatch
from wormsign.logs.normalize import canonical_ip

#: Integer columns of a row matrix, in this order (time is a float64 vector beside it).
MATRIX_COLUMNS = ("src", "dst", "sport", "dport", "proto", "outcome", "orig_bytes",
                  "resp_bytes", "line", "mark")

#: Zeek ``conn_state`` → outcome as Threshold Random Walk reads it. S0: a SYN (or datagram)
#: with no reply; REJ: answered by a RST; SH/RSTOS0: the originator gave up without a reply;
#: S1/SF/S2/S3/RSTO/RSTR: the handshake completed; OTH, SHR, RSTRH: no SYN from the originator
#: was seen (mid-stream), neither success nor failure.
ZEEK_STATES = {
    "S0": UNANSWERED, "REJ": REFUSED, "SH": UNANSWERED, "RSTOS0": UNANSWERED,
    "S1": ESTABLISHED, "SF": ESTABLISHED, "S2": ESTABLISHED, "S3": ESTABLISHED,
    "RSTO": ESTABLISHED, "RSTR": ESTABLISHED,
    "OTH": OTHER, "SHR": OTHER, "RSTRH": OTHER,
}
#: The state each outcome is written as (:mod:`wormsign.logs.connwrite`).
STATE_OF_OUTCOME = {ESTABLISHED: "SF", REFUSED: "REJ", UNANSWERED: "S0", OTHER: "OTH"}
PROTO_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132}


def batch_from_matrix(times: npt.NDArray[np.float64], ints: npt.NDArray[np.int64], n: int,
                      path: str, fmt: str) -> ConnBatch:
    """The first ``n`` rows of a kernel's output (``ints`` columns as :data:`MATRIX_COLUMNS`)."""
    m = ints[:n]

    def col(name: str, dtype: type[np.generic]) -> Any:
        return m[:, MATRIX_COLUMNS.index(name)].astype(dtype)

    return ConnBatch(times[:n].copy(), col("src", np.uint32), col("dst", np.uint32),
                     col("sport", np.int32), col("dport", np.int32), col("proto", np.uint8),
                     col("outcome", np.uint8), col("orig_bytes", np.int64),
                     col("resp_bytes", np.int64), col("mark", np.uint8), col("line", np.int64),
                     path, fmt)


_OCTET = {str(i): i for i in range(256)}  # only canonical octets ("7", not "07")


def ipv4_int(text: object) -> int | None:
    """An IPv4 address (or IPv4-mapped IPv6) as an integer; None otherwise (what
    :func:`~wormsign.logs.normalize.canonical_ip` refuses, or IPv6)."""
    if isinstance(text, str):
        p = text.split(".")
        if len(p) == 4:
            o = _OCTET
            try:
                return (o[p[0]] << 24) | (o[p[1]] << 16) | (o[p[2]] << 8) | o[p[3]]
            except KeyError:
                pass
    ip = canonical_ip(text)
    if ip is None or ":" in ip:
        return None
    a, b, c, d = (int(x) for x in ip.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def is_ipv6(text: object) -> bool:
    ip = canonical_ip(text)
    return ip is not None and ":" in ip


def int_value(v: Any, top: int) -> int | None:
    """A whole number from 0 to ``top`` given as a JSON number or digits; None otherwise."""
    if isinstance(v, bool):
        return None
    if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 20:
        v = int(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return v if isinstance(v, int) and 0 <= v <= top else None


def float_value(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) and f >= 0 else None


def text_seconds(v: str) -> float | None:
    """Unix seconds of a time written as text: ISO 8601 (``Z``, ``+00:00`` or ``+0000``;
    no zone read as UTC) or plain seconds (``1591367999.305988``); None otherwise."""
    if len(v) > 64:
        return None
    if v.replace(".", "", 1).isdigit() and v.isascii():
        return float(v)
    s = v.replace("Z", "+00:00")
    if len(s) > 5 and s[-5] in "+-" and s[-3] != ":" and s[-4:].isdigit():
        s = s[:-2] + ":" + s[-2:]
    try:
        when = datetime.fromisoformat(s)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    except (ValueError, OverflowError, OSError):
        return None


@dataclass
class Rows:
    """Rows gathered one at a time (JSON readers), then :meth:`batch` as columns."""

    path: str
    fmt: str
    rows: list[tuple[float, int, int, int, int, int, int, int, int, int, int]] = field(
        default_factory=list)

    def add(self, time: float, ends: tuple[int, int, int, int], proto: int, outcome: int,
            sizes: tuple[int, int], line: int, mark: int = 0) -> None:
        """One row; ``ends`` is (src, dst, sport, dport), ``sizes`` (orig, resp) bytes."""
        self.rows.append((time, *ends, proto, outcome, sizes[0], sizes[1], line, mark))

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self) -> ConnBatch:
        """The gathered rows as a batch (and the gathering starts again)."""
        rows, self.rows = self.rows, []
        if not rows:
            return ConnBatch.empty(self.path, self.fmt)
        times = np.array([r[0] for r in rows], dtype=np.float64)
        ints = np.array([r[1:] for r in rows], dtype=np.int64)
        return batch_from_matrix(times, ints, len(rows), self.path, self.fmt)
