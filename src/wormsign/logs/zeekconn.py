"""Zeek ``conn.log``: tab-separated with ``#fields`` headers, or JSON lines, as connection
columns.

    #separator \\x09
    #path   conn
    #fields ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes
            resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts ...
    1258531221.486539 Cz8F3O3... 192.168.1.102 68 192.168.1.1 67 udp dhcp 0.163820 301 300 SF ...

The TSV rows are read by a compiled byte kernel (the C helper ``_connscan.scan_tsv``, else
its numba twin in :mod:`wormsign.logs._zeekkernel`) that stops at every ``#`` line, so
header changes mid-file (logs of several Zeek runs concatenated, a different field order)
apply from where they stand. Only the fields the columns need are read, whatever their
order; other fields may be missing. Outcomes come from ``conn_state``
(:data:`~wormsign.logs.conncols.ZEEK_STATES`); ``orig_bytes``/``resp_bytes`` are Zeek's
payload bytes.

Counted, never raised (:class:`~wormsign.logs.connstats.ConnStats`): a row with the wrong
number of fields (``columns``), before any header (``no-header``), without an address field
in its header or with ``-`` there (``missing-field``), with an endpoint that is not one IPv4
address (``address``; IPv6 endpoints count under ``ipv6``). A bad optional value (port, byte
count, time) becomes unknown and counts under ``bad_values``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.logs.conn import OTHER, ConnBatch
from wormsign.logs.conncols import (
    MATRIX_COLUMNS,
    PROTO_NUMBERS,
    ZEEK_STATES,
    Rows,
    batch_from_matrix,
    float_value,
    int_value,
    ipv4_int,
    is_ipv6,
    text_seconds,
)
from wormsign.logs.connstats import ConnStats
from wormsign.logs.source import DEFAULT_LIMITS, Input, Limits, ReadStats, read_chunks
from wormsign.logs.text import decode

FORMAT_TSV = "zeek-conn"
FORMAT_JSON = "zeek-conn-json"

#: The fields read, by role number in the kernel.
ROLES = ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "conn_state",
         "orig_bytes", "resp_bytes")
# kernel counters
_C_COLUMNS, _C_NOHEADER, _C_MISSING, _C_ADDRESS, _C_IPV6, _C_BADVAL = range(6)
_COUNTER_REASONS = ("columns", "no-header", "missing-field", "address")
_NCOL = len(MATRIX_COLUMNS)


def _packed(text: str) -> int:
    return sum(b << (8 * i) for i, b in enumerate(text.encode()))


def _table() -> npt.NDArray[np.int64]:
    rows = [(0, _packed(k), v) for k, v in PROTO_NUMBERS.items() if len(k) < 8]
    rows += [(1, _packed(k), v) for k, v in ZEEK_STATES.items() if len(k) < 8]
    return np.array(rows, dtype=np.int64)


_TABLE = _table()
Scanner = Callable[..., tuple[int, int, int]]


def scanner(prefer_c: bool = True) -> Scanner:
    """The row kernel: the C helper when it is built (no start-up cost), else its numba
    twin (:mod:`wormsign.logs._zeekkernel`), imported only then."""
    if prefer_c:
        try:
            from wormsign.logs import _connscan
        except ImportError:
            pass
        else:
            return _connscan.scan_tsv
    from wormsign.logs import _zeekkernel

    return _zeekkernel.scan_tsv


@dataclass
class _Header:
    """The ``#separator`` and ``#fields`` in force."""

    sep: int = 9
    ncols: int = 0
    roles: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    need: int = 0

    def feed(self, raw: bytes) -> None:
        line = raw.rstrip(b"\r")
        if line.startswith(b"#separator ") or line.startswith(b"#separator\t"):
            text = decode(line[11:]).strip()
            try:
                sep = text.encode("latin-1").decode("unicode_escape").encode("latin-1")
            except (UnicodeError, ValueError):
                return
            if len(sep) == 1 and sep not in b"\n#":
                self.sep = sep[0]
        elif line.startswith(b"#fields"):
            names = [decode(x) for x in line[7:].split(bytes([self.sep]))]
            names = [x for x in names if x][: 1 << 12]
            self.ncols = len(names)
            self.roles = np.array([ROLES.index(x) if x in ROLES else -1 for x in names],
                                  dtype=np.int64)
            self.need = int("id.orig_h" in names and "id.resp_h" in names)


def _account(counts: npt.NDArray[np.int64], stats: ConnStats) -> None:
    for i, reason in enumerate(_COUNTER_REASONS):
        stats.skip(reason, int(counts[i]))
    stats.ipv6 += int(counts[_C_IPV6])
    stats.bad_values += int(counts[_C_BADVAL])


def count_out_of_order(times: npt.NDArray[np.float64], last: float) -> tuple[int, float]:
    """Rows earlier than a row before them (NaN times aside), and the latest time so far."""
    known = times[~np.isnan(times)]
    if known.size == 0:
        return 0, last
    run = np.maximum.accumulate(np.concatenate(([last], known)))
    return int(np.count_nonzero(known < run[:-1])), float(run[-1])


