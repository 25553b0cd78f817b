"""Matched requests as columns: numpy arrays plus dictionary tables, not one object each.

A worm storm is millions of requests that differ only in source, time and line number: the
rest (URL, method, status, user agent, host, format, the rules it matched) repeats verbatim.
So a matched request is one row of four numbers, and everything else is dictionary-encoded:

- ``source``  int32 code into :attr:`Tables.sources` (canonical source address; see
  :mod:`wormsign.detect.sources`)
- ``time``    int64 microseconds since the Unix epoch (UTC), :data:`NO_TIME` when the log
  had none
- ``line``    int64 line number in its file (1-based; packet number for captures)
- ``variant`` int32 code into :attr:`Tables.variants`: the :class:`Variant`, the request
  without its source and time (URL, method, status, user agent, host, format, matched rules)
- ``file``    int32 code into :attr:`Tables.files` (the path alerts name)

That is 28 bytes per matched request, whatever its URL's length. Tables only grow (codes
stay valid for every batch that used them); batches from different tables are merged with
:func:`merge`, which re-codes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.detect.sources import SourceTable

#: ``time`` of a request whose log line had no (readable) time.
NO_TIME = np.iinfo(np.int64).min
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


def to_micros(ts: datetime | None) -> int:
    """An aware datetime as microseconds since the epoch (:data:`NO_TIME` for None)."""
    if ts is None:
        return int(NO_TIME)
    return (ts - EPOCH) // _US


def from_micros(us: int) -> datetime | None:
    """The inverse of :func:`to_micros`: an aware datetime in UTC, or None."""
    if us == NO_TIME:
        return None
    return EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class Variant:
    """A matched request without its source, time and line: what worms repeat verbatim.

    ``rules`` are indices into the scan's rules (highest priority first): the best plain rule
    that matched, if any, and every burst rule that matched (they count towards bursts)."""

    url: str
    method: str | None
    status: int | None
    protocol: str | None
    user_agent: str | None
    host: str | None
    format: str
    rules: tuple[int, ...]


class StringTable:
    """Strings to dense int32 codes and back (a dictionary encoding)."""

    __slots__ = ("codes", "values")

    def __init__(self) -> None:
        self.values: list[str] = []
        self.codes: dict[str, int] = {}

    def code(self, s: str) -> int:
        c = self.codes.get(s)
        if c is None:
            c = self.codes[s] = len(self.values)
            self.values.append(s)
        return c

    def __len__(self) -> int:
        return len(self.values)


class VariantTable:
    """:class:`Variant` records to dense int32 codes and back."""

    __slots__ = ("codes", "values")

    def __init__(self) -> None:
        self.values: list[Variant] = []
        self.codes: dict[Variant, int] = {}

    def code(self, v: Variant) -> int:
        c = self.codes.get(v)
        if c is None:
            c = self.codes[v] = len(self.values)
            self.values.append(v)
        return c

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Tables:
    """The dictionaries that batch codes point into (shared by the files of one scan)."""

    sources: SourceTable = field(default_factory=SourceTable)
    variants: VariantTable = field(default_factory=VariantTable)
    files: StringTable = field(default_factory=StringTable)


def _empty_i32() -> I32:
    return np.zeros(0, np.int32)


def _empty_i64() -> I64:
    return np.zeros(0, np.int64)


@dataclass
class MatchBatch:
    """Matched requests (before attribution), one row each, in input order.

    Columns are described in the module docstring; ``tables`` decodes them."""

    tables: Tables
    source: I32 = field(default_factory=_empty_i32)
    time: I64 = field(default_factory=_empty_i64)
    line: I64 = field(default_factory=_empty_i64)
    variant: I32 = field(default_factory=_empty_i32)
    file: I32 = field(default_factory=_empty_i32)

    def __len__(self) -> int:
        return int(self.source.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns (not the tables)."""
        return sum(int(a.nbytes) for a in (self.source, self.time, self.line, self.variant,
                                            self.file))

    def shifted(self, lines: int) -> MatchBatch:
        """The same rows with ``lines`` added to every line number."""
        return MatchBatch(self.tables, self.source, self.time, self.line + lines, self.variant,
                          self.file)


_COLUMNS = ("source", "time", "line", "variant", "file")


def stable_order(key: I64) -> I64:
    """``np.argsort(key, kind="stable")``, by radix where the keys allow: keys in
    ``[0, 2**32)`` are sorted in one or two stable passes over 16-bit digits, which numpy
    sorts by radix (180,000 keys of a worm storm: 4.8 ms instead of 14 ms)."""
    if not len(key):
        return np.zeros(0, np.intp)
    lo_key, hi_key = int(key.min()), int(key.max())
    if lo_key < 0 or hi_key >= 1 << 32:
        return np.argsort(key, kind="stable")
    order = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
    if hi_key >> 16:
        high = (key >> 16).astype(np.uint16)[order]
        order = order[np.argsort(high, kind="stable")]
    return order


def distinct(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """``np.unique(values, return_inverse=True)`` of integer codes, by a table over their
    range where it is small (an alerts block's rests and sources): no sort. Other values:
    numpy."""
    if not len(values):
        return np.unique(values, return_inverse=True)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo > 4 * len(values) + 65536:
        return np.unique(values, return_inverse=True)
    seen = np.zeros(hi - lo + 1, bool)
    at = values.astype(np.int64) - lo
    seen[at] = True
    code = np.cumsum(seen, dtype=np.intp) - 1
    return (np.flatnonzero(seen) + lo).astype(values.dtype), code[at]


def concat(batches: Sequence[MatchBatch], tables: Tables, consume: bool = False) -> MatchBatch:
    """Rows of batches that all use ``tables``, one after the other.

    With ``consume`` the batches given are emptied column by column as they are copied, so
    that the rows are held about once, not twice, while the result is built."""
    parts = [b for b in batches if len(b)]
    if any(b.tables is not tables for b in parts):
        raise ValueError("concat needs batches of one Tables; use merge")
    if not parts:
        return MatchBatch(tables)
    if len(parts) == 1:  # no copy
        return parts[0]
    out = MatchBatch(tables)
    for name in _COLUMNS:
        setattr(out, name, np.concatenate([getattr(b, name) for b in parts]))
        if consume:
            for b in parts:
                setattr(b, name, getattr(b, name)[:0])
    return out


def recode(batch: MatchBatch, into: Tables) -> MatchBatch:
    """``batch`` with its codes rewritten into ``into`` (which gains any new entries)."""
    t = batch.tables
    if t is into:
        return batch

    n_var, n_fil = len(t.variants), len(t.files)
    src = into.sources.remap(t.sources)
    var = np.fromiter(map(into.variants.code, t.variants.values), np.int32, n_var)
    fil = np.fromiter(map(into.files.code, t.files.values), np.int32, n_fil)
    if not len(batch):
        return MatchBatch(into)
    return MatchBatch(into, src[batch.source], batch.time, batch.line, var[batch.variant],
                      fil[batch.file])


def merge(batches: Sequence[MatchBatch], into: Tables | None = None) -> MatchBatch:
    """Rows of batches with any tables, one after the other, re-coded into one table set."""
    tables = into or Tables()
    return concat([recode(b, tables) for b in batches], tables)
