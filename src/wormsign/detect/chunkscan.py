"""The incremental scanner: chunks of whole log lines in, columns of matched requests out.

:class:`ChunkScanner` is the one place where lines are read: it validates a chunk with its
format's fast validator (counting the lines no parser accepts), lets the prefilter flag the
few lines worth a closer look, and turns each flagged line into one row of a
:class:`~wormsign.detect.columns.MatchBatch`. Worms repeat the same request verbatim, so the
part of an access-log line after its time is parsed and matched once per distinct text
(memoised); a repeat costs a few dictionary look-ups. ``wormsign scan`` feeds it a file's
chunks; ``wormsign watch`` feeds it what was appended to a file since the last look.

Turn batches into alerts with :func:`wormsign.detect.attribute.attribute_batches`.
"""

from __future__ import annotations

import re
import socket
import struct
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt

from wormsign.detect.columns import MatchBatch, Tables, Variant, to_micros
from wormsign.detect.keywords import ordered_rules
from wormsign.detect.prefilter import (
    Candidates,
    FlaggedLines,
    Prefilter,
    candidate_arrays,
    candidate_lines,
    flagged_lines,
    lines_ending_at,
)
from wormsign.detect.prescan import ChunkRecord
from wormsign.detect.sources import IPV4_TEXT
from wormsign.logs import clf, formats
from wormsign.logs.normalize import canonical_ip
from wormsign.logs.record import Request
from wormsign.logs.text import decode
from wormsign.rules.loader import load_pack
from wormsign.rules.model import Rule, RulePack

#: First skipped line numbers remembered per file.
MAX_BAD_LINES = 5
_UNREAD = object()  # not among an engine's variants
#: Distinct request texts (sources, times) remembered per scanner before a memo starts afresh.
MEMO_LIMIT = 100_000
#: ... and before the request texts they hold pass this many bytes (texts run to 64 KB).
MEMO_BYTES = 32 << 20
#: The C reader of flagged access-log lines (None: the Python loop, with the same results).
_FIELDS: Callable[..., int] | None = getattr(getattr(clf, "_clfscan", None), "access_fields",
                                            None)
_NEED = np.iinfo(np.int64).min + 1  # access_fields: "read this field the general way"
#: Access-log validation and the newline offsets in one C pass (None: two steps).
_VALIDATE_NL: Callable[..., tuple[int, int, list[int], bytes]] | None = (
    getattr(getattr(clf, "_clfscan", None), "validate_nl", None)
    if np.dtype(np.intp).itemsize == 8 else None)


def _same_newlines(chunk: bytes, nl: npt.NDArray[np.intp]) -> bool:
    """Whether ``nl`` can be the newline offsets of ``chunk`` (the first and last of them are
    its first and last newlines, every 64th is a newline): a chunk changed since it was
    pre-scanned (cut short, rewritten) is scanned again. A sample, not a proof: a full count
    cost 2 % of a scan's CPU, and a log rewritten in place to the same length between the
    pre-scan and the scan a fraction of a second later is not a case to pay that for."""
    if not len(nl):
        return b"\n" not in chunk
    first, last = int(nl[0]), int(nl[-1])
    if last >= len(chunk) or chunk.find(b"\n") != first or b"\n" in chunk[last + 1:]:
        return False
    data = np.frombuffer(chunk, np.uint8)
    return bool((data[nl[::64]] == 10).all()) and data[int(nl[-1])] == 10


