"""Reports of a scan, from its column tallies: the JSON contract, CSV, terminal, ECS alerts.

The ``--json`` contract::

    {"files": [{"path", "format", "lines", "parsed", "skipped", ...}],
     "lines", "parsed", "skipped", "alerts",
     "events": {"events", "evidence", "merged", "key": {"tolerance_s", "max_skew_s", ...},
                "inputs": [{"path", "sensor", "records", "offset_s"}]},
     "families": {family: {"requests", "sources", "first_seen", "last_seen", ...}},
     "sources": [{"ip", "family", "requests", "first_seen", "last_seen", ...}]}

Counts count *events*: a request recorded by several inputs of different sensor kinds (an
access log and its error log, a Zeek http.log, EVE, a capture) is one alert, one request
(:mod:`wormsign.detect.events`). ``events.events`` counts the matched requests (an event
whose burst rule found no burst is no alert, so ``alerts`` can be fewer), ``events.evidence``
the matched records over all inputs, ``events.merged`` the events with more than one record;
each input's ``records``
and ``offset_s`` (seconds added to its times to meet the others' clock) say where they came
from.

With ``scan --ignore FILE`` the document also has ``"suppressed"`` (docs/triage.md) and each
suppressed ``--alerts`` line carries ``wormsign.suppressed``, ``wormsign.suppression.id`` and
``wormsign.suppression.reason``.

``sources`` holds one entry per (source, family): a host that sent both Code Red and Nimda
appears twice. Times are ISO 8601 in UTC. Text that came from logs and is meant for people
(file paths, errors, source addresses) has control, line-separator and bidi-override
characters written as escapes: U+202E becomes the six characters ``\\u202e`` (in the JSON
text, ``"\\\\u202e"``), so the document stays valid and cannot reorder what a reader sees.
The ``--alerts`` JSON Lines are data for machines and keep every value as the log gave it.

Every writer streams: one source row at a time, one alert line at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, TYPE_CHECKING, Any, Literal, TextIO

import numpy as np
import numpy.typing as npt

from wormsign.detect.alert import SEVERITY_LEVELS, Alert
from wormsign.detect.attribute import AlertView
from wormsign.detect.columns import NO_TIME, distinct, from_micros
from wormsign.detect.eventkey import sensor_of
from wormsign.detect.scanner import ScanReport
from wormsign.detect.summary import Summary, Tallies
from wormsign.logs import clf
from wormsign.logs.text import csv_cell, safe

if TYPE_CHECKING:
    from wormsign.detect.suppress import ScanSuppression, Suppression


@lru_cache(maxsize=65536)
def iso(ts: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z`` (None stays None)."""
    return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=65536)
def iso_us(us: int) -> str | None:
    """:func:`iso` of a time in microseconds (:data:`NO_TIME`: None)."""
    return None if us == NO_TIME else iso(from_micros(us))


def iso_json(us: npt.NDArray[np.int64]) -> list[str]:
    """The JSON text of :func:`iso_us` of each time (``null`` for :data:`NO_TIME`), in bulk:
    ISO 8601 with a ``Z``, microseconds only when there are some, as ``isoformat`` writes
    (:func:`iso_cells` as strings)."""
    cells, width = iso_cells(us)
    return [t.decode("ascii") for t in cells.view(f"S{width}").ravel().tolist()]


_VARYING = ("@timestamp", "source.ip", "log.file.line")


def _ecs_encoder() -> Callable[[Any], str]:
    """The JSON encoder of ``--alerts`` lines: compact (no space after ``,`` or ``:``, as
    their first keys; 6 % fewer bytes than the default separators), text kept as given."""
    return json.JSONEncoder(ensure_ascii=False, check_circular=False,
                            separators=(",", ":")).encode


def ecs_lines(alerts: Iterable[Alert]) -> Iterator[str]:
    """``Alert.to_ecs()`` as JSON lines. From a scan's :class:`AlertView`, straight from the
    columns (no :class:`Alert` is built); from other alerts, one by one."""
    if isinstance(alerts, AlertView):
        for block in _ecs_blocks(alerts):
            yield from block
        return
    encode = _ecs_encoder()
    for a in alerts:
        d = a.to_ecs()
        rest = {k: v for k, v in d.items() if k not in _VARYING}
        yield (f'{{"@timestamp":{encode(d["@timestamp"])},"source.ip":{encode(a.source_ip)},'
               f'"log.file.line":{a.line},{encode(rest)[1:-1]}}}\n')


