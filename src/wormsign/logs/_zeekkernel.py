"""The numba twin of the C helper ``_connscan.scan_tsv``: Zeek conn.log TSV rows into
columns (arguments and results as described in ``_connscan.c``). Used where the C helper is
not built; imported only then, since loading numba costs about a second per process."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wormsign.logs._jit import njit

OTHER = 3
_R_TS, _R_OH, _R_OP, _R_RH, _R_RP, _R_PROTO, _R_STATE, _R_OB, _R_RB = range(9)
_C_COLUMNS, _C_NOHEADER, _C_MISSING, _C_ADDRESS, _C_IPV6, _C_BADVAL = range(6)
_I_SRC, _I_DST, _I_SP, _I_DP, _I_PROTO, _I_OUT, _I_OB, _I_RB, _I_LINE, _I_MARK = range(10)

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
def scan_tsv(buf: npt.NDArray[np.uint8], cfg: npt.NDArray[np.int64],
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
