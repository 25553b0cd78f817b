"""Zeek ``conn.log``: tab-separated with ``#fields`` headers, or JSON lines, as connection
columns.

    #separator \\x09
    #path   conn
    #fields ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes
            resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts ...
    1258531221.486539 Cz8F3O3... 192.168.1.102 68 192.168.1.1 67 udp dhcp 0.163820 301 300 SF ...

The TSV rows are read by a compiled byte kernel (numba) that stops at every ``#`` line, so
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.logs._jit import njit
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
)
from wormsign.logs.connstats import ConnStats
from wormsign.logs.source import DEFAULT_LIMITS, Input, Limits, ReadStats, read_chunks
from wormsign.logs.text import decode

FORMAT_TSV = "zeek-conn"
FORMAT_JSON = "zeek-conn-json"

#: The fields read, by role number in the kernel.
ROLES = ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "conn_state",
         "orig_bytes", "resp_bytes")
_R_TS, _R_OH, _R_OP, _R_RH, _R_RP, _R_PROTO, _R_STATE, _R_OB, _R_RB = range(9)
# kernel counters
_C_COLUMNS, _C_NOHEADER, _C_MISSING, _C_ADDRESS, _C_IPV6, _C_BADVAL = range(6)
_COUNTER_REASONS = ("columns", "no-header", "missing-field", "address")
_NCOL = len(MATRIX_COLUMNS)
_I_SRC, _I_DST, _I_SP, _I_DP, _I_PROTO, _I_OUT, _I_OB, _I_RB, _I_LINE, _I_MARK = range(_NCOL)


def _packed(text: str) -> int:
    return sum(b << (8 * i) for i, b in enumerate(text.encode()))


def _table() -> npt.NDArray[np.int64]:
    rows = [(0, _packed(k), v) for k, v in PROTO_NUMBERS.items() if len(k) < 8]
    rows += [(1, _packed(k), v) for k, v in ZEEK_STATES.items() if len(k) < 8]
    return np.array(rows, dtype=np.int64)


_TABLE = _table()


@njit
def _lookup(table: npt.NDArray[np.int64], kind: int, buf: npt.NDArray[np.uint8], s: int,
            e: int, default: int) -> int:
    if e - s > 7 or e <= s:
        return default
    key = 0
    for i in range(e - s):
        key |= int(buf[s + i]) << (8 * i)
    for r in range(table.shape[0]):
        if table[r, 0] == kind and table[r, 1] == key:
            return int(table[r, 2])
    return default


@njit
def _address(buf: npt.NDArray[np.uint8], s: int, e: int) -> tuple[int, int]:
    """(kind, value): kind 0 IPv4, 1 IPv6, 2 bad, 3 unset (``-``)."""
    if e - s == 1 and buf[s] == 45:
        return 3, 0
    if (e - s > 7 and buf[s] == 58 and buf[s + 1] == 58 and buf[s + 6] == 58
            and (buf[s + 2] | 32) == 102 and (buf[s + 3] | 32) == 102
            and (buf[s + 4] | 32) == 102 and (buf[s + 5] | 32) == 102):
        s += 7  # IPv4-mapped IPv6: the IPv4 address
    else:
        for i in range(s, e):
            if buf[i] == 58:
                for j in range(s, e):  # only hex digits, colons and dots make an IPv6 text
                    c = buf[j] | 32
                    if not (48 <= buf[j] <= 58 or 97 <= c <= 102 or buf[j] == 46):
                        return 2, 0
                return 1, 0
    value = 0
    octet = 0
    digits = 0
    dots = 0
    for i in range(s, e):
        c = buf[i]
        if 48 <= c <= 57:
            if digits > 0 and octet == 0:
                return 2, 0  # a leading zero (octal in some parsers): not canonical
            octet = octet * 10 + (c - 48)
            digits += 1
            if octet > 255:
                return 2, 0
        elif c == 46 and digits > 0 and dots < 3:
            value = value * 256 + octet
            dots += 1
            octet = 0
            digits = 0
        else:
            return 2, 0
    if digits == 0 or dots != 3:
        return 2, 0
    return 0, value * 256 + octet


@njit
def _number(buf: npt.NDArray[np.uint8], s: int, e: int, top: int) -> int:
    """A whole number from 0 to ``top``; -1 unset (``-``), -2 bad."""
    if e - s == 1 and buf[s] == 45:
        return -1
    if e <= s or e - s > 18:
        return -2
    v = 0
    for i in range(s, e):
        c = buf[i]
        if c < 48 or c > 57:
            return -2
        v = v * 10 + (c - 48)
    return v if v <= top else -2


@njit
def _time(buf: npt.NDArray[np.uint8], s: int, e: int) -> tuple[float, bool]:
    """Unix seconds as Zeek writes them (``1258531221.486539``); NaN for unset or bad."""
    if e - s == 1 and buf[s] == 45:
        return np.nan, True
    whole = 0
    frac = 0
    scale = 1
    seen_dot = False
    digits = 0
    for i in range(s, e):
        c = buf[i]
        if 48 <= c <= 57:
            digits += 1
            if digits > 19:
                return np.nan, False
            if seen_dot:
                frac = frac * 10 + (c - 48)
                scale *= 10
            else:
                whole = whole * 10 + (c - 48)
        elif c == 46 and not seen_dot:
            seen_dot = True
        else:
            return np.nan, False
    if digits == 0:
        return np.nan, False
    return whole + frac / scale, True


@njit
def _scan_tsv(buf: npt.NDArray[np.uint8], cfg: npt.NDArray[np.int64],
              roles: npt.NDArray[np.int64], table: npt.NDArray[np.int64],
              out_t: npt.NDArray[np.float64], out_i: npt.NDArray[np.int64],
              counts: npt.NDArray[np.int64]) -> tuple[int, int, int]:
    """Parse data lines from ``cfg[0]`` until a ``#`` line or the end of ``buf``.

    ``cfg``: start, separator byte, number of fields (0: no header yet), lines before the
    start, whether the header has both address fields. ``roles[k]``: the role of field
    ``k`` (-1: not read). Returns (where it stopped, rows written, lines read so far)."""
    pos, sep, ncols, line, need = cfg[0], cfg[1], cfg[2], cfg[3], cfg[4]
    n = buf.shape[0]
    row = 0
    cap = out_t.shape[0]
    while pos < n and row < cap:
        if buf[pos] == 35:
            break
        line += 1
        if buf[pos] == 10 or (buf[pos] == 13 and pos + 1 < n and buf[pos + 1] == 10):
            pos += 1 if buf[pos] == 10 else 2
            continue
        k = 0
        s = pos
        i = pos
        t = np.nan
        ok_kind, rk_kind = 3, 3
        oh = rh = 0
        op = rp = ob = rb = -1
        proto = 0
        outcome = OTHER
        bad = 0
        while True:
            at_end = i >= n or buf[i] == 10
            if at_end or buf[i] == sep:
                e = i
                if at_end and e > s and buf[e - 1] == 13:
                    e -= 1
                r = roles[k] if k < roles.shape[0] else -1
                if r == _R_TS:
                    t, good = _time(buf, s, e)
                    bad += 0 if good else 1
                elif r == _R_OH:
                    ok_kind, oh = _address(buf, s, e)
                elif r == _R_RH:
                    rk_kind, rh = _address(buf, s, e)
                elif r in (_R_OP, _R_RP, _R_OB, _R_RB):
                    v = _number(buf, s, e, 65535 if r in (_R_OP, _R_RP)
                                else 1_000_000_000_000_000)
                    if v == -2:
                        bad += 1
                        v = -1
                    if r == _R_OP:
                        op = v
                    elif r == _R_RP:
                        rp = v
                    elif r == _R_OB:
                        ob = v
                    else:
                        rb = v
                elif r == _R_PROTO:
                    proto = _lookup(table, 0, buf, s, e, 0)
                elif r == _R_STATE:
                    outcome = _lookup(table, 1, buf, s, e, OTHER)
                k += 1
                if at_end:
                    break
                s = i + 1
            i += 1
        pos = i + 1
        if ncols == 0:
            counts[_C_NOHEADER] += 1
        elif k != ncols:
            counts[_C_COLUMNS] += 1
        elif need == 0 or ok_kind == 3 or rk_kind == 3:
            counts[_C_MISSING] += 1
        elif ok_kind == 1 or rk_kind == 1:
            counts[_C_IPV6] += 1
        elif ok_kind == 2 or rk_kind == 2:
            counts[_C_ADDRESS] += 1
        else:
            counts[_C_BADVAL] += bad
            out_t[row] = t
            o = out_i[row]
            o[_I_SRC], o[_I_DST], o[_I_SP], o[_I_DP] = oh, rh, op, rp
            o[_I_PROTO], o[_I_OUT], o[_I_OB], o[_I_RB] = proto, outcome, ob, rb
            o[_I_LINE], o[_I_MARK] = line, 0
            row += 1
    return pos, row, line


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


def _chunk_rows(chunk: bytes, header: _Header, line: int,
                counts: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64],
                                                        npt.NDArray[np.int64], int, int]:
    buf = np.frombuffer(chunk, dtype=np.uint8)
    cap = chunk.count(b"\n") + 1
    out_t = np.empty(cap, dtype=np.float64)
    out_i = np.empty((cap, _NCOL), dtype=np.int64)
    pos = rows = 0
    while pos < len(chunk):
        cfg = np.array([pos, header.sep, header.ncols, line, header.need], dtype=np.int64)
        pos, got, line = _scan_tsv(buf, cfg, header.roles, _TABLE, out_t[rows:],
                                   out_i[rows:], counts)
        rows += got
        if pos < len(chunk):  # a '#' line
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
    try:
        for chunk in read_chunks(inp, limits=limits, stats=read):
            out_t, out_i, rows, line = _chunk_rows(chunk, header, line, counts)
            batch = batch_from_matrix(out_t, out_i, rows, inp.display, FORMAT_TSV)
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
    if isinstance(v, str) and len(v) < 64:
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp(), True
        except (ValueError, OverflowError, OSError):
            pass
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


def read_json(inp: Input, stats: ConnStats, limits: Limits = DEFAULT_LIMITS,
              ) -> Iterator[ConnBatch]:
    """Batches of a JSON-lines conn.log (Zeek's ``LogAscii::use_json``)."""
    rows = Rows(inp.display, FORMAT_JSON)
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
                _json_row(obj, rows, stats, line)
            batch = rows.batch()
            late, last = count_out_of_order(batch.time, last)
            stats.out_of_order += late
            stats.records += len(batch)
            yield batch
    finally:
        stats.lines += line
        stats.overlong += read.overlong
        stats.bytes_read += read.bytes_read