#: ``_clfscan.join_rows`` (None: the numpy form, with the same bytes).
_JOIN: Callable[[tuple[Any, ...], int], bytes] | None = getattr(
    getattr(clf, "_clfscan", None), "join_rows", None)


@dataclass(frozen=True)
class _Block:
    """A block of alert rows as the distinct texts of its parts and each row's indices into
    them: ``times[t[i]]``, ``ips[s[i]]``, ``line[i]``, ``rests[r[i]]`` (JSON texts).

    The times may be given as ``time_cells`` instead (:func:`iso_cells`: the same texts in
    a NUL-padded byte matrix, and its width) and, when every source of the block is an IPv4
    address, the sources as ``ip_cells`` (dotted, 15 bytes a row, without the quotes): the C
    join then copies them row by row, and no Python string is made for them."""

    times: list[str] | None
    ips: list[str] | None
    rests: list[str]
    t: npt.NDArray[np.intp]
    s: npt.NDArray[np.intp]
    line: npt.NDArray[np.int64]
    r: npt.NDArray[np.intp]
    time_cells: tuple[npt.NDArray[np.uint8], int] | None = None
    ip_cells: npt.NDArray[np.uint8] | None = None

    def time_texts(self) -> list[str]:
        if self.times is not None:
            return self.times
        assert self.time_cells is not None
        cells, width = self.time_cells
        return [x.decode("ascii") for x in cells.view(f"S{width}").ravel().tolist()]

    def ip_texts(self) -> list[str]:
        if self.ips is not None:
            return self.ips
        assert self.ip_cells is not None
        return [f'"{d.decode("ascii")}"' for d in self.ip_cells.view("S15").ravel().tolist()]

    def lines(self) -> list[str]:
        times, ips, rests = self.time_texts(), self.ip_texts(), self.rests
        return [
            f'{{"@timestamp":{times[i]},"source.ip":{ips[s]},"log.file.line":{n},{rests[r]}}}\n'
            for i, s, n, r in zip(self.t.tolist(), self.s.tolist(), self.line.tolist(),
                                  self.r.tolist(), strict=True)]

    def utf8(self) -> bytes:
        """:meth:`lines` joined and encoded (``backslashreplace``), built from the encoded
        distinct parts with numpy (no Python step per row)."""
        return b"".join(self.utf8_parts(max(len(self.line), 1)))

    def utf8_parts(self, rows: int = 2048) -> Iterator[bytes]:
        """:meth:`utf8` in parts of ``rows`` rows: parts of a few megabytes reuse the memory
        of the one before (a block's 18 MB in one piece would be fresh pages each time)."""
        if _JOIN is not None and _JOIN_CELLS and self.time_cells is not None:
            yield from self._cell_parts(rows)
            return
        if _JOIN is not None:  # the C twin: one pass, one copy
            times = _enc(self.time_texts(), '{"@timestamp":', ',"source.ip":').tolist()
            ips = _enc(self.ip_texts(), "", ',"log.file.line":').tolist()
            rests = _enc(self.rests, ",", "}\n").tolist()
            t, s, r = (a.astype(np.int64) for a in (self.t, self.s, self.r))
            line = self.line.astype(np.int64)
            for lo in range(0, len(line), rows):
                hi = lo + rows
                yield _JOIN(((times, t[lo:hi]), (ips, s[lo:hi]), line[lo:hi],
                             (rests, r[lo:hi])), len(line[lo:hi]))
            return
        cells = np.empty((len(self.line), 4), object)
        cells[:, 0] = _enc(self.time_texts(), '{"@timestamp":', ',"source.ip":')[self.t]
        cells[:, 1] = _enc(self.ip_texts(), "", ',"log.file.line":')[self.s]
        cells[:, 2] = self.line.astype("S20").astype(object)
        cells[:, 3] = _enc(self.rests, ",", "}\n")[self.r]
        yield b"".join(cells.ravel().tolist())

    def _cell_parts(self, rows: int) -> Iterator[bytes]:
        """:meth:`utf8_parts` with the times (and IPv4 sources) copied from their cells."""
        assert _JOIN is not None and self.time_cells is not None
        tcells, width = self.time_cells
        rests = _enc(self.rests, ",", "}\n").tolist()
        ips = None if self.ip_cells is not None else _enc(
            self.ip_texts(), "", ',"log.file.line":').tolist()
        t, s, r = (a.astype(np.int64) for a in (self.t, self.s, self.r))
        line = self.line.astype(np.int64)
        for lo in range(0, len(line), rows):
            hi = lo + rows
            zero = np.zeros(len(line[lo:hi]), np.int64)
            head = (([b'{"@timestamp":'], zero), (tcells[t[lo:hi]].tobytes(), width))
            if self.ip_cells is None:
                assert ips is not None
                src: tuple[Any, ...] = (([b',"source.ip":'], zero), (ips, s[lo:hi]))
            else:
                src = (([b',"source.ip":"'], zero), (self.ip_cells[s[lo:hi]].tobytes(), 15),
                       ([b'","log.file.line":'], zero))
            yield _JOIN((*head, *src, line[lo:hi], (rests, r[lo:hi])), len(zero))


