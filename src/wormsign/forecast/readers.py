"""Readers: what a monitor saw, from any of the inputs, as one :class:`Observations`.

Inputs (detected from their first bytes; plain, ``.gz``, ``.bz2`` or ``.xz``):

- ``wormsign scan --json`` output: each source's first-seen time per family;
- ``wormsign scan --csv`` output: each source's first-seen time (its earliest of any family);
- ``wormsign scan --alerts`` JSON Lines (ECS): first-seen times and probes per interval, read
  one line at a time (a request in both an access log and an error log counts once);
- a CSV of a monitor's counts: ``time`` and any of ``new_sources`` (per interval),
  ``sources`` (cumulative) or ``probes`` (per interval); each row's time ends its interval.

Event inputs are binned into intervals of a round width (1 s ... 1 d) giving at most
:data:`MAX_INTERVALS` intervals. A bad row of an event input (bad JSON, a non-canonical
address, a bad timestamp) is skipped and counted; a bad row of a counts CSV (unsorted times,
negative or decreasing counts, non-numbers) is a :class:`ConfigError` naming file and line,
since the series would be wrong without it.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import ipaddress
import json
import lzma
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any

import numpy as np

from wormsign.errors import ConfigError, InputError
from wormsign.forecast import binning
from wormsign.forecast.binning import MAX_INTERVALS, WIDTHS, width_for
from wormsign.forecast.observations import F64, Monitor, Observations, TimeBase
from wormsign.logs.normalize import canonical_ip
from wormsign.logs.source import Input, looks_binary, open_input
from wormsign.logs.text import safe

MAX_LINE = 1 << 20  # longer JSON lines are skipped (counted)
MAX_FAMILIES = 1000  # distinct family names kept from one input; later new ones are skipped
BLOCK = 1 << 20
FAMILY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ERROR_DATASETS = frozenset({"apache-error", "nginx-error"})
COUNT_COLUMNS = ("new_sources", "sources", "probes")
MAX_MONITOR_FILE = 1 << 22
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)
"""Canonical dotted-quad IPv4 text (no leading zeros): its own canonical form, no parse needed."""


# ---------------------------------------------------------------------------- the monitor


def parse_monitor(text: str | None) -> Monitor | None:
    """What was watched: ``44.0.0.0/8``, ``192.0.2.1,192.0.2.7`` (addresses or CIDRs), a
    count (``2^24``, ``65536``) or a file of addresses/CIDRs one a line; None for None/empty.
    Overlapping blocks count once. IPv4 only (the worms' address space)."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    m = re.fullmatch(r"(?:2\^(\d{1,2})|(\d{1,10}))", text)
    if m is not None:
        size = 2 ** int(m.group(1)) if m.group(1) else int(m.group(2))
        if not 1 <= size <= 2**32:
            raise ConfigError(f"--monitor {text!r}: a monitor watches 1..2^32 addresses")
        return Monitor(size=size, blocks=(), label=f"{size:,} addresses")
    where = "--monitor"
    parts: list[tuple[int | None, str]] = [(None, p.strip()) for p in text.split(",")]
    if len(parts) == 1 and not _is_network(text) and os.path.isfile(text):
        where, parts = safe(text), _monitor_file(text)
    nets = []
    for line, p in parts:
        try:
            net = ipaddress.ip_network(p, strict=False)
        except ValueError:
            raise ConfigError(f"bad monitor address or block {p[:40]!r}: use a CIDR such as "
                              "44.0.0.0/8 or addresses a.b.c.d,e.f.g.h",
                              path=where if line else None, line=line) from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise ConfigError(f"monitor {p[:40]!r}: IPv4 only (worms scan the IPv4 space)",
                              path=where if line else None, line=line)
        nets.append(net)
    if not nets:
        raise ConfigError(f"{where}: no monitor addresses")
    blocks = tuple(str(n) for n in ipaddress.collapse_addresses(nets))
    size = sum(ipaddress.ip_network(b).num_addresses for b in blocks)
    label = blocks[0] if len(blocks) == 1 else f"{len(blocks)} blocks, {size:,} addresses"
    return Monitor(size=size, blocks=blocks, label=label)


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _monitor_file(path: str) -> list[tuple[int | None, str]]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MONITOR_FILE + 1)
    except OSError as exc:
        raise ConfigError(exc.strerror or str(exc), path=path) from None
    if len(data) > MAX_MONITOR_FILE:
        raise ConfigError("monitor file larger than 4 MiB", path=path)
    lines = data.decode("utf-8", "replace").splitlines()
    return [(i + 1, ln.split("#", 1)[0].strip()) for i, ln in enumerate(lines)
            if ln.split("#", 1)[0].strip()]


