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

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from wormsign.arrays import sorted_unique
from wormsign.detect.hscache import compile_block
from wormsign.rules.model import Condition, Rule

if TYPE_CHECKING:
    import hyperscan

# Percent-escapes of letters, digits and . / \\ _ %, and overlong lead bytes, as literals
# (Hyperscan scans ~60 short literals about twice as fast as the equivalent class regex).
_HEX = (["2e", "2f", "5c", "5f", "25", "c0", "c1", "e0"] + [f"3{d}" for d in "0123456789"]
        + [f"{a}{b}" for a in "46" for b in "123456789abcdef"]
        + [f"{a}{b}" for a in "57" for b in "0123456789a"])
OBFUSCATION = (
    *(re.escape("%" + h).encode() for h in _HEX),
    rb"%u00[2-7][0-9a-f]",
    rb"%%",
    rb"\\x[0-9a-f]{2}",
    rb"[\xc0\xc1]",
    # raw 3-byte overlong leads (e0 80-9f, never valid UTF-8), as 32 literals: a class costs
    # 6-15 % more scan time, these about 1 % (benchmarks/bench_prefilter.py)
    *(b"\\xe0\\x%02x" % b for b in range(0x80, 0xA0)),
)
_SPLIT = re.compile(r"[?+ %\\]")
_UNESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_META = set(".^$*+?{}[]|()\\")


def _literal_run(pattern: str) -> str | None:
    """The longest plain literal that any match of a simple regex must contain, or None."""
    if "|" in pattern or "(" in pattern or "[" in pattern:
        return None
    runs: list[str] = []
    cur = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            if n.isalnum():
                runs.append(cur)
                cur = ""
            else:
                cur += n
            i += 2
            continue
        if c in "*?{" and cur:
            cur = cur[:-1]  # the quantified character is optional
            runs.append(cur)
            cur = ""
        elif c in _META:
            runs.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    runs.append(cur)
    pieces = [p for r in runs for p in _SPLIT.split(r)]
    best = max(pieces, key=len, default="")
    return best if len(best) >= 3 else None


def _condition_keywords(cond: Condition) -> list[str] | None:
    out: list[str] = []
    for v in cond.values:
        lit = _literal_run(v) if cond.op == "re" else max(_SPLIT.split(v), key=len)
        if not lit or len(lit) < 3:
            return None
        out.append(lit)
    return out


def keywords(rule: Rule) -> tuple[str, ...] | None:
    """The rule's keywords: declared, or derived; None when none can be derived."""
    if rule.keywords:
        return rule.keywords
    out: list[str] = []
    for conj in rule.match:
        best: list[str] | None = None
        for cond in conj:
            if cond.field in ("method", "status"):
                continue
            kw = _condition_keywords(cond)
            if kw is not None and (best is None or min(map(len, kw)) > min(map(len, best))):
                best = kw
        if best is None:
            return None
        out += best
    return tuple(dict.fromkeys(out))