def _enc(texts: list[str], pre: str, post: str) -> npt.NDArray[np.object_]:
    out = np.empty(len(texts), object)
    out[:] = [(pre + x + post).encode("utf-8", "backslashreplace") for x in texts]
    return out


def _ecs_blocks(view: AlertView) -> Iterator[list[str]]:
    """:func:`_ecs_parts` as lines of text."""
    for block in _ecs_parts(view):
        yield block if isinstance(block, list) else block.lines()


def _ecs_parts(view: AlertView, sup: ScanSuppression | None = None,
               ) -> Iterator[_Block | list[str]]:
    """Alerts that differ only in time, source and line (a worm's requests) share the
    encoding of everything else: each distinct rest, source and time is encoded once per
    block of rows (numpy finds the distinct ones)."""
    att = view.att
    b = att.batch
    t = b.tables
    encode = _ecs_encoder()
    n_sup = len(sup.rules) + 1 if sup is not None else 1
    if len(t.variants) * len(t.files) * len(att.rules) * len(att.families) ** 2 * n_sup >= 2**62:
        yield list(_marked_lines(view, sup))  # absurdly many distinct requests: one by one
        return
    step = 1 << 14  # rows per block: the block's lines are held once, as text
    known: dict[int, str] = {}  # the rests already encoded, by key (a worm's repeat often)
    for lo in range(0, len(att), step):
        rows = att.row[lo:lo + step]
        parts = [b.variant[rows], b.file[rows], att.rule[lo:lo + step],
                 att.family[lo:lo + step], att.rule_family[lo:lo + step]]
        radix = [max(len(t.variants), 1), max(len(t.files), 1), max(len(att.rules), 1),
                 max(len(att.families), 1), max(len(att.families), 1)]
        if sup is not None:  # the suppression rule (0: none) is part of the shared rest
            parts.append(sup.rows[lo:lo + step].astype(np.int64) + 1)
            radix.append(n_sup)
        key = np.zeros(len(rows), np.int64)
        for col, r in zip(parts, radix, strict=True):  # one int per distinct rest
            key = key * r + col
        rk, r_inv = distinct(key)
        rests = _block_rests(view, rk.tolist(), radix, sup, encode, known)
        sk, s_inv = distinct(b.source[rows])
        tk, t_inv = np.unique(b.time[rows], return_inverse=True)
        dotted = t.sources.dotted_cells(sk) if _JOIN_CELLS else None
        ips = None if dotted is not None else t.sources.json_texts(sk, encode)
        yield _Block(None, ips, rests, t_inv.ravel(), s_inv.ravel(), b.line[rows],
                     r_inv.ravel(), iso_cells(tk), dotted)


#: Encoded rests kept from one block for the next (a worm's alerts repeat a few of them);
#: past this many the memo starts afresh, so that memory stays bounded.
REST_MEMO = 8192


def _block_rests(view: AlertView, keys: list[int], radix: list[int],
                 sup: ScanSuppression | None, encode: Any, known: dict[int, str]) -> list[str]:
    """The encoded rest of each distinct key of a block (its digits in ``radix``: variant,
    file, rule, family, rule family, and the suppression rule when ``sup``)."""
    if len(known) > REST_MEMO:
        known.clear()
    rests = []
    for key in keys:
        rest = known.get(key)
        if rest is None:
            k, digits = key, []
            for r in reversed(radix):
                k, d = divmod(k, r)
                digits.append(d)
            rule_of = None
            if sup is not None:
                s_i = digits.pop(0) - 1
                rule_of = sup.rules[s_i] if s_i >= 0 else None
            rfam, fam, r, f, v = digits  # least significant first
            rest = known[key] = _ecs_rest(view, v, f, r, fam, rfam, encode, rule_of)
        rests.append(rest)
    return rests