# ---------------------------------------------------------------------------- raw input


def _open_decoded(stream: Any) -> IO[bytes]:
    head = stream.peek(6)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream)
    return stream  # type: ignore[no-any-return]


def _blocks(path: str) -> Iterator[str]:
    """The decoded text of ``path`` in blocks (``-`` is standard input)."""
    inp = Input(path, allow_special=True)
    dec = codecs.getincrementaldecoder("utf-8")("replace")
    with open_input(inp) as stream:
        f = _open_decoded(stream)
        first = True
        while True:
            try:
                b = f.read(BLOCK)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise InputError(f"cannot read: {exc}", path=inp.display) from None
            if first and b.startswith(b"\xef\xbb\xbf"):
                b = b[3:]
            if first and looks_binary(b):
                raise InputError("binary file, not observations", path=inp.display)
            first = False
            text = dec.decode(b, final=not b)
            if text:
                yield text
            if not b:
                return


def _lines(path: str) -> Iterator[tuple[int, str | None]]:
    """``(line number, text)``; a line longer than :data:`MAX_LINE` gives None (skipped)."""
    buf = ""
    n = 0
    dropping = False
    for block in _blocks(path):
        parts = (buf + block).split("\n")
        buf = parts.pop()
        for line in parts:
            n += 1
            if dropping or len(line) > MAX_LINE:
                dropping = False
                yield n, None
            else:
                yield n, line.rstrip("\r")
        if len(buf) > MAX_LINE:
            buf, dropping = "", True
    if buf or dropping:
        yield n + 1, None if dropping or len(buf) > MAX_LINE else buf.rstrip("\r")


def _kind(path: str) -> str:
    """``alerts``, ``scan-json``, ``scan-csv`` or ``counts``, from the first bytes."""
    head = ""
    for block in _blocks(path):
        head += block
        if len(head) >= 65536:
            break
    text = head.lstrip()
    if not text:
        raise ConfigError("empty file: no observations", path=_show(path))
    lines = text.split("\n")
    if any(ln.lstrip().startswith("{") and ('"@timestamp"' in ln or '"source.ip"' in ln)
           for ln in lines[:-1] or lines):
        return "alerts"
    if text.startswith("{"):
        return "scan-json"
    header = [c.strip().lower() for c in text.split("\n", 1)[0].split(",")]
    if header[:2] == ["ip", "families"]:
        return "scan-csv"
    if header and header[0] == "time":
        return "counts"
    if header and header[0] == "t" and any(c.startswith("telescope[") for c in header):
        return "counts"  # wormsign simulate --out: a telescope's columns are the counts
    raise ConfigError("not scan --json/--csv output, --alerts JSON Lines, a counts CSV "
                      "(header time,new_sources|sources|probes) or a simulate --out CSV "
                      "with a telescope", path=_show(path), line=1)


def _show(path: str) -> str:
    return "<stdin>" if path == "-" else safe(path)


@lru_cache(maxsize=65536)
def _unix(text: str) -> float:
    """ISO 8601 time as Unix seconds (NaN when it is not one; naive means UTC)."""
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        return math.nan
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return math.nan
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ts = dt.timestamp()
    return ts if 0 <= ts < 2**34 else math.nan


# ---------------------------------------------------------------------------- events


@dataclass
class _Family:
    first: dict[str, float] = field(default_factory=dict)
    probes: dict[str, Counter[int]] = field(default_factory=dict)  # dataset class -> second


