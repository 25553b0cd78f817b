"""Scanning logs: read, validate, prefilter, parse, match, attribute.

``scan_paths(paths)`` is the library call behind ``wormsign scan``. Each file is read in
chunks of whole lines; its format's fast validator counts the lines no parser accepts, the
prefilter flags the few lines worth a closer look, and only those are parsed and matched.
A file that cannot be read (binary, truncated archive, unknown format) is reported with its
error and the other files are still scanned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from detect.reference.old_attribute import Hit, attribute
from detect.reference.old_prefilter import Prefilter
from wormsign.detect.alert import Alert
from wormsign.errors import InputError
from wormsign.logs import formats, pcap
from wormsign.logs.record import Request
from wormsign.logs.source import Input, expand, read_chunks
from wormsign.rules.loader import load_pack
from wormsign.rules.model import Rule, RulePack

MAX_BAD_LINES = 5


@dataclass
class FileStats:
    """What happened to one input file."""

    path: str
    format: str = "unknown"
    lines: int = 0
    skipped: int = 0
    records: int = 0
    first_skipped: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def parsed(self) -> int:
        return self.lines - self.skipped

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path, "format": self.format, "lines": self.lines,
            "parsed": self.parsed, "skipped": self.skipped,
            "first_skipped_lines": list(self.first_skipped), "error": self.error,
        }


@dataclass
class ScanReport:
    """The result of a scan: per-file statistics and the attributed alerts."""

    files: list[FileStats]
    alerts: list[Alert]
    pack: RulePack

    @property
    def errors(self) -> list[FileStats]:
        return [f for f in self.files if f.error is not None]


class _Interner:
    """Share equal strings between requests (worm requests repeat verbatim)."""

    def __init__(self) -> None:
        self.table: dict[str, str] = {}

    def __call__(self, s: str | None) -> str | None:
        if s is None:
            return None
        return self.table.setdefault(s, s)


def _scan_file(inp: Input, rules: tuple[Rule, ...], prefilter: Prefilter, fmt_name: str | None,
               hits: list[Hit], intern: _Interner,
               on_bytes: Callable[[int], None] | None) -> FileStats:
    stats = FileStats(path=inp.display)
    where = inp.full_path  # what alerts name as their file
    if fmt_name in (None, "pcap") and not inp.is_stdin and _pcap_magic(inp.name):
        return _scan_pcap(inp, rules, stats, hits, intern)
    fmt: formats.LogFormat | None = formats.get(fmt_name) if fmt_name else None
    state = None
    base = 0
    # Worms repeat the same request verbatim: remember what each distinct request matched.
    memo: dict[tuple[object, ...], tuple[Rule, ...]] = {}
    try:
        for chunk in read_chunks(inp, on_bytes=on_bytes):
            if fmt is None:
                fmt = formats.detect(chunk[:65536], stats.path)
            if stats.format == "unknown":
                stats.format = fmt.name
                state = fmt.new_state()
            n, bad, first = fmt.validate(chunk, base, state, MAX_BAD_LINES)
            stats.skipped += bad
            room = MAX_BAD_LINES - len(stats.first_skipped)
            stats.first_skipped += first[:max(room, 0)]
            newlines = 0
            pos = 0
            for start, end, rule_idx in prefilter.candidates(chunk):
                newlines += chunk.count(b"\n", pos, start)
                pos = start
                req = fmt.parse(chunk[start:end], base + newlines + 1, state, where)
                if req is None:
                    continue
                key = (rule_idx, req.url, req.method, req.user_agent, req.status, req.message,
                       req.host, req.referer)
                matched = memo.get(key)
                if matched is None:
                    if len(memo) > 200_000:
                        memo.clear()
                    matched = memo[key] = _match(rules, rule_idx, req)
                if matched:
                    hits.append(Hit(_shrink(req, intern), matched))
            stats.lines += n
            base += n
    except InputError as exc:
        stats.error = exc.message
        stats.lines = max(stats.lines, base)
    return stats


def _pcap_magic(name: str) -> bool:
    try:
        with open(name, "rb") as f:
            return pcap.is_pcap(f.read(4))
    except OSError:
        return False


def _scan_pcap(inp: Input, rules: tuple[Rule, ...], stats: FileStats, hits: list[Hit],
               intern: _Interner) -> FileStats:
    """Packet captures: every HTTP request in them is matched against every rule."""
    stats.format = "pcap"
    everything = frozenset(range(len(rules)))
    try:
        with open(inp.name, "rb") as f:
            for n, req, ok in pcap.requests(f, inp.full_path):
                stats.lines = n
                if not ok:
                    stats.skipped += 1
                    if len(stats.first_skipped) < MAX_BAD_LINES:
                        stats.first_skipped.append(n)
                elif req is not None:
                    matched = _match(rules, everything, req)
                    if matched:
                        hits.append(Hit(_shrink(req, intern), matched))
    except InputError as exc:
        stats.error = exc.message
    except OSError as exc:
        stats.error = exc.strerror or str(exc)
    return stats


def _match(rules: tuple[Rule, ...], idx: frozenset[int], req: Request) -> tuple[Rule, ...]:
    """Rules that hold for ``req``: the best plain rule (``rules`` are in priority order, so
    lower ones need no test) and every burst rule, which count towards their bursts."""
    cache: dict[str, str | None] = {}
    out: list[Rule] = []
    have_plain = False
    for i in sorted(idx):
        r = rules[i]
        if r.burst is None:
            if not have_plain and r.matches(req, cache):
                out.append(r)
                have_plain = True
        elif r.matches(req, cache):
            out.append(r)
    return tuple(out)


def _shrink(req: Request, intern: _Interner) -> Request:
    """Share the long, repeated strings of a kept request (worms send the same URL verbatim),
    and write IPv4-mapped IPv6 sources (``::ffff:10.1.2.3``, dual-stack servers) as IPv4.

    Requests are frozen: a request with a value to swap is replaced by a copy holding the
    shared values."""
    source = req.source_ip
    if source.startswith("::ffff:") and "." in source:
        source = source[7:]
    changes: dict[str, str | None] = {}
    for name, value in (("url", req.url), ("user_agent", req.user_agent),
                        ("source_ip", source), ("path", req.path)):
        shared = intern(value)
        if shared is not getattr(req, name):
            changes[name] = shared
    return dataclasses.replace(req, **changes) if changes else req  # type: ignore[arg-type]


def scan_paths(paths: list[str], pack: RulePack | None = None, fmt: str | None = None,
               on_bytes: Callable[[int], None] | None = None,
               on_file: Callable[[FileStats], None] | None = None) -> ScanReport:
    """Scan files, directories (recursively) and ``-`` (stdin) for worm activity.

    ``fmt`` forces a format id (see :data:`wormsign.logs.formats.FORMATS`); otherwise it is
    detected per file. ``on_bytes`` receives the number of (compressed) bytes read as the scan
    progresses; ``on_file`` each file's statistics when it is done.
    """
    pack = pack or load_pack()
    if fmt is not None:
        formats.get(fmt)  # fail early on an unknown format
    rules = tuple(sorted(pack.rules, key=lambda r: -r.priority))
    prefilter = Prefilter(rules)
    hits: list[Hit] = []
    files: list[FileStats] = []
    intern = _Interner()
    for inp in expand(paths):
        stats = _scan_file(inp, rules, prefilter, fmt, hits, intern, on_bytes)
        files.append(stats)
        if on_file is not None:
            on_file(stats)
    return ScanReport(files=files, alerts=attribute(hits), pack=pack)


def total_size(paths: list[str]) -> int | None:
    """Total bytes of the inputs (None when stdin is among them): for progress bars."""
    total = 0
    for inp in expand(paths):
        size = inp.size()
        if size is None:
            return None
        total += size
    return total


__all__ = ["FileStats", "ScanReport", "scan_paths", "total_size"]