def _ecs_rest(view: AlertView, v: int, f: int, r: int, fam: int, rfam: int,
              encode: Any, rule_of: Suppression | None = None) -> str:
    att = view.att
    t = att.batch.tables
    var, rule = t.variants.values[v], att.rules[r]
    a = Alert(timestamp=None, source_ip="", rule_id=rule.id, rule_name=rule.title,
              family=att.families[fam], rule_family=att.families[rfam],
              severity=rule.severity, url=var.url, method=var.method, status=var.status,
              user_agent=var.user_agent, host=var.host, file_path=t.files.values[f], line=0,
              format=var.format, **Alert.rule_context(rule))
    d = a.to_ecs()
    for k in _VARYING:
        del d[k]
    _mark(d, rule_of)
    return str(encode(d))[1:-1]


def _mark(d: dict[str, Any], rule: Suppression | None) -> None:
    """The suppression keys of a suppressed alert's ECS object."""
    if rule is not None:
        d["wormsign.suppressed"] = True
        d["wormsign.suppression.id"] = rule.id
        d["wormsign.suppression.reason"] = rule.reason


def _marked_lines(view: AlertView, sup: ScanSuppression | None) -> Iterator[str]:
    """ECS lines one alert at a time (the fallback), suppressed ones marked."""
    encode = _ecs_encoder()
    for k, a in enumerate(view):
        d = a.to_ecs()
        _mark(d, sup.rule_of(k) if sup is not None else None)
        yield encode(d) + "\n"


def write_alerts(report: ScanReport, out: IO[bytes],
                 suppression: ScanSuppression | None = None) -> int:
    """Write the scan's alerts as ECS JSON lines (UTF-8) to the binary stream ``out``;
    returns how many. With ``suppression``, suppressed alerts carry
    ``wormsign.suppressed`` (true), ``wormsign.suppression.id`` and ``.reason``."""
    sup = suppression if suppression is not None and suppression.suppressed else None
    n = 0
    for block in _ecs_parts(report.alerts, sup):
        if isinstance(block, list):
            for lo in range(0, len(block), 16384):
                out.write("".join(block[lo:lo + 16384]).encode("utf-8", "backslashreplace"))
            n += len(block)
        else:
            for part in block.utf8_parts():
                out.write(part)
            n += len(block.line)
    return n


def _family_entry(report: ScanReport, s: Summary, k: int) -> dict[str, Any]:
    name = s.att.families[k]
    fam = report.pack.families.get(name)
    t = s.families
    return {
        "title": fam.title if fam is not None else name,
        "worm": bool(fam.worm) if fam is not None else False,
        "severity": t.severity(k),
        "requests": int(t.requests[k]),
        "sources": int(s.family_sources[k]),
        "first_seen": iso_us(int(t.first[k])),
        "last_seen": iso_us(int(t.last[k])),
        "rules": t.rules_of(k, s.rule_ids),
    }


def source_rows(s: Summary) -> Iterator[dict[str, Any]]:
    """The ``sources`` entries, ranked (one per source and family)."""
    srcs = s.att.batch.tables.sources.values
    p = s.pairs
    for g in s.ranked.tolist():
        yield {"ip": safe(srcs[int(s.pair_source[g])]),
               "family": s.att.families[int(s.pair_family[g])],
               "severity": p.severity(g), "requests": int(p.requests[g]),
               "first_seen": iso_us(int(p.first[g])), "last_seen": iso_us(int(p.last[g])),
               "rules": p.rules_of(g, s.rule_ids)}


def _obj(items: list[str]) -> npt.NDArray[np.object_]:
    out = np.empty(len(items), object)
    out[:] = items
    return out


#: ``sources`` rows per block of the ``--json`` writer.
JSON_BLOCK = 1 << 14