@dataclass
class _Events:
    """What event inputs showed, per family (first-seen time per source, probes per second)."""

    families: dict[str, _Family] = field(default_factory=dict)
    worm: dict[str, bool] = field(default_factory=dict)
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def skip(self, why: str) -> None:
        self.skipped += 1
        self.reasons[why] += 1

    def family(self, name: object) -> _Family | None:
        if not isinstance(name, str) or FAMILY_RE.fullmatch(name) is None:
            self.skip("bad family name")
            return None
        fam = self.families.get(name)
        if fam is None:
            if len(self.families) >= MAX_FAMILIES:
                self.skip("too many families")
                return None
            fam = self.families[name] = _Family()
        return fam

    def source(self, fam: _Family, ip: object, when: object) -> bool:
        addr = ip if isinstance(ip, str) and _QUAD.fullmatch(ip) else canonical_ip(ip)
        if addr is None:
            self.skip("not a canonical address")
            return False
        t = _unix(when) if isinstance(when, str) else math.nan
        if not math.isfinite(t):
            self.skip("bad timestamp")
            return False
        old = fam.first.get(addr)
        if old is None or t < old:
            fam.first[addr] = t
        return True


def _read_alerts(path: str, ev: _Events) -> None:
    for _n, line in _lines(path):
        if line is None:
            ev.skip("line too long")
            continue
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except ValueError:
            ev.skip("bad JSON")
            continue
        if not isinstance(d, dict):
            ev.skip("bad JSON")
            continue
        fam = ev.family(d.get("wormsign.family"))
        if fam is None or not ev.source(fam, d.get("source.ip"), d.get("@timestamp")):
            continue
        ds = d.get("event.dataset")
        cls = "error" if ds in ERROR_DATASETS else "access"
        fam.probes.setdefault(cls, Counter())[int(_unix(d["@timestamp"]))] += 1


def _csv_lines(path: str) -> Iterator[tuple[int, list[str] | None]]:
    """``(line number, cells)`` of a CSV file (None for a line too long or not CSV)."""
    for n, line in _lines(path):
        if line is None:
            yield n, None
            continue
        try:
            yield n, next(csv.reader([line]), [])
        except csv.Error:
            yield n, None


def _read_scan_csv(path: str, ev: _Events) -> None:
    multi = 0
    rows = _csv_lines(path)
    next(rows, None)
    for _n, row in rows:
        if row is None or len(row) < 5:
            ev.skip("bad CSV row")
            continue
        names = [n for n in row[1].split(";") if n]
        multi += len(names) > 1
        for name in names:
            fam = ev.family(name)
            if fam is not None:
                ev.source(fam, row[0], row[4])
    if multi:
        ev.notes.append(f"{multi} source(s) in the scan CSV have several families; their "
                        "first_seen is the earliest of any family (scan --json or --alerts "
                        "give it per family)")


def _read_scan_json(path: str, ev: _Events) -> None:
    head, rows = _scan_json_stream(path)
    fams = head.get("families")
    if isinstance(fams, dict):
        for name, v in fams.items():
            if isinstance(v, dict) and isinstance(name, str):
                ev.worm[name] = bool(v.get("worm", False))
    listed: Counter[str] = Counter()
    for row in rows:
        if not isinstance(row, dict):
            ev.skip("bad source entry")
            continue
        fam = ev.family(row.get("family"))
        if fam is not None and ev.source(fam, row.get("ip"), row.get("first_seen")):
            listed[str(row.get("family"))] += 1
    if isinstance(fams, dict):
        for name, v in fams.items():
            total = v.get("sources") if isinstance(v, dict) else None
            if isinstance(total, int) and total > listed[name] and name in ev.families:
                ev.notes.append(f"{safe(_show(path))}: {listed[name]} of {total} sources of "
                                f"{safe(name)} listed (the list was cut, e.g. by --top); use "
                                "scan --csv or --alerts for all of them")


_SOURCES_KEY = re.compile(r'"sources"\s*:\s*\[')


def _scan_json_stream(path: str) -> tuple[dict[str, Any], Iterator[Any]]:
    """The head of a ``scan --json`` document and an iterator over its ``sources`` entries,
    read block by block (the sources list is never held whole)."""
    blocks = _blocks(path)
    buf = ""
    m = None
    for block in blocks:
        buf += block
        m = _SOURCES_KEY.search(buf)
        if m is not None:
            break
        if len(buf) > 64 * MAX_LINE:
            break
    if m is None:
        raise ConfigError("not scan --json output (no sources list)", path=_show(path))
    head_text = buf[:m.start()].rstrip().rstrip(",") + "}"
    try:
        head = json.loads(head_text)
    except ValueError:
        raise ConfigError("not scan --json output (bad JSON before the sources list)",
                          path=_show(path)) from None
    if not isinstance(head, dict):
        raise ConfigError("not scan --json output", path=_show(path))
    return head, _entries(buf[m.end():], blocks, path)


