"""The dictionary of source addresses: IPv4 as 4-byte numbers, everything else as text.

A storm log can hold millions of distinct sources. As Python strings in a dictionary each
costs over 100 bytes; here an IPv4 source (canonical dotted text, which is what the readers
give) costs 13: its number per code, and a sorted numpy index (number, code) for look-ups,
with a small dictionary of recent additions merged into the index in batches. Other sources
(IPv6) keep a text dictionary. Codes are dense int32, as for any dictionary encoding, and
:attr:`SourceTable.values` turns a code back into its text.
"""

from __future__ import annotations

import re
import socket
import struct
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from wormsign.logs._native import C

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: IPv4 as ``ipaddress`` writes it (no leading zeros): stored as a number.
IPV4_TEXT = re.compile(_OCTET + (r"\." + _OCTET) * 3)
_PENDING_MAX = 1 << 17
_PACK = struct.Struct(">I")


class SourceTable:
    """Source texts to dense int32 codes and back (see the module docstring)."""

    def __init__(self) -> None:
        self._ip4 = array("I")  # per code: the IPv4 number (0 for a text source)
        self._is_text = bytearray()  # per code: 1 when the source is text
        self._text: dict[int, str] = {}  # code -> text
        self._text_codes: dict[str, int] = {}
        self._index_ip = np.zeros(0, np.uint32)  # sorted IPv4 numbers ...
        self._index_code = np.zeros(0, np.int32)  # ... and their codes
        self._pending: dict[int, int] = {}  # recent IPv4 number -> code (not yet indexed)

    def __len__(self) -> int:
        return len(self._is_text)

    @property
    def values(self) -> SourceValues:
        """Code → text, as a read-only sequence."""
        return SourceValues(self)

    def code(self, s: str) -> int:
        """The code of ``s`` (a new one the first time it is seen)."""
        if IPV4_TEXT.fullmatch(s):
            return self.code_ip4(_PACK.unpack(socket.inet_aton(s))[0])
        c = self._text_codes.get(s)
        if c is None:
            c = self._text_codes[s] = self._new(0, True)
            self._text[c] = s
        return c

    def code_ip4(self, ip: int) -> int:
        """The code of the IPv4 address with number ``ip``."""
        c = self._pending.get(ip)
        if c is not None:
            return c
        idx = self._index_ip
        if len(idx):
            i = int(np.searchsorted(idx, np.uint32(ip)))  # a Python int would copy idx
            if i < len(idx) and int(idx[i]) == ip:
                return int(self._index_code[i])
        c = self._pending[ip] = self._new(ip, False)
        if len(self._pending) >= _PENDING_MAX:
            self._flush()
        return c

    def codes_ip4(self, ips: npt.NDArray[np.uint32]) -> npt.NDArray[np.int32]:
        """Codes of many IPv4 numbers at once (new ones numbered in order of appearance)."""
        self._flush()
        out = np.empty(len(ips), np.int32)
        if not len(ips):
            return out
        idx = self._index_ip
        pos = np.searchsorted(idx, ips)
        found = np.zeros(len(ips), bool)
        inside = pos < len(idx)
        found[inside] = idx[pos[inside]] == ips[inside]
        out[found] = self._index_code[pos[found]]
        if not found.all():
            new = ips[~found]
            uniq, first, inv = np.unique(new, return_index=True, return_inverse=True)
            by_first = np.argsort(first, kind="stable")
            codes = np.empty(len(uniq), np.int32)
            codes[by_first] = np.arange(len(self), len(self) + len(uniq), dtype=np.int32)
            self._ip4.extend(array("I", uniq[by_first].astype(np.uint32).tobytes()))
            self._is_text.extend(bytes(len(uniq)))
            self._insert(uniq.astype(np.uint32), codes)
            out[~found] = codes[inv.ravel()]
        return out

    def _new(self, ip: int, text: bool) -> int:
        self._ip4.append(ip)
        self._is_text.append(1 if text else 0)
        return len(self._is_text) - 1

    def _insert(self, ips: npt.NDArray[np.uint32], codes: npt.NDArray[np.int32]) -> None:
        """Add sorted ``ips`` (not yet indexed) and their codes to the index."""
        at = np.searchsorted(self._index_ip, ips)
        self._index_ip = np.insert(self._index_ip, at, ips)
        self._index_code = np.insert(self._index_code, at, codes)

    def _flush(self) -> None:
        if not self._pending:
            return
        ips = np.fromiter(self._pending.keys(), np.uint32, len(self._pending))
        codes = np.fromiter(self._pending.values(), np.int32, len(self._pending))
        order = np.argsort(ips)
        self._insert(ips[order], codes[order])
        self._pending.clear()

    def text(self, c: int) -> str:
        """The text of code ``c``."""
        if self._is_text[c]:
            return self._text[c]
        return socket.inet_ntoa(_PACK.pack(self._ip4[c]))

    def json_texts(self, codes: npt.NDArray[np.integer[Any]],
                   encode: Callable[[str], str]) -> list[str]:
        """The JSON string of each code's text (``encode`` for text sources; IPv4 numbers
        are written as dotted text in bulk, and need no escaping)."""
        codes = np.asarray(codes, np.int64)
        is_text = np.frombuffer(self._is_text, np.uint8)[codes].astype(bool)
        ip4 = np.frombuffer(self._ip4, np.uint32)[codes[~is_text]]
        dotted = _dotted(ip4).view("S15").ravel().tolist()
        out = [f'"{d.decode("ascii")}"' for d in dotted]
        if is_text.any():
            it = iter(out)
            return [encode(self._text[c]) if t else next(it)
                    for c, t in zip(codes.tolist(), is_text.tolist(), strict=True)]
        return out

    def dotted_cells(self, codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.uint8] | None:
        """The dotted texts of ``codes`` as rows of 15 NUL-padded bytes, when every one of
        them is an IPv4 address (None when one is a text source)."""
        codes = np.asarray(codes, np.int64)
        if np.frombuffer(self._is_text, np.uint8)[codes].any():
            return None
        return _dotted(np.frombuffer(self._ip4, np.uint32)[codes])

    def remap(self, other: SourceTable) -> npt.NDArray[np.int32]:
        """For each code of ``other``, its code here (added when new)."""
        out = np.empty(len(other), np.int32)
        is_text = np.frombuffer(bytes(other._is_text), np.uint8).astype(bool)
        ip4 = np.frombuffer(other._ip4.tobytes(), np.uint32)
        out[~is_text] = self.codes_ip4(ip4[~is_text])
        for c in np.flatnonzero(is_text).tolist():
            out[c] = self.code(other._text[c])
        return out

    def sort_rank(self) -> npt.NDArray[np.int64]:
        """Each code's position when the texts are sorted (as Python sorts str)."""
        n = len(self)
        rank = np.zeros(n, np.int64)
        if not n:
            return rank
        if not self._text:  # IPv4 only: the dotted texts' order from the numbers
            ips = np.frombuffer(self._ip4, np.uint32)
            key = np.zeros(n, np.uint32)
            for shift in (24, 16, 8, 0):
                key <<= np.uint32(8)
                key |= _OCTET_RANK[(ips >> np.uint32(shift)) & np.uint32(255)]
            rank[np.argsort(key, kind="stable")] = np.arange(n)
            return rank
        texts = {c: t.encode("utf-8") for c, t in self._text.items()}
        width = max([15, *map(len, texts.values())])
        if width > 64 or any(b"\x00" in t for t in texts.values()):
            order = np.array(sorted(range(n), key=self.text), np.int64)
        else:  # UTF-8 byte order is code-point order; numpy sorts fixed-width bytes
            keys = np.zeros((n, width), np.uint8)
            keys[:, :15] = _dotted(np.frombuffer(self._ip4.tobytes(), np.uint32))
            for c, t in texts.items():
                keys[c, :] = 0
                keys[c, :len(t)] = np.frombuffer(t, np.uint8)
            order = np.argsort(keys.view(f"S{width}").ravel(), kind="stable")
            del keys
        rank[order] = np.arange(n)
        return rank

    def __getstate__(self) -> dict[str, Any]:
        self._flush()
        return self.__dict__.copy()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