class RuleEngine:
    """A rule pack made ready to scan: rules by priority and the compiled prefilter.

    Build it once and share it between scanners (compiling the prefilter takes a while), but
    use it from one thread at a time: its Hyperscan database has one scratch space."""

    def __init__(self, pack: RulePack | None = None) -> None:
        self.pack = pack or load_pack()
        self.rules: tuple[Rule, ...] = ordered_rules(self.pack)
        self.prefilter = Prefilter(self.rules)
        #: The variant of each access-log request text (after ``] "``, with its vhost and
        #: format) that a scanner of this engine has read (None: no rule matched): the
        #: scanners of a worker's tasks share them, so that a worm's few requests are parsed
        #: and matched once per process, not once per task. Bounded as a scanner's memos.
        self.variants: dict[tuple[bytes, bytes, str], Variant | None] = {}
        self._variants_bytes = 0

    def known_variant(self, key: tuple[bytes, bytes, str], variant: Variant | None) -> None:
        """Remember ``variant`` for the request text ``key`` (see :attr:`variants`)."""
        if len(self.variants) >= MEMO_LIMIT or self._variants_bytes > MEMO_BYTES:
            self.variants.clear()
            self._variants_bytes = 0
        self.variants[key] = variant
        self._variants_bytes += len(key[0]) + len(key[1])

    def match(self, mask: int, req: Request) -> tuple[int, ...]:
        """Rules (indices) that hold for ``req`` among those in ``mask``: the best plain
        rule (rules are in priority order, so lower ones need no test) and every burst rule,
        which counts towards its bursts."""
        cache: dict[str, str | None] = {}
        out: list[int] = []
        have_plain = False
        i = 0
        while mask:
            if mask & 1:
                r = self.rules[i]
                if r.burst is None:
                    if not have_plain and r.matches(req, cache):
                        out.append(i)
                        have_plain = True
                elif r.matches(req, cache):
                    out.append(i)
            mask >>= 1
            i += 1
        return tuple(out)


@dataclass
class ScanStats:
    """Lines seen by a scanner: how many, how many no parser accepted, the first of those."""

    lines: int = 0
    skipped: int = 0
    first_skipped: list[int] = field(default_factory=list)


