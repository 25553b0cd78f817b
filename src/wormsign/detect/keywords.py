"""The prefilter's keywords and its two Hyperscan databases, without numpy.

Every rule contributes literal keywords (its own, or ones derived from its conditions); rules
on decoded fields also get the *obfuscation* patterns. :class:`KeywordDatabases` holds the
two databases made of them (which keywords a text holds; which lines of a chunk hold one)
and finds the flagged lines' ends. :mod:`wormsign.detect.prefilter` builds the rule masks on
top; the scan's early pre-scan process (:mod:`wormsign.detect.prescan`) uses this module
before numpy is imported, so both find the same lines with the same databases.
"""

from __future__ import annotations

import re
from array import array
from typing import TYPE_CHECKING, Any, Protocol, cast

from wormsign.detect import hscache
from wormsign.detect.hscache import cache_key, compile_block
from wormsign.logs._native import C as _C

if TYPE_CHECKING:
    import hyperscan

    from wormsign.rules.model import Condition, Rule, RulePack

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


#: Lines longer than this are checked on their own, up to their first keyword.
LONG_LINE = 4096


def ordered_rules(pack: RulePack) -> tuple[Rule, ...]:
    """The pack's rules in the order a scan tries them (and numbers them): by priority."""
    return tuple(sorted(pack.rules, key=lambda r: -r.priority))


def keyword_patterns(rules: tuple[Rule, ...]) -> tuple[list[bytes], list[frozenset[int]]]:
    """The Hyperscan patterns of ``rules`` (in this order) and, for each, the indices of the
    rules it triggers: every rule's keywords, and the obfuscation patterns for the rules
    that match decoded fields."""
    by_pattern: dict[bytes, set[int]] = {}
    deob = {i for i, r in enumerate(rules) if r.needs_deobfuscation}
    for i, r in enumerate(rules):
        for kw in keywords(r) or ():
            by_pattern.setdefault(re.escape(kw.lower()).encode("utf-8", "surrogateescape"),
                                  set()).add(i)
    for pat in OBFUSCATION:
        if deob:
            by_pattern.setdefault(pat, set()).update(deob)
    return list(by_pattern), [frozenset(v) for v in by_pattern.values()]


def _specs(patterns: list[bytes]) -> tuple[tuple[list[bytes], list[int], list[int]], ...]:
    """(expressions, flags, ids) of the two databases of ``patterns``.

    Which keywords a text holds: each pattern reported once (its first match), so a keyword
    repeated thousands of times in a line (``../``, ``%c0%af``, ``cmd.exe``, ``\\x90`` in a
    shellcode line) costs no callback per repeat. Which lines of a chunk hold a keyword:
    every pattern matched through to its line's end under one id; Hyperscan reports one
    match per id and end offset, so a flagged line costs one callback however many keywords
    it holds (a worm's line holds two to four, a Nimda line dozens)."""
    import hyperscan

    n = len(patterns)
    first = (patterns, [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * n,
             list(range(n)))
    line = ([b"(?:" + p + rb")[^\n]*$" for p in patterns],
            [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE] * n, [0] * n)
    return first, line


class KeywordDatabases:
    """The two databases of a rule list's keyword patterns (none when it has no keyword);
    :attr:`keys` names them in the Hyperscan cache (:mod:`wormsign.detect.hscache`)."""

    def __init__(self, patterns: list[bytes]) -> None:
        self.first_db: hyperscan.Database | None = None
        self.line_db: hyperscan.Database | None = None
        self.keys: tuple[str, str] | None = None
        if patterns:
            first, line = _specs(patterns)
            self.keys = (cache_key(*first), cache_key(*line))
            self.first_db = compile_block(*first, key=self.keys[0])
            self.line_db = compile_block(*line, key=self.keys[1])

    @classmethod
    def cached(cls, keys: tuple[str, ...]) -> KeywordDatabases | None:
        """The databases stored in the cache under ``keys`` (first, line), without their
        patterns; None when either is not there."""
        if len(keys) != 2:
            return None
        first, line = hscache.load(keys[0]), hscache.load(keys[1])
        if first is None or line is None:
            return None
        out = cls([])
        out.first_db, out.line_db, out.keys = first, line, (keys[0], keys[1])
        return out

    def holds_keyword(self, text: bytes | memoryview) -> bool:
        """Whether ``text`` holds any keyword; the scan stops at the first one."""
        if self.first_db is None:
            return False
        import hyperscan

        try:
            self.first_db.scan(cast(bytes, text), match_event_handler=lambda *_a: True)
        except hyperscan.ScanTerminated:
            return True
        return False

    def line_ends(self, chunk: bytes, long_lines: list[tuple[int, int]]) -> bytes:
        """The end offsets of the lines of ``chunk`` that hold a keyword, in order, as native
        int64 bytes (a line ends at its newline, or the chunk's end): ordinary lines in one
        scan per run of them, each line of ``long_lines`` (``(start, end)``, longer than
        :data:`LONG_LINE`) on its own, up to its first keyword."""
        db = self.line_db
        if db is None:
            return b""
        ends = _collector()
        if not long_lines:
            db.scan(chunk, match_event_handler=ends)
            return ends.take()
        view = memoryview(chunk)
        pos = 0
        for start, end in long_lines:
            if start > pos:
                ends.base = pos
                db.scan(cast(bytes, view[pos:start]), match_event_handler=ends)
            if self.holds_keyword(view[start:end]):
                ends.base = end
                ends(0, 0, 0, 0, None)
            pos = end + 1
        if pos < len(chunk):
            ends.base = pos
            db.scan(cast(bytes, view[pos:]), match_event_handler=ends)
        return ends.take()


class _Collector(Protocol):
    base: int

    def __call__(self, _id: int, _from: int, to: int, _flags: int, _ctx: object) -> None: ...

    def take(self) -> bytes: ...


class _Ends:
    """The Python twin of ``_clfscan.EndCollector`` (a match handler keeping ``base + to``
    of every match; :meth:`take` gives them as native int64 bytes and empties it)."""

    def __init__(self) -> None:
        self.base = 0
        self._ends = array("q")

    def __call__(self, _id: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
        self._ends.append(self.base + to)

    def take(self) -> bytes:
        out = self._ends.tobytes()
        self._ends = array("q")
        return out


_COLLECTOR: Any = getattr(_C, "EndCollector", None) if array("q").itemsize == 8 else None


def _collector() -> _Collector:
    """A fresh match handler keeping end offsets: the C one, or its twin."""
    return cast(_Collector, _COLLECTOR()) if _COLLECTOR is not None else _Ends()