def _entries(buf: str, blocks: Iterator[str], path: str) -> Iterator[Any]:
    dec = json.JSONDecoder()
    pos = 0
    done = False
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if pos < len(buf) and buf[pos] == "]":
            return
        try:
            obj, end = dec.raw_decode(buf, pos)
        except ValueError:
            if done or len(buf) - pos > 4 * MAX_LINE:
                raise ConfigError("truncated or bad scan --json sources list",
                                  path=_show(path)) from None
            more = next(blocks, None)
            if more is None:
                done = True
            else:
                buf = buf[pos:] + more
                pos = 0
            continue
        yield obj
        pos = end


def _choose(names: Iterable[str], family: str | None, worm: dict[str, bool],
            where: str) -> str:
    names = sorted(names)
    if family is not None:
        if family not in names:
            raise ConfigError(f"no observations of {family} in {where}")
        return family
    if not names:
        raise ConfigError(f"no observations in {where}")
    worms = [n for n in names if worm.get(n, _builtin_worm(n))]
    pool = worms or names
    if len(pool) == 1:
        return pool[0]
    raise ConfigError(f"{where} holds several families ({', '.join(pool[:10])}"
                      f"{', ...' if len(pool) > 10 else ''}): choose one with --family")


def _builtin_worm(name: str) -> bool:
    return name in binning.worm_families()


def _probe_series(fam: _Family, notes: list[str]) -> Counter[int] | None:
    access, error = fam.probes.get("access"), fam.probes.get("error")
    if access and error:
        notes.append("probes counted from access logs only: the same request also appears in "
                      "the error log")
        return access
    return access or error or None


def _events_obs(ev: _Events, family: str | None, monitor: Monitor | None, at: str | None,
                inputs: tuple[str, ...]) -> Observations:
    where = ", ".join(inputs)
    name = _choose([k for k, v in ev.families.items() if v.first], family, ev.worm, where)
    fam = ev.families[name]
    notes = list(ev.notes)
    first = np.sort(np.fromiter(fam.first.values(), dtype=np.float64, count=len(fam.first)))
    probes = _probe_series(fam, notes)
    last = float(first[-1])
    if probes:
        last = max(last, float(max(probes)))
    end = math.floor(last) + 1.0
    cut = 0
    if at is not None:
        t_at = TimeBase("iso").parse(at)
        if t_at <= float(first[0]):
            raise ConfigError(f"--at {at[:40]!r} is before the first observation of {name}")
        if t_at < end:
            cut = int(np.sum(first >= t_at))
            first = first[first < t_at]
            if probes:
                probes = Counter({k: v for k, v in probes.items() if k < t_at})
            end = t_at
        else:
            notes.append("--at is after the last observation: the evidence ends there")
    edges = binning.round_edges(float(first[0]), last, end)
    start = float(edges[0])
    new, _ = np.histogram(first, bins=edges)
    prb = None
    if probes:
        ts = np.fromiter(probes.keys(), dtype=np.float64, count=len(probes))
        ws = np.fromiter(probes.values(), dtype=np.float64, count=len(probes))
        prb, _ = np.histogram(ts, bins=edges, weights=ws)
    if cut:
        notes.append(f"{cut} source(s) first seen after --at ignored")
    notes.extend(_skip_notes(ev))
    mon = _default_monitor(monitor, notes)
    tb = TimeBase("iso", origin=float(start))
    return Observations(
        monitor=mon, timebase=tb, edges=edges - start,
        new_sources=new.astype(np.float64),
        probes=None if prb is None else prb.astype(np.float64),
        first_seen=first - start, family=name, now=end - start, inputs=inputs,
        skipped=ev.skipped, notes=tuple(notes))


def _skip_notes(ev: _Events) -> list[str]:
    if not ev.skipped:
        return []
    why = ", ".join(f"{n} {r}" for r, n in ev.reasons.most_common())
    return [f"{ev.skipped} input row(s) skipped ({why})"]


def _default_monitor(monitor: Monitor | None, notes: list[str]) -> Monitor:
    if monitor is not None:
        return monitor
    notes.append(binning.ASSUMED_NOTE)
    return binning.ASSUMED_MONITOR