class ChunkScanner:
    """Scan one log (a file, or a stream that keeps growing) chunk by chunk.

    ``pack`` is the rule pack (default: the built-in one) or a shared :class:`RuleEngine`;
    ``fmt`` a format id (default: detected from the first chunk); ``path`` the name alerts
    carry as ``log.file.path``. ``tables`` lets several scanners share one dictionary set
    (so that their batches concatenate without re-coding).

    Call :meth:`scan` with consecutive chunks of whole lines (each ending with a newline,
    except maybe the last of the input) and the 1-based number of each chunk's first line.
    The format's per-file state (IIS ``#Fields`` headers) carries from chunk to chunk, so
    chunks must come in order. :attr:`stats` counts lines and skipped lines so far.
    Stable API (used by ``wormsign watch``).
    """

    def __init__(self, pack: RulePack | RuleEngine | None = None, fmt: str | None = None,
                 path: str = "<stream>", tables: Tables | None = None) -> None:
        self.engine = pack if isinstance(pack, RuleEngine) else RuleEngine(pack)
        self.format: formats.LogFormat | None = formats.get(fmt) if fmt else None
        self.path = path
        self.tables = tables or Tables()
        self.stats = ScanStats()
        self._state: object = self.format.new_state() if self.format else None
        self._file = self.tables.files.code(path)
        self._memo: dict[object, int] = {}
        self._text_memo: dict[tuple[bytes, bytes], int] = {}
        self._memo_bytes = 0  # the texts held as keys of the two memos
        self._src: dict[object, int] = {}
        self._time: dict[bytes, int] = {}
        self._days: dict[bytes, int] = {}

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules batch variants refer to by index."""
        return self.engine.rules

    def detect(self, sample: bytes, name: str | None = None) -> formats.LogFormat:
        """Fix the format from a sample (the start of the log) if it was not given; a
        :class:`~wormsign.errors.LogFormatError` naming ``name`` (or the path) if unknown."""
        if self.format is None:
            self.format = formats.detect(sample[:65536], name or self.path)
            self._state = self.format.new_state()
        return self.format

    def scan(self, chunk: bytes, first_line: int) -> MatchBatch:
        """Matched requests of ``chunk`` (whole lines; its first line is ``first_line``)."""
        fmt = self.detect(chunk)
        prefix = fmt.prefix_tokens if isinstance(fmt, formats.AccessLog) else 0
        pf = self.engine.prefilter
        fast = self._fast(fmt, prefix)
        nl: npt.NDArray[np.intp] | None = None
        if fast and _VALIDATE_NL is not None and type(fmt) is formats.AccessLog:
            # AccessLog.validate and the newline offsets in one pass
            n, bad, first, nl_bytes = _VALIDATE_NL(chunk, prefix, MAX_BAD_LINES)
            first = [first_line - 1 + k for k in first]
            nl = np.frombuffer(nl_bytes, np.intp)
        else:
            n, bad, first = fmt.validate(chunk, first_line - 1, self._state, MAX_BAD_LINES)
        self._count(n, bad, first)
        flagged = flagged_lines(pf, chunk, nl) if fast else None
        return self._matched(chunk, first_line, fmt, prefix, flagged)

    def finish(self, chunk: bytes, first_line: int, record: ChunkRecord) -> MatchBatch:
        """:meth:`scan` of ``chunk``, whose line check and keyword lines the pre-scan
        (:mod:`wormsign.detect.prescan`) found already (``record``): the same columns, with
        only the flagged lines parsed. A chunk that is not the one recorded is scanned."""
        fmt = self.detect(chunk)
        prefix = fmt.prefix_tokens if isinstance(fmt, formats.AccessLog) else 0
        nl = np.frombuffer(record.newlines, np.intp)
        if (record.length != len(chunk) or type(fmt) is not formats.AccessLog
                or prefix not in (3, 4) or not self._fast(fmt, prefix)
                or _VALIDATE_NL is None or not _same_newlines(chunk, nl)):
            return self.scan(chunk, first_line)
        self._count(record.lines, record.bad, [first_line - 1 + k for k in record.first_bad])
        return self._matched(chunk, first_line, fmt, prefix,
                             lines_ending_at(record.ends, nl, len(chunk)))

    def finish_copied(self, first_line: int, record: ChunkRecord) -> MatchBatch | None:
        """:meth:`finish` of a chunk whose flagged lines the record holds (``copied``): the
        same columns, without the chunk. None (nothing counted) when they cannot be read
        that way (not the fast path, an odd line among them): the caller then reads the
        chunk and calls :meth:`finish`."""
        copied = record.copied
        if copied is None:
            return None
        fmt = self.detect(copied)
        prefix = fmt.prefix_tokens if isinstance(fmt, formats.AccessLog) else 0
        if type(fmt) is not formats.AccessLog or not self._fast(fmt, prefix):
            return None
        lines = np.frombuffer(record.copied_lines, np.int64)
        stops = np.flatnonzero(np.frombuffer(copied, np.uint8) == 10).astype(np.int64)
        if len(stops) != len(lines):
            return None
        starts = np.concatenate(([0], stops[:-1] + 1)).astype(np.int64)
        cols = _Columns()
        if not self._scan_access_fast(copied, FlaggedLines(lines, starts, stops, stops),
                                      first_line, prefix, fmt.name, cols):
            return None
        self._count(record.lines, record.bad, [first_line - 1 + k for k in record.first_bad])
        return self._done(cols)

    def _fast(self, fmt: formats.LogFormat, prefix: int) -> bool:
        pf = self.engine.prefilter
        return (prefix in (3, 4) and _FIELDS is not None and not pf.always
                and pf._masks.dtype != object)

    def _count(self, n: int, bad: int, first: list[int]) -> None:
        st = self.stats
        st.lines += n
        st.skipped += bad
        room = MAX_BAD_LINES - len(st.first_skipped)
        if room > 0:
            st.first_skipped += first[:room]

    def _matched(self, chunk: bytes, first_line: int, fmt: formats.LogFormat, prefix: int,
                 flagged: FlaggedLines | None) -> MatchBatch:
        """The columns of ``chunk``'s matched requests, from its flagged lines (None: the
        format's general path, every line's own mask)."""
        pf = self.engine.prefilter
        cols = _Columns()
        if flagged is not None:
            if self._scan_access_fast(chunk, flagged, first_line, prefix, fmt.name, cols):
                return self._done(cols)
            # an odd line among them: the loop, with each line's own mask
            cand = candidate_lines(pf, chunk, candidate_arrays(pf, chunk, flagged.newlines))
        else:
            cand = candidate_lines(pf, chunk)
        if prefix:
            self._scan_access(chunk, cand, first_line, prefix, fmt.name, cols)
        else:
            for li, s, e, m in zip(cand.line, cand.start, cand.end, cand.mask, strict=True):
                req = fmt.parse(chunk[s:e], first_line + li, self._state, self.path)
                if req is not None:
                    self.add(req, m, cols, first_line + li)
        return self._done(cols)

    def _done(self, cols: _Columns) -> MatchBatch:
        if self._memo_bytes > MEMO_BYTES:
            self._memo.clear()
            self._text_memo.clear()
            self._memo_bytes = 0
        for memo in (self._memo, self._text_memo, self._time, self._src):
            if len(memo) > MEMO_LIMIT:
                memo.clear()
        return cols.batch(self.tables, self._file)

    def scan_requests(self, reqs: Iterable[tuple[int, Request]]) -> MatchBatch:
        """Matched requests among already parsed ones (packet captures): every rule is
        tried on every request."""
        cols = _Columns()
        everything = (1 << len(self.rules)) - 1
        for line, req in reqs:
            self.add(req, everything, cols, line)
        return cols.batch(self.tables, self._file)

    def add(self, req: Request, mask: int, cols: _Columns, line: int) -> bool:
        """Match one parsed request and append its row; False when no rule matched."""
        key = (mask, req.url, req.method, req.user_agent, req.status, req.message, req.host,
               req.referer, req.protocol, req.format)
        v = self._memo.get(key)
        if v is None:
            v = self._memo[key] = self._variant(mask, req)
            self._memo_bytes += sum(len(x) for x in key if isinstance(x, str))
        if v < 0:
            return False
        cols.source.append(self._source(req.source_ip))
        cols.time.append(to_micros(req.timestamp))
        cols.line.append(line)
        cols.variant.append(v)
        return True

    def _variant(self, mask: int, req: Request) -> int:
        matched = self.engine.match(mask, req)
        if not matched:
            return -1
        return self.tables.variants.code(Variant(
            req.url, req.method, req.status, req.protocol, req.user_agent, req.host,
            req.format, matched))

    def _source(self, ip: str) -> int:
        c = self._src.get(ip)
        if c is None:
            canon = _canonical_source(ip)
            c = self._src[ip] = (_ip4_key(canon.encode()) if IPV4_TEXT.fullmatch(canon)
                                 else self.tables.sources.code(canon))
        return c

    def _source_code(self, raw: bytes) -> int:
        """The row key of an access-log source field: a code (text sources), an IPv4 key
        (numbered in bulk when the batch is made), or -1 when it is not an address (the
        reader's :func:`~wormsign.logs.normalize.canonical_ip` decides; plain dotted IPv4,
        already canonical, skips the parse)."""
        if _IPV4.fullmatch(raw):
            return _ip4_key(raw)
        ip = canonical_ip(decode(raw))
        if ip is None:
            return -1
        ip = _canonical_source(ip)
        return _ip4_key(ip.encode()) if IPV4_TEXT.fullmatch(ip) else self.tables.sources.code(ip)

    def _scan_access(self, chunk: bytes, cand: Candidates, first_line: int, prefix: int,
                     fmt_name: str, cols: _Columns) -> None:
        """Access-log lines (the flagged lines ``cand`` of ``chunk``): the text after ``] "``
        (and the vhost) is the memo key; the source and time are looked up in their own small
        dictionaries."""
        memo, srcs, times = self._memo, self._src, self._time
        c_src, c_time, c_line, c_var = cols.source, cols.time, cols.line, cols.variant
        for li, s, e, m in zip(cand.line, cand.start, cand.end, cand.mask, strict=True):
            raw = chunk[s:e]
            if raw.endswith(b"\r"):
                raw = raw.rstrip(b"\r\n")
            cut = raw.find(b'] "')
            head = raw[:cut].split(b" ", prefix) if cut > 0 else []
            if len(head) != prefix + 1 or head[-1][:1] != b"[" or not all(head[:-1]):
                req = clf.parse_line(raw, prefix, self.path, first_line + li, fmt_name)
                if req is not None:
                    self.add(req, m, cols, first_line + li)
                continue
            sb = head[-4]
            sc = srcs.get(sb)
            if sc is None:
                sc = srcs[sb] = self._source_code(sb)
            if sc == -1:  # not an address: parse_line gives no request
                continue
            key = (m, raw[cut + 3:], head[0]) if prefix == 4 else (m, raw[cut + 3:])
            v = memo.get(key)
            if v is None:
                req = clf.parse_line(raw, prefix, self.path, first_line + li, fmt_name)
                assert req is not None  # the line has the shape parse_line reads directly
                v = memo[key] = self._variant(m, req)
                self._memo_bytes += len(raw) - cut
            if v < 0:
                continue
            tb = head[-1]
            t = times.get(tb)
            if t is None:
                t = times[tb] = self._clf_time(tb)
            c_src.append(sc)
            c_time.append(t)
            c_line.append(first_line + li)
            c_var.append(v)


    def _scan_access_fast(self, chunk: bytes, arr: FlaggedLines, first_line: int,
                          prefix: int, fmt_name: str, cols: _Columns) -> bool:
        """:meth:`_scan_access` with the per-line work in C (``_clfscan.access_fields``) and
        numpy: Python runs once per distinct request text (and for the rare source or time
        not in the usual form), in order of first appearance, so the tables are numbered
        as the loop numbers them. False (nothing added) when a flagged line does not have
        the usual shape: the caller then reads the chunk with the loop.

        A text's rule mask is found once, in the part of the line rules can see (the request
        and what follows it, and the vhost): it holds every rule the whole line's mask
        holds that can match, since a rule's keywords come from its conditions on those
        fields."""
        n = len(arr.line)
        if not n:
            return True
        assert _FIELDS is not None
        out = np.empty((n, 8), np.int64)
        _FIELDS(chunk, arr.start, arr.end, prefix, out)
        tid = out[:, 0]
        if tid.min() < 0:
            return False
        src = out[:, 1].copy()
        for i in np.flatnonzero(src == _NEED).tolist():
            sb = chunk[out[i, 3]:out[i, 4]]
            sc = self._src.get(sb)
            if sc is None:
                sc = self._src[sb] = self._source_code(sb)
            src[i] = sc
        kept = np.flatnonzero(src != -1)
        if not len(kept):
            return True
        uniq, first, inv = np.unique(tid[kept], return_index=True, return_inverse=True)
        var = np.empty(len(uniq), np.int64)
        for j in np.argsort(first, kind="stable").tolist():
            r = int(kept[first[j]])
            var[j] = self._access_variant(chunk, int(arr.start[r]), out[r], prefix,
                                          first_line + int(arr.line[r]), fmt_name)
        v = var[inv.ravel()]
        rows = kept[v >= 0]
        v = v[v >= 0]
        t = out[rows, 2]
        for k in np.flatnonzero(t == _NEED).tolist():
            o = out[rows[k]]
            tb = chunk[o[5]:o[6] - 3]
            tt = self._time.get(tb)
            if tt is None:
                tt = self._time[tb] = self._clf_time(tb)
            t[k] = tt
        cols.extend(src[rows], t, arr.line[rows] + first_line, v)
        return True

    def _access_variant(self, chunk: bytes, start: int, o: npt.NDArray[np.int64],
                        prefix: int, line: int, fmt_name: str) -> int:
        """The memoised variant code of the flagged line at ``start`` (fields ``o`` from
        ``access_fields``; its request text is ``o[6]:o[7]``)."""
        tail = chunk[o[6]:o[7]]
        vhost = chunk[start:o[3] - 1] if prefix == 4 else b""
        v = self._text_memo.get((tail, vhost))
        if v is None:
            key = (tail, vhost, fmt_name)
            known = self.engine.variants.get(key, _UNREAD)
            if known is not _UNREAD:  # read by an earlier scanner of this process
                v = -1 if known is None else self.tables.variants.code(cast(Variant, known))
            else:
                mask = self.engine.prefilter.mask_of(vhost + b"\n" + tail if vhost else tail)
                req = clf.parse_line(chunk[start:o[7]], prefix, self.path, line, fmt_name)
                assert req is not None  # the line has the shape parse_line reads directly
                v = self._variant(mask, req)
                self.engine.known_variant(key, self.tables.variants.values[v] if v >= 0
                                          else None)
            self._text_memo[(tail, vhost)] = v
            self._memo_bytes += len(tail) + len(vhost)
        return v

    def _clf_time(self, tb: bytes) -> int:
        """``[19/Jul/2001:10:23:45 -0700`` as microseconds, exactly as
        :func:`wormsign.logs.clf.parse_time` reads it, but from a per-day cache (a worm storm
        has a new second on every few lines, and datetime arithmetic per second is slow)."""
        m = _CLF_TIME.fullmatch(tb)
        if m is None:
            return to_micros(clf.parse_time(decode(tb[1:])))
        day_s, hh, mm, ss, sign, zh, zm = m.groups()
        day = self._days.get(day_s)
        if day is None:
            ts = clf.parse_time(decode(day_s) + ":00:00:00 +0000")
            day = self._days[day_s] = -1 if ts is None else to_micros(ts) // 1_000_000
        h, mi, se, zoff = int(hh), int(mm), int(ss), int(zh) * 60 + int(zm)
        if day < 0 or h > 23 or mi > 59 or se > 59 or zoff >= 1440:
            return to_micros(None)
        off = zoff * 60 if sign == b"+" else -zoff * 60
        return (day + h * 3600 + mi * 60 + se - off) * 1_000_000


#: The usual access-log time (anything else goes the slow, general way).
_CLF_TIME = re.compile(rb"\[(\d\d/[A-Z][a-z][a-z]/(?:19|2\d)\d\d):(\d\d):(\d\d):(\d\d) "
                       rb"([+-])(\d\d)(\d\d)")


_OCTET = rb"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: IPv4 as ``ipaddress`` writes it (no leading zeros): canonical as it stands.
_IPV4 = re.compile(_OCTET + (rb"\." + _OCTET) * 3)
_PACK = struct.Struct(">I")


def _ip4_key(dotted: bytes) -> int:
    """A row's source key for an IPv4 address: -2 - its number (codes are >= 0)."""
    return -2 - int(_PACK.unpack(socket.inet_aton(dotted.decode("ascii")))[0])


def _canonical_source(ip: str) -> str:
    """IPv4-mapped IPv6 sources (``::ffff:10.1.2.3``, dual-stack servers) as IPv4."""
    if ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip


class _Columns:
    """Rows being collected for one batch (compact typed arrays, not lists of objects)."""

    __slots__ = ("line", "source", "time", "variant")

    def __init__(self) -> None:
        self.source = array("q")  # codes, or IPv4 keys (-2 - number) until batch()
        self.time = array("q")
        self.line = array("q")
        self.variant = array("i")

    def extend(self, source: npt.NDArray[np.int64], time: npt.NDArray[np.int64],
               line: npt.NDArray[np.int64], variant: npt.NDArray[np.int64]) -> None:
        """Append rows given as arrays."""
        self.source.frombytes(source.astype(np.int64).tobytes())
        self.time.frombytes(time.astype(np.int64).tobytes())
        self.line.frombytes(line.astype(np.int64).tobytes())
        self.variant.frombytes(variant.astype(np.int32).tobytes())

    def batch(self, tables: Tables, file: int) -> MatchBatch:
        src = np.frombuffer(self.source, np.int64).copy()
        ip4 = src <= -2
        if ip4.any():  # number the IPv4 sources in bulk (a sorted index, no dict per address)
            src[ip4] = tables.sources.codes_ip4((-2 - src[ip4]).astype(np.uint32))
        return MatchBatch(
            tables,
            src.astype(np.int32),
            np.frombuffer(self.time, np.int64).copy(),
            np.frombuffer(self.line, np.int64).copy(),
            np.frombuffer(self.variant, np.int32).copy(),
            np.full(len(self.source), file, np.int32),
        )