def _source_texts(s: Summary, encode: Any) -> Iterator[str]:
    """:func:`source_rows` as compact JSON texts, one block of rows (joined by commas) at a
    time: the same bytes ``encode`` gives for each row dictionary, without building them.
    Every part of a row is one of a few distinct texts (or a number), so a block is put
    together with numpy object arrays; only rows with several rules take a Python step."""
    table = s.att.batch.tables.sources
    p = s.pairs
    order = s.ranked
    fam_txt = _obj([f',"family":{encode(f)},"severity":' for f in s.att.families])
    sev_txt = _obj([""] * (max(SEVERITY_LEVELS.values()) + 1))
    for name, lv in SEVERITY_LEVELS.items():
        sev_txt[lv] = f'{encode(name)},"requests":'
    rule_txt = [encode(r) for r in s.rule_ids]
    rule_one = _obj([f',"rules":{{{t}:' for t in rule_txt])

    def safe_json(text: str) -> str:
        return str(encode(safe(text)))

    fam_sev = _utf8([f'"{f}{v}' for f in fam_txt.tolist() for v in sev_txt.tolist()])
    rule_pieces = _utf8(rule_one.tolist())
    step = JSON_BLOCK
    for b in range(0, len(order), step):
        g = order[b:b + step]
        dotted = table.dotted_cells(s.pair_source[g]) if _JOIN_CELLS else None
        if dotted is not None:  # IPv4 sources only: every cell from numpy, joined in C
            yield _joined_rows(s, g, dotted, (fam_sev, len(sev_txt), rule_pieces, rule_txt))
            continue
        lo = p.ptr[g]
        n_rules = p.ptr[g + 1] - lo
        at = np.minimum(lo, max(len(p.rule) - 1, 0))
        tk, t_inv = np.unique(np.concatenate((p.first[g], p.last[g])), return_inverse=True)
        tt = _obj(iso_json(tk))[t_inv.ravel()]
        cells = np.empty((len(g), 9), object)
        cells[:, 0] = '{"ip":'
        cells[:, 1] = _obj(table.json_texts(s.pair_source[g], safe_json))
        cells[:, 2] = fam_txt[s.pair_family[g]]
        cells[:, 3] = sev_txt[p.level[g]]
        cells[:, 4] = p.requests[g].astype(str).astype(object) + ',"first_seen":'
        cells[:, 5] = tt[:len(g)] + ',"last_seen":'
        cells[:, 6] = tt[len(g):]
        if len(p.rule):
            cells[:, 7] = rule_one[p.rule[at]] + p.count[at].astype(str).astype(object)
        cells[:, 8] = "}},"
        multi = np.flatnonzero(n_rules > 1)
        if len(multi):  # their pieces, each with its last count
            last = p.count[lo[multi] + n_rules[multi] - 1].tolist()
            pieces = _rules_pieces(p, lo[multi], n_rules[multi], rule_txt)
            cells[multi, 7] = [f"{x}{c}" for x, c in zip(pieces, last, strict=True)]
        cells[-1, 8] = cells[-1, 8][:-1]
        yield "".join(cells.ravel().tolist())


#: ``join_rows`` takes fixed-width cell columns (a build of ``_clfscan`` from this version).
_JOIN_CELLS = _JOIN is not None and getattr(getattr(clf, "_clfscan", None), "JOIN_KINDS", 1) >= 2


def _utf8(texts: list[str]) -> list[bytes]:
    return [t.encode("utf-8", "surrogatepass") for t in texts]


def _joined_rows(s: Summary, g: npt.NDArray[np.int64], dotted: npt.NDArray[np.uint8],
                 texts: tuple[list[bytes], int, list[bytes], list[str]]) -> str:
    """:func:`_source_texts`'s rows ``g`` whose sources are all IPv4 (``dotted``: their
    dotted texts, 15 bytes each), by ``join_rows``: no Python step per row but for rows with
    several rules. ``texts``: the family-and-severity pieces (``'"'`` first, closing the
    address), the number of severity levels, the single-rule pieces and the rule ids as
    JSON."""
    fam_sev, n_sev, rule_pieces, rule_txt = texts
    assert _JOIN is not None
    p = s.pairs
    n = len(g)
    lo = p.ptr[g]
    n_rules = p.ptr[g + 1] - lo
    at = np.minimum(lo, max(len(p.rule) - 1, 0))
    rule_at = p.rule[at].astype(np.int64)
    count = p.count[at].astype(np.int64)
    pieces = list(rule_pieces)
    multi = np.flatnonzero(n_rules > 1)
    if len(multi):  # a piece of its own for each: all its rules but the last count
        pieces += _utf8(_rules_pieces(p, lo[multi], n_rules[multi], rule_txt))
        rule_at[multi] = np.arange(len(pieces) - len(multi), len(pieces))
        count[multi] = p.count[lo[multi] + n_rules[multi] - 1]
    tk, t_inv = np.unique(np.concatenate((p.first[g], p.last[g])), return_inverse=True)
    distinct, width = iso_cells(tk)
    times = distinct[t_inv.ravel()]
    ends = np.zeros(n, np.int64)
    ends[-1] = 1
    zero = np.zeros(n, np.int64)
    cols = (([b'{"ip":"'], zero), (dotted.tobytes(), 15),
            (fam_sev, s.pair_family[g].astype(np.int64) * n_sev + p.level[g]),
            p.requests[g].astype(np.int64),
            ([b',"first_seen":'], zero), (times[:n].tobytes(), width),
            ([b',"last_seen":'], zero), (times[n:].tobytes(), width),
            (pieces, rule_at), count, ([b"}},", b"}}"], ends))
    return _JOIN(cols, n).decode("utf-8", "surrogatepass")


