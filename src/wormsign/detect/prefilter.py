"""The fast pattern: find the few lines worth parsing, over whole chunks at once.

Every rule contributes literal keywords (its own, or ones derived from its conditions); rules
on decoded fields also get the *obfuscation* patterns (percent-escapes of letters, digits and
``./\\%``, ``%u``, ``\\xNN``, overlong UTF-8 lead bytes of two- and three-byte forms),
because their keywords may be written encoded. Hyperscan (Vectorscan) scans each chunk once
for all of them, ignoring case, and only the lines it flags are parsed and matched in Python.
Rules for which no keyword can be derived are checked on every line (correct, but slower;
``rules list`` flags them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from wormsign.arrays import sorted_unique
from wormsign.detect.keywords import (
    LONG_LINE,
    OBFUSCATION,
    KeywordDatabases,
    keyword_patterns,
    keywords,
)
from wormsign.rules.model import Rule

if TYPE_CHECKING:
    import hyperscan

__all__ = ["LONG_LINE", "OBFUSCATION", "CandidateArrays", "Candidates", "FlaggedLines",
           "Prefilter", "candidate_arrays", "candidate_lines", "flagged_lines", "keywords",
           "lines_ending_at", "long_lines"]

@dataclass
class Prefilter:
    """A compiled multi-pattern scanner mapping pattern ids to the rules they trigger."""

    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        self.always: frozenset[int] = frozenset(
            i for i, r in enumerate(self.rules) if keywords(r) is None)
        patterns, self._triggers = keyword_patterns(self.rules)
        # The same triggers as bit masks (bit i: rule i), for unions over many hits at once.
        wide = len(self.rules) > 63
        self._masks: npt.NDArray[np.uint64] | npt.NDArray[np.object_] = np.array(
            [sum(1 << i for i in t) for t in self._triggers],
            dtype=object if wide else np.uint64)
        self.always_mask = sum(1 << i for i in self.always)
        self.databases = KeywordDatabases(patterns)
        self._first_db: hyperscan.Database | None = self.databases.first_db
        self._line_db: hyperscan.Database | None = self.databases.line_db

    def candidates(self, chunk: bytes) -> Iterator[tuple[int, int, frozenset[int]]]:
        """Yield ``(line_start, line_end, rule_indices)`` for the lines worth matching,
        in order. With rules that have no keywords, every non-empty line is yielded."""
        cand = candidate_lines(self, chunk)
        for start, end, mask in zip(cand.start, cand.end, cand.mask, strict=True):
            yield start, end, frozenset(i for i in range(len(self.rules)) if mask >> i & 1)

    def mask_of(self, text: bytes | memoryview) -> int:
        """The rule mask of the keywords in ``text`` (bit i: rule i may match; the rules
        without keywords are :attr:`always_mask`)."""
        if self._first_db is None:
            return 0
        pids: list[int] = []
        self._first_db.scan(cast(bytes, text),
                            match_event_handler=lambda p, _f, _t, _fl, _c: pids.append(p))
        mask = 0
        for pid in pids:
            mask |= int(self._masks[pid])
        return mask

    def holds_keyword(self, text: bytes | memoryview) -> bool:
        """Whether ``text`` holds any keyword; the scan stops at the first one."""
        return self.databases.holds_keyword(text)


@dataclass(frozen=True)
class Candidates:
    """The lines of a chunk worth matching, as columns: ``line`` (0-based index of the line in
    the chunk), ``start``/``end`` (byte offsets, end at the newline) and ``mask`` (bit i set
    when rule i may match: its keywords, or the obfuscation patterns, occur in the line)."""

    line: list[int]
    start: list[int]
    end: list[int]
    mask: list[int]
    newlines: npt.NDArray[np.intp]


def _newlines(chunk: bytes) -> npt.NDArray[np.intp]:
    if _NEWLINES is not None:  # the C twin: one memchr pass, no temporary array
        return np.frombuffer(_NEWLINES(chunk), np.intp)
    return np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10)


_NEWLINES: Callable[[bytes], bytes] | None = None
if np.dtype(np.intp).itemsize == 8:
    from wormsign.logs import clf

    _NEWLINES = getattr(getattr(clf, "_clfscan", None), "newlines", None)
#: ``_clfscan.long_lines`` (None: the numpy form below, with the same result).
_LONG_LINES: Callable[[Any, int, int], list[tuple[int, int]]] | None = (
    getattr(getattr(clf, "_clfscan", None), "long_lines", None) if _NEWLINES else None)
#: ``_clfscan.line_spans`` (None: :func:`_lines_ending_at_numpy`, with the same result).
_LINE_SPANS: Callable[[Any, bytes | memoryview, int],
                       tuple[bytes, bytes, bytes] | None] | None = (
    getattr(getattr(clf, "_clfscan", None), "line_spans", None) if _NEWLINES else None)


@dataclass(frozen=True)
class CandidateArrays:
    """:class:`Candidates` as numpy arrays (``line``, ``start``, ``end``: int64; ``mask``:
    uint64, or Python ints in an object array when the pack has more than 63 rules), for a
    pack whose rules all have keywords."""

    line: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    mask: npt.NDArray[np.uint64] | npt.NDArray[np.object_]
    newlines: npt.NDArray[np.intp]


def candidate_arrays(pf: Prefilter, chunk: bytes,
                     newlines: npt.NDArray[np.intp] | None = None) -> CandidateArrays:
    """The flagged lines of ``chunk`` as arrays, each with its mask (the keyword lines only:
    the lines of rules without keywords are added by :func:`candidate_lines`).
    ``newlines``: the offsets of the chunk's newlines, when they are known already.

    The lines are :func:`flagged_lines`; each line's mask is :meth:`Prefilter.mask_of` of
    the line (the scanner's fast path finds masks once per distinct request text instead)."""
    fl = flagged_lines(pf, chunk, newlines)
    view = memoryview(chunk)
    values = [pf.mask_of(view[s:e]) for s, e in
              zip(fl.start.tolist(), fl.end.tolist(), strict=True)]
    masks = np.array(values, dtype=pf._masks.dtype)
    return CandidateArrays(fl.line, fl.start, fl.end, cast(Any, masks), fl.newlines)


@dataclass(frozen=True)
class FlaggedLines:
    """The lines of a chunk that hold at least one keyword, without their rule masks:
    ``line`` (0-based index in the chunk), ``start``/``end`` (byte offsets, end at the
    newline) as int64 arrays, and the chunk's ``newlines``."""

    line: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    newlines: npt.NDArray[np.intp]


def flagged_lines(pf: Prefilter, chunk: bytes,
                  newlines: npt.NDArray[np.intp] | None = None) -> FlaggedLines:
    """The lines of ``chunk`` that hold a keyword: one Hyperscan report per line, however
    many keywords it holds. Their masks are for the caller to find, once per distinct text
    (:meth:`Prefilter.mask_of`).

    A line longer than :data:`LONG_LINE` bytes (worm payloads run to 20-100 KB) is checked
    on its own and only up to its first keyword: a keyword repeated thousands of times in
    it (``\\x90`` written by the server for each byte of shellcode, ``../``, ``%c0%af``)
    would otherwise cost Hyperscan a step per repeat, 20-40 times the cost per byte of a
    plain log line."""
    nl = _newlines(chunk) if newlines is None else newlines
    return lines_ending_at(pf.databases.line_ends(chunk, long_lines(nl, len(chunk))), nl,
                           len(chunk))


def lines_ending_at(ends: bytes | memoryview, nl: npt.NDArray[np.intp],
                    size: int) -> FlaggedLines:
    """The flagged lines of a ``size``-byte chunk with newlines ``nl``, from the end offsets
    :meth:`KeywordDatabases.line_ends` reported (native int64 bytes)."""
    if not ends:
        empty = np.zeros(0, np.int64)
        return FlaggedLines(empty, empty, empty, nl)
    if _LINE_SPANS is not None and nl.dtype == np.int64 and nl.flags.c_contiguous:
        spans = _LINE_SPANS(nl, ends, size)  # one merge of the two lists, in C
        if spans is not None:
            lines, starts, stops = (np.frombuffer(b, np.int64) for b in spans)
            return FlaggedLines(lines, starts, stops, nl)
    return _lines_ending_at_numpy(np.frombuffer(ends, np.int64), nl, size)


def _lines_ending_at_numpy(ends: npt.NDArray[np.int64], nl: npt.NDArray[np.intp],
                           size: int) -> FlaggedLines:
    # each report ends at its line's newline (or the chunk's end): one per line
    lines = sorted_unique(np.searchsorted(nl, ends - 1)).astype(np.int64)
    starts = np.zeros(len(lines), np.int64)
    inner = lines > 0
    starts[inner] = nl[lines[inner] - 1] + 1
    stops = np.full(len(lines), size, np.int64)
    inside = lines < len(nl)
    stops[inside] = nl[lines[inside]]
    return FlaggedLines(lines, starts, stops, nl)


def long_lines(nl: npt.NDArray[np.intp], size: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the lines longer than :data:`LONG_LINE` (end: the newline)."""
    if _LONG_LINES is not None and nl.dtype == np.int64 and nl.flags.c_contiguous:
        return _LONG_LINES(nl, size, LONG_LINE)
    return _long_lines_numpy(nl, size)


def _long_lines_numpy(nl: npt.NDArray[np.intp], size: int) -> list[tuple[int, int]]:
    ends = np.append(nl, size)
    starts = np.concatenate(([0], nl + 1))
    idx = np.flatnonzero(ends - starts > LONG_LINE)
    return list(zip(starts[idx].tolist(), ends[idx].tolist(), strict=True))


def candidate_lines(pf: Prefilter, chunk: bytes,
                    arrays: CandidateArrays | None = None) -> Candidates:
    """Scan ``chunk`` once for every keyword; the flagged lines and their rule masks
    (:func:`candidate_arrays` as lists, with every non-empty line when some rule has no
    keywords). ``arrays``: that scan's result, when it was already made."""
    arr = arrays if arrays is not None else candidate_arrays(pf, chunk)
    nl = arr.newlines
    line_l: list[int] = arr.line.tolist()
    mask_l: list[int] = [int(m) for m in arr.mask.tolist()]
    start_l: list[int] = arr.start.tolist()
    end_l: list[int] = arr.end.tolist()
    if pf.always:
        n_lines = len(nl) + (1 if chunk and not chunk.endswith(b"\n") else 0)
        by_line = dict(zip(line_l, mask_l, strict=True))
        line_l = list(range(n_lines))
        mask_l = [pf.always_mask | by_line.get(i, 0) for i in line_l]
        starts = np.concatenate(([0], nl + 1))
        ends = np.concatenate((nl, [len(chunk)]))
        idx = np.array(line_l, dtype=np.intp)
        start_l = starts[idx].tolist() if line_l else []
        end_l = ends[idx].tolist() if line_l else []
        keep = [i for i, (s, e) in enumerate(zip(start_l, end_l, strict=True)) if e > s]
        line_l = [line_l[i] for i in keep]
        start_l = [start_l[i] for i in keep]
        end_l = [end_l[i] for i in keep]
        mask_l = [mask_l[i] for i in keep]
    return Candidates(line_l, start_l, end_l, mask_l, nl)
