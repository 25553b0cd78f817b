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

import numpy as np
import numpy.typing as npt

from wormsign.detect.hscache import compile_block
from wormsign.rules.model import Condition, Rule

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
        self._db: hyperscan.Database | None = None
        self._line_db: hyperscan.Database | None = None
        if patterns:
            # Short keywords (``..``, ``%25``, ``%c0``) and classes (``\\x[0-9a-f]{2}``)
            # occur many times in one line (double-encoded traversals, shellcode written as
            # text): matched through to the line's end, each is reported once per line
            # (Hyperscan reports one match per end offset), which saves a callback per repeat
            # (4-10 % of the scan on a Nimda storm, most of it on 30 KB lines of ``\x90``).
            short = [len(_UNESCAPE.sub(rb"\1", p)) <= 3 or b"[" in p for p in patterns]
            self._db = compile_block(
                [b"(?:" + p + rb")[^\n]*$" if s else p
                 for p, s in zip(patterns, short, strict=True)],
                [hyperscan.HS_FLAG_CASELESS | (hyperscan.HS_FLAG_MULTILINE if s else 0)
                 for s in short],
                list(range(len(patterns))))
            # Every pattern matched through to its line's end under one id: Hyperscan reports
            # one match per id and end offset, so a flagged line costs one callback however
            # many keywords it holds (a worm's line holds two to four).
            self._line_db = compile_block(
                [b"(?:" + p + rb")[^\n]*$" for p in patterns],
                [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE] * len(patterns),
                [0] * len(patterns))

    def candidates(self, chunk: bytes) -> Iterator[tuple[int, int, frozenset[int]]]:
        """Yield ``(line_start, line_end, rule_indices)`` for the lines worth matching,
        in order. With rules that have no keywords, every non-empty line is yielded."""
        if self.always:
            pos = 0
            n = len(chunk)
            while pos < n:
                end = chunk.find(b"\n", pos)
                end = n if end < 0 else end
                if end > pos:
                    yield pos, end, self.always | self._hits_in(chunk[pos:end])
                pos = end + 1
            return
        if self._db is None:
            return
        hits: list[tuple[int, int]] = []

        def on_match(pid: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            hits.append((to, pid))

        self._db.scan(chunk, match_event_handler=on_match)
        if not hits:
            return
        hits.sort()
        cur_start = -1
        cur_end = -1
        cur: set[int] = set()
        for to, pid in hits:
            if to > cur_end:
                if cur_start >= 0:
                    yield cur_start, cur_end, frozenset(cur)
                cur_start = chunk.rfind(b"\n", 0, to - 1) + 1
                e = chunk.find(b"\n", to - 1)
                cur_end = len(chunk) if e < 0 else e
                cur = set()
            cur |= self._triggers[pid]
        if cur_start >= 0:
            yield cur_start, cur_end, frozenset(cur)

    def mask_of(self, text: bytes) -> int:
        """The rule mask of ``text`` (bit i: rule i may match), as :func:`candidate_arrays`
        gives it for a line that is ``text``."""
        if self._db is None:
            return self.always_mask
        pids: list[int] = []
        self._db.scan(text, match_event_handler=lambda pid, _f, _t, _fl, _c: pids.append(pid))
        mask = self.always_mask
        for pid in set(pids):
            mask |= int(self._masks[pid])
        return mask

    def _hits_in(self, line: bytes) -> frozenset[int]:
        if self._db is None:
            return frozenset()
        found: set[int] = set()

        def on_match(pid: int, _from: int, _to: int, _flags: int, _ctx: object) -> None:
            found.update(self._triggers[pid])

        self._db.scan(line, match_event_handler=on_match)
        return frozenset(found)


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
    """The flagged lines of ``chunk`` as arrays (the keyword lines only: the lines of rules
    without keywords are added by :func:`candidate_lines`). ``newlines``: the offsets of the
    chunk's newlines, when they are known already.

    Hyperscan reports each match's end; the matches are then grouped into lines with numpy
    (no Python work per line except the one call per match)."""
    nl = _newlines(chunk) if newlines is None else newlines
    hits: list[int] = []
    npat = max(len(pf._triggers), 1)
    if pf._db is not None:
        app = hits.append

        def on_match(pid: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            app(to * npat + pid)

        pf._db.scan(chunk, match_event_handler=on_match)
    if not hits:
        empty = np.zeros(0, np.int64)
        return CandidateArrays(empty, empty, empty, pf._masks[:0], nl)
    code = np.array(hits, dtype=np.int64)
    to, pid = np.divmod(code, npat)
    li = np.searchsorted(nl, to - 1)
    order = np.argsort(li, kind="stable")
    li, pid = li[order], pid[order]
    first = np.flatnonzero(np.concatenate(([True], li[1:] != li[:-1])))
    lines = li[first].astype(np.int64)
    masks = np.bitwise_or.reduceat(pf._masks[pid], first)
    starts = np.zeros(len(lines), np.int64)
    inner = lines > 0
    starts[inner] = nl[lines[inner] - 1] + 1
    ends = np.full(len(lines), len(chunk), np.int64)
    inside = lines < len(nl)
    ends[inside] = nl[lines[inside]]
    return CandidateArrays(lines, starts, ends, masks, nl)


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
    """The lines :func:`candidate_arrays` flags, found with one Hyperscan report per line
    (a worm's line holds several keywords: 20 % less scan time on a worm storm). Their masks
    are for the caller to find, once per distinct text (:meth:`Prefilter.mask_of`)."""
    nl = _newlines(chunk) if newlines is None else newlines
    ends: list[int] = []
    if pf._line_db is not None:
        pf._line_db.scan(chunk, match_event_handler=lambda _p, _f, to, _fl, _c: ends.append(to))
    if not ends:
        empty = np.zeros(0, np.int64)
        return FlaggedLines(empty, empty, empty, nl)
    # each report ends at its line's newline (or the chunk's end): one per line, in order
    lines = np.unique(np.searchsorted(nl, np.array(ends, np.int64) - 1)).astype(np.int64)
    starts = np.zeros(len(lines), np.int64)
    inner = lines > 0
    starts[inner] = nl[lines[inner] - 1] + 1
    stops = np.full(len(lines), len(chunk), np.int64)
    inside = lines < len(nl)
    stops[inside] = nl[lines[inside]]
    return FlaggedLines(lines, starts, stops, nl)


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