def _rules_pieces(p: Tallies, lo: npt.NDArray[np.int64], n: npt.NDArray[np.int64],
                  rule_txt: list[str]) -> list[str]:
    """The ``"rules"`` pieces of groups with several rules (``lo``: each one's first entry,
    ``n``: how many): ``,"rules":{"a":3,"b":2,"c":`` (the last count is written apart)."""
    head = n - 1
    ends = np.cumsum(head)
    idx = np.repeat(lo - (ends - head), head) + np.arange(int(ends[-1]))
    pairs = [f"{rule_txt[r]}:{c}," for r, c in zip(p.rule[idx].tolist(), p.count[idx].tolist(),
                                                   strict=True)]
    last = p.rule[lo + head].tolist()
    out = []
    start = 0
    for end, r in zip(ends.tolist(), last, strict=True):
        out.append(',"rules":{' + "".join(pairs[start:end]) + rule_txt[r] + ":")
        start = end
    return out


def iso_cells(us: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.uint8], int]:
    """:func:`iso_json` of each time as rows of a fixed-width byte matrix (NUL-padded) and
    its width: the same texts, written with integer arithmetic (years 1-9999; numpy's
    own formatting for the others)."""
    us = np.asarray(us, np.int64)
    known = us != NO_TIME
    fast = known & (us >= _US_MIN) & (us <= _US_MAX)
    slow = known & ~fast
    frac = us % 1_000_000
    width = 29 if (fast & (frac != 0)).any() else 22
    # numpy writes the times beyond the years 1-9999
    whole, part = slow & (frac == 0), slow & (frac != 0)
    parts = [(m, t) for m, t in ((whole, _numpy_iso(us[whole], "s")),
                                 (part, _numpy_iso(us[part], "us"))) if m.any()]
    width = max([width, *(t.dtype.itemsize + 3 for _, t in parts)])
    out = np.zeros((len(us), width), np.uint8)
    out[~known, :4] = np.frombuffer(b"null", np.uint8)
    if fast.any():
        _civil_into(out, np.flatnonzero(fast), us[fast])
    for mask, text in parts:
        rows = np.flatnonzero(mask)
        cells = text.view(np.uint8).reshape(len(rows), text.dtype.itemsize)
        size = np.count_nonzero(cells, axis=1)
        out[rows, 0] = ord('"')
        out[rows, 1:1 + cells.shape[1]] = cells
        out[rows, 1 + size] = ord("Z")
        out[rows, 2 + size] = ord('"')
    return out, width


def _numpy_iso(us: npt.NDArray[np.int64], unit: Literal["s", "us"]) -> npt.NDArray[np.bytes_]:
    """numpy's ISO text of each time, as fixed-width bytes."""
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit=unit)
    return text.astype(f"S{max(1, text.dtype.itemsize // 4)}")


#: The times :func:`_civil_into` writes: 0001-01-01T00:00:00 to 9999-12-31T23:59:59.999999.
_US_MIN = -62135596800 * 1_000_000
_US_MAX = 253402300800 * 1_000_000 - 1