@dataclass
class Prefilter:
    """A compiled multi-pattern scanner mapping pattern ids to the rules they trigger."""

    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        import hyperscan

        self._triggers: list[frozenset[int]] = []
        self.always: frozenset[int] = frozenset(
            i for i, r in enumerate(self.rules) if keywords(r) is None)
        by_pattern: dict[bytes, set[int]] = {}
        deob = {i for i, r in enumerate(self.rules) if r.needs_deobfuscation}
        for i, r in enumerate(self.rules):
            for kw in keywords(r) or ():
                by_pattern.setdefault(re.escape(kw.lower()).encode("utf-8", "surrogateescape"),
                                      set()).add(i)
        for pat in OBFUSCATION:
            if deob:
                by_pattern.setdefault(pat, set()).update(deob)
        patterns = list(by_pattern)
        self._triggers = [frozenset(by_pattern[p]) for p in patterns]
        # The same triggers as bit masks (bit i: rule i), for unions over many hits at once.
        wide = len(self.rules) > 63
        self._masks: npt.NDArray[np.uint64] | npt.NDArray[np.object_] = np.array(
            [sum(1 << i for i in t) for t in self._triggers],
            dtype=object if wide else np.uint64)
        self.always_mask = sum(1 << i for i in self.always)
        self._first_db: hyperscan.Database | None = None
        self._line_db: hyperscan.Database | None = None
        if patterns:
            # Which keywords a text holds: each pattern reported once (its first match), so
            # a keyword repeated thousands of times in a line (``../``, ``%c0%af``,
            # ``cmd.exe``, ``\x90`` in a shellcode line) costs no callback per repeat.
            self._first_db = compile_block(
                patterns,
                [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * len(patterns),
                list(range(len(patterns))))
            # Which lines of a chunk hold a keyword: every pattern matched through to its
            # line's end under one id. Hyperscan reports one match per id and end offset, so
            # a flagged line costs one callback however many keywords it holds (a worm's
            # line holds two to four, a Nimda line dozens).
            self._line_db = compile_block(
                [b"(?:" + p + rb")[^\n]*$" for p in patterns],
                [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE] * len(patterns),
                [0] * len(patterns))

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
        if self._first_db is None:
            return False
        import hyperscan

        try:
            self._first_db.scan(cast(bytes, text), match_event_handler=lambda *_a: True)
        except hyperscan.ScanTerminated:
            return True
        return False


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


#: Lines longer than this are checked on their own, up to their first keyword.
LONG_LINE = 4096


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
    ends: list[int] = []
    if pf._line_db is not None:
        long_lines = _long_lines(nl, len(chunk))
        if not long_lines:
            ends = _line_ends(pf._line_db, chunk)
        else:
            _scan_around(pf, chunk, long_lines, ends)
    if not ends:
        empty = np.zeros(0, np.int64)
        return FlaggedLines(empty, empty, empty, nl)
    # each report ends at its line's newline (or the chunk's end): one per line, in order
    lines = sorted_unique(np.searchsorted(nl, np.array(ends, np.int64) - 1)).astype(np.int64)
    starts = np.zeros(len(lines), np.int64)
    inner = lines > 0
    starts[inner] = nl[lines[inner] - 1] + 1
    stops = np.full(len(lines), len(chunk), np.int64)
    inside = lines < len(nl)
    stops[inside] = nl[lines[inside]]
    return FlaggedLines(lines, starts, stops, nl)


def _line_ends(db: hyperscan.Database, data: bytes | memoryview) -> list[int]:
    """The end offsets :attr:`Prefilter._line_db` reports in ``data`` (one per line)."""
    ends: list[int] = []
    db.scan(cast(bytes, data), match_event_handler=lambda _p, _f, to, _fl, _c: ends.append(to))
    return ends


def _long_lines(nl: npt.NDArray[np.intp], size: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the lines longer than :data:`LONG_LINE` (end: the newline)."""
    ends = np.append(nl, size)
    starts = np.concatenate(([0], nl + 1))
    idx = np.flatnonzero(ends - starts > LONG_LINE)
    return list(zip(starts[idx].tolist(), ends[idx].tolist(), strict=True))


def _scan_around(pf: Prefilter, chunk: bytes, long_lines: list[tuple[int, int]],
                 ends: list[int]) -> None:
    """Append to ``ends`` the line ends of the flagged lines of ``chunk``: the runs of
    ordinary lines between the long ones in one scan each, each long line on its own."""
    db = pf._line_db
    assert db is not None
    view = memoryview(chunk)
    pos = 0
    for start, end in long_lines:
        if start > pos:
            ends += [pos + to for to in _line_ends(db, view[pos:start])]
        if pf.holds_keyword(view[start:end]):
            ends.append(end)
        pos = end + 1
    if pos < len(chunk):
        ends += [pos + to for to in _line_ends(db, view[pos:])]


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