#: Each octet's place when the texts "0".."255" are sorted. Dotted quads sort as the tuples
#: of their octets' places: an octet's text ends with "." (or the end), which sorts before
#: any digit, as a shorter text sorts before a longer one it begins.
_OCTET_RANK = np.argsort(np.argsort(np.array([str(v) for v in range(256)]),
                                    kind="stable")).astype(np.uint32)


def _dotted(ips: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    """IPv4 numbers as dotted text, one row of 15 bytes each (NUL-padded), without Python
    work per address (in C, ``_clfscan.dotted``, where it is built)."""
    if _DOTTED is not None:
        out = np.zeros((len(ips), 15), np.uint8)
        _DOTTED(np.ascontiguousarray(ips, np.uint32), out)
        return out
    return _dotted_numpy(ips)


def _dotted_numpy(ips: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    n = len(ips)
    out = np.zeros((n, 15), np.uint8)
    rows = np.arange(n, dtype=np.int32)
    pos = np.zeros(n, np.int32)
    v = ips.astype(np.uint32)
    for k in range(4):
        o = ((v >> np.uint32(8 * (3 - k))) & np.uint32(255)).astype(np.int32)
        if k:
            out[rows, pos] = ord(".")
            pos += 1
        for div, need in ((100, o >= 100), (10, o >= 10)):
            out[rows[need], pos[need]] = 48 + (o[need] // div) % 10
            pos += need
        out[rows, pos] = 48 + o % 10
        pos += 1
    return out


class SourceValues(Sequence[str]):
    """Codes of a :class:`SourceTable` to texts (built on demand)."""

    def __init__(self, table: SourceTable) -> None:
        self._t = table

    def __len__(self) -> int:
        return len(self._t)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self._t.text(c) for c in range(len(self))[i]]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("source code out of range")
        return self._t.text(i)

    def __iter__(self) -> Iterator[str]:
        return (self._t.text(c) for c in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


_DOTTED: Callable[[Any, Any], None] | None = getattr(C, "dotted", None) if C is not None else None