def _civil_into(out: npt.NDArray[np.uint8], rows: npt.NDArray[np.intp],
                us: npt.NDArray[np.int64]) -> None:
    """Write ``"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"`` of each time into ``out[rows]`` (the
    proleptic Gregorian calendar's days from the epoch, as numpy and ``datetime`` count).
    The digits are added to a template column by column (whole columns of a dense matrix
    cost a fraction of scattered writes)."""
    secs, frac = np.divmod(us, 1_000_000)
    days, sod = np.divmod(secs, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    cells = np.zeros((len(us), out.shape[1]), np.uint8)
    cells[:, :22] = np.frombuffer(b'"0000-00-00T00:00:00Z"', np.uint8)
    for value, at, n in ((year, 1, 4), (month, 6, 2), (day, 9, 2), (sod // 3600, 12, 2),
                         (sod // 60 % 60, 15, 2), (sod % 60, 18, 2)):
        _digits_into(cells, value, at, n)
    part = np.flatnonzero(frac != 0)
    if len(part):
        tail = np.zeros((len(part), 9), np.uint8)
        tail[:] = np.frombuffer(b".000000Z\"", np.uint8)
        _digits_into(tail, frac[part], 1, 6)
        cells[part, 20:29] = tail
    out[rows] = cells


def _digits_into(cells: npt.NDArray[np.uint8], value: npt.NDArray[np.int64], at: int,
                 n: int) -> None:
    """Add the ``n`` decimal digits of each value to columns ``at..at+n-1`` (holding '0')."""
    v = value.copy()
    for col in range(at + n - 1, at - 1, -1):
        cells[:, col] += (v % 10).astype(np.uint8)
        v //= 10


def _head(report: ScanReport, s: Summary) -> dict[str, Any]:
    lines = sum(f.lines for f in report.files)
    skipped = sum(f.skipped for f in report.files)

    def file_dict(f: Any) -> dict[str, object]:
        d = f.to_dict()
        d["path"] = safe(f.path)
        d["error"] = safe(f.error) if f.error is not None else None
        return d  # type: ignore[no-any-return]

    return {
        "files": [file_dict(f) for f in report.files],
        "lines": lines,
        "parsed": lines - skipped,
        "skipped": skipped,
        "alerts": len(report.alerts),
        "events": events_summary(report),
        "errors": [{"path": safe(f.path), "error": safe(f.error or "")} for f in report.errors],
        "families": {s.att.families[k]: _family_entry(report, s, k)
                     for k in s.family_order()},
    }


def events_summary(report: ScanReport) -> dict[str, Any]:
    """The ``events`` entry of the JSON document (module docstring)."""
    ev, batch = report.events, report.evidence
    n_alerts = len(report.alerts)
    if ev is None or batch is None:
        return {"events": n_alerts, "evidence": n_alerts, "merged": 0, "key": None,
                "inputs": []}
    files = batch.tables.files
    per_file = np.bincount(batch.file, minlength=len(files)) if len(batch) else \
        np.zeros(len(files), np.int64)
    first = np.full(len(files), -1, np.int64)
    first[batch.file[::-1]] = np.arange(len(batch) - 1, -1, -1)  # each input's first row
    variants = batch.tables.variants.values
    inputs = [{"path": safe(path),
               "sensor": sensor_of(variants[int(batch.variant[first[c]])].format)
               if first[c] >= 0 else None,
               "records": int(per_file[c]), "offset_s": float(ev.offsets.get(c, 0.0))}
              for c, path in enumerate(files.values)]
    return {"events": len(ev), "evidence": len(batch), "merged": ev.merged,
            "key": ev.key.to_dict(), "inputs": inputs}


def to_json(report: ScanReport) -> dict[str, Any]:
    """The ``scan --json`` document (see :func:`write_json` to stream it)."""
    s = Summary.of(report.attribution)
    doc = _head(report, s)
    doc["sources"] = list(source_rows(s))
    return doc


def write_json(report: ScanReport, out: TextIO, suppression: ScanSuppression | None = None,
               extra: dict[str, Any] | None = None) -> None:
    """The ``scan --json`` document, compact, written as it is built (one source row at a
    time: millions of sources never sit in memory as dictionaries). With ``suppression``
    it has a ``suppressed`` object (see docs/triage.md); ``extra`` keys follow ``sources``
    (``network``: the analysis of connection inputs, docs/network.md)."""
    s = Summary.of(report.attribution)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                              check_circular=False).encode
    head = _head(report, s)
    if suppression is not None:
        head["suppressed"] = suppression.to_json()
    out.write(encode(head)[:-1] + ',"sources":[')
    sep = ""
    for block in _source_texts(s, encode):
        out.write(sep + block)
        sep = ","
    out.write("]")
    for key, value in (extra or {}).items():
        out.write("," + encode(key) + ":" + encode(value))
    out.write("}\n")


def write_csv(report: ScanReport, out: TextIO) -> None:
    """One row per source: its families (most severe first), requests, first and last seen,
    and its rules, most common first."""
    s = Summary.of(report.attribution)
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["ip", "families", "severity", "requests", "first_seen", "last_seen", "rules"])
    srcs = s.att.batch.tables.sources.values
    p = s.pairs
    per_ip: dict[int, list[int]] = {}
    for g in s.ranked.tolist():
        per_ip.setdefault(int(s.pair_source[g]), []).append(g)
    for ip, groups in per_ip.items():
        rules: Counter[str] = Counter()
        level = 1
        for g in groups:
            rules.update(p.rules_in_order_seen(g, s.rule_ids))
            level = max(level, int(p.level[g]))
        firsts = [int(p.first[g]) for g in groups if p.first[g] != NO_TIME]
        lasts = [int(p.last[g]) for g in groups if p.last[g] != NO_TIME]
        w.writerow([csv_cell(safe(str(v))) if isinstance(v, str) else csv_cell(v) for v in (
            srcs[ip], ";".join(s.att.families[int(s.pair_family[g])] for g in groups),
            _LEVELS[level], sum(int(p.requests[g]) for g in groups),
            iso_us(min(firsts)) if firsts else None, iso_us(max(lasts)) if lasts else None,
            ";".join(f"{r}={n}" for r, n in rules.most_common()))])


_LEVELS = {v: k for k, v in SEVERITY_LEVELS.items()}


def to_csv(report: ScanReport) -> str:
    """:func:`write_csv` as a string."""
    out = io.StringIO()
    write_csv(report, out)
    return out.getvalue()


def print_summary(report: ScanReport, out: TextIO, top: int = 10,
                  suppression: ScanSuppression | None = None) -> None:
    """The readable terminal summary (all log-derived text made safe)."""
    _print_body(report, out, top)
    if suppression is not None:
        _print_suppressed(suppression, out)


def _print_suppressed(sup: ScanSuppression, out: TextIO) -> None:
    doc = sup.to_json()
    print(f"\nSuppressed: {doc['alerts']:,} alert(s) from {doc['sources']:,} source(s) "
          f"({doc['unsuppressed']:,} not suppressed).", file=out)
    for r in doc["rules"]:
        state = "" if r["active"] else f" [expired {r['until']}: no longer applied]"
        until = f" until {r['until']}" if r["until"] and r["active"] else ""
        print(f"  {safe(r['id'])}: {r['alerts']:,} alert(s), {r['sources']:,} source(s)"
              f"{until}: {safe(r['reason'])}{state}", file=out)


def _print_body(report: ScanReport, out: TextIO, top: int) -> None:
    files = report.files
    lines = sum(f.lines for f in files)
    skipped = sum(f.skipped for f in files)
    n_alerts = len(report.alerts)
    print(f"Scanned {len(files)} file(s), {lines:,} lines, {lines - skipped:,} parsed, "
          f"{skipped:,} skipped, {n_alerts:,} alerts.", file=out)
    for f in files:
        if f.error:
            print(f"  {safe(f.path)}: error: {safe(f.error)}", file=out)
        elif f.skipped:
            first = ", ".join(str(n) for n in f.first_skipped)
            print(f"  {safe(f.path)} ({f.format}): {f.skipped:,} line(s) skipped "
                  f"(first: {first})", file=out)
        if f.overlong:
            print(f"  {safe(f.path)}: {f.overlong:,} overlong line(s) scanned in their first "
                  "bytes only (--max-line-bytes)", file=out)
    if not n_alerts:
        print("No worm activity found.", file=out)
        return
    s = Summary.of(report.attribution)
    print("", file=out)
    head = f"{'FAMILY':<16} {'SEVERITY':<9} {'REQUESTS':>9} {'SOURCES':>8}  FIRST SEEN -> LAST SEEN"
    print(head, file=out)
    t = s.families
    for k in s.family_order():
        print(f"{safe(s.att.families[k]):<16} {t.severity(k):<9} {int(t.requests[k]):>9,} "
              f"{int(s.family_sources[k]):>8,}  {iso_us(int(t.first[k]))} -> "
              f"{iso_us(int(t.last[k]))}", file=out)
    print("", file=out)
    n_ips = len(set(s.pair_source.tolist()))
    print(f"Top sources ({n_ips:,} source(s); one row per source and family):", file=out)
    print(f"{'SOURCE':<40} {'FAMILY':<16} {'REQUESTS':>9}  FIRST SEEN -> LAST SEEN", file=out)
    srcs = s.att.batch.tables.sources.values
    p = s.pairs
    for g in s.ranked[:top].tolist():
        print(f"{safe(srcs[int(s.pair_source[g])])[:40]:<40} "
              f"{safe(s.att.families[int(s.pair_family[g])]):<16} {int(p.requests[g]):>9,}  "
              f"{iso_us(int(p.first[g]))} -> {iso_us(int(p.last[g]))}", file=out)