# ---------------------------------------------------------------------------- counts CSV


@dataclass
class _Rows:
    times: list[float] = field(default_factory=list)
    cols: dict[str, list[float]] = field(default_factory=dict)


def _number(cell: str, what: str, path: str, line: int) -> float:
    try:
        v = float(cell)
    except ValueError:
        raise ConfigError(f"{what} {cell[:40]!r} is not a number", path=path,
                          line=line) from None
    if not math.isfinite(v) or abs(v) > 1e15:
        raise ConfigError(f"{what} {cell[:40]!r} is not a finite number of sensible size",
                          path=path, line=line)
    return v


def _telescope_columns(header: list[str], monitor: Monitor | None,
                       where: str) -> tuple[int, dict[str, int], str]:
    """The time column and the chosen telescope's count columns of a ``wormsign simulate
    --out`` CSV (``t``, ``utc``, ``telescope[BLOCK].probes``, ``telescope[BLOCK].sources``):
    the only telescope, or the one ``monitor`` names."""
    blocks = sorted({c[len("telescope["):c.index("]")] for c in header
                     if c.startswith("telescope[") and "]" in c})
    wanted = [b for b in blocks if monitor is not None and b in monitor.blocks]
    if len(blocks) > 1 and len(wanted) != 1:
        raise ConfigError(f"the simulation watched {len(blocks)} telescopes "
                          f"({', '.join(safe(b) for b in blocks[:8])}): name one with "
                          "--monitor", path=where, line=1)
    block = wanted[0] if wanted else blocks[0]
    cols = {"probes": header.index(f"telescope[{block}].probes")
            if f"telescope[{block}].probes" in header else -1,
            "sources": header.index(f"telescope[{block}].sources")
            if f"telescope[{block}].sources" in header else -1}
    cols = {k: v for k, v in cols.items() if v >= 0}
    if not cols:
        raise ConfigError(f"no counts for telescope {safe(block)}", path=where, line=1)
    return (header.index("utc") if "utc" in header else 0), cols, block


def _count_columns(header: list[str], monitor: Monitor | None,
                   where: str) -> tuple[int, dict[str, int], str | None]:
    """The time column, ``{count name: column}`` and (for a simulate CSV) the telescope."""
    if header[:1] == ["t"]:
        return _telescope_columns(header, monitor, where)
    cols = [c for c in header[1:] if c]
    bad = [c for c in cols if c not in COUNT_COLUMNS]
    if header[:1] != ["time"] or not cols or bad or len(set(cols)) != len(cols):
        raise ConfigError("a counts CSV has the header time,new_sources or time,sources or "
                          "time,probes (or time and several of them)", path=where, line=1)
    return 0, {c: i for i, c in enumerate(header) if i and c}, None


def _counts_rows(path: str, monitor: Monitor | None = None
                 ) -> tuple[_Rows, str, list[str], str | None]:
    where = _show(path)
    reader = _csv_lines(path)
    header = [h.strip().lower() for h in (next(reader, (1, [])))[1] or []]
    tcol, index, block = _count_columns(header, monitor, where)
    cols = list(index)
    rows = _Rows(cols={c: [] for c in cols})
    kind = ""
    for line, row in reader:
        if row is None:
            raise ConfigError("line too long or not CSV", path=where, line=line)
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ConfigError(f"expected {len(header)} cells, got {len(row)}", path=where,
                              line=line)
        cell = row[tcol].strip()
        kind = kind or ("seconds" if _is_number(cell) else "iso")
        rows.times.append(_time(cell, kind, where, line))
        if len(rows.times) > 1 and rows.times[-1] <= rows.times[-2]:
            raise ConfigError("times must increase from row to row (sort the file)",
                              path=where, line=line)
        for c in cols:
            text = row[index[c]]
            v = _number(text.strip(), c, where, line)
            if v < 0:
                raise ConfigError(f"{c} {text.strip()[:40]!r} is negative", path=where,
                                  line=line)
            vals = rows.cols[c]
            if c == "sources" and vals and v < vals[-1]:
                raise ConfigError(f"cumulative sources decrease ({vals[-1]:g} -> {v:g})",
                                  path=where, line=line)
            vals.append(v)
    if len(rows.times) < 2:
        raise ConfigError("no observations: a counts CSV needs at least 2 rows", path=where)
    return rows, kind, cols, block


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _time(cell: str, kind: str, where: str, line: int) -> float:
    if kind == "seconds":
        return _number(cell, "time", where, line)
    t = _unix(cell)
    if not math.isfinite(t):
        raise ConfigError(f"bad time {cell[:40]!r}: use seconds or ISO 8601 UTC (the first "
                          "row decides which)", path=where, line=line)
    return t