def _chunk_rows(chunk: bytes, header: _Header, line: int, counts: npt.NDArray[np.int64],
                scan: Scanner) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], int,
                                        int]:
    """The rows of one chunk of whole lines (``#`` lines applied as they come)."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    cap = len(chunk) // 64 + 64  # grown when rows are shorter than that
    out_t = np.empty(cap, dtype=np.float64)
    out_i = np.empty((cap, _NCOL), dtype=np.int64)
    pos = rows = 0
    while pos < len(chunk):
        if rows == cap:
            out_t = np.concatenate([out_t, np.empty(cap, dtype=np.float64)])
            out_i = np.concatenate([out_i, np.empty((cap, _NCOL), dtype=np.int64)])
            cap *= 2
        cfg = np.array([pos, header.sep, header.ncols, line, header.need], dtype=np.int64)
        pos, got, line = scan(buf, cfg, header.roles, _TABLE, out_t[rows:], out_i[rows:],
                              counts)
        rows += got
        if rows < cap and pos < len(chunk):  # stopped at a '#' line
            end = chunk.find(b"\n", pos)
            end = len(chunk) if end < 0 else end
            header.feed(chunk[pos:end])
            line += 1
            pos = end + 1
    return out_t, out_i, rows, line


def read_tsv(inp: Input, stats: ConnStats, limits: Limits = DEFAULT_LIMITS,
             ) -> Iterator[ConnBatch]:
    """Batches of a TSV conn.log (one per chunk of about 2 MiB)."""
    header = _Header()
    line = 0
    last = -np.inf
    read = ReadStats()
    counts = np.zeros(6, dtype=np.int64)
    scan = scanner()
    try:
        for chunk in read_chunks(inp, limits=limits, stats=read):
            out_t, out_i, rows, line = _chunk_rows(chunk, header, line, counts, scan)
            batch = batch_from_matrix(out_t, out_i, rows, inp.full_path, FORMAT_TSV)
            late, last = count_out_of_order(batch.time, last)
            stats.out_of_order += late
            stats.records += rows
            yield batch
    finally:
        stats.lines += line
        stats.overlong += read.overlong
        stats.bytes_read += read.bytes_read
        _account(counts, stats)


# ---- JSON ----------------------------------------------------------------------------


def json_time(v: Any) -> tuple[float, bool]:
    """Unix seconds from a number or ISO 8601 text; (NaN, False) when unreadable."""
    f = float_value(v)
    if f is not None:
        return f, True
    t = text_seconds(v) if isinstance(v, str) else None
    if t is not None:
        return t, True
    return float("nan"), v is None


def _flat(obj: dict[str, Any]) -> dict[str, Any]:
    nested = obj.get("id")
    if "id.orig_h" not in obj and isinstance(nested, dict):
        return {**obj, **{f"id.{k}": v for k, v in nested.items()}}
    return obj


def _json_row(obj: dict[str, Any], rows: Rows, stats: ConnStats, line: int) -> None:
    obj = _flat(obj)
    oh, rh = obj.get("id.orig_h"), obj.get("id.resp_h")
    if oh is None or rh is None:
        stats.skip("missing-field")
        return
    src, dst = ipv4_int(oh), ipv4_int(rh)
    if src is None or dst is None:
        if (src is not None or is_ipv6(oh)) and (dst is not None or is_ipv6(rh)):
            stats.ipv6 += 1
        else:
            stats.skip("address")
        return
    t, good = json_time(obj.get("ts"))
    bad = 0 if good else 1
    values: list[int] = []
    for key, top in (("id.orig_p", 65535), ("id.resp_p", 65535),
                     ("orig_bytes", 10**18), ("resp_bytes", 10**18)):
        raw = obj.get(key)
        v = int_value(raw, top)
        bad += v is None and raw is not None
        values.append(-1 if v is None else v)
    proto = obj.get("proto")
    state = obj.get("conn_state")
    rows.add(t, (src, dst, values[0], values[1]),
             PROTO_NUMBERS.get(proto, 0) if isinstance(proto, str) else 0,
             ZEEK_STATES.get(state, OTHER) if isinstance(state, str) else OTHER,
             (values[2], values[3]), line)
    stats.bad_values += bad


def load_object(raw: bytes) -> dict[str, Any] | None:
    """One JSON object, or None (bad JSON, another type, nesting too deep)."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


#: Puts one JSON object's row (if any) into the rows, counting what it skips.
JsonRow = Callable[[dict[str, Any], Rows, ConnStats, int], None]


def read_json_lines(inp: Input, stats: ConnStats, limits: Limits, fmt: str,
                    row: JsonRow) -> Iterator[ConnBatch]:
    """Batches of a JSON-lines connection log, one per chunk of lines; ``row`` turns each
    object into a row (a line that is not one JSON object is skipped as ``json``)."""
    rows = Rows(inp.full_path, fmt)
    line = 0
    last = -np.inf
    read = ReadStats()
    try:
        for chunk in read_chunks(inp, limits=limits, stats=read):
            body = chunk[:-1] if chunk.endswith(b"\n") else chunk
            for raw in body.split(b"\n"):
                line += 1
                if not raw.strip():
                    continue
                obj = load_object(raw)
                if obj is None:
                    stats.skip("json")
                    continue
                row(obj, rows, stats, line)
            batch = rows.batch()
            late, last = count_out_of_order(batch.time, last)
            stats.out_of_order += late
            stats.records += len(batch)
            yield batch
    finally:
        stats.lines += line
        stats.overlong += read.overlong
        stats.bytes_read += read.bytes_read


def read_json(inp: Input, stats: ConnStats, limits: Limits = DEFAULT_LIMITS,
              ) -> Iterator[ConnBatch]:
    """Batches of a JSON-lines conn.log (Zeek's ``LogAscii::use_json``)."""
    return read_json_lines(inp, stats, limits, FORMAT_JSON, _json_row)