def _counts_obs(path: str, family: str | None, monitor: Monitor | None,
                at: str | None) -> Observations:
    rows, kind, cols, block = _counts_rows(path, monitor)
    notes: list[str] = []
    if block is not None and monitor is None:
        monitor = parse_monitor(block)
        notes.append(f"counts of the simulation's telescope {block}; the monitor is that block")
    t = np.asarray(rows.times, dtype=np.float64)
    step = float(np.median(np.diff(t)))
    origin = float(t[0] - step) if kind == "iso" else 0.0
    keep = t.size
    if at is not None:
        if kind == "seconds" and not _is_number(at.strip()):
            raise ConfigError(f"--at {at[:40]!r}: {_show(path)} counts time in seconds; give "
                              "--at in seconds too")
        t_at = TimeBase(kind).parse(at)
        keep = int(np.searchsorted(t, t_at, side="right"))
        if keep < 2:
            raise ConfigError(f"--at {at[:40]!r} leaves fewer than 2 rows of {_show(path)}")
        if keep < t.size:
            notes.append(f"{t.size - keep} row(s) after --at ignored")
    edges = np.concatenate([[t[0] - step], t[:keep]]) - origin
    new = probes = None
    if "new_sources" in rows.cols:
        new = np.asarray(rows.cols["new_sources"][:keep], dtype=np.float64)
        if "sources" in rows.cols:
            notes.append("new_sources used; the cumulative sources column was not")
    elif "sources" in rows.cols:
        cum = np.asarray(rows.cols["sources"][:keep], dtype=np.float64)
        new = np.diff(cum, prepend=0.0)
    if "probes" in rows.cols:
        probes = np.asarray(rows.cols["probes"][:keep], dtype=np.float64)
    if new is not None and float(new.sum()) == 0 and (probes is None or probes.sum() == 0):
        raise ConfigError(f"no observations{f' of {family}' if family else ''} in "
                          f"{_show(path)}: every count is 0")
    mon = _default_monitor(monitor, notes)
    del cols
    return Observations(
        monitor=mon, timebase=TimeBase(kind, origin=origin), edges=edges, new_sources=new,
        probes=probes, first_seen=None, family=family, now=float(edges[-1]),
        inputs=(_show(path),), skipped=0, notes=tuple(notes))


# ---------------------------------------------------------------------------- entry


def load(paths: Sequence[str], *, family: str | None = None,
         monitor: Monitor | str | None = None, at: str | None = None) -> Observations:
    """One :class:`Observations` from ``paths`` (scan --json/--csv output and --alerts JSON
    Lines, merged; or one counts CSV). ``family`` chooses the family (needed when the input
    holds several worm families); ``monitor`` says what was watched (default: 1 address, with
    a note); ``at`` (seconds or ISO 8601) cuts the evidence at that time."""
    if not paths:
        raise ConfigError("no observation files given")
    if "-" in paths:
        raise ConfigError("observations are read from files, not standard input")
    if family is not None and FAMILY_RE.fullmatch(family) is None:
        raise ConfigError(f"bad family name {family[:40]!r}")
    mon = parse_monitor(monitor) if isinstance(monitor, str) else monitor
    kinds = [(p, _kind(p)) for p in paths]
    counts = [p for p, k in kinds if k == "counts"]
    if counts:
        if len(paths) > 1:
            raise ConfigError("a counts CSV is read alone: give one counts CSV, or event "
                              "files (scan --json/--csv, --alerts) only")
        return _counts_obs(counts[0], family, mon, at)
    ev = _Events()
    readers = {"alerts": _read_alerts, "scan-json": _read_scan_json,
               "scan-csv": _read_scan_csv}
    for p, k in kinds:
        readers[k](p, ev)
    return _events_obs(ev, family, mon, at, tuple(_show(p) for p in paths))


__all__ = ["F64", "MAX_INTERVALS", "WIDTHS", "load", "parse_monitor", "width_for"]
